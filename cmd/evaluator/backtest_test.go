package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// TestBacktestWritesHistoryOnce replays an incident from stored history:
// --from/--to/--step writes one verdict per group and step, the verdicts
// follow the incident (OK, then ERR once the window holds only ticks after
// the consumer stopped), and running
// the same backtest again writes nothing new.
func TestBacktestWritesHistoryOnce(t *testing.T) {
	es := testenv.ESClient(t)
	ns := strings.ReplaceAll(testenv.Name(t, "backtest"), "-", "")
	names, err := esindex.NewNames(ns)
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, names.Offsets, names.Groups, names.Status, names.Ticks)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := esindex.NewFromClient(es, names)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.NewWriter(esindex.WriterOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Install(ctx); err != nil {
		t.Fatal(err)
	}
	// Twenty 30-second ticks: the consumer keeps up for ten, then stops at
	// offset 100 while the log grows by 10 a tick.
	t0 := time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		logEnd := int64(10 * (i + 1))
		committed := logEnd
		if i >= 10 {
			committed = 100
		}
		if _, err := w.Write(ctx, stoppedSnapshot(t0.Add(time.Duration(i)*30*time.Second), "night", committed, logEnd)); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err == nil {
		res.Body.Close()
	}

	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	t.Setenv("EVALUATOR_WINDOW_SIZE", "5")
	args := []string{"--from", "2026-03-03T03:02:00Z", "--to", "2026-03-03T03:09:30Z", "--step", "30s"}
	var stderr bytes.Buffer
	if err := run(ctx, args, io.Discard, &stderr); err != nil {
		t.Fatalf("backtest: %v\n%s", err, stderr.String())
	}
	got := testenv.SearchAll[storedStatus](t, names.Status)
	if len(got) != 16 {
		t.Fatalf("%d status documents, want 16 (one per step)", len(got))
	}
	byTime := map[string]string{}
	for _, s := range got {
		byTime[s.Timestamp] = s.Lagwatch.Status.Status
	}
	for ts, want := range map[string]string{
		"2026-03-03T03:02:00.000Z": "OK", // keeping up
		"2026-03-03T03:04:30.000Z": "OK", // tick 9: last one caught up
		// Tick 10 committed 100, the log end of tick 9: a commit lag of 0,
		// in the window of ticks 8-12.
		"2026-03-03T03:06:00.000Z": "OK",
		"2026-03-03T03:07:00.000Z": "OK",  // ticks 10-14: still holds tick 10
		"2026-03-03T03:07:30.000Z": "ERR", // ticks 11-15: lag throughout, nobody reads
		"2026-03-03T03:09:30.000Z": "ERR",
	} {
		if byTime[ts] != want {
			t.Errorf("at %s: %q, want %s", ts, byTime[ts], want)
		}
	}

	stderr.Reset()
	if err := run(ctx, args, io.Discard, &stderr); err != nil {
		t.Fatalf("second backtest: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"duplicates":1`) || strings.Contains(stderr.String(), `"written":1`) {
		t.Errorf("second run should find every verdict stored:\n%s", stderr.String())
	}
	if n := len(testenv.SearchAll[storedStatus](t, names.Status)); n != 16 {
		t.Errorf("after re-running: %d status documents, want still 16", n)
	}
}
