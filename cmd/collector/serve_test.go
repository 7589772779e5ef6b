package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestScheduleMetricsAndSIGTERM runs the built collector on a one-second
// schedule (a six-field spec with seconds), reads /metrics and /healthz, then
// sends SIGTERM: the process finishes its tick and exits 0.
func TestScheduleMetricsAndSIGTERM(t *testing.T) {
	group := committedGroup(t, "serve", map[int]int64{0: 4}, 10)
	setCollectorEnv(t, group)
	addr := testenv.FreeAddr(t)
	t.Setenv("COLLECTOR_METRICS_ADDR", addr)
	t.Setenv("COLLECTOR_SCHEDULE", "*/1 * * * * *")

	proc := testenv.StartProcess(t, exec.Command(testenv.BuildProgram(t, "."))) // in the test's environment
	proc.WaitFor(t, `"msg":"tick"`, 30*time.Second)
	proc.WaitFor(t, `"msg":"tick"`, 30*time.Second)

	code, body := testenv.Get(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	n, ok := testenv.Sample(body, `lagwatch_collector_ticks_total{cluster="default",result="ok"}`)
	if !ok {
		t.Fatalf("/metrics has no ok tick counter:\n%s", body)
	}
	if n < 2 {
		t.Errorf("ok ticks = %v, want >= 2", n)
	}
	for _, series := range []string{
		`lagwatch_collector_documents_total{cluster="default",outcome="written"}`,
		`lagwatch_collector_groups{cluster="default"} 1`,
		`lagwatch_collector_partitions{cluster="default"} 1`,
		`lagwatch_collector_tick_duration_seconds_count{cluster="default"}`,
		`lagwatch_collector_spool_bytes 0`,
		`lagwatch_collector_kafka_requests_total{cluster="default"}`,
		"\ngo_goroutines ", "\nprocess_start_time_seconds ", // the runtime and process series
	} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if code, body := testenv.Get(t, "http://"+addr+"/healthz"); code != 200 || !strings.HasPrefix(body, "ok: last tick at ") {
		t.Errorf("/healthz: %d %q", code, body)
	}

	proc.Terminate(t, `"msg":"collector stopped"`, 30*time.Second)
}
