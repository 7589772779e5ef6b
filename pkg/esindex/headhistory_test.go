package esindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestHeadPassages writes ten ticks of a partition whose log end grows by 10
// a tick (10 at tick 0, 100 at tick 9): group "early" keeps up from tick 0,
// group "late" appears at tick 6 stuck at offset 25. The history before a
// window must say when the log end passed an offset from every group's
// documents, "late" having none from that time.
func TestHeadPassages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "head")
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	tick := func(i int) time.Time { return t0.Add(time.Duration(i) * 30 * time.Second) }
	var snaps []snapshot.Snapshot
	for i := range 10 {
		end := int64(10 * (i + 1))
		part := func(committed int64) []snapshot.Partition {
			return []snapshot.Partition{{Topic: "orders", Partition: 3, Committed: committed, HasCommitted: true, LogEnd: end, HasOffsets: true}}
		}
		s := snapshot.Snapshot{Cluster: "hc", Time: tick(i), Groups: []snapshot.Group{{ID: "early", State: "Empty", Partitions: part(end)}}}
		if i >= 6 {
			s.Groups = append(s.Groups, snapshot.Group{ID: "late", State: "Empty", Partitions: part(25)})
		}
		snaps = append(snaps, s)
	}
	h.Write(ctx, t, snaps...)
	pt := func(i int) *evaluate.HeadPoint {
		return &evaluate.HeadPoint{Time: tick(i), LogEnd: int64(10 * (i + 1))}
	}
	cases := []struct {
		name   string
		q      esindex.HeadLookup
		want   evaluate.HeadPassage
		reason string
	}{
		{"passed before the group appeared", esindex.HeadLookup{Cluster: "hc", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 25, Before: tick(7)}},
			evaluate.HeadPassage{Below: pt(1), Above: pt(2)}, "log end 20 at tick 1, 30 at tick 2: from early's documents"},
		{"older than the history", esindex.HeadLookup{Cluster: "hc", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 5, Before: tick(7)}},
			evaluate.HeadPassage{Above: pt(0)}, "the first tick's log end, 10, is already past 5"},
		{"only before the window", esindex.HeadLookup{Cluster: "hc", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 85, Before: tick(5)}},
			evaluate.HeadPassage{Below: pt(4)}, "log end 50 at tick 4; what is above 85 is in the window"},
		{"another partition", esindex.HeadLookup{Cluster: "hc", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 4, Committed: 25, Before: tick(7)}},
			evaluate.HeadPassage{}, "no document"},
		{"another cluster", esindex.HeadLookup{Cluster: "other", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 25, Before: tick(7)}},
			evaluate.HeadPassage{}, "no document"},
	}
	var lookups []esindex.HeadLookup
	for _, tc := range cases {
		lookups = append(lookups, tc.q)
	}
	got, requests, err := h.Client.HeadPassages(ctx, lookups)
	if err != nil {
		t.Fatal(err)
	}
	if requests != 1 || len(got) != len(cases) {
		t.Fatalf("%d answers in %d requests, want %d in one", len(got), requests, len(cases))
	}
	for i, tc := range cases {
		if !samePoint(got[i].Below, tc.want.Below) || !samePoint(got[i].Above, tc.want.Above) {
			t.Errorf("%s: below %v above %v, want %v and %v: %s", tc.name, got[i].Below, got[i].Above, tc.want.Below, tc.want.Above, tc.reason)
		}
	}

	// Many lookups: one request per 500.
	many := make([]esindex.HeadLookup, 1201)
	for i := range many {
		many[i] = lookups[0]
	}
	got, requests, err = h.Client.HeadPassages(ctx, many)
	if err != nil {
		t.Fatal(err)
	}
	if requests != 3 || len(got) != len(many) || !samePoint(got[1200].Below, pt(1)) {
		t.Errorf("1,201 lookups: %d answers in %d requests, the last %v; want 1,201 in 3, each like the first", len(got), requests, got[len(got)-1].Below)
	}
}

func samePoint(a, b *evaluate.HeadPoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Time.Equal(b.Time) && a.LogEnd == b.LogEnd
}
