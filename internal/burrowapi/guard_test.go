package burrowapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// horizonSource is a fake whose history starts at first.
type horizonSource struct {
	*fake
	first time.Time
}

func (h horizonSource) Earliest(context.Context, time.Time) (time.Time, string) {
	return h.first, "the oldest tick of the history"
}

// errorBody decodes an answer that must be Burrow's error body.
func errorBody(t *testing.T, rec *httptest.ResponseRecorder) Head {
	t.Helper()
	var body Head
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("not a JSON body (%v, Content-Type %q): %s", err, rec.Header().Get("Content-Type"), rec.Body)
	}
	if !body.Error || body.Request.URL == "" {
		t.Errorf("body %+v: want error true and the request echoed", body)
	}
	return body
}

// TestAtOutsideHistory: an instant the history cannot answer for is 400
// with the reason, and never reaches the Source.
func TestAtOutsideHistory(t *testing.T) {
	now := time.Now().UTC()
	first := now.Add(-48 * time.Hour).Truncate(time.Second)
	at := func(t time.Time) string { return strings.ReplaceAll(t.Format(time.RFC3339), "+", "%2B") }
	cases := []struct {
		name, at string
		code     int
		want     string // in the message
		reason   string
	}{
		{"zero time", "0001-01-01T00:00:00Z", 400, "the zero time", "it would otherwise read as the present"},
		{"zero time in another zone", "0001-01-01T02:00:00%2B02:00", 400, "the zero time", "the same instant"},
		{"before 1970", "1969-12-31T23:59:59Z", 400, "earlier than any history", "older than Kafka"},
		{"before the oldest tick", at(first.Add(-time.Second)), 400, "the oldest tick of the history", "the Source's horizon"},
		{"at the oldest tick", at(first), 200, "", "the first instant the history answers for"},
		{"within the skew", at(now.Add(FutureSkew / 2)), 200, "", "clocks differ a little"},
		{"beyond the skew", at(now.Add(FutureSkew + time.Minute)), 400, "in the future", "the history ends now"},
		{"far future", "9999-12-31T23:59:59Z", 400, "in the future", "the history ends now"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			h := newHandler(horizonSource{fake: f, first: first}, slog.New(slog.DiscardHandler))
			rec := serve(h, "GET", "/v3/kafka/prod-eu/consumer?at="+tc.at)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d (%s): %s", rec.Code, tc.code, tc.reason, rec.Body)
			}
			if tc.code == 200 {
				return
			}
			if body := errorBody(t, rec); !strings.Contains(body.Message, tc.want) {
				t.Errorf("message %q lacks %q (%s)", body.Message, tc.want, tc.reason)
			}
			if len(f.ats) != 0 {
				t.Errorf("the Source was asked %d times, want none", len(f.ats))
			}
		})
	}
}

// TestLongNames: a name longer than the history can hold is 400 without
// asking the Source; one of the longest length is looked up as usual.
func TestLongNames(t *testing.T) {
	long, longest := strings.Repeat("é", MaxNameLength+1), strings.Repeat("é", MaxNameLength)
	cases := []struct {
		name, path string
		code       int
		reason     string
	}{
		{"cluster", "/v3/kafka/" + long + "/consumer", 400, "too long for the history"},
		{"group", "/v3/kafka/prod-eu/consumer/" + long + "/lag", 400, "an error, not the NOTFOUND body"},
		{"topic", "/v3/kafka/prod-eu/topic/" + long, 400, "too long for the history"},
		{"the longest cluster", "/v3/kafka/" + longest + "/consumer", 404, "counted in characters, not bytes: unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			rec := serve(newHandler(f, slog.New(slog.DiscardHandler)), "GET", tc.path)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d (%s): %.200s", rec.Code, tc.code, tc.reason, rec.Body)
			}
			if tc.code == 400 {
				if body := errorBody(t, rec); !strings.Contains(body.Message, fmt.Sprintf("name of %d characters", MaxNameLength+1)) {
					t.Errorf("message %q does not say how long", body.Message)
				}
				if len(f.ats) != 0 {
					t.Errorf("the Source was asked")
				}
			}
		})
	}
}

// headerAuth lets in requests with X-Test: yes.
type headerAuth struct{}

func (headerAuth) Allows(r *http.Request) bool { return r.Header.Get("X-Test") == "yes" }
func (headerAuth) Challenge() string           { return `Bearer realm="test"` }

// TestAuth: with an Authorizer every path but Burrow's health checks asks
// for credentials, answering 401 in Burrow's error body.
func TestAuth(t *testing.T) {
	f := newFake()
	h := New(f, Options{Host: "lagwatch-test", Log: slog.New(slog.DiscardHandler), Auth: headerAuth{}})
	cases := []struct {
		name, path string
		header     bool
		code       int
		reason     string
	}{
		{"API without credentials", "/v3/kafka", false, 401, "closed"},
		{"group without credentials", "/v3/kafka/prod-eu/consumer/idle/lag", false, 401, "closed before any lookup"},
		{"unknown path without credentials", "/v2/kafka", false, 401, "nothing is told without credentials"},
		{"API with credentials", "/v3/kafka", true, 200, "open"},
		{"health check", "/burrow/admin", false, 200, "load balancers carry no credentials"},
		{"readiness", "/burrow/admin/ready", false, 200, "likewise"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.header {
				req.Header.Set("X-Test", "yes")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d (%s): %s", rec.Code, tc.code, tc.reason, rec.Body)
			}
			if tc.code == 401 {
				errorBody(t, rec)
				if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="test"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}
		})
	}
	if len(f.ats) != 1 {
		t.Errorf("the Source was asked %d times, want once (the request with credentials)", len(f.ats))
	}
}

// holdingSource holds every Consumer call until release is closed, telling
// entered of each.
type holdingSource struct {
	*fake
	entered chan struct{}
	release chan struct{}
}

func (h holdingSource) Consumer(ctx context.Context, at time.Time, cluster, group string) (Consumer, error) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return h.fake.Consumer(ctx, at, cluster, "idle")
}

// TestMaxInFlight: beyond MaxInFlight requests at once, the next is
// answered 503 at once in Burrow's error body, health checks still
// answer, and a slot freed is taken again.
func TestMaxInFlight(t *testing.T) {
	src := holdingSource{fake: newFake(), entered: make(chan struct{}, 10), release: make(chan struct{})}
	h := New(src, Options{Host: "lagwatch-test", Log: slog.New(slog.DiscardHandler), MaxInFlight: 2, Timeout: time.Minute})
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- serve(h, "GET", "/v3/kafka/prod-eu/consumer/idle/lag").Code
		}()
	}
	<-src.entered
	<-src.entered
	rec := serve(h, "GET", "/v3/kafka")
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("third request: %d (Retry-After %q), want 503 and Retry-After 1: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if body := errorBody(t, rec); !strings.Contains(body.Message, "at most 2") {
		t.Errorf("message %q does not give the bound", body.Message)
	}
	if rec := serve(h, "GET", "/burrow/admin/ready"); rec.Code != 200 {
		t.Errorf("readiness while full: %d, want 200", rec.Code)
	}
	close(src.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 404 {
			t.Errorf("held request: %d, want 404 (idle is NOTFOUND)", code)
		}
	}
	if rec := serve(h, "GET", "/v3/kafka"); rec.Code != 200 {
		t.Errorf("after the held requests: %d, want 200", rec.Code)
	}
}
