package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLastRunHealthz pins the /healthz answers of both programs: the
// collector names its ticks, the evaluator answers a bare "ok".
func TestLastRunHealthz(t *testing.T) {
	at := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	collector := func() *LastRun { return &LastRun{Noun: "tick", OKNamesRun: true} }
	evaluator := func() *LastRun { return &LastRun{Noun: "evaluation"} }
	for _, tc := range []struct {
		name     string
		last     *LastRun
		at       time.Time
		err      error
		record   bool
		wantCode int
		wantBody string
	}{
		{"collector before the first tick", collector(), time.Time{}, nil, false, 200, "ok: no tick yet\n"},
		{"collector after a good tick", collector(), at, nil, true, 200, "ok: last tick at 2026-03-01T03:00:00Z\n"},
		{"collector after a failed tick", collector(), at, errors.New("cluster \"a\": boom"), true, 503,
			"last tick at 2026-03-01T03:00:00Z failed: cluster \"a\": boom\n"},
		{"evaluator before the first run", evaluator(), time.Time{}, nil, false, 200, "ok\n"},
		{"evaluator after a good run: no time in the answer", evaluator(), at, nil, true, 200, "ok\n"},
		{"evaluator after a failed run", evaluator(), at, errors.New("boom"), true, 503,
			"last evaluation at 2026-03-01T03:00:00Z failed: boom\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.record {
				tc.last.Record(tc.at, tc.err)
			}
			rec := httptest.NewRecorder()
			tc.last.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
}

// TestLastRunRecovers: a good run after a failed one makes /healthz healthy
// again (only the latest run counts).
func TestLastRunRecovers(t *testing.T) {
	l := &LastRun{Noun: "tick"}
	l.Record(time.Unix(1, 0), errors.New("boom"))
	l.Record(time.Unix(2, 0), nil)
	if at, err := l.Last(); err != nil || !at.Equal(time.Unix(2, 0)) {
		t.Errorf("Last() = %v, %v; want the second run, no error", at, err)
	}
}

func TestNewRegistryHasRuntimeSeries(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "lagwatch_test_total", Help: "A test counter."})
	reg := NewRegistry(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	want := []string{"lagwatch_test_total", "go_goroutines"}
	if runtime.GOOS == "linux" { // the process collector reads /proc
		want = append(want, "process_start_time_seconds")
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("registry lacks %s", name)
		}
	}
}

// TestListenServesMetricsAndHealthz: one listener answers both paths, and
// Close stops it.
func TestListenServesMetricsAndHealthz(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "lagwatch_test_total", Help: "A test counter."})
	c.Add(3)
	last := &LastRun{Noun: "tick", OKNamesRun: true}
	s, err := Listen("127.0.0.1:0", "TEST_METRICS_ADDR", NewRegistry(c), last, discard())
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()
	if code, body := testenv.Get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "lagwatch_test_total 3\n") {
		t.Errorf("/metrics: %d, want 200 with lagwatch_test_total 3:\n%s", code, body)
	}
	if code, body := testenv.Get(t, base+"/healthz"); code != 200 || body != "ok: no tick yet\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	last.Record(time.Now(), errors.New("boom"))
	if code, _ := testenv.Get(t, base+"/healthz"); code != 503 {
		t.Errorf("/healthz after a failed run: %d, want 503", code)
	}
	s.Close()
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("listener still answers after Close")
	}
}

// TestListenWithMountsRest: the handler given answers every other path,
// /metrics and /healthz stay the service's own; without one, other paths
// are 404.
func TestListenWithMountsRest(t *testing.T) {
	rest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "api "+r.URL.Path) })
	s, err := ListenWith("127.0.0.1:0", "TEST_HTTP_ADDR", NewRegistry(), &LastRun{}, rest, ServerOptions{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr().String()
	cases := []struct {
		name, path string
		code       int
		body       string
	}{
		{"the API", "/v3/kafka", 200, "api /v3/kafka"},
		{"the root", "/", 200, "api /"},
		{"health stays the service's", "/healthz", 200, "ok\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := testenv.Get(t, base+tc.path); code != tc.code || body != tc.body {
				t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
			}
		})
	}
	if code, body := testenv.Get(t, base+"/metrics"); code != 200 || strings.HasPrefix(body, "api") {
		t.Errorf("/metrics: %d %q, want the registry", code, body)
	}
	plain, err := Listen("127.0.0.1:0", "TEST_METRICS_ADDR", NewRegistry(), &LastRun{}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if code, _ := testenv.Get(t, "http://"+plain.Addr().String()+"/v3/kafka"); code != 404 {
		t.Errorf("without a handler: %d, want 404", code)
	}
}

// TestListenErrorNamesVariable: an address in use fails with the variable's
// name, so that the operator knows what to change.
func TestListenErrorNamesVariable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	s, err := Listen(addr, "COLLECTOR_METRICS_ADDR", NewRegistry(), &LastRun{}, discard())
	if err == nil {
		s.Close()
		t.Fatal("Listen on a busy address succeeded")
	}
	if want := "COLLECTOR_METRICS_ADDR: listen on " + addr + ": "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want prefix %q", err, want)
	}
}

func TestCloseNilServer(t *testing.T) {
	var s *Server
	s.Close() // no listener configured: nothing to do, no panic
}

func TestNewScheduleRejectsBadSpec(t *testing.T) {
	if _, err := NewSchedule("every minute", discard()); err == nil {
		t.Error("NewSchedule accepted a spec that is not cron")
	}
}

// TestScheduleRunsAndStopWaits: the job runs on the schedule with a context
// the caller's cancellation does not reach; while it runs, the next due run
// is skipped; Stop waits for it to finish.
func TestScheduleRunsAndStopWaits(t *testing.T) {
	s, err := NewSchedule("* * * * * *", discard()) // every second
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancel()
	started := make(chan struct{})
	release := make(chan struct{})
	var runs, running, overlaps atomic.Int32
	var jobCtxErr atomic.Value
	s.Start(ctx, func(ctx context.Context) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer running.Add(-1)
		if runs.Add(1) == 1 {
			if ctx.Value(key{}) != "v" {
				t.Error("the job's context lost the caller's values")
			}
			close(started)
			<-release
			jobCtxErr.Store(ctxErrString(ctx))
		}
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run within 10 s on a one-second schedule")
	}
	// Hold the first run over at least one more due time: it must be
	// skipped, not run alongside.
	time.Sleep(1500 * time.Millisecond)
	cancel()
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while the run was in flight")
	default:
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return after the run finished")
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d runs overlapped", n)
	}
	if got := jobCtxErr.Load(); got != "<nil>" {
		t.Errorf("the job's context ended with the caller's: %v", got)
	}
	n := runs.Load()
	time.Sleep(1500 * time.Millisecond)
	if runs.Load() != n {
		t.Error("the job ran after Stop")
	}
}

func ctxErrString(ctx context.Context) string {
	if err := ctx.Err(); err != nil {
		return err.Error()
	}
	return "<nil>"
}

// TestSchedulePanicDoesNotStopTheSchedule: a run that panics is recovered
// and logged at error level, and the next run still happens.
func TestSchedulePanicDoesNotStopTheSchedule(t *testing.T) {
	var logs testenv.Buffer
	s, err := NewSchedule("@every 1s", slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runs := make(chan int, 10)
	n := 0
	s.Start(context.Background(), func(context.Context) {
		n++
		runs <- n
		if n == 1 {
			panic("boom")
		}
	})
	defer s.Stop()
	for want := 1; want <= 2; want++ {
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run %d reported as %d", want, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d did not happen within 10 s on a one-second schedule (after a panicking run)", want)
		}
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"scheduled run panicked`) || !strings.Contains(logs.String(), `"err":"boom"`) {
		t.Errorf("panic not logged at error level with its value:\n%s", logs.String())
	}
}

func TestStopBeforeStart(t *testing.T) {
	s, err := NewSchedule("@every 1s", discard())
	if err != nil {
		t.Fatal(err)
	}
	s.Stop() // nothing scheduled: returns at once
}

// TestPlanned: a run's planned instant is the schedule's activation in the
// second before its start, the same for every process on a schedule aligned
// to the clock; @every schedules, counted from each process's start, and a
// run started too late have none: the start itself.
func TestPlanned(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name, spec, now, want, reason string
	}{
		{"aligned, on time", "*/30 * * * * *", "2026-05-01T03:00:30.004Z", "2026-05-01T03:00:30Z", "fired 4 ms after the activation"},
		{"aligned, late", "*/30 * * * * *", "2026-05-01T03:00:30.900Z", "2026-05-01T03:00:30Z", "a slow start within the second"},
		{"aligned, too late", "*/30 * * * * *", "2026-05-01T03:00:31.200Z", "2026-05-01T03:00:31.200Z", "more than a second late: not this activation"},
		{"five fields", "* * * * *", "2026-05-01T03:01:00.010Z", "2026-05-01T03:01:00Z", "every minute, at its first second"},
		{"every", "@every 30s", "2026-05-01T03:00:30.004Z", "2026-05-01T03:00:30.004Z", "counted from the process's start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := envconf.ScheduleParser.Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := Planned(sched, at(tc.now)); !got.Equal(at(tc.want)) {
				t.Errorf("Planned(%s, %s) = %s, want %s: %s", tc.spec, tc.now, got.Format(time.RFC3339Nano), tc.want, tc.reason)
			}
		})
	}
}
