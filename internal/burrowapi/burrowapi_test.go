package burrowapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/golden"
)

// testConfig stands for the evaluator's settings under Burrow's names.
var testConfig = map[string]any{
	"storage":   map[string]any{"intervals": 10},
	"evaluator": map[string]any{"minimum-complete": 0, "allowed-lag": 0},
}

func newHandler(src Source, log *slog.Logger) http.Handler {
	return New(src, Options{Host: "lagwatch-test", Config: testConfig, Log: log})
}

// serve runs one request through h and returns the answer.
func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// TestEndpoints checks every endpoint's status and body; the bodies are the
// golden files under testdata/, refreshed with -update.
func TestEndpoints(t *testing.T) {
	const group = "/v3/kafka/prod-eu/consumer/billing%20v2%2Feu"
	cases := []struct {
		name   string
		reason string
		method string
		target string
		code   int
		golden string
	}{
		{"cluster list", "every cluster of the history, sorted by the Source", "GET", "/v3/kafka", 200, "clusters.json"},
		{"cluster detail", "Burrow's module body with what maps: class-name kafka, servers []", "GET", "/v3/kafka/prod-eu", 200, "cluster.json"},
		{"cluster detail unknown", "Burrow: 404 cluster module not found", "GET", "/v3/kafka/nowhere", 404, "cluster_notfound.json"},
		{"consumer list", "the cluster's groups", "GET", "/v3/kafka/prod-eu/consumer", 200, "consumers.json"},
		{"consumer list empty", "a nil list from the Source is [] as in Burrow", "GET", "/v3/kafka/prod-us/consumer", 200, "consumers_empty.json"},
		{"consumer list unknown cluster", "Burrow: 404 cluster not found", "GET", "/v3/kafka/nowhere/consumer", 404, "consumers_notfound.json"},
		{"consumer detail", "topics -> partitions by index (null gaps), offsets oldest first with commit lag", "GET", group, 200, "consumer.json"},
		{"consumer detail idle", "a known group without observations has no topics", "GET", "/v3/kafka/prod-eu/consumer/idle", 200, "consumer_idle.json"},
		{"consumer detail unknown group", "Burrow: 404 cluster or consumer not found", "GET", "/v3/kafka/prod-eu/consumer/nobody", 404, "consumer_notfound.json"},
		{"consumer detail unknown cluster", "the same message for an unknown cluster", "GET", "/v3/kafka/nowhere/consumer/nobody", 404, "consumer_notfound_cluster.json"},
		{"consumer status", "only the partitions worse than OK", "GET", group + "/status", 200, "status.json"},
		{"consumer lag", "every partition", "GET", group + "/lag", 200, "lag.json"},
		{"status unknown group", "Burrow: the NOTFOUND body, error false, with 404", "GET", "/v3/kafka/prod-eu/consumer/nobody/status", 404, "status_notfound.json"},
		{"lag unknown cluster", "likewise for an unknown cluster", "GET", "/v3/kafka/nowhere/consumer/nobody/lag", 404, "lag_notfound.json"},
		{"lag idle group", "a known group without observations is NOTFOUND too", "GET", "/v3/kafka/prod-eu/consumer/idle/lag", 404, "lag_idle.json"},
		{"topic list", "topics with offsets in the history", "GET", "/v3/kafka/prod-eu/topic", 200, "topics.json"},
		{"topic list unknown cluster", "Burrow: 404 cluster not found", "GET", "/v3/kafka/nowhere/topic", 404, "topics_notfound.json"},
		{"topic detail", "log-end offsets by partition", "GET", "/v3/kafka/prod-eu/topic/invoices", 200, "topic.json"},
		{"topic detail unknown topic", "Burrow: 404 cluster or topic not found", "GET", "/v3/kafka/prod-eu/topic/nothing", 404, "topic_notfound.json"},
		{"topic detail unknown cluster", "the same message for an unknown cluster", "GET", "/v3/kafka/nowhere/topic/invoices", 404, "topic_notfound_cluster.json"},
		{"topic consumers", "groups with a partition of the topic", "GET", "/v3/kafka/prod-eu/topic/payments/consumers", 200, "topic_consumers.json"},
		{"topic consumers unknown topic", "the topic detail's 404", "GET", "/v3/kafka/prod-eu/topic/nothing/consumers", 404, "topic_consumers_notfound.json"},
		{"topic consumers unknown cluster", "Burrow: 404 cluster not found", "GET", "/v3/kafka/nowhere/topic/payments/consumers", 404, "topic_consumers_notfound_cluster.json"},
		{"config", "Options.Config beside error, message, request", "GET", "/v3/config", 200, "config.json"},
		{"config cluster list", "one cluster module per cluster", "GET", "/v3/config/cluster", 200, "config_clusters.json"},
		{"config cluster detail", "as /v3/kafka/(cluster), as in Burrow", "GET", "/v3/config/cluster/prod-eu", 200, "cluster_config.json"},
		{"config storage list", "no counterpart: an empty module list", "GET", "/v3/config/storage", 200, "config_storage.json"},
		{"config notifier detail", "Burrow: 404 notifier module not found", "GET", "/v3/config/notifier/default", 404, "config_notifier_notfound.json"},
		{"unknown path", "Burrow's catch-all body", "GET", "/v2/kafka", 404, "unknown_path.json"},
		{"unknown path under a cluster", "no such endpoint", "GET", "/v3/kafka/prod-eu/broker", 404, "unknown_path.json"},
		{"delete consumer", "the history is not deleted through the API", "DELETE", group, 405, "delete_consumer.json"},
		{"delete topic", "likewise for a topic", "DELETE", "/v3/kafka/prod-eu/topic/payments", 405, "delete_topic.json"},
		{"post", "the API only reads", "POST", "/v3/kafka", 405, "post.json"},
		{"bad at", "400 naming at and the value", "GET", "/v3/kafka/prod-eu/consumer?at=yesterday", 400, "bad_at.json"},
		{"at with an unescaped plus", "the hint about %2B", "GET", "/v3/kafka?at=2024-05-01T12:00:00+02:00", 400, "bad_at_plus.json"},
	}
	h := newHandler(newFake(), slog.New(slog.DiscardHandler))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(h, tc.method, tc.target)
			if rec.Code != tc.code {
				t.Errorf("status %d, want %d (%s); body %s", rec.Code, tc.code, tc.reason, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, rec.Body.Bytes(), "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
			}
			got.WriteByte('\n')
			checkGolden(t, tc.golden, got.Bytes(), tc.reason)
		})
	}
}

func checkGolden(t *testing.T, file string, got []byte, reason string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", file), got, "the body ("+reason+")")
}

// TestAdmin checks Burrow's plain-text health answers.
func TestAdmin(t *testing.T) {
	h := newHandler(newFake(), slog.New(slog.DiscardHandler))
	for _, tc := range []struct{ path, want string }{
		{"/burrow/admin", "GOOD"},
		{"/burrow/admin/ready", "READY"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := serve(h, "GET", tc.path)
			if rec.Code != 200 || rec.Body.String() != tc.want {
				t.Errorf("got %d %q, want 200 %q", rec.Code, rec.Body, tc.want)
			}
		})
	}
}

// startingSource is a Source that is not ready yet.
type startingSource struct {
	*fake
	ready bool
}

func (s *startingSource) Ready() bool { return s.ready }

// TestReady: a Source that is not ready makes /burrow/admin/ready answer
// Burrow's STARTING with 503, and READY once it is; /burrow/admin is GOOD
// all along.
func TestReady(t *testing.T) {
	src := &startingSource{fake: newFake()}
	h := newHandler(src, slog.New(slog.DiscardHandler))
	if rec := serve(h, "GET", "/burrow/admin/ready"); rec.Code != 503 || rec.Body.String() != "STARTING" {
		t.Errorf("not ready: got %d %q, want 503 STARTING", rec.Code, rec.Body)
	}
	if rec := serve(h, "GET", "/burrow/admin"); rec.Code != 200 || rec.Body.String() != "GOOD" {
		t.Errorf("/burrow/admin while starting: got %d %q, want 200 GOOD", rec.Code, rec.Body)
	}
	src.ready = true
	if rec := serve(h, "GET", "/burrow/admin/ready"); rec.Code != 200 || rec.Body.String() != "READY" {
		t.Errorf("ready: got %d %q, want 200 READY", rec.Code, rec.Body)
	}
}

// TestAt checks that ?at reaches the Source on every read endpoint, and
// that its absence means the latest data (a zero instant).
func TestAt(t *testing.T) {
	at := time.Date(2024, 4, 30, 23, 15, 0, 0, time.FixedZone("", 2*3600))
	paths := []string{
		"/v3/kafka",
		"/v3/kafka/prod-eu",
		"/v3/kafka/prod-eu/consumer",
		"/v3/kafka/prod-eu/consumer/idle",
		"/v3/kafka/prod-eu/consumer/idle/status",
		"/v3/kafka/prod-eu/consumer/idle/lag",
		"/v3/kafka/prod-eu/topic",
		"/v3/kafka/prod-eu/topic/payments",
		"/v3/kafka/prod-eu/topic/payments/consumers",
		"/v3/config/cluster",
		"/v3/config/cluster/prod-eu",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			f := newFake()
			h := newHandler(f, slog.New(slog.DiscardHandler))
			serve(h, "GET", p+"?at=2024-04-30T23:15:00%2B02:00")
			if got := f.lastAt(); !got.Equal(at) {
				t.Errorf("Source got at %v, want %v", got, at)
			}
			serve(h, "GET", p)
			if got := f.lastAt(); !got.IsZero() {
				t.Errorf("without ?at the Source got %v, want the zero time (latest)", got)
			}
		})
	}
}

// TestSourceError checks that a failing Source gives 500 with its message,
// logged once.
func TestSourceError(t *testing.T) {
	f := newFake()
	f.err = errors.New("search metrics-lagwatch.offsets-default: 503 Service Unavailable")
	var logs bytes.Buffer
	h := newHandler(f, slog.New(slog.NewJSONHandler(&logs, nil)))
	for _, p := range []string{"/v3/kafka", "/v3/kafka/prod-eu", "/v3/kafka/prod-eu/consumer/idle/lag", "/v3/kafka/prod-eu/topic/payments"} {
		t.Run(p, func(t *testing.T) {
			logs.Reset()
			rec := serve(h, "GET", p)
			var body Head
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("decode: %v: %s", err, rec.Body)
			}
			if rec.Code != 500 || !body.Error || !strings.Contains(body.Message, "503 Service Unavailable") {
				t.Errorf("got %d %+v, want 500, error true and the Source's message", rec.Code, body)
			}
			if n := strings.Count(logs.String(), `"level":"ERROR"`); n != 1 {
				t.Errorf("%d error lines, want 1: %s", n, logs.String())
			}
		})
	}
}

// TestTimeout checks that a Source call is bounded by Options.Timeout.
func TestTimeout(t *testing.T) {
	f := newFake() // group "slow" waits for release, never closed here
	h := New(f, Options{Host: "lagwatch-test", Timeout: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	rec := serve(h, "GET", "/v3/kafka/prod-eu/consumer/slow/status")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "deadline exceeded") {
		t.Errorf("got %d %s, want 500 naming the deadline", rec.Code, rec.Body)
	}
}

// TestConcurrent proves that a slow request does not hold up another: the
// first request's Source call returns only once the second request has
// been answered in full.
func TestConcurrent(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(New(f, Options{Host: "lagwatch-test", Timeout: time.Minute, Log: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)

	type answer struct {
		code int
		err  error
	}
	get := func(path string) answer {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return answer{resp.StatusCode, err}
	}
	slow := make(chan answer, 1)
	go func() { slow <- get("/v3/kafka/prod-eu/consumer/slow/status") }()
	<-f.entered // the slow request is inside the Source

	fast := make(chan answer, 1)
	go func() { fast <- get("/v3/kafka/prod-eu/consumer/billing%20v2%2Feu/lag") }()
	select {
	case a := <-fast:
		if a.err != nil || a.code != 200 {
			t.Errorf("fast request: %d %v, want 200", a.code, a.err)
		}
	case <-time.After(30 * time.Second): // a deadlock guard, not a speed target
		t.Fatal("the second request waited for the first")
	}
	close(f.release)
	if a := <-slow; a.err != nil || a.code != 404 {
		t.Errorf("slow request: %d %v, want 404 (group unknown once released)", a.code, a.err)
	}
}

// TestBurrowShape decodes the consumer detail with Burrow's field names,
// as Burrow's kafka_test.go reads protocol.ConsumerTopics, independently
// of the golden file.
func TestBurrowShape(t *testing.T) {
	h := newHandler(newFake(), slog.New(slog.DiscardHandler))
	rec := serve(h, "GET", "/v3/kafka/prod-eu/consumer/billing%20v2%2Feu")
	var v struct {
		Error   *bool   `json:"error"`
		Message *string `json:"message"`
		Topics  map[string][]*struct {
			Offsets []struct {
				Offset    *int64 `json:"offset"`
				Timestamp *int64 `json:"timestamp"`
				Lag       *int64 `json:"lag"`
			} `json:"offsets"`
			Owner      *string `json:"owner"`
			ClientID   *string `json:"client_id"`
			CurrentLag *uint64 `json:"current-lag"`
		} `json:"topics"`
		Request struct {
			URL  string `json:"url"`
			Host string `json:"host"`
		} `json:"request"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode: %v: %s", err, rec.Body)
	}
	inv, pay := v.Topics["invoices"], v.Topics["payments"]
	cases := []struct {
		name, reason string
		ok           bool
	}{
		{"error false", "a found group", v.Error != nil && !*v.Error},
		{"message", "Burrow's text", v.Message != nil && *v.Message == "consumer detail returned"},
		{"index is the partition", "invoices has only partition 2", len(inv) == 3 && inv[0] == nil && inv[1] == nil && inv[2] != nil},
		{"offsets skip the tick without a commit", "4 ticks, the first without a commit", inv[2] != nil && len(inv[2].Offsets) == 3},
		{"timestamp is the first sighting", "300 first seen at t0-2m", inv[2] != nil && len(inv[2].Offsets) == 3 && *inv[2].Offsets[2].Timestamp == t0.Add(-2*time.Minute).UnixMilli()},
		{"owner is the host", "payments/1 has a host", len(pay) == 2 && *pay[1].Owner == "/10.0.0.7" && *pay[1].ClientID == "billing"},
		{"owner falls back to the member id", "payments/0 has no host", len(pay) == 2 && *pay[0].Owner == "consumer-1-a"},
		{"current-lag", "1200 - 650", len(pay) == 2 && pay[1].CurrentLag != nil && *pay[1].CurrentLag == 550},
		{"first lag from Before", "600 - 500", len(pay) == 2 && pay[1].Offsets[0].Lag != nil && *pay[1].Offsets[0].Lag == 100},
		{"first lag unknown without Before", "null", len(pay) == 2 && pay[0].Offsets[0].Lag == nil},
		{"request", "escaped path and the configured host", v.Request.URL == "/v3/kafka/prod-eu/consumer/billing%20v2%2Feu" && v.Request.Host == "lagwatch-test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("%s; got %s", tc.reason, rec.Body)
			}
		})
	}
}
