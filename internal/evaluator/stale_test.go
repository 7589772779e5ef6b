package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// collectorEvery are a cluster's collector ticks every second up to last,
// every one of them reading.
func collectorEvery(last time.Time) evaluate.TickHistory {
	var h evaluate.TickHistory
	for i := range 11 {
		h.Recent = append(h.Recent, evaluate.CollectorTick{Time: last.Add(-time.Duration(i) * time.Second), Read: true})
	}
	h.LastRead = last
	return h
}

// staleHarness is a harness whose cluster "c" ticked every second until a
// second before last, and holds a stopped group and a group known without
// a window; "d" is fresh, with an OK group.
func staleHarness(t *testing.T, last time.Time, sinks ...notify.Sink) *harness {
	h := newHarness(t, sinks...)
	d := window("d-ok", false, last)
	d.Cluster = "d"
	h.history.windows = []evaluate.GroupWindow{window("stopped", true, last), d}
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "stopped"}, {Cluster: "c", Group: "gone"}, {Cluster: "d", Group: "d-ok"}}
	h.history.ticks = map[string]evaluate.TickHistory{"c": collectorEvery(last.Add(-time.Second)), "d": collectorEvery(last.Add(-time.Second))}
	return h
}

// TestStaleCluster: twenty minutes after its last tick, cluster c is stale
// (five 1-second intervals passed long ago): its groups are read as of the
// instant it became stale and keep that verdict, marked stale in their
// status documents with their time lag grown; the group without a window
// stays NOTFOUND, marked stale too; d is unaffected; one cluster incident
// opens, a second run sends nothing more, and the close goes out when c
// ticks again.
func TestStaleCluster(t *testing.T) {
	s := &sink{}
	last := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	h := staleHarness(t, last, s.webhook(t))
	h.history.ticks["d"] = collectorEvery(time.Now().UTC().Add(-time.Second))
	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	newest := last.Add(-time.Second)
	if at := h.history.windowsAt["c"]; len(at) != 1 || !at[0].Equal(newest) {
		t.Errorf("c's windows read at %v, want once at its newest tick %v", at, newest)
	}
	byGroup := map[string]esindex.StatusDoc{}
	for _, d := range h.statuses.docs() {
		byGroup[d.Group] = d
	}
	st := byGroup["stopped"]
	if st.Status != "ERR" || !st.Stale || !st.NewestTick.Equal(newest) || !strings.HasPrefix(st.StaleReason, "no collector tick since ") ||
		st.TimeLagSeconds == nil || *st.TimeLagSeconds < 20*60 || !st.TimeLagLowerBound {
		t.Errorf("stale group's status %+v: want ERR kept, stale since %v, a time lag of at least 20 minutes", st, newest)
	}
	if g := byGroup["gone"]; g.Status != "NOTFOUND" || !g.Stale {
		t.Errorf("the group without a window %+v: want NOTFOUND, stale", g)
	}
	if d := byGroup["d-ok"]; d.Status != "OK" || d.Stale {
		t.Errorf("the fresh cluster's group %+v: want OK, not stale", d)
	}
	// The group's own incident, and the cluster's.
	if got := s.alerts(); len(got) != 2 || !strings.Contains(strings.Join(got, " "), "open:STALE") {
		t.Fatalf("alerts %v, want the group's open:ERR and one open:STALE", got)
	}
	if inc := h.store.incidents[notify.ClusterKey("c")]; !inc.Open || inc.Sends != 1 {
		t.Errorf("c's incident %+v: want open, sent once", inc)
	}
	if h.counter(t, "cluster_stale", "cluster", "c") != 1 || h.counter(t, "cluster_stale", "cluster", "d") != 0 ||
		h.counter(t, "newest_tick_age_seconds", "cluster", "c") < 20*60 {
		t.Errorf("freshness gauges: stale c %v d %v, age of c %v", h.counter(t, "cluster_stale", "cluster", "c"),
			h.counter(t, "cluster_stale", "cluster", "d"), h.counter(t, "newest_tick_age_seconds", "cluster", "c"))
	}
	if l := h.lines(t, "evaluation"); len(l) != 1 || l[0]["stale_clusters"] != 1.0 {
		t.Errorf("summary lines %v, want stale_clusters 1", l)
	}

	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); len(got) != 2 {
		t.Fatalf("a second run while stale sent %v, want nothing more", got[2:])
	}

	h.history.ticks["c"] = collectorEvery(time.Now().UTC().Add(-time.Second))
	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.alerts(); len(got) != 3 || got[2] != "close:OK" {
		t.Fatalf("alerts %v once c ticks again, want a close", got)
	}
}

// TestStaleNotReadChangesNothing: when the collector ticks cannot be read,
// the evaluation goes on with every cluster fresh, says so, and leaves the
// cluster incidents alone.
func TestStaleNotReadChangesNothing(t *testing.T) {
	s := &sink{}
	last := time.Now().UTC().Add(-20 * time.Minute)
	h := staleHarness(t, last, s.webhook(t))
	h.history.ticksErr = errTest
	open := notify.Incident{Cluster: "c", Scope: notify.ClusterScope, Open: true, Status: evaluate.Err, WorstStatus: evaluate.Err,
		OpenedAt: last, LastSentAt: last, Sends: 1, Version: "0"}
	h.store.incidents = map[notify.GroupKey]notify.Incident{open.Key(): open}
	if err := h.Live(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := h.lines(t, "collector ticks not read: no cluster is judged stale in this evaluation"); len(w) != 1 {
		t.Errorf("warnings %v, want one", w)
	}
	for _, d := range h.statuses.docs() {
		if d.Stale {
			t.Errorf("status %+v marked stale without knowing", d)
		}
	}
	if inc := h.store.incidents[open.Key()]; !inc.Open || inc.Sends != 1 {
		t.Errorf("c's incident %+v: want it left open", inc)
	}
	if got := s.alerts(); strings.Contains(strings.Join(got, " "), "STALE") || strings.Contains(strings.Join(got, " "), "close") {
		t.Errorf("alerts %v: the cluster's incident must not change", got)
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "the collector stream cannot be read" }

// TestStaleStatusCommand: the status table says, before the rows, which
// cluster is stale and since when; its groups' status is marked.
func TestStaleStatusCommand(t *testing.T) {
	last := at0.Add(-20 * time.Minute)
	h := staleHarness(t, last)
	h.history.ticks["d"] = collectorEvery(at0.Add(-time.Second))
	var out bytes.Buffer
	if err := h.PrintStatus(context.Background(), StatusQuery{At: at0}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	want := "STALE cluster c: no lag data since " + last.Add(-time.Second).Format(time.RFC3339) + " (20m1s ago): no collector tick since "
	if !strings.HasPrefix(lines[0], want) || !strings.HasPrefix(lines[1], "CLUSTER") {
		t.Fatalf("output starts\n%s\nwant a line starting %q, then the table", out.String(), want)
	}
	var stopped, fresh string
	for _, l := range lines {
		switch f := strings.Fields(l); {
		case len(f) > 1 && f[1] == "stopped":
			stopped = l
		case len(f) > 1 && f[1] == "d-ok":
			fresh = l
		}
	}
	if !strings.Contains(stopped, "ERR (stale)") || !strings.Contains(stopped, ">=20m3s") || strings.Contains(fresh, "stale") {
		t.Errorf("rows\n%s\n%s\nwant the stale group's status marked and its time lag a lower bound of 20m, the fresh one unmarked", stopped, fresh)
	}
}

// TestStaleAPI: a stale cluster's group answers as a run judges it, with
// lagwatch saying so beside Burrow's fields, and the cluster's body says
// how fresh it is; a fresh cluster's bodies carry no stale word.
func TestStaleAPI(t *testing.T) {
	last := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	h := staleHarness(t, last)
	h.history.ticks["d"] = collectorEvery(time.Now().UTC().Add(-time.Second))
	srv := httptest.NewServer(burrowapi.New(h.Source(), burrowapi.Options{}))
	defer srv.Close()
	get := func(path string, v any) int {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode
	}
	var lag struct {
		Status struct {
			Status         string
			TimeLagSeconds *float64 `json:"time_lag_seconds"`
			LowerBound     bool     `json:"time_lag_lower_bound"`
		}
		Lagwatch *evaluate.BurrowStale
	}
	if code := get("/v3/kafka/c/consumer/stopped/lag", &lag); code != 200 || lag.Status.Status != "ERR" || lag.Lagwatch == nil ||
		!lag.Lagwatch.Stale || lag.Lagwatch.Since == nil || !lag.Lagwatch.Since.Equal(last.Add(-time.Second)) ||
		lag.Status.TimeLagSeconds == nil || *lag.Status.TimeLagSeconds < 20*60 || !lag.Status.LowerBound {
		t.Errorf("HTTP %d %+v (lagwatch %+v): want ERR, stale since the newest tick, a time lag of at least 20 minutes", code, lag.Status, lag.Lagwatch)
	}
	var consumers burrowapi.ConsumerListResponse
	if get("/v3/kafka/c/consumer", &consumers); len(consumers.Consumers) != 1 || consumers.Consumers[0] != "stopped" {
		t.Errorf("consumers of the stale cluster %v, want [stopped]", consumers.Consumers)
	}
	var cluster burrowapi.ModuleDetailResponse
	if get("/v3/kafka/c", &cluster); cluster.Lagwatch == nil || !cluster.Lagwatch.Stale || cluster.Lagwatch.NewestTickAgeSeconds == nil ||
		*cluster.Lagwatch.NewestTickAgeSeconds < 20*60 || cluster.Lagwatch.IntervalSeconds == nil || *cluster.Lagwatch.IntervalSeconds != 1 ||
		cluster.Lagwatch.StaleAfterSeconds != 5 || cluster.Lagwatch.Reason == "" || cluster.Module.ClassName != "kafka" {
		t.Errorf("the stale cluster's body %+v (lagwatch %+v)", cluster, cluster.Lagwatch)
	}

	lag.Lagwatch = nil
	if code := get("/v3/kafka/d/consumer/d-ok/lag", &lag); code != 200 || lag.Status.Status != "OK" || lag.Lagwatch != nil {
		t.Errorf("the fresh group: HTTP %d %+v (lagwatch %+v), want OK and no lagwatch", code, lag.Status, lag.Lagwatch)
	}
	cluster = burrowapi.ModuleDetailResponse{}
	if get("/v3/kafka/d", &cluster); cluster.Lagwatch == nil || cluster.Lagwatch.Stale || cluster.Lagwatch.StaleSince != nil {
		t.Errorf("the fresh cluster's body: lagwatch %+v, want there and not stale", cluster.Lagwatch)
	}
}

// TestStaleClusterAlertsOnce: two evaluators over one history and one
// incident store, evaluating at once, send the cluster's alert once: the
// claim saved over the version read decides, as for a group's.
func TestStaleClusterAlertsOnce(t *testing.T) {
	s := &sink{}
	h := staleHarness(t, time.Now().UTC().Add(-20*time.Minute), s.webhook(t))
	h.history.windows = nil // the cluster's incident alone
	var log bytes.Buffer
	other := New(h.cfg, Parts{History: h.history, Statuses: &fakeStatuses{}, Incidents: h.store, Sinks: []notify.Sink{s.webhook(t)},
		Log: slog.New(slog.NewJSONHandler(&log, nil))})
	for range 3 {
		var wg sync.WaitGroup
		for _, e := range []*Evaluator{h.Evaluator, other} {
			wg.Go(func() {
				if err := e.Live(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	var stale []string
	for _, a := range s.alerts() {
		if strings.HasSuffix(a, ":STALE") {
			stale = append(stale, a)
		}
	}
	if len(stale) != 2 {
		// c and d are both stale in this harness: one opening each.
		t.Errorf("stale alerts %v from two evaluators, want one per cluster", stale)
	}
}
