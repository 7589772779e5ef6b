package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
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
		{At: tick0, Cluster: "silent", Group: "stale-group", Status: "WARN", Code: 2, Complete: 1, PartitionCount: 1, TotalLag: 5,
			TimeLagSeconds: f64(1260), TimeLagLowerBound: true, Stale: true, NewestTick: tick0.Add(-20 * time.Minute),
			StaleReason: "no collector tick since " + tick0.Add(-20*time.Minute).Format(time.RFC3339)},
	}
	for run, want := range []struct{ indexed, dup int }{{4, 0}, {0, 4}} {
		res, err := sw.Write(ctxT(t), docs)
		if err != nil || res.Indexed != want.indexed || res.Duplicates != want.dup {
			t.Fatalf("run %d: %+v, %v; want %d indexed, %d duplicates", run+1, res, err, want.indexed, want.dup)
		}
	}
	refreshIndex(t, es, names.Status)
	if n := countAt(t, es, names.Status, tick0); n != 3 {
		t.Errorf("%d status documents at the first instant, want 3", n)
	}
}

// TestInstallEvaluatorAddsFields: a status data stream and an incident
// index made by an older version, without the fields this one writes,
// take them once the evaluator installs its templates, without waiting
// for a rollover.
func TestInstallEvaluatorAddsFields(t *testing.T) {
	names, es := installed(t)
	t.Cleanup(func() {
		_, _ = es.Indices.Delete([]string{names.Incidents, names.IncidentLog})
		for _, name := range []string{names.Incidents, names.IncidentLog} {
			_, _ = es.Indices.DeleteIndexTemplate(name)
		}
	})
	old := map[string]any{
		"priority": templatePriority,
		"template": map[string]any{"mappings": map[string]any{"dynamic": "strict", "properties": map[string]any{
			"@timestamp": map[string]any{"type": "date"},
			"kafka": map[string]any{"properties": map[string]any{
				"cluster":       map[string]any{"properties": map[string]any{"name": map[string]any{"type": "keyword"}}},
				"consumergroup": map[string]any{"properties": map[string]any{"id": map[string]any{"type": "keyword"}}}}},
			"lagwatch": map[string]any{"properties": map[string]any{
				"status":   map[string]any{"properties": map[string]any{"status": map[string]any{"type": "keyword"}}},
				"incident": map[string]any{"properties": map[string]any{"open": map[string]any{"type": "boolean"}}}}},
		}}}}
	for _, name := range []string{names.Status, names.Incidents} {
		tmpl := maps.Clone(old)
		tmpl["index_patterns"] = []string{name}
		if name == names.Status {
			tmpl["data_stream"] = map[string]any{}
		}
		body, _ := json.Marshal(tmpl)
		res, err := es.Indices.PutIndexTemplate(name, bytes.NewReader(body))
		if err != nil || res.IsError() {
			t.Fatalf("older template of %s: %v %v", name, err, res)
		}
		res.Body.Close()
	}
	older := `{"@timestamp":"2026-01-01T00:00:00.000Z","kafka":{"cluster":{"name":"c"},"consumergroup":{"id":"g"}},"lagwatch":{"status":{"status":"OK"}}}`
	res, err := es.Index(names.Status, strings.NewReader(older), es.Index.WithOpType("create"))
	if err != nil || res.IsError() {
		t.Fatalf("a document of the older version: %v %v", err, res)
	}
	res.Body.Close()
	res, err = es.Index(names.Incidents, strings.NewReader(`{"lagwatch":{"incident":{"open":false}}}`))
	if err != nil || res.IsError() {
		t.Fatalf("an incident of the older version: %v %v", err, res)
	}
	res.Body.Close()

	c := clientOf(t, es, names)
	if err := c.InstallEvaluator(ctxT(t), 0); err != nil {
		t.Fatalf("InstallEvaluator over the older indices: %v", err)
	}
	doc := StatusDoc{At: tick0, Cluster: "c", Group: "g", Status: "OK", Code: 1, Complete: 1, Stale: true, NewestTick: tick0.Add(-time.Hour), StaleReason: "silent"}
	if res, err := c.NewStatusWriter().Write(ctxT(t), []StatusDoc{doc}); err != nil || res.Indexed != 1 {
		t.Errorf("a stale status into the older data stream: %+v, %v", res, err)
	}
	inc := notify.Incident{Cluster: "c", Scope: notify.ClusterScope, Open: true, Status: evaluate.Err, OpenedAt: tick0, UpdatedAt: tick0}
	if _, err := c.Incidents().Save(ctxT(t), inc); err != nil {
		t.Errorf("a cluster's incident into the older index: %v", err)
	}
}

// TestStatusesKeptWhileBlocked: under a write block on the status data
// stream, status documents are kept, not lost; the first write after the
// block is lifted writes them before its own.
func TestStatusesKeptWhileBlocked(t *testing.T) {
	names, es := installed(t)
	c := clientOf(t, es, names)
	if err := c.InstallEvaluator(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	sw := c.NewStatusWriter()
	doc := func(i int) []StatusDoc {
		return []StatusDoc{{At: tick0.Add(time.Duration(i) * time.Minute), Cluster: "c", Group: "g", Status: "OK", Code: 1, Complete: 1}}
	}
	if r, err := sw.Write(ctxT(t), doc(0)); err != nil || r.Indexed != 1 {
		t.Fatalf("before the block: %+v, %v", r, err)
	}
	lift := testenv.BlockWrites(t, ".ds-"+names.Status+"-*")
	for i := 1; i <= 2; i++ {
		r, err := sw.Write(ctxT(t), doc(i))
		// The first is refused as it is sent; the second waits, unsent,
		// behind the first, refused again.
		if err != nil || r.Spooled != 1 || r.Failed+r.Dropped != 0 || r.Refused != 1 {
			t.Fatalf("write %d under the block: %+v, %v; want it kept, one refusal", i, r, err)
		}
	}
	if n, size := sw.Backlog(); n != 2 || size <= 0 {
		t.Fatalf("backlog %d documents, %d bytes; want 2", n, size)
	}
	lift()
	r, err := sw.Write(ctxT(t), doc(3))
	if err != nil || r.Replayed != 2 || r.Indexed != 3 || r.Spooled != 0 {
		t.Fatalf("write after the block: %+v, %v; want the 2 kept written, then its own", r, err)
	}
	if n, _ := sw.Backlog(); n != 0 {
		t.Errorf("backlog %d documents after the block, want 0", n)
	}
	refreshIndex(t, es, names.Status)
	for i := range 4 {
		if n := countAt(t, es, names.Status, tick0.Add(time.Duration(i)*time.Minute)); n != 1 {
			t.Errorf("evaluation %d: %d status documents, want 1", i, n)
		}
	}
}

// TestStatusBacklogBound: past its bound the backlog drops its oldest
// documents, counted and said.
func TestStatusBacklogBound(t *testing.T) {
	names, _ := NewNames("unit")
	sw := clientOf(t, clientFor(t, closedURL), names).NewStatusWriter()
	sw.sender.opts.MaxRetries = 0
	one := StatusDoc{At: tick0, Cluster: "c", Group: "g", Status: "OK", Code: 1, Complete: 1}
	body, err := encodeStatus(one)
	if err != nil {
		t.Fatal(err)
	}
	d := doc{index: names.Status, id: statusID("c", "g", tick0.UnixMilli()), body: body}
	sw.maxBacklog = int64(bulkSize(&d)) * 2
	var docs []StatusDoc
	for i := range 3 {
		one.At = tick0.Add(time.Duration(i) * time.Minute)
		docs = append(docs, one)
	}
	r, err := sw.Write(context.Background(), docs)
	if !errors.Is(err, ErrLost) || r.Spooled != 3 || r.Dropped != 1 || !hasProblem(r, Spool) {
		t.Fatalf("Write = %+v, %v; want 3 kept, the oldest dropped past the bound, ErrLost", r, err)
	}
	if n, _ := sw.Backlog(); n != 2 {
		t.Errorf("backlog %d, want 2", n)
	}
}
