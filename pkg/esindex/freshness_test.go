package esindex

import (
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// TestCollectorTicks writes collector documents of four clusters, every
// 30 s, and reads what the stale decision takes from them.
func TestCollectorTicks(t *testing.T) {
	names, es := installed(t)
	w := newWriter(t, es, names, WriterOptions{SpoolDir: t.TempDir()})
	const interval = 30 * time.Second
	at := func(i int) time.Time { return tick0.Add(time.Duration(i) * interval) }
	write := func(d TickDoc) {
		t.Helper()
		if res, err := w.WriteTick(ctxT(t), d); err != nil || res.Indexed != 1 {
			t.Fatalf("write the tick of %s at %s: %+v, %v", d.Cluster, d.Time, res, err)
		}
	}
	for i := range 30 {
		// steady reads at every tick; empty has no partition to read.
		write(TickDoc{Time: at(i), Cluster: "steady", Result: "ok", Groups: 2, Partitions: 5})
		write(TickDoc{Time: at(i), Cluster: "empty", Result: "ok"})
		// failing read until tick 14, then could not reach Kafka.
		if i < 15 {
			write(TickDoc{Time: at(i), Cluster: "failing", Result: "ok", Groups: 1, Partitions: 3, PartitionErrors: 1})
		} else {
			write(TickDoc{Time: at(i), Cluster: "failing", Result: "error", Error: "dial tcp 127.0.0.1:1: connect: connection refused"})
		}
		// unreadable read until tick 25, then every partition failed.
		pe := 0
		if i > 25 {
			pe = 3
		}
		write(TickDoc{Time: at(i), Cluster: "unreadable", Result: "ok", Groups: 1, Partitions: 3, PartitionErrors: pe})
	}
	refreshIndex(t, es, names.Ticks)
	c := clientOf(t, es, names)

	cases := []struct {
		name, reason string
		at           time.Time
		lookback     time.Duration
		cluster      string
		// per cluster: its newest tick known, its newest that read (zero:
		// none), the error of its newest tick
		want     map[string]tickWant
		requests int
	}{
		{"every cluster at the last tick", "one request, and a second for the cluster whose recent ticks all failed",
			at(29), time.Hour, "", map[string]tickWant{
				"steady":     {newest: at(29), read: at(29)},
				"empty":      {newest: at(29), read: at(29)},
				"failing":    {newest: at(29), read: at(14), err: "dial tcp 127.0.0.1:1: connect: connection refused"},
				"unreadable": {newest: at(29), read: at(25), err: "the offsets of every partition (3) unreadable"},
			}, 2},
		{"an earlier instant", "nothing after it is read: every cluster still read then", at(12), time.Hour, "", map[string]tickWant{
			"steady": {newest: at(12), read: at(12)}, "empty": {newest: at(12), read: at(12)},
			"failing": {newest: at(12), read: at(12)}, "unreadable": {newest: at(12), read: at(12)},
		}, 1},
		{"one cluster", "only the cluster asked for", at(29), time.Hour, "failing", map[string]tickWant{
			"failing": {newest: at(29), read: at(14), err: "dial tcp 127.0.0.1:1: connect: connection refused"},
		}, 2},
		{"a short lookback", "the last read lies before the lookback: none is found", at(29), 6 * time.Minute, "failing", map[string]tickWant{
			"failing": {newest: at(29), err: "dial tcp 127.0.0.1:1: connect: connection refused"},
		}, 2},
		{"long after", "a cluster without a tick within the lookback is not there", at(29).Add(2 * time.Hour), time.Hour, "", map[string]tickWant{}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, requests, err := c.CollectorTicks(ctxT(t), tc.at, tc.lookback, tc.cluster)
			if err != nil {
				t.Fatal(err)
			}
			if requests != tc.requests || len(got) != len(tc.want) {
				t.Errorf("%s: %d requests, %d clusters; want %d, %d", tc.reason, requests, len(got), tc.requests, len(tc.want))
			}
			for cluster, want := range tc.want {
				h := got[cluster]
				if len(h.Recent) == 0 {
					t.Errorf("%s: %s has no tick", tc.reason, cluster)
					continue
				}
				if !h.Recent[0].Time.Equal(want.newest) || !h.LastRead.Equal(want.read) || h.Recent[0].Err != want.err ||
					len(h.Recent) != min(recentTicks, int(tc.at.Sub(tick0)/interval)+1) {
					t.Errorf("%s: %s: newest %v (err %q), read %v, %d recent; want %v (%q), %v", tc.reason, cluster,
						h.Recent[0].Time, h.Recent[0].Err, h.LastRead, len(h.Recent), want.newest, want.err, want.read)
				}
				if i := evaluate.TickInterval(h.Recent); i != interval {
					t.Errorf("%s: %s: interval %v, want %v", tc.reason, cluster, i, interval)
				}
			}
		})
	}
}

type tickWant struct {
	newest, read time.Time
	err          string
}
