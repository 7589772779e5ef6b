package esindex

import (
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestReadWindows writes 14 ticks of 3 groups and reads the window of the
// last 10 ticks within 10 minutes, through small pages so that groups and
// partitions straddle page boundaries.
func TestReadWindows(t *testing.T) {
	const ticks, groups, partitions = 14, 3, 5
	names, es, at := ticksWritten(t, ticks, groups, partitions)

	cases := []struct {
		name             string
		q                WindowQuery
		groups, rowsEach int
		firstTick        int
		before           int // the tick of Before; -1 for none
	}{
		{"last 10 of 14 ticks, pages of 7 documents", WindowQuery{At: at, MaxAge: time.Hour, Size: 10, PageSize: 7}, 3, 10, 4, 3},
		{"max age keeps only 3 ticks (the 4th is exactly at the boundary)", WindowQuery{At: at, MaxAge: 90 * time.Second, Size: 10, PageSize: 1000}, 3, 3, 11, -1},
		{"an instant in the past sees only what existed then", WindowQuery{At: tick0.Add(2 * 30 * time.Second), MaxAge: time.Hour, Size: 10}, 3, 3, 0, -1},
		{"one group", WindowQuery{At: at, MaxAge: time.Hour, Size: 4, Group: "group-001"}, 1, 4, 10, 9},
		{"before any tick: nothing", WindowQuery{At: tick0.Add(-time.Second), MaxAge: time.Hour, Size: 10}, 0, 0, 0, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []evaluate.GroupWindow
			st, err := clientOf(t, es, names).ReadWindows(ctxT(t), tc.q, func(g evaluate.GroupWindow) error {
				got = append(got, g)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.groups || st.Groups != tc.groups {
				t.Fatalf("%d groups (stats %d), want %d", len(got), st.Groups, tc.groups)
			}
			for gi, g := range got {
				if g.Cluster != "test" || (tc.q.Group == "" && g.Group != tickSnapshot(0, groups, partitions).Groups[gi].ID) {
					t.Errorf("group %d: %s/%s out of order", gi, g.Cluster, g.Group)
				}
				if len(g.Partitions) != partitions {
					t.Errorf("%s: %d partitions, want %d", g.Group, len(g.Partitions), partitions)
				}
				for _, p := range g.Partitions {
					if len(p.Obs) != tc.rowsEach {
						t.Fatalf("%s %s/%d: %d rows, want %d", g.Group, p.Topic, p.Partition, len(p.Obs), tc.rowsEach)
					}
					for k, r := range p.Obs {
						want := tick0.Add(time.Duration(tc.firstTick+k) * 30 * time.Second)
						if !r.Time.Equal(want) {
							t.Fatalf("%s %s/%d row %d at %s, want %s (oldest first)", g.Group, p.Topic, p.Partition, k, r.Time, want)
						}
					}
					switch {
					case tc.before < 0 && p.Before != nil:
						t.Errorf("%s %s/%d: Before at %s, want none", g.Group, p.Topic, p.Partition, p.Before.Time)
					case tc.before >= 0 && (p.Before == nil || !p.Before.Time.Equal(tick0.Add(time.Duration(tc.before)*30*time.Second))):
						t.Errorf("%s %s/%d: Before %+v, want the row of tick %d", g.Group, p.Topic, p.Partition, p.Before, tc.before)
					}
				}
			}
			if tc.groups > 0 && st.Pages < 1 {
				t.Errorf("stats: %+v", st)
			}
		})
	}

	// Field values survive the round trip, absent ones stay absent; the
	// lag read is the readable one.
	var g0 evaluate.GroupWindow
	if _, err := clientOf(t, es, names).ReadWindows(ctxT(t), WindowQuery{At: at, MaxAge: time.Hour, Size: 1, Group: "group-000"}, func(g evaluate.GroupWindow) error {
		g0 = g
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	src := tickSnapshot(ticks-1, groups, partitions).Groups[0]
	for i, p := range g0.Partitions {
		sp := src.Partitions[i]
		r := p.Obs[0]
		lag, hasLag := sp.ReadableLag()
		owner := ""
		if sp.Owner != nil {
			owner = sp.Owner.MemberID
		}
		if p.Topic != sp.Topic || p.Partition != sp.Partition || r.HasCommitted != sp.HasCommitted || (sp.HasCommitted && r.Committed != sp.Committed) ||
			r.HasLogEnd != sp.HasOffsets || (sp.HasOffsets && (r.LogEnd != sp.LogEnd || r.LogStart != sp.LogStart)) ||
			r.HasLag != hasLag || r.Lag != lag || r.Owner != owner || r.GroupState != "Stable" {
			t.Errorf("partition %s/%d: read %+v from %+v", p.Topic, p.Partition, r, sp)
		}
	}
}

// TestReadWindowsDeletedGroup reads the window of a group deleted from Kafka
// after tick 5 of 14: asked for alone or with the others, its window is the
// cluster's last ticks, so it has none once the cluster has Size ticks
// without it, and the rows it still has while it is partly in the window.
func TestReadWindowsDeletedGroup(t *testing.T) {
	names, es := installed(t)
	w := newWriter(t, es, names, fastRetries(t.TempDir()))
	const ticks = 14
	for i := 0; i < ticks; i++ {
		s := tickSnapshot(i, 3, 2)
		if i > 5 {
			s.Groups = s.Groups[:2] // group-002 deleted
		}
		// A share group: a group document without partitions, never a window.
		s.Groups = append(s.Groups, snapshot.Group{ID: "share-0", Type: snapshot.TypeShare, State: "Stable"})
		if _, err := w.Write(ctxT(t), s); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
	refresh(t, es, names)
	at := func(i int) time.Time { return tick0.Add(time.Duration(i) * 30 * time.Second) }
	// rows also checks that WindowGroups lists the groups ReadWindows reads.
	rows := func(q WindowQuery) map[string]int {
		t.Helper()
		got := map[string]int{}
		var read []GroupKey
		if _, err := clientOf(t, es, names).ReadWindows(ctxT(t), q, func(g evaluate.GroupWindow) error {
			read = append(read, GroupKey{g.Cluster, g.Group})
			for _, p := range g.Partitions {
				got[g.Group] += len(p.Obs)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		listed, reqs, err := clientOf(t, es, names).WindowGroups(ctxT(t), q)
		if err != nil {
			t.Fatal(err)
		}
		// Tick times, the groups, and whether any has an unreadable
		// observation: that one is not asked when no group is listed.
		wantReqs := 3
		if len(read) == 0 {
			wantReqs = 2
		}
		if !slices.Equal(listed, read) || reqs != wantReqs {
			t.Errorf("WindowGroups %v in %d requests, want %v (those ReadWindows read) in %d", listed, reqs, read, wantReqs)
		}
		return got
	}
	cases := []struct {
		name   string
		reason string
		q      WindowQuery
		want   int // rows of group-002
	}{
		{"alone, now", "the cluster's last 4 ticks (10-13) hold none of it", WindowQuery{At: at(13), MaxAge: time.Hour, Size: 4, Group: "group-002"}, 0},
		{"with the others, now", "the same window for every group", WindowQuery{At: at(13), MaxAge: time.Hour, Size: 4}, 0},
		{"alone, at tick 7", "ticks 4-7: its rows of ticks 4 and 5, 2 partitions", WindowQuery{At: at(7), MaxAge: time.Hour, Size: 4, Group: "group-002"}, 4},
		{"alone, at tick 9", "ticks 6-9 hold none of it; its own last ticks (2-5) are not its window", WindowQuery{At: at(9), MaxAge: time.Hour, Size: 4, Group: "group-002"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rows(tc.q)
			if got["group-002"] != tc.want {
				t.Errorf("group-002 has %d rows, want %d: %s", got["group-002"], tc.want, tc.reason)
			}
			if tc.q.Group == "" && got["group-000"] != 4*2 {
				t.Errorf("group-000 has %d rows, want 8", got["group-000"])
			}
		})
	}
}

func TestKnownClusters(t *testing.T) {
	c := oneTick(t, 1)
	got, err := c.KnownClusters(ctxT(t), tick0.Add(-time.Hour), tick0)
	if err != nil || len(got) != 1 || got[0] != "test" {
		t.Errorf("known clusters %v, %v; want [test]", got, err)
	}
	none, err := c.KnownClusters(ctxT(t), tick0.Add(time.Second), tick0.Add(time.Hour))
	if err != nil || len(none) != 0 {
		t.Errorf("after the only tick: %v, %v", none, err)
	}
}

func TestKnownGroups(t *testing.T) {
	c := oneTick(t, 4)
	got, reqs, err := c.KnownGroups(ctxT(t), tick0.Add(-time.Hour), tick0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != (GroupKey{"test", "group-000"}) || got[3] != (GroupKey{"test", "group-003"}) || reqs < 1 {
		t.Errorf("known groups %v (%d requests)", got, reqs)
	}
	none, _, err := c.KnownGroups(ctxT(t), tick0.Add(time.Second), tick0.Add(time.Hour), "")
	if err != nil || len(none) != 0 {
		t.Errorf("after the only tick: %v, %v", none, err)
	}
}

// ticksWritten installs streams holding tickSnapshot(i, groups, partitions)
// for every i < ticks, refreshed, and returns the last tick's time.
func ticksWritten(t *testing.T, ticks, groups, partitions int) (Names, *elasticsearch.Client, time.Time) {
	t.Helper()
	names, es := installed(t)
	w := newWriter(t, es, names, fastRetries(t.TempDir()))
	for i := 0; i < ticks; i++ {
		if _, err := w.Write(ctxT(t), tickSnapshot(i, groups, partitions)); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
	refresh(t, es, names)
	return names, es, tick0.Add(time.Duration(ticks-1) * 30 * time.Second)
}

// oneTick is a Client to installed streams that hold tickSnapshot(0, groups,
// 1), refreshed.
func oneTick(t *testing.T, groups int) *Client {
	t.Helper()
	names, es := installed(t)
	w := newWriter(t, es, names, fastRetries(t.TempDir()))
	if _, err := w.Write(ctxT(t), tickSnapshot(0, groups, 1)); err != nil {
		t.Fatal(err)
	}
	refresh(t, es, names)
	return clientOf(t, es, names)
}

// TestReadWindowsRequests checks what a read costs: a window that fits in
// one page is one search without a point in time, a larger one is paged
// under a point in time, and either way each group's window is the one the
// whole read finds.
func TestReadWindowsRequests(t *testing.T) {
	const ticks, groups, partitions = 12, 3, 5
	names, es, at := ticksWritten(t, ticks, groups, partitions)
	c := clientOf(t, es, names)
	read := func(q WindowQuery) (map[string]evaluate.GroupWindow, WindowStats) {
		t.Helper()
		got := map[string]evaluate.GroupWindow{}
		st, err := c.ReadWindows(ctxT(t), q, func(g evaluate.GroupWindow) error {
			got[g.Group] = g
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, st
	}
	all, _ := read(WindowQuery{At: at, MaxAge: time.Hour, Size: 10, PageSize: 7})
	if len(all) != groups {
		t.Fatalf("the whole read found %d groups, want %d", len(all), groups)
	}
	ticksAt := func(q WindowQuery) *WindowTicks {
		t.Helper()
		ticks, err := c.WindowTicks(ctxT(t), q)
		if err != nil {
			t.Fatal(err)
		}
		return ticks
	}
	now := ticksAt(WindowQuery{At: at, MaxAge: time.Hour, Size: 10, Cluster: "test"})
	// Read a second after the last tick; used a second later still.
	earlier := ticksAt(WindowQuery{At: at.Add(time.Second), MaxAge: time.Hour, Size: 10, Cluster: "test"})
	later := ticksAt(WindowQuery{At: at.Add(time.Second), MaxAge: time.Hour, Size: 10, Cluster: "test"})
	// One group's window: 11 ticks (10 and the one before) x 5 partitions.
	cases := []struct {
		name     string
		reason   string
		q        WindowQuery
		requests int
		pages    int
	}{
		{"one group, one page", "tick times and one search: no group list, no point in time",
			WindowQuery{At: at, MaxAge: time.Hour, Size: 10, Cluster: "test", Group: "group-001"}, 2, 1},
		{"one group, pages of 20", "55 documents in 3 pages, without a point in time",
			WindowQuery{At: at, MaxAge: time.Hour, Size: 10, PageSize: 20, Cluster: "test", Group: "group-001"}, 4, 3},
		{"one group, a page of exactly its documents", "its 55 documents fill the page: the second page is empty",
			WindowQuery{At: at, MaxAge: time.Hour, Size: 10, PageSize: 55, Cluster: "test", Group: "group-001"}, 3, 2},
		{"one group, its cluster's tick times given", "read for the same instant: one search",
			WindowQuery{At: at, MaxAge: time.Hour, Size: 10, Cluster: "test", Group: "group-001", Ticks: now}, 1, 1},
		{"tick times read a second before", "no tick since: the same window in one search",
			WindowQuery{At: at.Add(2 * time.Second), MaxAge: time.Hour, Size: 10, Cluster: "test", Group: "group-001", Ticks: earlier}, 1, 1},
		{"tick times read for a later instant", "they might hold a tick after At: searched again",
			WindowQuery{At: at, MaxAge: time.Hour, Size: 10, Cluster: "test", Group: "group-001", Ticks: later}, 2, 1},
		{"tick times of another window size", "not the ticks this window needs: searched again",
			WindowQuery{At: at, MaxAge: time.Hour, Size: 10, Cluster: "test", Group: "group-001", Ticks: ticksAt(WindowQuery{At: at, MaxAge: time.Hour, Size: 3, Cluster: "test"})}, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, st := read(tc.q)
			if st.Requests != tc.requests || st.Pages != tc.pages || st.Docs != 55 {
				t.Errorf("%d requests, %d pages, %d documents; want %d, %d, 55: %s", st.Requests, st.Pages, st.Docs, tc.requests, tc.pages, tc.reason)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[tc.q.Group], all[tc.q.Group]) {
				t.Errorf("read alone %+v,\nwith the others %+v", got[tc.q.Group], all[tc.q.Group])
			}
		})
	}

	// A list of groups shorter than a page is one request.
	known, reqs, err := c.KnownGroups(ctxT(t), tick0, at, "test")
	if err != nil || len(known) != groups || reqs != 1 {
		t.Errorf("known groups %v in %d requests (%v); want %d in 1", known, reqs, err, groups)
	}
}

// TestReadWindowsShards reads 12 groups' windows as three evaluators
// sharing the history would: every group is read by exactly one shard,
// whole, as the unsharded read has it, and each shard reads only its own
// groups' documents. Pages of 30 documents put several chunks in flight.
func TestReadWindowsShards(t *testing.T) {
	const ticks, groups, partitions = 11, 12, 3
	names, es, at := ticksWritten(t, ticks, groups, partitions)
	c := clientOf(t, es, names)
	read := func(shard Shard) (map[string]evaluate.GroupWindow, WindowStats) {
		t.Helper()
		got := map[string]evaluate.GroupWindow{}
		st, err := c.ReadWindows(ctxT(t), WindowQuery{At: at, MaxAge: time.Hour, Size: 10, PageSize: 30, Shard: shard}, func(g evaluate.GroupWindow) error {
			if _, dup := got[g.Group]; dup {
				t.Errorf("group %s read twice", g.Group)
			}
			got[g.Group] = g
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, st
	}
	all, whole := read(Shard{})
	if len(all) != groups {
		t.Fatalf("unsharded read: %d groups, want %d", len(all), groups)
	}
	seen := map[string]int{}
	docs := 0
	for i := range 3 {
		shard := Shard{Index: i, Count: 3}
		got, st := read(shard)
		docs += st.Docs
		if len(got) == 0 {
			t.Errorf("shard %d read no group", i)
		}
		for g, w := range got {
			seen[g]++
			if !shard.Owns("test", g) {
				t.Errorf("shard %d read group %s, which it does not own", i, g)
			}
			if !reflect.DeepEqual(w, all[g]) {
				t.Errorf("shard %d: group %s differs from the unsharded read", i, g)
			}
		}
	}
	for g := range all {
		if seen[g] != 1 {
			t.Errorf("group %s read by %d shards, want 1", g, seen[g])
		}
	}
	if docs != whole.Docs {
		t.Errorf("the shards read %d documents in all, the whole read %d", docs, whole.Docs)
	}
}

func TestShardOwns(t *testing.T) {
	counts := make([]int, 4)
	for g := range 4000 {
		owners := 0
		for i := range 4 {
			if (Shard{Index: i, Count: 4}).Owns("prod", "group-"+strconv.Itoa(g)) {
				counts[i]++
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("group-%d has %d owners among 4 shards", g, owners)
		}
	}
	for i, n := range counts {
		// 1,000 expected; a hash that kept groups together would not
		// spread them this evenly.
		if n < 850 || n > 1150 {
			t.Errorf("shard %d of 4 owns %d of 4,000 groups", i, n)
		}
	}
	for _, s := range []Shard{{}, {Index: 0, Count: 1}} {
		if !s.Owns("any", "group") {
			t.Errorf("%+v does not own every group", s)
		}
	}
}
