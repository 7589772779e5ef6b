package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// amAlert is an alert as Alertmanager's GET /api/v2/alerts lists it.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

// alertsOf lists the real Alertmanager's alerts of group, active or not
// (resolved ones stay listed until they are garbage collected).
func alertsOf(t *testing.T, base, group string) []amAlert {
	t.Helper()
	q := url.Values{"filter": {`group="` + group + `"`}, "active": {"true"}, "inhibited": {"true"}, "silenced": {"true"}, "unprocessed": {"true"}}
	res, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/v2/alerts: %s %s", res.Status, b)
	}
	var out []amAlert
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("alerts: %v: %s", err, b)
	}
	return out
}

// TestAlertmanagerSink runs the evaluator as a batch job against a real
// Alertmanager: an ERR group's incident reaches /api/v2/alerts with its
// labels, annotations and the dashboard link, firing; an evaluation while it
// lasts posts it again with a later endsAt; when the group recovers it is
// resolved. No sink other than Alertmanager is configured, and each
// delivery counts once in the run's summary.
func TestAlertmanagerSink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := newAlertGroup(ctx, t, "am")
	am := testenv.Alertmanager(t)
	t.Setenv("EVALUATOR_ALERTMANAGER_URL", am)
	t.Setenv("EVALUATOR_GRAFANA_URL", "http://grafana.example:3000")
	evaluate := func(step string) map[string]any {
		t.Helper()
		log := runOnce(ctx, t, step)
		for _, line := range strings.Split(log, "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "evaluation" {
				return m
			}
		}
		t.Fatalf("%s: no summary line:\n%s", step, log)
		return nil
	}

	g.stop()
	if sum := evaluate("first run"); sum["alerts_sent"] != 1.0 || sum["alerts_failed"] != 0.0 {
		t.Errorf("first run summary: sent %v failed %v, want 1 and 0", sum["alerts_sent"], sum["alerts_failed"])
	}
	got := alertsOf(t, am, g.name)
	if len(got) != 1 {
		t.Fatalf("Alertmanager has %d alerts of %s, want 1: %+v", len(got), g.name, got)
	}
	a := got[0]
	wantLabels := map[string]string{"alertname": "KafkaConsumerGroupStatus", "cluster": "alerts", "group": g.name, "status": "ERR", "severity": "critical"}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if a.Status.State != "active" || !a.EndsAt.After(time.Now()) {
		t.Errorf("alert state %q ends %s, want active and ending later", a.Status.State, a.EndsAt)
	}
	for _, k := range []string{"summary", "total_lag", "time_lag", "worst_partition", "dashboard"} {
		if a.Annotations[k] == "" {
			t.Errorf("annotation %s missing: %v", k, a.Annotations)
		}
	}
	if a.GeneratorURL != a.Annotations["dashboard"] || a.Annotations["worst_partition"] != "orders/0 (lag 17)" {
		t.Errorf("generator URL %q, dashboard %q, worst partition %q", a.GeneratorURL, a.Annotations["dashboard"], a.Annotations["worst_partition"])
	}
	firstEnd := a.EndsAt

	// Still ERR: nothing new to say, but the alert is posted again so that
	// Alertmanager keeps it firing.
	time.Sleep(1100 * time.Millisecond)
	if sum := evaluate("still stopped"); sum["alerts_sent"] != 0.0 {
		t.Errorf("second run sent %v alerts, want 0 (a refresh is not an alert)", sum["alerts_sent"])
	}
	if got := alertsOf(t, am, g.name); len(got) != 1 || !got[0].EndsAt.After(firstEnd) || got[0].Status.State != "active" {
		t.Errorf("after a run while open: %+v, want the alert active with endsAt after %s", got, firstEnd)
	}

	g.catchUp()
	if sum := evaluate("recovered"); sum["alerts_sent"] != 1.0 {
		t.Errorf("recovery run sent %v alerts, want 1 (the close)", sum["alerts_sent"])
	}
	// Resolved: Alertmanager lists it no longer active.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := alertsOf(t, am, g.name)
		if len(got) == 0 || (got[0].Status.State != "active" && !got[0].EndsAt.After(time.Now())) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery Alertmanager still lists %+v as active", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
