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
		{"passed before the group appeared", esindex.HeadLookup{Cluster: "hc", Group: "late", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 25, Before: tick(7)}},
			evaluate.HeadPassage{Below: pt(1), Above: pt(2)}, "log end 20 at tick 1, 30 at tick 2: from early's documents, late having none then"},
		{"older than the history", esindex.HeadLookup{Cluster: "hc", Group: "early", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 5, Before: tick(7)}},
			evaluate.HeadPassage{Above: pt(0)}, "the first tick's log end, 10, is already past 5"},
		{"only before the window", esindex.HeadLookup{Cluster: "hc", Group: "early", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 85, Before: tick(5)}},
			evaluate.HeadPassage{Below: pt(4)}, "log end 50 at tick 4; what is above 85 is in the window"},
		{"another partition", esindex.HeadLookup{Cluster: "hc", Group: "early", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 4, Committed: 25, Before: tick(7)}},
			evaluate.HeadPassage{}, "no document"},
		{"another cluster", esindex.HeadLookup{Cluster: "other", Group: "early", HeadQuery: evaluate.HeadQuery{Topic: "orders", Partition: 3, Committed: 25, Before: tick(7)}},
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
	// The oldest document of each cluster (2), one round of orders/3's and
	// orders/4's series as late saw them (the first lookup's group), and
	// one search of every group's documents for the four lookups without a
	// point below in it.
	if requests != 4 || len(got) != len(cases) {
		t.Fatalf("%d answers in %d requests, want %d in 4", len(got), requests, len(cases))
	}
	for i, tc := range cases {
		if !samePoint(got[i].Below, tc.want.Below) || !samePoint(got[i].Above, tc.want.Above) {
			t.Errorf("%s: below %v above %v, want %v and %v: %s", tc.name, got[i].Below, got[i].Above, tc.want.Below, tc.want.Above, tc.reason)
		}
	}

	// Many lookups of one partition: one series, read once.
	many := make([]esindex.HeadLookup, 1201)
	for i := range many {
		many[i] = lookups[2]
	}
	got, requests, err = h.Client.HeadPassages(ctx, many)
	if err != nil {
		t.Fatal(err)
	}
	if requests != 2 || len(got) != len(many) || !samePoint(got[1200].Below, pt(4)) {
		t.Errorf("1,201 lookups: %d answers in %d requests, the last %v; want 1,201 in 2, each like the third case", len(got), requests, got[len(got)-1].Below)
	}
}

func samePoint(a, b *evaluate.HeadPoint) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Time.Equal(b.Time) && a.LogEnd == b.LogEnd
}

// TestHeadPassagesFarBack: a consumer stuck for two hours, its partition's
// log end sampled every 10 minutes (100 more each time). The series is read
// back in widening spans (15 minutes, then an hour, then four) until it
// reaches the stuck offset.
func TestHeadPassagesFarBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "headfar")
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	tick := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Minute) }
	var snaps []snapshot.Snapshot
	for i := range 14 {
		snaps = append(snaps, snapshot.Snapshot{Cluster: "far", Time: tick(i), Groups: []snapshot.Group{{ID: "stuck", State: "Empty",
			Partitions: []snapshot.Partition{{Topic: "t", Partition: 0, Committed: 150, HasCommitted: true, LogEnd: int64(100 * (i + 1)), HasOffsets: true}}}}})
	}
	h.Write(ctx, t, snaps...)
	got, requests, err := h.Client.HeadPassages(ctx, []esindex.HeadLookup{{Cluster: "far", Group: "stuck",
		HeadQuery: evaluate.HeadQuery{Topic: "t", Partition: 0, Committed: 150, Before: tick(13)}}})
	if err != nil {
		t.Fatal(err)
	}
	want := evaluate.HeadPassage{Below: &evaluate.HeadPoint{Time: tick(0), LogEnd: 100}, Above: &evaluate.HeadPoint{Time: tick(1), LogEnd: 200}}
	if len(got) != 1 || !samePoint(got[0].Below, want.Below) || !samePoint(got[0].Above, want.Above) {
		t.Fatalf("got %+v, want below at tick 0 (100) and above at tick 1 (200)", got)
	}
	// The cluster's oldest document, then rounds of 15 min, 1 h and 4 h
	// back from tick 13 (2 h 10 min after tick 0).
	if requests != 4 {
		t.Errorf("%d requests, want 4", requests)
	}
}
