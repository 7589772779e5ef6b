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
