package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestScheduleMetricsAndSIGTERM runs the built collector on a one-second
// schedule (a six-field spec with seconds), reads /metrics and /healthz, then
// sends SIGTERM: the process finishes its tick and exits 0.
func TestScheduleMetricsAndSIGTERM(t *testing.T) {
	topic := testenv.CreateTopic(t, "serve", 1)
	testenv.Produce(t, topic, 0, 10)
	group := testenv.Name(t, "serve-group")
	testenv.Commit(t, group, topic, map[int]int64{0: 4})
	setCollectorEnv(t, group)
	addr := freeAddr(t)
	t.Setenv("COLLECTOR_METRICS_ADDR", addr)
	t.Setenv("COLLECTOR_SCHEDULE", "*/1 * * * * *")

	bin := filepath.Join(t.TempDir(), "collector")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = os.Environ()
	proc := testenv.StartProcess(t, cmd)
	proc.WaitFor(t, `"msg":"tick"`, 30*time.Second)
	proc.WaitFor(t, `"msg":"tick"`, 30*time.Second)

	code, body := get(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	m := regexp.MustCompile(`lagwatch_collector_ticks_total\{cluster="default",result="ok"\} (\d+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no ok tick counter:\n%s", body)
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("ok ticks = %d, want >= 2", n)
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
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || !strings.HasPrefix(body, "ok: last tick at ") {
		t.Errorf("/healthz: %d %q", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	proc.WaitFor(t, `"msg":"collector stopped"`, 30*time.Second)
	if err := proc.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}
