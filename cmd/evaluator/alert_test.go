package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// hook is a local HTTP server that records the alerts posted to it.
type hook struct {
	mu     sync.Mutex
	alerts []map[string]any
	srv    *httptest.Server
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &a); err != nil {
			t.Errorf("webhook body is not JSON: %s", b)
			w.WriteHeader(400)
			return
		}
		h.mu.Lock()
		h.alerts = append(h.alerts, a)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.alerts {
		out = append(out, a["kind"].(string)+":"+a["status"].(string))
	}
	return out
}

// stoppedSnapshot is one tick of a group whose consumer left at offset
// committed on a partition whose log end is logEnd.
func stoppedSnapshot(at time.Time, group string, committed, logEnd int64) snapshot.Snapshot {
	return snapshot.Snapshot{Cluster: "alerts", Time: at, Groups: []snapshot.Group{{
		ID: group, State: "Empty", ProtocolType: "consumer",
		Partitions: []snapshot.Partition{{Topic: "orders", Partition: 0, Committed: committed, HasCommitted: true,
			LogEnd: logEnd, HasOffsets: true}},
	}}}
}

// TestWebhookOpenResendClose runs the evaluator as a batch job, each run a
// fresh process state, against a local webhook: the first run opens an
// incident, a second run right after (a restart) sends nothing, a run after
// the resend interval re-sends, a run once the group is OK closes, and the
// run after that sends nothing.
func TestWebhookOpenResendClose(t *testing.T) {
	es := testenv.ESClient(t)
	ns := strings.ReplaceAll(testenv.Name(t, "alerts"), "-", "")
	names, err := esindex.NewNames(ns)
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, names.Offsets, names.Groups, names.Status, names.Ticks)
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{names.Incidents}, es.Indices.Delete.WithIgnoreUnavailable(true)); err == nil {
			res.Body.Close()
		}
	})
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
	write := func(s snapshot.Snapshot) {
		t.Helper()
		if _, err := w.Write(ctx, s); err != nil {
			t.Fatalf("write snapshot: %v", err)
		}
		if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err == nil {
			res.Body.Close()
		}
	}

	h := newHook(t)
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_WEBHOOK_URL", h.srv.URL)
	t.Setenv("EVALUATOR_WEBHOOK_RETRIES", "0")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	t.Setenv("EVALUATOR_ALERT_RESEND", "1h")
	evaluate := func(step string) {
		t.Helper()
		var stderr bytes.Buffer
		if err := run(ctx, []string{"--once"}, io.Discard, &stderr); err != nil {
			t.Fatalf("%s: evaluator --once: %v\n%s", step, err, stderr.String())
		}
	}

	now := time.Now().UTC()
	for i := 3; i >= 1; i-- {
		write(stoppedSnapshot(now.Add(-time.Duration(i)*time.Second), "billing", 5, 20+int64(3-i)))
	}
	evaluate("first run")
	if got := h.kinds(); len(got) != 1 || got[0] != "open:ERR" {
		t.Fatalf("after the first run: alerts %v, want [open:ERR]", got)
	}
	evaluate("restart")
	if got := h.kinds(); len(got) != 1 {
		t.Fatalf("a restart sent again: %v", got)
	}

	t.Setenv("EVALUATOR_ALERT_RESEND", "1s")
	time.Sleep(1100 * time.Millisecond)
	evaluate("after the resend interval")
	if got := h.kinds(); len(got) != 2 || got[1] != "resend:ERR" {
		t.Fatalf("after the resend interval: %v, want a resend", got)
	}

	write(stoppedSnapshot(time.Now().UTC().Add(-10*time.Millisecond), "billing", 23, 23)) // caught up
	evaluate("recovered")
	if got := h.kinds(); len(got) != 3 || got[2] != "close:OK" {
		t.Fatalf("after recovery: %v, want a close", got)
	}
	t.Setenv("EVALUATOR_ALERT_RESEND", "1h")
	evaluate("after the close")
	if got := h.kinds(); len(got) != 3 {
		t.Fatalf("after the close: %v, want nothing more", got)
	}

	incidents, err := c.Incidents().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inc := incidents[notify.GroupKey{Cluster: "alerts", Group: "billing"}]
	if inc.Open || inc.Sends != 3 || inc.WorstStatus.String() != "ERR" || inc.ClosedAt.IsZero() {
		t.Errorf("stored incident %+v: want closed after 3 sends", inc)
	}
}
