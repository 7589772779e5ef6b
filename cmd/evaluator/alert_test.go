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

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
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

// alertGroup is one group of cluster "alerts" (stoppedSnapshot) in a fresh
// namespace of the test node, with the test's environment pointing the
// evaluator at it (no listeners).
type alertGroup struct {
	name   string
	es     *elasticsearch.Client
	names  esindex.Names
	client *esindex.Client
	// write stores a tick of the group and makes it searchable at once.
	write func(at time.Time, committed, logEnd int64)
}

func newAlertGroup(ctx context.Context, t *testing.T, prefix string) *alertGroup {
	t.Helper()
	es, ns, names, c, w := newHistory(ctx, t, prefix)
	g := &alertGroup{name: testenv.Name(t, prefix+"-group"), es: es, names: names, client: c}
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	t.Setenv("EVALUATOR_HTTP_ADDR", "")
	g.write = func(at time.Time, committed, logEnd int64) {
		t.Helper()
		if _, err := w.Write(ctx, stoppedSnapshot(at, g.name, committed, logEnd)); err != nil {
			t.Fatalf("write snapshot: %v", err)
		}
		if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err == nil {
			res.Body.Close()
		}
	}
	return g
}

// stop writes three ticks, a second apart up to a second ago, of the
// group's consumer gone at offset 5 while the log end grows from 20 to 22:
// the group is ERR (its partition STOP, lag 17), an incident opens.
func (g *alertGroup) stop() {
	now := time.Now().UTC()
	for i := 3; i >= 1; i-- {
		g.write(now.Add(-time.Duration(i)*time.Second), 5, 20+int64(3-i))
	}
}

// catchUp writes a tick of the consumer caught up at offset 23: the group
// is OK again, its incident closes.
func (g *alertGroup) catchUp() { g.write(time.Now().UTC().Add(-10*time.Millisecond), 23, 23) }

// runOnce runs `evaluator --once` in the test's environment, failing the
// test (at step) on an error, and returns what it logged.
func runOnce(ctx context.Context, t *testing.T, step string) (log string) {
	t.Helper()
	var stderr bytes.Buffer
	if err := run(ctx, []string{"--once"}, io.Discard, &stderr); err != nil {
		t.Fatalf("%s: evaluator --once: %v\n%s", step, err, stderr.String())
	}
	return stderr.String()
}

// evaluateHistory makes what was written to names searchable and points
// the evaluator that run starts at namespace ns of the test node, without a
// metrics listener.
func evaluateHistory(t *testing.T, es *elasticsearch.Client, ns string, names esindex.Names) {
	t.Helper()
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err == nil {
		res.Body.Close()
	}
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
}

// newHistory is a fresh namespace on the test node with the collector's
// templates installed, its client and a writer (esindextest.New).
func newHistory(ctx context.Context, t *testing.T, prefix string) (*elasticsearch.Client, string, esindex.Names, *esindex.Client, *esindex.Writer) {
	t.Helper()
	h := esindextest.New(ctx, t, prefix)
	return h.ES, h.Namespace, h.Names, h.Client, h.Writer
}

// TestWebhookOpenResendClose runs the evaluator as a batch job, each run a
// fresh process state, against a local webhook: the first run opens an
// incident, a second run right after (a restart) sends nothing, a run after
// the resend interval re-sends, a run once the group is OK closes, and the
// run after that sends nothing.
func TestWebhookOpenResendClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := newAlertGroup(ctx, t, "alerts")
	h := newHook(t)
	t.Setenv("EVALUATOR_WEBHOOK_URL", h.srv.URL)
	t.Setenv("EVALUATOR_WEBHOOK_RETRIES", "0")
	t.Setenv("EVALUATOR_ALERT_RESEND", "1h")

	g.stop()
	runOnce(ctx, t, "first run")
	if got := h.kinds(); len(got) != 1 || got[0] != "open:ERR" {
		t.Fatalf("after the first run: alerts %v, want [open:ERR]", got)
	}
	runOnce(ctx, t, "restart")
	if got := h.kinds(); len(got) != 1 {
		t.Fatalf("a restart sent again: %v", got)
	}

	t.Setenv("EVALUATOR_ALERT_RESEND", "1s")
	time.Sleep(1100 * time.Millisecond)
	runOnce(ctx, t, "after the resend interval")
	if got := h.kinds(); len(got) != 2 || got[1] != "resend:ERR" {
		t.Fatalf("after the resend interval: %v, want a resend", got)
	}

	g.catchUp()
	runOnce(ctx, t, "recovered")
	if got := h.kinds(); len(got) != 3 || got[2] != "close:OK" {
		t.Fatalf("after recovery: %v, want a close", got)
	}
	t.Setenv("EVALUATOR_ALERT_RESEND", "1h")
	runOnce(ctx, t, "after the close")
	if got := h.kinds(); len(got) != 3 {
		t.Fatalf("after the close: %v, want nothing more", got)
	}

	incidents, err := g.client.Incidents().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inc := incidents[notify.GroupKey{Cluster: "alerts", Group: g.name}]
	if inc.Open || inc.Sends != 3 || inc.WorstStatus.String() != "ERR" || inc.ClosedAt.IsZero() {
		t.Errorf("stored incident %+v: want closed after 3 sends", inc)
	}
}

// TestBacktestWritesHistoryOnce replays an incident from stored history:
// --from/--to/--step writes one verdict per group and step, the verdicts
// follow the incident (OK, then ERR once the window holds only ticks after
// the consumer stopped), and running
// the same backtest again writes nothing new.
func TestBacktestWritesHistoryOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	es, ns, names, _, w := newHistory(ctx, t, "backtest")
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
	evaluateHistory(t, es, ns, names)
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
