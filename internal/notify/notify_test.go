package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/golden"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

var t0 = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	p := Policy{Threshold: evaluate.Warn, ResendEvery: time.Hour}
	open := Incident{Cluster: "c", Group: "g", Open: true, Status: evaluate.Warn, WorstStatus: evaluate.Warn, OpenedAt: t0, LastSentAt: t0, Sends: 1}
	cases := []struct {
		name     string
		inc      Incident
		status   evaluate.Status
		now      time.Time
		p        Policy
		want     Kind
		wantOpen bool
	}{
		{"OK with no incident: nothing", Incident{}, evaluate.OK, t0, p, None, false},
		{"WARN reaches the default threshold: open", Incident{}, evaluate.Warn, t0, p, Open, true},
		{"WARN under an ERR threshold: nothing", Incident{}, evaluate.Warn, t0, Policy{Threshold: evaluate.Err}, None, false},
		{"ERR under an ERR threshold: open", Incident{}, evaluate.Err, t0, Policy{Threshold: evaluate.Err}, Open, true},
		{"zero policy means WARN", Incident{}, evaluate.Warn, t0, Policy{}, Open, true},
		{"still WARN within the interval: nothing", open, evaluate.Warn, t0.Add(59 * time.Minute), p, None, true},
		{"still WARN after the interval: resend", open, evaluate.Warn, t0.Add(time.Hour), p, Resend, true},
		{"no resend interval: never resend", open, evaluate.Warn, t0.Add(48 * time.Hour), Policy{}, None, true},
		{"WARN to ERR while open: update at once", open, evaluate.Err, t0.Add(time.Minute), p, Update, true},
		{"OK again: close", open, evaluate.OK, t0.Add(time.Minute), p, Close, false},
		{"NOTFOUND changes nothing on an open incident", open, evaluate.NotFound, t0.Add(2 * time.Hour), p, None, true},
		{"NOTFOUND opens nothing", Incident{}, evaluate.NotFound, t0, p, None, false},
		{"open whose first alert failed: sent again as open", Incident{Open: true, Status: evaluate.Warn, WorstStatus: evaluate.Warn, OpenedAt: t0, FailedSends: 1},
			evaluate.Warn, t0.Add(time.Minute), p, Open, true},
		{"a closed incident reopens", Incident{Open: false, Status: evaluate.OK, ClosedAt: t0, Sends: 3}, evaluate.Err, t0.Add(time.Hour), p, Open, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next, kind := Decide(tc.inc, "c", "g", tc.status, tc.now, tc.p)
			if kind != tc.want || next.Open != tc.wantOpen {
				t.Fatalf("got %q open=%v, want %q open=%v", kind, next.Open, tc.want, tc.wantOpen)
			}
			if kind == Open && !tc.inc.Open && (!next.OpenedAt.Equal(tc.now) || next.Sends != 0) {
				t.Errorf("opened incident %+v: OpenedAt must be now and Sends 0 until delivered", next)
			}
			if kind == Close && !next.ClosedAt.Equal(tc.now) {
				t.Errorf("closed incident %+v: ClosedAt must be now", next)
			}
		})
	}
	// Worst status is kept while open.
	next, _ := Decide(open, "c", "g", evaluate.Err, t0, p)
	next, _ = Decide(next, "c", "g", evaluate.Warn, t0, p)
	if next.WorstStatus != evaluate.Err || next.Status != evaluate.Warn {
		t.Errorf("worst %s status %s, want ERR and WARN", next.WorstStatus, next.Status)
	}
	if d := Delivered(next, Update, true, t0); d.Sends != 2 || !d.LastSentAt.Equal(t0) {
		t.Errorf("delivered: %+v", d)
	}
	if d := Delivered(next, Update, false, t0); d.FailedSends != 1 || d.Sends != 1 {
		t.Errorf("failed delivery: %+v", d)
	}
}

func sampleAlert() Alert {
	return Alert{Kind: Open, Cluster: "prod", Group: "billing \"v2\"", Status: "ERR", Worst: "ERR", At: t0, OpenedAt: t0,
		TotalLag: 1234, MaxLagTopic: "invoices", MaxLagPartition: 3, MaxLag: 1000, TimeLagSeconds: 95,
		Partitions: []AlertPartition{{Topic: "invoices", Partition: 3, Status: "STOP", CurrentLag: 1000}, {Topic: "invoices", Partition: 4, Status: "WARN", CurrentLag: 234}}}
}

// TestTemplatesGolden renders both ready templates; each must be valid JSON
// and match its golden file (refresh with -update).
func TestTemplatesGolden(t *testing.T) {
	for _, tc := range []struct{ name, text string }{{"generic", GenericTemplate}, {"slack", SlackTemplate}} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := ParseTemplate(tc.name, tc.text)
			if err != nil {
				t.Fatal(err)
			}
			w := &Webhook{Name: tc.name, Body: tmpl}
			body, err := w.Render(sampleAlert())
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(body) {
				t.Fatalf("not JSON:\n%s", body)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".json"), body, "the body")
		})
	}
}

// TestWebhookRetries: a 503 and a 429 are retried, a 400 is not, and the
// error never shows the URL (a Slack URL is a secret).
func TestWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	codes := []int{503, 429, 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || !json.Valid(b) || r.Header.Get("X-Token") != "s3cret" {
			w.WriteHeader(400)
			return
		}
		w.WriteHeader(codes[min(n, len(codes)-1)])
	}))
	defer srv.Close()
	tmpl, _ := ParseTemplate("generic", GenericTemplate)
	w := &Webhook{Name: "test", URL: srv.URL + "/hook/T0KEN", Body: tmpl, Retries: 3, Backoff: time.Millisecond,
		Timeout: time.Second, Headers: map[string]string{"X-Token": "s3cret"}}
	if err := w.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatalf("send: %v", err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d attempts, want 3 (503 and 429 retried)", calls.Load())
	}

	calls.Store(0)
	codes = []int{400}
	if err := w.Send(context.Background(), sampleAlert()); err == nil || calls.Load() != 1 {
		t.Errorf("400: err %v after %d attempts, want an error after 1", err, calls.Load())
	}

	srv.Close()
	err := w.Send(context.Background(), sampleAlert())
	if err == nil || strings.Contains(err.Error(), "T0KEN") {
		t.Errorf("unreachable sink: %v (must fail without showing the URL)", err)
	}
}

// TestPolicyCovers: which groups alert under allow and deny patterns.
func TestPolicyCovers(t *testing.T) {
	for _, tc := range []struct {
		name, allow, deny, group string
		want                     bool
		reason                   string
	}{
		{"no patterns", "", "", "billing", true, "every group alerts"},
		{"allowed", "^prod-", "", "prod-billing", true, "matches the allow pattern"},
		{"not allowed", "^prod-", "", "stage-billing", false, "allow set, no match"},
		{"denied", "", "console-consumer", "console-consumer-4711", false, "a match anywhere in the name"},
		{"deny wins", "^prod-", "-test$", "prod-billing-test", false, "denied although allowed"},
		{"allowed, not denied", "^prod-", "-test$", "prod-billing", true, "allowed, deny does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Policy
			if tc.allow != "" {
				p.Allow = regexp.MustCompile(tc.allow)
			}
			if tc.deny != "" {
				p.Deny = regexp.MustCompile(tc.deny)
			}
			if got := p.Covers(tc.group); got != tc.want {
				t.Errorf("Covers(%q) = %v, want %v: %s", tc.group, got, tc.want, tc.reason)
			}
		})
	}
}

// TestDecideStale: a cluster's own incident opens once when it turns
// stale, under any threshold, stays quiet (or re-sends) while it stays so,
// and closes when its lag data is fresh again.
func TestDecideStale(t *testing.T) {
	stale := evaluate.Freshness{Stale: true, NewestTick: t0, StaleAt: t0.Add(150 * time.Second), Reason: "no collector tick since then"}
	fresh := evaluate.Freshness{NewestTick: t0.Add(time.Hour)}
	open := Incident{Cluster: "c", Scope: ClusterScope, Open: true, Status: evaluate.Err, WorstStatus: evaluate.Err, OpenedAt: t0, LastSentAt: t0, Sends: 1}
	cases := []struct {
		name, reason string
		inc          Incident
		f            evaluate.Freshness
		now          time.Time
		resend       time.Duration
		want         Kind
		wantOpen     bool
	}{
		{"fresh, no incident", "nothing to say: no alert, nothing stored", Incident{}, fresh, t0, time.Hour, None, false},
		{"turns stale", "one incident opens", Incident{}, stale, t0, time.Hour, Open, true},
		{"stays stale", "unchanged within the resend interval: nothing", open, stale, t0.Add(time.Minute), time.Hour, None, true},
		{"stays stale past the resend interval", "re-sent like a group's", open, stale, t0.Add(time.Hour), time.Hour, Resend, true},
		{"no resend interval", "never re-sent", open, stale, t0.Add(48 * time.Hour), 0, None, true},
		{"fresh again", "the incident closes", open, fresh, t0.Add(time.Hour), time.Hour, Close, false},
		{"stale again after a close", "a second incident opens", Incident{Cluster: "c", Scope: ClusterScope, ClosedAt: t0, Sends: 2}, stale, t0.Add(2 * time.Hour), time.Hour, Open, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next, kind := DecideStale(tc.inc, "c", tc.f, tc.now, tc.resend)
			if kind != tc.want || next.Open != tc.wantOpen {
				t.Fatalf("%s: got %q open=%v, want %q open=%v", tc.reason, kind, next.Open, tc.want, tc.wantOpen)
			}
			if next.Key() != ClusterKey("c") {
				t.Errorf("%s: key %+v, want the cluster's own", tc.reason, next.Key())
			}
		})
	}
	if ClusterKey("c") == (GroupKey{Cluster: "c", Group: ""}) {
		t.Error("a cluster's key equals the key of a group named \"\"")
	}
}

// staleAlerts are a cluster's alerts: its opening and its close.
func staleAlerts() map[string]Alert {
	newest := t0.Add(-20 * time.Minute)
	f := evaluate.Freshness{Stale: true, NewestTick: newest, Reason: "collector ticks but reads nothing: dial tcp 127.0.0.1:1: connect: connection refused"}
	inc := Incident{Cluster: "prod", Scope: ClusterScope, Open: true, OpenedAt: t0}
	return map[string]Alert{
		"open":  NewStaleAlert(Open, "prod", f, Incident{}, inc, t0),
		"close": NewStaleAlert(Close, "prod", evaluate.Freshness{NewestTick: t0.Add(time.Hour)}, inc, inc, t0.Add(time.Hour)),
	}
}

// TestStaleTemplatesGolden renders a stale cluster's alerts with both
// ready webhook templates (testdata/*-stale-*.json, -update to refresh).
func TestStaleTemplatesGolden(t *testing.T) {
	for _, tmpl := range []struct{ name, text string }{{"generic", GenericTemplate}, {"slack", SlackTemplate}} {
		for kind, a := range staleAlerts() {
			t.Run(tmpl.name+" "+kind, func(t *testing.T) {
				w := &Webhook{Name: tmpl.name, Body: MustParse(tmpl.name, tmpl.text)}
				body, err := w.Render(a)
				if err != nil {
					t.Fatal(err)
				}
				if !json.Valid(body) {
					t.Fatalf("not JSON:\n%s", body)
				}
				golden.Check(t, filepath.Join("testdata", tmpl.name+"-stale-"+kind+".json"), body, "the body")
			})
		}
	}
}

// TestStaleMail: the default subject and body of a stale cluster's mail
// say which cluster, since when and why, and link its collector dashboard.
func TestStaleMail(t *testing.T) {
	m := &Mail{From: "lagwatch@example.com", To: []string{"oncall@example.com"}, DashboardURL: "http://grafana:3000",
		Subject: MustParse("s", MailSubjectTemplate), Body: MustParse("b", MailBodyTemplate)}
	msg, err := m.Render(staleAlerts()["open"])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Subject: [lagwatch] Opened: no lag data from cluster prod since 2026-03-01T02:40:00Z: collector ticks but reads nothing",
		"Opened: no lag data from cluster prod since 2026-03-01T02:40:00Z: collector ticks but reads nothing: dial tcp",
		"keep the verdicts they had when it turned stale",
		"Dashboard: http://grafana:3000/d/lagwatch-collector?var-cluster=prod",
	} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("the mail lacks %q:\n%s", want, msg)
		}
	}
	msg, err = m.Render(staleAlerts()["close"])
	if err != nil {
		t.Fatal(err)
	}
	if want := "Resolved: lag data from cluster prod again (stale since 2026-03-01T03:00:00Z)."; !strings.Contains(string(msg), want) {
		t.Errorf("the closing mail lacks %q:\n%s", want, msg)
	}
}

// TestStaleAlertmanager: a stale cluster is one alert of its own name,
// labelled by cluster alone, critical, firing at the opening and resolved
// at the close under the same labels.
func TestStaleAlertmanager(t *testing.T) {
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
	}))
	defer srv.Close()
	am := &Alertmanager{Targets: []*Webhook{{Name: "alertmanager", URL: srv.URL + AlertmanagerAPI}}}
	for _, kind := range []string{"open", "close"} {
		if err := am.Send(context.Background(), staleAlerts()[kind]); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]postableAlert
	for _, b := range bodies {
		var ps []postableAlert
		if err := json.Unmarshal(b, &ps); err != nil {
			t.Fatal(err)
		}
		got = append(got, ps)
	}
	if len(got) != 2 || len(got[0]) != 1 || len(got[1]) != 1 {
		t.Fatalf("bodies %s, want one alert each for the opening and the close", bodies)
	}
	want := map[string]string{"alertname": StaleAlertName, "cluster": "prod", "status": StaleStatus, "severity": "critical"}
	for i, ps := range got {
		if len(ps[0].Labels) != len(want) {
			t.Errorf("alert %d labels %v, want %v", i, ps[0].Labels, want)
		}
		for k, v := range want {
			if ps[0].Labels[k] != v {
				t.Errorf("alert %d labels %v, want %v", i, ps[0].Labels, want)
			}
		}
	}
	if s := got[0][0].Annotations["summary"]; !strings.HasPrefix(s, "no lag data from cluster prod since 2026-03-01T02:40:00Z: collector ticks") {
		t.Errorf("summary %q", s)
	}
	if !got[0][0].EndsAt.After(t0) || !got[1][0].EndsAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ends %v then %v: want firing, then resolved at the close", got[0][0].EndsAt, got[1][0].EndsAt)
	}
}
