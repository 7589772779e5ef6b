package evaluate

import (
	"fmt"
	"testing"
	"time"
)

// Partition windows of known status, for the group table.
var (
	okWindow     = live(ramp(0, 100, 10), ramp(0, 100, 10))          // OK, lag 0, complete
	warnWindow   = live(ramp(0, 10, 10), ramp(100, 20, 10))          // WARN, lag 190, complete
	stopWindow   = gone(repeat(100, 10), ramp(150, 10, 10))          // STOP, lag 140, complete
	stallWindow  = live(repeat(100, 5), repeat(150, 5))              // STALL, lag 50, half
	rewindWindow = live(ints(100, 110, 120, 60, 70), repeat(250, 5)) // REWIND, lag 180, half
)

func part(topic string, p int32, obs []Observation) PartitionWindow {
	return PartitionWindow{Topic: topic, Partition: p, Obs: obs}
}

func TestEvaluateGroup(t *testing.T) {
	now := after(okWindow)
	cases := []struct {
		name         string
		reason       string
		parts        []PartitionWindow
		want         Status
		wantComplete float64
		wantTotal    int64
		wantMax      string // "topic/partition", "" for nil
		wantNonOK    int
		wantCount    int
	}{
		{
			name:   "no partitions",
			reason: "no document: NOTFOUND, complete 1 as in Burrow's answer",
			parts:  nil, want: NotFound, wantComplete: 1,
		},
		{
			name:   "partitions without observations",
			reason: "a window with no document is no document: NOTFOUND",
			parts:  []PartitionWindow{part("a", 0, nil), part("a", 1, nil)},
			want:   NotFound, wantComplete: 1,
		},
		{
			name:   "all OK",
			reason: "every partition OK: OK",
			parts:  []PartitionWindow{part("a", 0, okWindow), part("a", 1, okWindow)},
			want:   OK, wantComplete: 1, wantMax: "a/0", wantCount: 2,
		},
		{
			name:   "worst is WARN",
			reason: "WARN stays WARN",
			parts:  []PartitionWindow{part("a", 0, okWindow), part("a", 1, warnWindow)},
			want:   Warn, wantComplete: 1, wantTotal: 190, wantMax: "a/1", wantNonOK: 1, wantCount: 2,
		},
		{
			name:   "STOP is ERR",
			reason: "STOP outranks WARN and becomes ERR",
			parts:  []PartitionWindow{part("a", 0, warnWindow), part("b", 0, stopWindow), part("a", 1, okWindow)},
			want:   Err, wantComplete: 1, wantTotal: 330, wantMax: "a/0", wantNonOK: 2, wantCount: 3,
		},
		{
			name:   "STALL is ERR",
			reason: "STALL becomes ERR; one of two windows full: complete 0.5",
			parts:  []PartitionWindow{part("a", 0, okWindow), part("a", 1, stallWindow)},
			want:   Err, wantComplete: 0.5, wantTotal: 50, wantMax: "a/1", wantNonOK: 1, wantCount: 2,
		},
		{
			name:   "REWIND is ERR",
			reason: "REWIND becomes ERR",
			parts:  []PartitionWindow{part("a", 0, rewindWindow)},
			want:   Err, wantComplete: 0, wantTotal: 180, wantMax: "a/0", wantNonOK: 1, wantCount: 1,
		},
		{
			name:   "max lag tie goes to the first partition",
			reason: "equal lags: the first in (topic, partition) order, whatever the input order",
			parts:  []PartitionWindow{part("b", 0, stopWindow), part("a", 2, stopWindow)},
			want:   Err, wantComplete: 1, wantTotal: 280, wantMax: "a/2", wantNonOK: 2, wantCount: 2,
		},
		{
			name:   "empty windows are skipped",
			reason: "a partition without documents neither counts nor lowers complete",
			parts:  []PartitionWindow{part("a", 0, okWindow), part("a", 1, nil)},
			want:   OK, wantComplete: 1, wantMax: "a/0", wantCount: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := EvaluateGroup(GroupWindow{Cluster: "c1", Group: "g1", Partitions: tc.parts}, Rules{}, now)
			if g.Status != tc.want {
				t.Errorf("Status = %v, want %v: %s", g.Status, tc.want, tc.reason)
			}
			if g.Complete != tc.wantComplete {
				t.Errorf("Complete = %v, want %v: %s", g.Complete, tc.wantComplete, tc.reason)
			}
			if g.TotalLag != tc.wantTotal {
				t.Errorf("TotalLag = %d, want %d", g.TotalLag, tc.wantTotal)
			}
			gotMax := ""
			if g.MaxLag != nil {
				gotMax = fmt.Sprintf("%s/%d", g.MaxLag.Topic, g.MaxLag.Partition)
			}
			if gotMax != tc.wantMax {
				t.Errorf("MaxLag = %q, want %q: %s", gotMax, tc.wantMax, tc.reason)
			}
			if n := len(g.NonOK()); n != tc.wantNonOK {
				t.Errorf("len(NonOK()) = %d, want %d", n, tc.wantNonOK)
			}
			if g.PartitionCount != tc.wantCount || len(g.Partitions) != tc.wantCount {
				t.Errorf("PartitionCount = %d, len(Partitions) = %d, want %d", g.PartitionCount, len(g.Partitions), tc.wantCount)
			}
			for i := 1; i < len(g.Partitions); i++ {
				a, b := g.Partitions[i-1], g.Partitions[i]
				if a.Topic > b.Topic || (a.Topic == b.Topic && a.Partition >= b.Partition) {
					t.Errorf("Partitions not in (topic, partition) order: %s/%d before %s/%d", a.Topic, a.Partition, b.Topic, b.Partition)
				}
			}
			if g.Cluster != "c1" || g.Group != "g1" {
				t.Errorf("identity = %s/%s", g.Cluster, g.Group)
			}
		})
	}
}

func TestGroupTimeLagAndRates(t *testing.T) {
	exact := live(ints(90, 120, 131), ints(100, 164, 228))     // 45s, exact
	lower := live(ints(900, 900, 900), ints(1000, 1100, 1200)) // 60s, lower bound
	shortLower := live(ints(900, 900), ints(1000, 1100))       // 30s, lower bound
	noCommit := with(live(ints(0, 0), ints(10, 20)), 1, func(o *Observation) { o.HasCommitted, o.HasLag = false, false })
	cases := []struct {
		name    string
		reason  string
		parts   []PartitionWindow
		want    TimeLag
		consume float64
		produce float64
	}{
		{
			name:    "maximum of exact time lags",
			reason:  "45s and 0s: 45s",
			parts:   []PartitionWindow{part("a", 0, exact), part("a", 1, live(ints(0, 300, 600), ints(0, 300, 600)))},
			want:    TimeLag{Duration: 45 * time.Second, Known: true},
			consume: 41.0/60 + 10, produce: 128.0/60 + 10,
		},
		{
			name:    "a lower bound makes the maximum a lower bound",
			reason:  "45s exact, 60s at least: at least 60s",
			parts:   []PartitionWindow{part("a", 0, exact), part("a", 1, lower)},
			want:    TimeLag{Duration: 60 * time.Second, Known: true, LowerBound: true},
			consume: 41.0/60 + 0, produce: 128.0/60 + 200.0/60,
		},
		{
			name:    "a lower bound below an exact maximum",
			reason:  "the smaller lower-bounded partition may be further behind: still a lower bound",
			parts:   []PartitionWindow{part("a", 0, shortLower), part("a", 1, exact)},
			want:    TimeLag{Duration: 45 * time.Second, Known: true, LowerBound: true},
			consume: 0 + 41.0/60, produce: 100.0/30 + 128.0/60,
		},
		{
			name:    "unknown partitions are ignored",
			reason:  "a partition without commit has no time lag and no consume rate",
			parts:   []PartitionWindow{part("a", 0, noCommit)},
			want:    TimeLag{},
			consume: 0, produce: 10.0 / 30,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := EvaluateGroup(GroupWindow{Partitions: tc.parts}, Rules{}, t0.Add(time.Hour))
			if g.TimeLag != tc.want {
				t.Errorf("TimeLag = %+v, want %+v: %s", g.TimeLag, tc.want, tc.reason)
			}
			if !near(g.ConsumeRate, tc.consume) || !near(g.ProduceRate, tc.produce) {
				t.Errorf("rates = %v, %v; want %v, %v", g.ConsumeRate, g.ProduceRate, tc.consume, tc.produce)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
