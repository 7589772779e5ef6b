package esindex

import (
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }

// TestStatusWriteIsExactlyOnce writes the same evaluations twice: the second
// run finds them stored (409) and the count does not change.
func TestStatusWriteIsExactlyOnce(t *testing.T) {
	names, es := installed(t)
	if err := clientOf(t, es, names).InstallEvaluator(ctxT(t), 30*24*time.Hour); err != nil {
		t.Fatalf("InstallEvaluator: %v", err)
	}
	if err := clientOf(t, es, names).InstallEvaluator(ctxT(t), 30*24*time.Hour); err != nil {
		t.Fatalf("InstallEvaluator again: %v", err)
	}
	sw := clientOf(t, es, names).NewStatusWriter()
	docs := []StatusDoc{
		{At: tick0, Cluster: "c", Group: "ok-group", Status: "OK", Code: 1, Complete: 1, PartitionCount: 2, WindowSize: 10},
		{At: tick0, Cluster: "c", Group: "bad-group", Status: "ERR", Code: 3, Complete: 0.5, PartitionCount: 2, TotalLag: 40,
			MaxLag: &MaxLag{Topic: "t", Partition: 1, Lag: 30}, TimeLagSeconds: f64(95.5), ConsumeRate: f64(0), ProduceRate: f64(2.5), CatchUpNever: true,
			Partitions: []PartitionStatusDoc{{Topic: "t", Partition: 1, Status: "STOP", Code: 4, Complete: 1, CurrentLag: 30, TimeLagSeconds: f64(95.5),
				Start: &OffsetPoint{Offset: 7, Time: tick0.Add(-5 * time.Minute), Lag: 10}, End: &OffsetPoint{Offset: 7, Time: tick0, Lag: 30}}}},
		{At: tick0.Add(30 * time.Second), Cluster: "c", Group: "ok-group", Status: "OK", Code: 1, Complete: 1},
	}
	for run, want := range []struct{ indexed, dup int }{{3, 0}, {0, 3}} {
		res, err := sw.Write(ctxT(t), docs)
		if err != nil || res.Indexed != want.indexed || res.Duplicates != want.dup {
			t.Fatalf("run %d: %+v, %v; want %d indexed, %d duplicates", run+1, res, err, want.indexed, want.dup)
		}
	}
	refreshIndex(t, es, names.Status)
	if n := countAt(t, es, names.Status, tick0); n != 2 {
		t.Errorf("%d status documents at the first instant, want 2", n)
	}
}
