package evaluator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// countingHistory counts the reads of what the history knows.
type countingHistory struct {
	History
	mu                             sync.Mutex
	clusters, groups, seen, oldest int
}

func (c *countingHistory) add(n *int) {
	c.mu.Lock()
	*n++
	c.mu.Unlock()
}

func (c *countingHistory) KnownClusters(ctx context.Context, from, to time.Time) ([]string, error) {
	c.add(&c.clusters)
	return c.History.KnownClusters(ctx, from, to)
}

func (c *countingHistory) KnownGroups(ctx context.Context, from, to time.Time, cluster string) ([]esindex.GroupKey, int, error) {
	c.add(&c.groups)
	return c.History.KnownGroups(ctx, from, to, cluster)
}

func (c *countingHistory) GroupSeen(ctx context.Context, from, to time.Time, cluster, group string) (bool, error) {
	c.add(&c.seen)
	return c.History.GroupSeen(ctx, from, to, cluster, group)
}

func (c *countingHistory) OldestTick(ctx context.Context) (time.Time, error) {
	c.add(&c.oldest)
	return c.History.OldestTick(ctx)
}

func (c *countingHistory) counts() [4]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return [4]int{c.clusters, c.groups, c.seen, c.oldest}
}

// TestUnknownNamesFromMemory: requests for the present about names the
// history does not know read what it knows once, not once per name; a
// group without a window asked about at an instant is looked up alone.
func TestUnknownNamesFromMemory(t *testing.T) {
	h, _ := apiHarness(t)
	counting := &countingHistory{History: h.history}
	src := NewSource(h.cfg, counting)
	ctx := context.Background()
	now := time.Time{}
	for i := range 500 {
		name := fmt.Sprintf("nowhere-%d", i)
		if _, err := src.Consumers(ctx, now, name); !errors.Is(err, burrowapi.ErrClusterNotFound) {
			t.Fatalf("Consumers(%s): %v", name, err)
		}
		if _, err := src.Consumer(ctx, now, name, "g"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
			t.Fatalf("Consumer(%s): %v", name, err)
		}
		if _, err := src.Topic(ctx, now, name, "t"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
			t.Fatalf("Topic(%s): %v", name, err)
		}
		if _, err := src.Consumer(ctx, now, "c", name); !errors.Is(err, burrowapi.ErrGroupNotFound) {
			t.Fatalf("Consumer(c, %s): %v", name, err)
		}
	}
	if got, err := src.Consumer(ctx, now, "c", "c-gone"); err != nil || got.Result.Status != evaluate.NotFound {
		t.Errorf("a known group without a window: %v, %v; want NOTFOUND", got.Result.Status, err)
	}
	if got := counting.counts(); got != [4]int{1, 1, 0, 0} {
		t.Errorf("clusters, groups, single groups, oldest read %v times; want the clusters and c's groups once", got)
	}
	// Without a present view a group's window is read (c's tick times
	// cached): unknown clusters make no entry.
	if n := len(src.ticks); n != 1 {
		t.Errorf("%d tick entries, want c's alone", n)
	}
	if n := len(src.groupSets); n != 1 {
		t.Errorf("groups held for %d clusters, want c's alone", n)
	}
	// Stale after knownTTL: read again, once.
	src.mu.Lock()
	src.clusters.until = time.Now().Add(-time.Second)
	src.mu.Unlock()
	for range 10 {
		if _, err := src.Clusters(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if got := counting.counts(); got[0] != 2 {
		t.Errorf("clusters read %d times after they went stale, want 2", got[0])
	}
	// At an instant: the group alone, never every group.
	if got, err := src.Consumer(ctx, at0, "c", "c-gone"); err != nil || got.Result.Status != evaluate.NotFound {
		t.Errorf("c-gone at an instant: %v, %v; want NOTFOUND", got.Result.Status, err)
	}
	if _, err := src.Consumer(ctx, at0, "c", "nope"); !errors.Is(err, burrowapi.ErrGroupNotFound) {
		t.Errorf("nope at an instant: %v", err)
	}
	if got := counting.counts(); got[1] != 1 || got[2] != 2 {
		t.Errorf("at an instant: every group listed %d times, single groups asked %d; want 1 (from before) and 2", got[1], got[2])
	}
}

// TestKnownReadFailure: a failed read of what the history knows is the
// requests' error for a second, then read again.
func TestKnownReadFailure(t *testing.T) {
	h, _ := apiHarness(t)
	h.history.knownErr = errors.New("search: 503")
	src := NewSource(h.cfg, h.history)
	ctx := context.Background()
	for range 3 {
		if _, err := src.Consumer(ctx, time.Time{}, "c", "c-gone"); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("c-gone while the history fails: %v", err)
		}
	}
	h.history.knownErr = nil
	src.mu.Lock()
	for _, s := range src.groupSets {
		s.groups.until = time.Now().Add(-time.Millisecond)
	}
	src.mu.Unlock()
	if got, err := src.Consumer(ctx, time.Time{}, "c", "c-gone"); err != nil || got.Result.Status != evaluate.NotFound {
		t.Errorf("after recovery: %v, %v; want NOTFOUND", got.Result.Status, err)
	}
}

// TestEarliest: the later of the retention and the oldest tick.
func TestEarliest(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		retention time.Duration
		oldest    time.Time
		oldestErr error
		want      time.Time
		why       string
	}{
		{"retention", 720 * time.Hour, now.Add(-800 * time.Hour), nil, now.Add(-720 * time.Hour), "retention (ELASTICSEARCH_RETENTION) of 30d"},
		{"oldest tick", 720 * time.Hour, now.Add(-time.Hour), nil, now.Add(-time.Hour), "the oldest tick"},
		{"forever", 0, now.Add(-time.Hour), nil, now.Add(-time.Hour), "the oldest tick"},
		{"forever, empty history", 0, time.Time{}, nil, time.Time{}, ""},
		{"a read that fails", 36 * time.Hour, time.Time{}, errors.New("boom"), now.Add(-36 * time.Hour), "of 36h0m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := apiHarness(t)
			cfg := h.cfg
			cfg.Retention = tc.retention
			src := NewSource(cfg, oldestHistory{History: h.history, t: tc.oldest, err: tc.oldestErr})
			got, why := src.Earliest(context.Background(), now)
			if !got.Equal(tc.want) || !strings.Contains(why, tc.why) {
				t.Errorf("Earliest = %v %q, want %v and %q", got, why, tc.want, tc.why)
			}
		})
	}
}

type oldestHistory struct {
	History
	t   time.Time
	err error
}

func (h oldestHistory) OldestTick(context.Context) (time.Time, error) { return h.t, h.err }

// TestUnknownNamesOnElasticsearch asks a Source on the real Elasticsearch,
// through a proxy that counts searches, about many names the history does
// not know, with and without a present view: no search per name, no
// present view or cache entry per name.
func TestUnknownNamesOnElasticsearch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "evalunknown")
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	for i := range 3 {
		s := snapshot.Snapshot{Cluster: "known", Time: t0.Add(time.Duration(i) * 10 * time.Second)}
		for _, g := range []string{"g1", "g2"} {
			s.Groups = append(s.Groups, snapshot.Group{ID: g, State: "Empty", ProtocolType: "consumer", Partitions: []snapshot.Partition{
				{Topic: "orders", Partition: 0, Committed: 5, HasCommitted: true, LogEnd: 10, HasOffsets: true}}})
		}
		h.Write(ctx, t, s)
	}
	counter := testenv.CountES(t)
	c, err := esindex.New(esindex.ConnConfig{URLs: []string{counter.URL()}}, h.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 1000,
		APITimeout: 30 * time.Second, Retention: 30 * 24 * time.Hour}
	// hostile asks about n made-up clusters, and with groups about as many
	// made-up groups of the known cluster.
	hostile := func(src *Source, n int, groups bool) {
		t.Helper()
		for i := range n {
			name := fmt.Sprintf("made-up-%d", i)
			if _, err := src.Consumers(ctx, time.Time{}, name); !errors.Is(err, burrowapi.ErrClusterNotFound) {
				t.Fatalf("Consumers(%s): %v", name, err)
			}
			if _, err := src.Topics(ctx, time.Time{}, name); !errors.Is(err, burrowapi.ErrClusterNotFound) {
				t.Fatalf("Topics(%s): %v", name, err)
			}
			if _, err := src.Consumer(ctx, time.Time{}, name, "g1"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
				t.Fatalf("Consumer(%s, g1): %v", name, err)
			}
			if !groups {
				continue
			}
			if _, err := src.Consumer(ctx, time.Time{}, "known", name); !errors.Is(err, burrowapi.ErrGroupNotFound) {
				t.Fatalf("Consumer(known, %s): %v", name, err)
			}
		}
	}

	// Without a present view, a group's window is read from the history
	// (as in the first seconds of a server, or while the view is stale),
	// but an unknown cluster costs nothing.
	t.Run("history", func(t *testing.T) {
		src := NewSource(cfg, c)
		hostile(src, 1, false) // what the history knows is read here
		before := counter.Searches()
		hostile(src, 300, false)
		if n := counter.Searches() - before; n != 0 {
			t.Errorf("%d searches for 900 requests about unknown clusters, want none", n)
		}
		if len(src.ticks) != 0 || len(src.groupSets) != 0 {
			t.Errorf("%d tick entries, groups of %d clusters; want none", len(src.ticks), len(src.groupSets))
		}
	})
	t.Run("present view", func(t *testing.T) {
		src := presentSource(ctx, t, cfg, c)
		hostile(src, 1, true)
		start, before := time.Now(), counter.Searches()
		hostile(src, 300, true)
		// The refresher checks the one known cluster's ticks once a
		// second: that, and nothing per name.
		if n, most := counter.Searches()-before, 2*int64(time.Since(start)/time.Second)+2; n > most {
			t.Errorf("%d searches for 1200 requests about unknown names in %s, want at most the refresher's %d", n, time.Since(start), most)
		}
		src.present.mu.Lock()
		views := len(src.present.clusters)
		src.present.mu.Unlock()
		if views != 1 {
			t.Errorf("%d present views, want the known cluster's alone", views)
		}
		if got, err := src.Consumers(ctx, time.Time{}, "known"); err != nil || len(got) != 2 {
			t.Errorf("Consumers(known): %v, %v", got, err)
		}
	})
	t.Run("oldest tick", func(t *testing.T) {
		src := NewSource(cfg, c)
		first, why := src.Earliest(ctx, time.Now())
		if !first.Equal(t0) || why != "the oldest tick of the history" {
			t.Errorf("Earliest = %v %q, want the first tick %v", first, why, t0)
		}
		before := counter.Searches()
		for range 100 {
			src.Earliest(ctx, time.Now())
		}
		if n := counter.Searches() - before; n != 0 {
			t.Errorf("%d searches for 100 more, want none within %s", n, knownTTL)
		}
	})
}
