package evaluator

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestTimeLagFromHistory: twelve ticks, 30 s apart, of a partition whose log
// end grows by 10 a tick (10 at tick 0). Group "stuck" has sat at offset 25
// all along: the log end reached 26 at tick 1 + 18 s (20 at tick 1, 30 at
// tick 2), far before its window of 3 ticks, which can only say "at least
// 60 s". Group "fresh" appears at tick 10 at offset 0, older than the whole
// history. An evaluation run, its status documents and the API must give the
// time lag from the history: exact for "stuck", a lower bound from the
// oldest tick for "fresh".
func TestTimeLagFromHistory(t *testing.T) {
	const ticks = 12
	ctx, h, tick := recentHistory(t, "evaltimelag", ticks)
	var snaps []snapshot.Snapshot
	for i := range ticks {
		end := int64(10 * (i + 1))
		part := func(committed int64) []snapshot.Partition {
			return []snapshot.Partition{{Topic: "orders", Partition: 0, Committed: committed, HasCommitted: true, LogEnd: end, HasOffsets: true}}
		}
		s := snapshot.Snapshot{Cluster: "tl", Time: tick(i), Groups: []snapshot.Group{{ID: "stuck", State: "Empty", Partitions: part(25)}}}
		if i >= 10 {
			s.Groups = append(s.Groups, snapshot.Group{ID: "fresh", State: "Empty", Partitions: part(0)})
		}
		snaps = append(snaps, s)
	}
	h.Write(ctx, t, snaps...)
	newest := tick(ticks - 1)
	want := map[string]evaluate.TimeLag{
		"stuck": {Duration: newest.Sub(tick(1).Add(18 * time.Second)), Known: true},
		"fresh": {Duration: newest.Sub(tick(0)), Known: true, LowerBound: true},
	}

	var log bytes.Buffer
	statuses := &fakeStatuses{}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 100,
		Timeout: time.Minute, APITimeout: 30 * time.Second}
	e := New(cfg, Parts{History: h.Client, Statuses: statuses, Incidents: &fakeStore{}, Log: slog.New(slog.NewJSONHandler(&log, nil))})
	if err := e.Live(ctx); err != nil {
		t.Fatalf("evaluation: %v\n%s", err, log.String())
	}
	docs := map[string]esindex.StatusDoc{}
	for _, d := range statuses.docs() {
		docs[d.Group] = d
	}
	for g, tl := range want {
		d, ok := docs[g]
		if !ok || d.TimeLagSeconds == nil || *d.TimeLagSeconds != tl.Duration.Seconds() {
			t.Errorf("status of %s: time lag %v, want %v s", g, secondsOf(d.TimeLagSeconds), tl.Duration.Seconds())
		}
		if len(d.Partitions) != 1 || d.Partitions[0].TimeLagLowerBound != tl.LowerBound {
			t.Errorf("status of %s: partitions %+v, want one, lower bound %v", g, d.Partitions, tl.LowerBound)
		}
	}

	// The API, from the present view and from the history at an instant.
	src := e.Source()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	src.StartPresent(pctx, slog.New(slog.DiscardHandler), false)
	waitReady(t, src)
	for g, tl := range want {
		for _, at := range []time.Time{{}, newest} {
			c, err := src.Consumer(ctx, at, "tl", g)
			if err != nil {
				t.Fatal(err)
			}
			if c.Result.TimeLag != tl {
				t.Errorf("API %s at %v: time lag %+v, want %+v", g, at, c.Result.TimeLag, tl)
			}
		}
	}
}

// recentHistory is a fresh namespace of the test node (esindextest.New)
// and the times of n ticks 30 s apart, the last one 30 s ago, for
// evaluations at the present; ctx lasts two minutes at most.
func recentHistory(t *testing.T, prefix string, n int) (context.Context, esindextest.History, func(int) time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	h := esindextest.New(ctx, t, prefix)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Duration(n) * 30 * time.Second)
	return ctx, h, func(i int) time.Time { return t0.Add(time.Duration(i) * 30 * time.Second) }
}

func secondsOf(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// askingHistory answers head lookups with a passage per committed offset,
// and records what it was asked.
type askingHistory struct {
	fakeHistory
	asked [][]esindex.HeadLookup
}

func (h *askingHistory) HeadPassages(_ context.Context, lookups []esindex.HeadLookup) ([]evaluate.HeadPassage, int, error) {
	h.asked = append(h.asked, slices.Clone(lookups))
	out := make([]evaluate.HeadPassage, len(lookups))
	for i, l := range lookups {
		out[i] = evaluate.HeadPassage{Above: &evaluate.HeadPoint{Time: l.Before.Add(-time.Minute), LogEnd: l.Committed + 1}}
		if l.Committed == 7 { // only the point below: not kept
			out[i] = evaluate.HeadPassage{Below: &evaluate.HeadPoint{Time: l.Before.Add(-time.Minute), LogEnd: 7}}
		}
	}
	return out, 1, nil
}

// TestHeadCacheLookup: one question per partition and offset, asked with the
// earliest window start; stable answers are not asked again, answers with
// only the point below are.
func TestHeadCacheLookup(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	l := func(group int, committed int64, before time.Time) esindex.HeadLookup {
		return esindex.HeadLookup{Cluster: "c", Group: "g", HeadQuery: evaluate.HeadQuery{Topic: "t", Partition: int32(group % 2), Committed: committed, Before: before}}
	}
	h := &askingHistory{}
	var c headCache
	first := []esindex.HeadLookup{l(0, 5, t0.Add(time.Minute)), l(2, 5, t0), l(1, 5, t0), l(0, 7, t0)}
	hs, requests, err := c.lookup(context.Background(), h, first)
	if err != nil || requests != 1 || len(hs) != 4 {
		t.Fatalf("lookup: %d answers, %d requests, %v", len(hs), requests, err)
	}
	want := []esindex.HeadLookup{l(0, 5, t0), l(1, 5, t0), l(0, 7, t0)}
	if !slices.Equal(h.asked[0], want) {
		t.Errorf("asked %+v, want %+v: t/0 at 5 once, with the earlier window start", h.asked[0], want)
	}
	if hs[0].Above == nil || !hs[0].Above.Time.Equal(t0.Add(-time.Minute)) || hs[1] != hs[0] {
		t.Errorf("answers %+v: the first two share the one asked at %s", hs[:2], t0)
	}
	if _, requests, _ := c.lookup(context.Background(), h, first); requests != 1 || len(h.asked) != 2 || !slices.Equal(h.asked[1], []esindex.HeadLookup{l(0, 7, t0)}) {
		t.Errorf("again: %d requests, asked %+v; want only t/0 at 7, its answer having only the point below", requests, h.asked[1:])
	}
}
