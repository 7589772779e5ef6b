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

// TestScheduleMetricsAndSIGTERM runs the built evaluator on a one-second
// schedule against an empty namespace, reads /metrics and /healthz, then
// sends SIGTERM: it lets the run in flight finish and exits 0.
func TestScheduleMetricsAndSIGTERM(t *testing.T) {
	ns := strings.ReplaceAll(testenv.Name(t, "evalserve"), "-", "")
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, "metrics-lagwatch.status-"+ns)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	bin := filepath.Join(t.TempDir(), "evaluator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ELASTICSEARCH_URL="+testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE="+ns,
		"EVALUATOR_SCHEDULE=*/1 * * * * *", "EVALUATOR_METRICS_ADDR="+addr, "LOG_FORMAT=json")
	proc := testenv.StartProcess(t, cmd)
	proc.WaitFor(t, `"msg":"evaluation"`, 30*time.Second)
	proc.WaitFor(t, `"msg":"evaluation"`, 30*time.Second)

	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`lagwatch_evaluator_runs_total\{result="ok"\} (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no ok run counter:\n%s", body)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 2 {
		t.Errorf("ok runs = %d, want >= 2", n)
	}
	res, err = http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz: %s %q, want 200 \"ok\\n\"", res.Status, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	proc.WaitFor(t, `"msg":"evaluator stopped"`, 30*time.Second)
	if err := proc.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}
