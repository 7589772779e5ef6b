package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// TestRecordWritesEveryGroup: a past evaluation writes one status document
// per group, the groups known without a window as NOTFOUND after the
// others, installs the templates once, and touches no incident.
func TestRecordWritesEveryGroup(t *testing.T) {
	h := newHarness(t)
	h.history.windows = []evaluate.GroupWindow{window("a-ok", false, at0), window("b-stopped", true, at0)}
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "a-ok"}, {Cluster: "c", Group: "b-stopped"}, {Cluster: "c", Group: "c-gone"}}
	for range 2 {
		if err := h.Historical(context.Background(), at0); err != nil {
			t.Fatal(err)
		}
	}
	docs := h.statuses.docs()
	var got []string
	for _, d := range docs[:3] {
		got = append(got, fmt.Sprintf("%s=%s/%d", d.Group, d.Status, d.Code))
	}
	if want := []string{"a-ok=OK/1", "b-stopped=ERR/3", "c-gone=NOTFOUND/0"}; !slices.Equal(got, want) {
		t.Errorf("status documents %v, want %v", got, want)
	}
	if nf := docs[2]; nf.Complete != 1 || nf.PartitionCount != 0 || !nf.At.Equal(at0) || nf.WindowSize != 3 {
		t.Errorf("NOTFOUND document %+v: want complete 1, no partitions, at the instant, the window size", nf)
	}
	if len(docs) != 6 || h.history.installs != 1 {
		t.Errorf("%d documents after two runs, %d template installs; want 6 and 1", len(docs), h.history.installs)
	}
	if h.store.loads+h.store.saves != 0 {
		t.Errorf("a past evaluation loaded %d and saved %d incidents, want none", h.store.loads, h.store.saves)
	}
	if l := h.lines(t, "evaluation"); len(l) != 2 || l[0]["groups"] != 3.0 || l[0]["ok"] != 1.0 || l[0]["err"] != 1.0 ||
		l[0]["notfound"] != 1.0 || l[0]["written"] != 3.0 || l[0]["documents_read"] != 6.0 {
		t.Errorf("summary lines %v", l)
	}
}

// TestRecordBatches: status documents go out at most statusBatch at a time.
func TestRecordBatches(t *testing.T) {
	h := newHarness(t)
	for i := range 2*statusBatch + 5 {
		h.history.known = append(h.history.known, esindex.GroupKey{Cluster: "c", Group: fmt.Sprintf("g%05d", i)})
	}
	if err := h.Historical(context.Background(), at0); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, b := range h.statuses.batches {
		sizes = append(sizes, len(b))
	}
	if want := []int{statusBatch, statusBatch, 5}; !slices.Equal(sizes, want) {
		t.Errorf("batches of %v, want %v", sizes, want)
	}
}

// TestLiveAlertsOnTransition: a live run opens an incident for a group that
// turned ERR and sends it, saves the incident, counts the alert in the
// summary line and the metrics; the next run sends nothing; a run once the
// group is OK closes it.
// TestLiveWithoutSinks: with no sink configured the incident is still kept,
// and no alert is counted as sent or failed.
func TestLiveWithoutSinks(t *testing.T) {
	h := newHarness(t)
	now := time.Now().UTC()
	h.history.windows = []evaluate.GroupWindow{window("stopped", true, now)}
	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inc := h.store.incidents[notify.GroupKey{Cluster: "c", Group: "stopped"}]; !inc.Open || inc.Status != evaluate.Err {
		t.Errorf("incident %+v, want it kept, open at ERR", inc)
	}
	lines := h.lines(t, "evaluation")
	if len(lines) != 1 || lines[0]["alerts_sent"] != 0.0 || lines[0]["alerts_failed"] != 0.0 {
		t.Errorf("summary %v, want 0 alerts sent and 0 failed", lines)
	}
}

func TestLiveAlertsOnTransition(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	ctx := context.Background()
	now := time.Now().UTC()
	h.history.windows = []evaluate.GroupWindow{window("ok", false, now), window("stopped", true, now)}
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "gone"}}
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR"}) {
		t.Fatalf("alerts %v, want [open:ERR]", got)
	}
	inc := h.store.incidents[notify.GroupKey{Cluster: "c", Group: "stopped"}]
	if !inc.Open || inc.Status != evaluate.Err || inc.WorstStatus != evaluate.Err || inc.Sends != 1 || inc.Version == "" || len(h.store.incidents) != 1 {
		t.Errorf("stored incidents %+v: want one, open at ERR after one send", h.store.incidents)
	}
	lines := h.lines(t, "evaluation")
	if len(lines) != 1 {
		t.Fatalf("%d summary lines, want 1:\n%s", len(lines), h.log.String())
	}
	for _, k := range []string{"at", "groups", "ok", "warn", "err", "notfound", "documents_read", "pages", "es_requests",
		"written", "duplicates", "failed", "alerts_sent", "alerts_failed", "duration", "time_lag_lookups", "time_lag_lookups_failed", "stale_clusters"} {
		if _, ok := lines[0][k]; !ok {
			t.Errorf("summary line without %q: %v", k, lines[0])
		}
	}
	// The stopped group's partition lags beyond its window: one lookup in
	// the history, one request more than the collector ticks, the window
	// read and the group list.
	if l := lines[0]; l["alerts_sent"] != 1.0 || l["alerts_failed"] != 0.0 || l["groups"] != 3.0 || l["es_requests"] != 4.0 || l["time_lag_lookups"] != 1.0 {
		t.Errorf("summary line %v: want 1 alert sent, 3 groups, 4 requests, 1 time lag lookup", l)
	}
	if n := h.counter(t, "alerts_sent_total", "kind", "open", "sink", "webhook"); n != 1 {
		t.Errorf("alerts_sent_total{sink=webhook,kind=open} = %v, want 1", n)
	}
	if len(h.lines(t, "alert sent")) != 1 {
		t.Errorf("want one \"alert sent\" line:\n%s", h.log.String())
	}

	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); len(got) != 1 {
		t.Errorf("a second run sent %v, want nothing more", got)
	}
	h.history.windows[1] = window("stopped", false, now)
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR", "close:OK"}) {
		t.Errorf("after recovery: alerts %v, want a close", got)
	}
	if inc := h.store.incidents[notify.GroupKey{Cluster: "c", Group: "stopped"}]; inc.Open || inc.Sends != 2 || inc.WorstStatus != evaluate.Err {
		t.Errorf("incident after the close: %+v", inc)
	}
}

// TestAlertConflict: an incident another evaluator changed in the meantime
// (it claimed the transition first) is not sent here: no alert, a line
// naming the group; the run does not fail.
func TestAlertConflict(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	h.store.conflict = true
	h.history.windows = []evaluate.GroupWindow{window("stopped", true, time.Now().UTC())}
	if err := h.Live(context.Background()); err != nil {
		t.Fatalf("a conflict failed the run: %v", err)
	}
	if got := s.alerts(); len(got) != 0 {
		t.Errorf("alerts %v sent by the evaluator whose claim lost, want none", got)
	}
	w := h.lines(t, "incident claimed by another evaluator; not sent here")
	if len(w) != 1 || w[0]["cluster"] != "c" || w[0]["group"] != "stopped" {
		t.Errorf("conflict lines %v, want one naming the group", w)
	}
	if st, _ := h.alert(context.Background(), at0, []evaluate.GroupResult{{Cluster: "c", Group: "stopped", Status: evaluate.Err}}, nil); st.conflicts != 1 {
		t.Errorf("alert stats %+v, want 1 conflict", st)
	}
}

// TestSinkFailure: an alert no sink took is counted as failed and recorded
// on the incident; the run still succeeds.
func TestSinkFailure(t *testing.T) {
	s := &sink{status: http.StatusBadRequest}
	h := newHarness(t, s.webhook(t))
	h.history.windows = []evaluate.GroupWindow{window("stopped", true, time.Now().UTC())}
	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l := h.lines(t, "evaluation"); len(l) != 1 || l[0]["alerts_sent"] != 0.0 || l[0]["alerts_failed"] != 1.0 {
		t.Errorf("summary %v, want 1 failed alert", l)
	}
	if inc := h.store.incidents[notify.GroupKey{Cluster: "c", Group: "stopped"}]; !inc.Open || inc.Sends != 0 || inc.FailedSends != 1 {
		t.Errorf("incident %+v, want open with one failed send", inc)
	}
	if n := h.counter(t, "alert_failures_total", "sink", "webhook"); n != 1 {
		t.Errorf("alert_failures_total = %v, want 1", n)
	}
}

// TestFailedAlertsAreOwed: an alert no sink took stays pending on the
// incident, and the next evaluation sends it, whatever its kind: a close
// that failed is sent again although the group stays OK.
func TestFailedAlertsAreOwed(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	ctx := context.Background()
	key := notify.GroupKey{Cluster: "c", Group: "g"}
	step := func(stopped bool, status int) {
		t.Helper()
		s.mu.Lock()
		s.status = status
		s.mu.Unlock()
		h.history.windows = []evaluate.GroupWindow{window("g", stopped, time.Now().UTC())}
		if err := h.Live(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step(true, 0) // open, delivered
	step(false, http.StatusBadRequest)
	if inc := h.store.incidents[key]; inc.Open || inc.Pending != notify.Close || !inc.ClaimedAt.IsZero() {
		t.Fatalf("after a failed close: %+v, want closed with the close pending and no claim", inc)
	}
	step(false, 0)
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR", "close:OK", "close:OK"}) {
		t.Errorf("alerts %v, want the close tried again and delivered", got)
	}
	if inc := h.store.incidents[key]; inc.Pending != notify.None || inc.Sends != 2 || inc.FailedSends != 1 {
		t.Errorf("incident %+v, want nothing pending after 2 sends and 1 failure", inc)
	}
	if l := h.lines(t, "evaluation"); l[2]["alerts_sent"] != 1.0 || l[1]["alerts_failed"] != 1.0 {
		t.Errorf("summaries %v, want the failure and the retry counted", l)
	}
	step(false, 0)
	if got := s.alerts(); len(got) != 3 {
		t.Errorf("alerts %v: nothing owed any more, want no more", got)
	}
}

// TestDeniedGroupsDoNotAlert: a group EVALUATOR_ALERT_GROUP_DENY matches
// (or ALLOW does not) neither opens an incident nor alerts; the others do.
func TestDeniedGroupsDoNotAlert(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	h.cfg.Alert.Allow = regexp.MustCompile(`^stopped`)
	h.cfg.Alert.Deny = regexp.MustCompile(`-test$`)
	now := time.Now().UTC()
	h.history.windows = []evaluate.GroupWindow{window("stopped", true, now), window("stopped-test", true, now), window("other", true, now)}
	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); len(got) != 1 {
		t.Errorf("alerts %v, want one, for group stopped alone", got)
	}
	if _, ok := h.store.incidents[notify.GroupKey{Cluster: "c", Group: "stopped"}]; !ok || len(h.store.incidents) != 1 {
		t.Errorf("incidents %v, want only stopped's", h.store.incidents)
	}
}

// TestClaimedIncidentIsLeftAlone: an incident another evaluator claimed
// within EVALUATOR_TIMEOUT is being delivered: nothing is sent here. A
// claim older than that is an evaluator that stopped mid-delivery: its
// alert is sent.
func TestClaimedIncidentIsLeftAlone(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	ctx := context.Background()
	key := notify.GroupKey{Cluster: "c", Group: "g"}
	now := time.Now().UTC()
	h.history.windows = []evaluate.GroupWindow{window("g", true, now)}
	h.store.incidents = map[notify.GroupKey]notify.Incident{key: {Cluster: "c", Group: "g", Open: true, Status: evaluate.Err,
		WorstStatus: evaluate.Err, OpenedAt: now, Pending: notify.Open, ClaimedAt: now.Add(-time.Second), Version: "1"}}
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); len(got) != 0 {
		t.Fatalf("alerts %v while another evaluator's claim is fresh, want none", got)
	}
	inc := h.store.incidents[key]
	inc.ClaimedAt = now.Add(-2 * h.cfg.Timeout)
	h.store.incidents[key] = inc
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR"}) {
		t.Errorf("alerts %v after the claim went stale, want the owed open", got)
	}
	if inc := h.store.incidents[key]; inc.Pending != notify.None || inc.Sends != 1 || !inc.ClaimedAt.IsZero() {
		t.Errorf("incident %+v, want delivered", inc)
	}
}

// TestBacktestWritesNoIncidents: a backtest writes each step's statuses and
// neither reads nor writes an incident, nor alerts.
func TestBacktestWritesNoIncidents(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	h.history.windows = []evaluate.GroupWindow{window("stopped", true, at0)}
	if err := h.Backtest(context.Background(), at0, at0.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(h.statuses.docs()); n != 3 {
		t.Errorf("%d status documents, want 3 (one per step)", n)
	}
	if h.store.loads+h.store.saves != 0 || len(s.alerts()) != 0 {
		t.Errorf("backtest: %d loads, %d saves, alerts %v; want none", h.store.loads, h.store.saves, s.alerts())
	}
	if l := h.lines(t, "backtest done"); len(l) != 1 || l[0]["steps"] != 3.0 || l[0]["failed_steps"] != 0.0 {
		t.Errorf("backtest lines %v", l)
	}
}

// TestRunFailure: a failed read fails the run, logs it once with its error,
// sends nothing and counts an errored run.
func TestRunFailure(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	h.history.readErr = errors.New("search: HTTP 503")
	err := h.Live(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("Live = %v, want the read error", err)
	}
	if l := h.lines(t, "evaluation failed"); len(l) != 1 || l[0]["err"] != "search: HTTP 503" || l[0]["level"] != "ERROR" {
		t.Errorf("failure lines %v", l)
	}
	if len(s.alerts()) != 0 || h.store.loads != 0 || len(h.statuses.batches) != 0 {
		t.Errorf("a failed read went on: alerts %v, %d loads, %d batches", s.alerts(), h.store.loads, len(h.statuses.batches))
	}
	if n := h.counter(t, "runs_total", "result", "error"); n != 1 {
		t.Errorf("runs_total{result=error} = %v, want 1", n)
	}
}

// TestPrintStatus: the status command prints a row per partition (LAG the
// readable lag, KAFKA-LAG with --wide Kafka's) and, for a group asked for
// that has no history, Burrow's NOTFOUND and an error.
func TestPrintStatus(t *testing.T) {
	h := newHarness(t)
	w := window("stopped", true, at0)
	for i := range w.Partitions[0].Obs {
		w.Partitions[0].Obs[i].Lag-- // a commit marker at the committed offset
	}
	h.history.windows = []evaluate.GroupWindow{w}
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "stopped"}}
	var out bytes.Buffer
	if err := h.PrintStatus(context.Background(), StatusQuery{At: at0}, &out); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "c  ") ||
		!strings.Contains(lines[1], "stopped") || !strings.Contains(lines[1], "ERR") {
		t.Errorf("table:\n%s", out.String())
	}
	if strings.Contains(out.String(), "CURRENT-OFFSET") || len(strings.Fields(strings.Split(out.String(), "\n")[1])) != 8 {
		t.Errorf("default table is not the narrow one:\n%s", out.String())
	}
	out.Reset()
	if err := h.PrintStatus(context.Background(), StatusQuery{At: at0, Wide: true}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || len(strings.Fields(lines[0])) != 15 || len(strings.Fields(lines[1])) != 15 {
		t.Fatalf("wide table:\n%s", out.String())
	}
	r := map[string]string{}
	for i, name := range strings.Fields(lines[0]) {
		r[name] = strings.Fields(lines[1])[i]
	}
	if r["CURRENT-OFFSET"] != "5" || r["LOG-END-OFFSET"] != "22" || r["LAG"] != "16" || r["KAFKA-LAG"] != "17" {
		t.Errorf("wide row %v: want offsets 5 and 22, LAG 16 (readable), KAFKA-LAG 17 (log end - committed)", r)
	}
	out.Reset()
	err := h.PrintStatus(context.Background(), StatusQuery{At: at0, Group: "never", JSON: true}, &out)
	if err == nil || !strings.Contains(err.Error(), `group "never": NOTFOUND`) || !strings.Contains(err.Error(), `namespace "test"`) {
		t.Errorf("unknown group: %v", err)
	}
	var b struct {
		Status struct{ Status string } `json:"status"`
	}
	if json.Unmarshal(out.Bytes(), &b) != nil || b.Status.Status != "NOTFOUND" {
		t.Errorf("unknown group body: %s", out.String())
	}
	if len(h.statuses.batches) != 0 {
		t.Error("the status command wrote statuses")
	}
}
