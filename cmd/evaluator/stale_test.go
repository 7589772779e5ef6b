package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
)

// The collector's and the evaluator's schedules in the stale tests: every
// second, so that the default stale age (five collector intervals) is 5 s;
// and a window's maximum age of 15 s, which a silence of 20 s outlasts.
const (
	staleMaxAge = 15 * time.Second
	staleAfter  = 5 * time.Second
)

// staleScene is one cluster ("default") watched by the real collector and
// evaluator programs in a namespace of its own: a group whose consumer
// stopped 6 messages behind, the evaluator on a schedule with a webhook and
// its HTTP API.
type staleScene struct {
	ns, group, api string
	collector      string // the collector program
	evaluator      *program
	hook           *hook
	env            []string // the collector's environment
}

func newStaleScene(t *testing.T, prefix string, evaluatorEnv ...string) *staleScene {
	t.Helper()
	h := esindextest.New(t.Context(), t, prefix)
	t.Cleanup(func() {
		if res, err := h.ES.Indices.Delete([]string{h.Names.IncidentLog}, h.ES.Indices.Delete.WithIgnoreUnavailable(true)); err == nil {
			res.Body.Close()
		}
	})
	topic := testenv.CreateFilledTopic(t, prefix, 10)
	s := &staleScene{ns: h.Namespace, group: testenv.Name(t, prefix+"-group"), api: testenv.FreeAddr(t), hook: newHook(t),
		collector: testenv.BuildProgram(t, "../collector")}
	testenv.Commit(t, s.group, topic, map[int]int64{0: 4})
	testenv.DeleteGroupOnCleanup(t, s.group)
	common := []string{"ELASTICSEARCH_URL=" + testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE=" + s.ns, "LOG_FORMAT=json"}
	s.env = append(slices.Clip(common), "KAFKA_GROUP_ALLOW=^"+s.group+"$", "COLLECTOR_SCHEDULE=* * * * * *",
		"COLLECTOR_SPOOL_DIR="+t.TempDir(), "COLLECTOR_METRICS_ADDR=")
	s.evaluator = start(t, testenv.BuildProgram(t, "."), append(append(slices.Clip(common), "EVALUATOR_SCHEDULE=* * * * * *",
		"EVALUATOR_WEBHOOK_URL="+s.hook.srv.URL, "EVALUATOR_WEBHOOK_RETRIES=0", "EVALUATOR_ALERT_RESEND=1h",
		"EVALUATOR_WINDOW_SIZE=5", "EVALUATOR_MAX_AGE="+staleMaxAge.String(), "EVALUATOR_TIMEOUT=10s",
		"EVALUATOR_METRICS_ADDR=", "EVALUATOR_HTTP_ADDR="+s.api), evaluatorEnv...))
	return s
}

// Tick lines of the collector: one that read, one that failed.
const (
	tickRead   = `"msg":"tick"`
	tickFailed = `"msg":"tick failed`
)

// collect starts a collector of the cluster on brokers and waits for its
// first n tick lines holding line.
func (s *staleScene) collect(t *testing.T, brokers string, n int, line string) *program {
	t.Helper()
	p := start(t, s.collector, append(slices.Clip(s.env), "KAFKA_BROKERS="+brokers))
	p.waitCount(t, line, nil, n, 30*time.Second)
	return p
}

// watchThenStop runs a collector of the real Kafka until it has ticked a
// window's worth and the evaluator has judged its ticks, stops it, and
// says when.
func (s *staleScene) watchThenStop(t *testing.T) time.Time {
	t.Helper()
	p := s.collect(t, strings.Join(testenv.Kafka(t), ","), 7, tickRead)
	s.evaluator.waitCount(t, `"msg":"evaluation"`, nil, 3, 30*time.Second)
	p.stop(t, `"msg":"collector stopped"`)
	return time.Now()
}

// statuses are the group's status documents at or after from, oldest
// first.
func (s *staleScene) statuses(t *testing.T, from time.Time) []staleStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	docs, err := testenv.Search[staleStatus](ctx, testenv.ESClient(t), "metrics-lagwatch.status-"+s.ns, fmt.Sprintf(
		`{"size":10000,"sort":[{"@timestamp":"asc"}],"query":{"bool":{"filter":[{"term":{"kafka.consumergroup.id":%q}},`+
			`{"range":{"@timestamp":{"gte":%q}}}]}}}`, s.group, from.UTC().Format(time.RFC3339Nano)))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

type staleStatus struct {
	Timestamp time.Time `json:"@timestamp"`
	Lagwatch  struct {
		Status struct {
			Status            string   `json:"status"`
			Stale             bool     `json:"stale"`
			NewestTick        string   `json:"newest_tick"`
			StaleReason       string   `json:"stale_reason"`
			TimeLagSeconds    *float64 `json:"time_lag_seconds"`
			TimeLagLowerBound bool     `json:"time_lag_lower_bound"`
		} `json:"status"`
	} `json:"lagwatch"`
}

// staleAlerts are the cluster's own alerts the webhook received, as
// "kind:status", and the reason of each.
func (h *hook) staleAlerts() (kinds, reasons []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		st, ok := a["stale"].(map[string]any)
		if !ok {
			continue
		}
		kinds = append(kinds, a["kind"].(string)+":"+a["status"].(string))
		reasons = append(reasons, st["reason"].(string))
	}
	return kinds, reasons
}

// waitStale waits until the cluster's alerts are want.
func (s *staleScene) waitStale(t *testing.T, step string, within time.Duration, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		kinds, reasons := s.hook.staleAlerts()
		if slices.Equal(kinds, want) {
			return reasons
		}
		if len(kinds) > len(want) || time.Now().After(deadline) {
			t.Fatalf("%s: the cluster's alerts %v (reasons %q), want %v; evaluator log:\n%s", step, kinds, reasons, want, s.evaluator.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCollectorStopsWhileEvaluatorRuns: the real collector ticks every
// second while the real evaluator evaluates every second, then stops. Five
// seconds later the cluster is stale: exactly one alert says so; the group
// keeps its verdict, marked stale, and is never NOTFOUND, also once the
// window's maximum age has passed; the status command, the API and
// /metrics say it. When the collector ticks again, the incident closes,
// once.
func TestCollectorStopsWhileEvaluatorRuns(t *testing.T) {
	s := newStaleScene(t, "stale")
	stopped := s.watchThenStop(t)
	if kinds, _ := s.hook.staleAlerts(); len(kinds) != 0 {
		t.Fatalf("the cluster alerted %v while the collector ran", kinds)
	}

	reasons := s.waitStale(t, "collector stopped", staleAfter+15*time.Second, "open:STALE")
	t.Logf("the stale alert's reason: %s", reasons[0])
	if !strings.HasPrefix(reasons[0], "no collector tick since ") {
		t.Errorf("reason %q, want the collector's silence", reasons[0])
	}
	// Past the window's maximum age, and a few evaluations more.
	time.Sleep(time.Until(stopped.Add(staleMaxAge + 5*time.Second)))
	s.waitStale(t, "past the window's maximum age", 0, "open:STALE")

	docs := s.statuses(t, stopped.Add(-time.Second))
	var stale, pastMaxAge int
	verdict := ""
	for _, d := range docs {
		st := d.Lagwatch.Status
		if st.Status == "NOTFOUND" {
			t.Errorf("NOTFOUND at %s, %s after the collector stopped: a silent cluster's group must stay stale",
				d.Timestamp.Format(time.RFC3339Nano), d.Timestamp.Sub(stopped).Round(time.Second))
		}
		if !st.Stale {
			continue
		}
		stale++
		if verdict == "" {
			verdict = st.Status
		}
		if st.Status != verdict || st.NewestTick == "" || !strings.HasPrefix(st.StaleReason, "no collector tick since ") ||
			st.TimeLagSeconds == nil || !st.TimeLagLowerBound {
			t.Errorf("stale status at %s: %+v, want the verdict %s kept, since when and why, a time lag as a lower bound", d.Timestamp, st, verdict)
		}
		if d.Timestamp.After(stopped.Add(staleMaxAge + time.Second)) {
			pastMaxAge++
		}
	}
	if stale < 5 || pastMaxAge < 2 || verdict == "" || verdict == "OK" {
		t.Errorf("%d stale statuses (%d past the max age) of verdict %q, want several, some past the max age, of the stopped consumer's ERR or WARN",
			stale, pastMaxAge, verdict)
	}

	// The status command, the API and /metrics.
	var out, stderr strings.Builder
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", s.ns)
	t.Setenv("EVALUATOR_MAX_AGE", staleMaxAge.String())
	t.Setenv("EVALUATOR_WINDOW_SIZE", "5")
	if err := run(t.Context(), []string{"status", "--group", s.group}, &out, &stderr); err != nil {
		t.Fatalf("evaluator status: %v\n%s", err, stderr.String())
	}
	if text := out.String(); !strings.HasPrefix(text, "STALE cluster default: no lag data since ") ||
		!strings.Contains(text, verdict+" (stale)") || strings.Contains(text, "NOTFOUND") {
		t.Errorf("evaluator status:\n%s\nwant the stale cluster named first and the group's %s marked (stale)", text, verdict)
	}
	var lag struct {
		Status   struct{ Status string }
		Lagwatch *struct {
			Stale  bool
			Since  *time.Time
			Reason string
		}
	}
	getJSON(t, "http://"+s.api+"/v3/kafka/default/consumer/"+s.group+"/lag", 200, &lag)
	if lag.Status.Status != verdict || lag.Lagwatch == nil || !lag.Lagwatch.Stale || lag.Lagwatch.Since == nil || lag.Lagwatch.Reason == "" {
		t.Errorf("/lag: %+v lagwatch %+v, want %s and stale", lag.Status, lag.Lagwatch, verdict)
	}
	var cluster struct {
		Lagwatch *struct {
			Stale                bool
			NewestTickAgeSeconds float64 `json:"newest_tick_age_seconds"`
			IntervalSeconds      float64 `json:"interval_seconds"`
		}
	}
	if getJSON(t, "http://"+s.api+"/v3/kafka/default", 200, &cluster); cluster.Lagwatch == nil || !cluster.Lagwatch.Stale ||
		cluster.Lagwatch.NewestTickAgeSeconds < staleMaxAge.Seconds() || cluster.Lagwatch.IntervalSeconds != 1 {
		t.Errorf("cluster body lagwatch %+v, want stale, its newest tick older than the max age, an interval of 1 s", cluster.Lagwatch)
	}
	_, metrics := testenv.Get(t, "http://"+s.api+"/metrics")
	if v, ok := testenv.Sample(metrics, `lagwatch_evaluator_cluster_stale{cluster="default"}`); !ok || v != 1 {
		t.Errorf("lagwatch_evaluator_cluster_stale = %v (%v), want 1", v, ok)
	}
	if v, _ := testenv.Sample(metrics, `lagwatch_evaluator_newest_tick_age_seconds{cluster="default"}`); v < staleMaxAge.Seconds() {
		t.Errorf("lagwatch_evaluator_newest_tick_age_seconds = %v, want more than %v", v, staleMaxAge.Seconds())
	}

	// Ticks again: the incident closes, once.
	back := time.Now()
	coll := s.collect(t, strings.Join(testenv.Kafka(t), ","), 1, tickRead)
	s.waitStale(t, "collector back", 20*time.Second, "open:STALE", "close:OK")
	time.Sleep(3 * time.Second)
	s.waitStale(t, "a few evaluations after", 0, "open:STALE", "close:OK")
	for _, d := range s.statuses(t, time.Now().Add(-time.Second)) {
		if d.Lagwatch.Status.Stale {
			t.Errorf("status at %s, %s after the collector came back: still stale", d.Timestamp, d.Timestamp.Sub(back))
		}
	}
	coll.stop(t, `"msg":"collector stopped"`)
}

// TestCollectorTicksButReadsNothing: the collector ticks, but against a
// Kafka address nothing listens on: every tick fails. The cluster turns
// stale with the collector's error as the reason, its group keeps its
// verdict, and the incident closes when a collector reads again. The
// stale age is set (EVALUATOR_STALE_AFTER) to 12 s, leaving the failing
// collector time to install its templates and write its first ticks on a
// busy Elasticsearch (until then its ticks wait in its spool, and the
// cluster would look silent).
func TestCollectorTicksButReadsNothing(t *testing.T) {
	const after = 12 * time.Second
	s := newStaleScene(t, "unread", "EVALUATOR_STALE_AFTER="+after.String())
	failing := s.watchThenStop(t)
	bad := s.collect(t, testenv.FreeAddr(t), 2, tickFailed)

	reasons := s.waitStale(t, "every tick failing", after+15*time.Second, "open:STALE")
	t.Logf("the stale alert's reason: %s", reasons[0])
	if !strings.HasPrefix(reasons[0], "collector ticks but reads nothing: ") || len(reasons[0]) < len("collector ticks but reads nothing: ")+5 {
		t.Errorf("reason %q, want the failing ticks and their error", reasons[0])
	}
	time.Sleep(2 * time.Second)
	var stale int
	for _, d := range s.statuses(t, failing) {
		st := d.Lagwatch.Status
		switch {
		case st.Status == "NOTFOUND":
			t.Errorf("NOTFOUND at %s while the collector failed", d.Timestamp)
		case st.Stale:
			stale++
			if !strings.HasPrefix(st.StaleReason, "collector ticks but reads nothing: ") {
				t.Errorf("stale status %+v, want the failing ticks as the reason", st)
			}
		}
	}
	if stale == 0 {
		t.Error("no stale status while every tick failed")
	}
	bad.stop(t, `"msg":"collector stopped"`)

	good := s.collect(t, strings.Join(testenv.Kafka(t), ","), 1, tickRead)
	s.waitStale(t, "reading again", 20*time.Second, "open:STALE", "close:OK")
	good.stop(t, `"msg":"collector stopped"`)
}

// program is a program under test whose standard error is kept.
type program struct {
	cmd *exec.Cmd
	log *testenv.Buffer
}

// start runs bin with env, killed when the test ends.
func start(t *testing.T, bin string, env []string) *program {
	t.Helper()
	p := &program{cmd: exec.Command(bin), log: &testenv.Buffer{}}
	p.cmd.Env, p.cmd.Stderr, p.cmd.Stdout = append(os.Environ(), env...), p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
	return p
}

// waitCount waits until n lines hold substr (and pass keep, when set).
func (p *program) waitCount(t *testing.T, substr string, keep func(string) bool, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := 0
		for _, l := range p.log.Lines() {
			if strings.Contains(l, substr) && (keep == nil || keep(l)) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines with %q within %s, want %d:\n%s", got, substr, within, n, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the program with SIGTERM and waits for its last line.
func (p *program) stop(t *testing.T, last string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitCount(t, last, nil, 1, 30*time.Second)
}
