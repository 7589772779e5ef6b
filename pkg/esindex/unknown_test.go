package esindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// unknownHistory is six ticks (0-5, 30 s apart) of cluster "u":
//
//   - g-gap reads orders/0 and orders/1. Its OffsetFetch failed at tick 5
//     (orders/0 and orders/1 carry an error, no offset, their log ends
//     known); orders/1's log offsets failed at tick 3. orders/1 has a
//     commit marker at its committed offset (Skipped 1).
//   - g-dark reads orders/0; every document of ticks 2-5 carries an error.
//   - g-old reads orders/0, written as documents were before the readable
//     lag was stored: no lagwatch.readable_lag; its commit passes the log
//     end at tick 5 (Kafka's tool says 0 then).
//   - h reads heads/0 at offset 5, whose log end grows by 10 a tick (10 at
//     tick 0); its document of tick 1 carries an error (no offset) and a
//     log end of 20.
func unknownHistory(t *testing.T) (*Client, func(int) time.Time) {
	t.Helper()
	names, es := installed(t)
	w := newWriter(t, es, names, fastRetries(t.TempDir()))
	tick := func(i int) time.Time { return tick0.Add(time.Duration(i) * 30 * time.Second) }
	fetchFailed := errors.New("fetch offsets for group: COORDINATOR_NOT_AVAILABLE")
	for i := range 6 {
		end := int64(100 + 10*i)
		part := func(topic string, p int32, committed int64) snapshot.Partition {
			return snapshot.Partition{Topic: topic, Partition: p, Committed: committed, HasCommitted: true, LogEnd: end, HasOffsets: true}
		}
		gap := snapshot.Group{ID: "g-gap", State: "Empty", Partitions: []snapshot.Partition{part("orders", 0, 50), part("orders", 1, 60)}}
		gap.Partitions[1].Skipped = 1
		if i == 5 {
			gap.Err = fetchFailed
			for k := range gap.Partitions {
				p := &gap.Partitions[k]
				p.HasCommitted, p.Committed, p.Err = false, 0, fetchFailed
			}
		}
		if i == 3 {
			p := &gap.Partitions[1]
			p.HasOffsets, p.LogEnd, p.Err = false, 0, errors.New("list offsets: NOT_LEADER_OR_FOLLOWER")
		}
		dark := snapshot.Group{ID: "g-dark", State: "Empty", Partitions: []snapshot.Partition{part("orders", 0, 50)}}
		if i >= 2 {
			p := &dark.Partitions[0]
			p.HasCommitted, p.Committed, p.Err = false, 0, fetchFailed
		}
		heads := snapshot.Group{ID: "h", State: "Empty", Partitions: []snapshot.Partition{part("heads", 0, 5)}}
		heads.Partitions[0].LogEnd = int64(10 * (i + 1))
		if i == 1 {
			p := &heads.Partitions[0]
			p.HasCommitted, p.Committed, p.Err = false, 0, fetchFailed
		}
		s := snapshot.Snapshot{Cluster: "u", Time: tick(i), Groups: []snapshot.Group{dark, gap, heads}}
		if _, err := w.Write(ctxT(t), s); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
		// g-old, as an older collector wrote it.
		old := snapshot.Group{ID: "g-old", State: "Empty", Partitions: []snapshot.Partition{part("orders", 0, 90+int64(i))}}
		if i == 5 {
			old.Partitions[0].Committed = end + 3
		}
		createOld(t, names, s, &old)
	}
	refresh(t, es, names)
	return clientOf(t, es, names), tick
}

// createOld stores g's group and offsets documents of s's tick as they
// were written before the readable lags were stored: without
// lagwatch.group.total_readable_lag and lagwatch.readable_lag.
func createOld(t *testing.T, names Names, s snapshot.Snapshot, g *snapshot.Group) {
	t.Helper()
	ts, ms := s.Time.UTC().Format(timestampLayout), s.Time.UnixMilli()
	create(t, names.Groups, groupID(s.Cluster, g.ID, ms), appendGroupDoc(nil, s, ts, g), "lagwatch.group.total_readable_lag")
	for k := range g.Partitions {
		p := &g.Partitions[k]
		create(t, names.Offsets, offsetsID(s.Cluster, g.ID, p.Topic, p.Partition, ms), appendOffsetsDoc(nil, s, ts, g, p), "lagwatch.readable_lag")
	}
}

// create stores doc in index under id without the field at the dotted
// path drop (and without the objects that leaves empty).
func create(t *testing.T, index, id string, doc []byte, drop string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	var prune func(obj map[string]any, path []string)
	prune = func(obj map[string]any, path []string) {
		if len(path) == 1 {
			delete(obj, path[0])
			return
		}
		if sub, ok := obj[path[0]].(map[string]any); ok {
			prune(sub, path[1:])
			if len(sub) == 0 {
				delete(obj, path[0])
			}
		}
	}
	prune(m, strings.Split(drop, "."))
	body, _ := json.Marshal(m)
	es := testenv.ESClient(t)
	res, err := es.Create(index, id, bytes.NewReader(body), es.Create.WithContext(ctxT(t)))
	if err != nil {
		t.Fatal(err)
	}
	testenv.MustOK(t, res.StatusCode, res.Body, "create "+id+" in "+index)
}

// TestReadWindowsUnknownObservations: a document that carries
// lagwatch.error is no observation for any reader, as if its tick had not
// happened for its partition; a document written before the readable lag
// was stored reads Kafka's lag instead.
func TestReadWindowsUnknownObservations(t *testing.T) {
	c, tick := unknownHistory(t)
	q := WindowQuery{At: tick(5), MaxAge: time.Hour, Size: 4}
	got := map[string]evaluate.GroupWindow{}
	var order []GroupKey
	if _, err := c.ReadWindows(ctxT(t), q, func(g evaluate.GroupWindow) error {
		got[g.Group] = g
		order = append(order, GroupKey{g.Cluster, g.Group})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	obsTicks := func(p evaluate.PartitionWindow) []time.Time {
		var out []time.Time
		for _, o := range p.Obs {
			out = append(out, o.Time)
		}
		return out
	}
	type want struct {
		ticks  []int
		before int // -1: none
		lags   []int64
	}
	cases := []struct {
		name, group string
		partition   int
		want        want
		reason      string
	}{
		{"fetch failed at the newest tick", "g-gap", 0, want{[]int{2, 3, 4}, 1, []int64{70, 80, 90}},
			"tick 5 is left out; the window holds the others, and Before stays tick 1"},
		{"log offsets failed in the middle, fetch at the newest", "g-gap", 1, want{[]int{2, 4}, 1, []int64{59, 79}},
			"ticks 3 and 5 left out; the lag read is the readable one, a marker less than Kafka's"},
		{"an old document", "g-old", 0, want{[]int{2, 3, 4, 5}, 1, []int64{28, 37, 46, 0}},
			"no readable lag stored: newest - offset, clamped at 0 where the commit passed the log end"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := got[tc.group]
			if !ok || tc.partition >= len(g.Partitions) {
				t.Fatalf("%s: no window of partition %d (%+v)", tc.group, tc.partition, g)
			}
			p := g.Partitions[tc.partition]
			var ticks []time.Time
			for _, i := range tc.want.ticks {
				ticks = append(ticks, tick(i))
			}
			var lags []int64
			for _, o := range p.Obs {
				if !o.HasLag || !o.HasCommitted {
					t.Errorf("observation at %s without a lag or commit: %+v", o.Time, o)
				}
				lags = append(lags, o.Lag)
			}
			if !slices.EqualFunc(obsTicks(p), ticks, time.Time.Equal) || !slices.Equal(lags, tc.want.lags) {
				t.Errorf("observations at %v with lags %v, want %v and %v: %s", obsTicks(p), lags, ticks, tc.want.lags, tc.reason)
			}
			if p.Before == nil || !p.Before.Time.Equal(tick(tc.want.before)) {
				t.Errorf("Before %+v, want tick %d: %s", p.Before, tc.want.before, tc.reason)
			}
		})
	}
	if _, ok := got["g-dark"]; ok {
		t.Errorf("g-dark has a window %+v; every document of its window carries an error, so it has none", got["g-dark"])
	}
	// The groups listed are those read: g-dark's group documents are in
	// the window, its observations are not.
	listed, reqs, err := c.WindowGroups(ctxT(t), q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, order) || reqs != 4 {
		t.Errorf("WindowGroups %v in %d requests, want %v (those read) in 4: ticks, groups, groups with an error, which of them have more", listed, reqs, order)
	}

	// The history before a window skips h's document of tick 1 (log end
	// 20, no offset): the log end passed 15 between tick 0 (10) and tick 2
	// (30), as the readable documents say.
	hs, _, err := c.HeadPassages(ctxT(t), []HeadLookup{{Cluster: "u", Group: "h",
		HeadQuery: evaluate.HeadQuery{Topic: "heads", Partition: 0, Committed: 15, Before: tick(4)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Below == nil || !hs[0].Below.Time.Equal(tick(0)) || hs[0].Above == nil || !hs[0].Above.Time.Equal(tick(2)) {
		t.Errorf("passage %+v, want below at tick 0 and above at tick 2: tick 1's document carries an error", hs)
	}
}
