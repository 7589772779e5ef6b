package main

import (
	"bytes"
	"context"
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
// schedule against a namespace holding one stopped group, reads /metrics
// (with Burrow's gauges of that group) and /healthz, then sends SIGTERM: it
// lets the run in flight finish and exits 0.
func TestScheduleMetricsAndSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	es, ns, names, _, w := newHistory(ctx, t, "evalserve")
	now := time.Now().UTC()
	for i := 3; i >= 1; i-- {
		if _, err := w.Write(ctx, stoppedSnapshot(now.Add(-time.Duration(i)*time.Second), "billing", 5, 20+int64(3-i))); err != nil {
			t.Fatalf("write snapshot: %v", err)
		}
	}
	refresh, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups))
	if err != nil {
		t.Fatal(err)
	}
	refresh.Body.Close()
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
		"EVALUATOR_SCHEDULE=*/1 * * * * *", "EVALUATOR_METRICS_ADDR="+addr, "EVALUATOR_HTTP_ADDR=", "LOG_FORMAT=json")
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
	// The stopped consumer's group is ERR, 3 in Burrow's enum.
	if v, ok := testenv.Sample(string(body), `burrow_kafka_consumer_status{cluster="alerts",consumer_group="billing"}`); !ok || v != 3 {
		t.Errorf("burrow_kafka_consumer_status of the group = %v (present: %v), want 3:\n%s", v, ok, body)
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

// freeAddr is a local address nothing listens on.
// TestServeHealthzAndSIGTERM runs the built `evaluator serve`: it answers
// /healthz and /metrics on EVALUATOR_HTTP_ADDR, and /healthz alone on
// EVALUATOR_METRICS_ADDR, runs no evaluation, and exits 0 on SIGTERM.
func TestServeHealthzAndSIGTERM(t *testing.T) {
	ns := strings.ReplaceAll(testenv.Name(t, "evalapi"), "-", "")
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, "metrics-lagwatch.status-"+ns)
	httpAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	bin := filepath.Join(t.TempDir(), "evaluator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ELASTICSEARCH_URL="+testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE="+ns,
		"EVALUATOR_SCHEDULE=*/1 * * * * *", "EVALUATOR_HTTP_ADDR="+httpAddr, "EVALUATOR_METRICS_ADDR="+metricsAddr, "LOG_FORMAT=json")
	proc := testenv.StartProcess(t, cmd)
	proc.WaitFor(t, `"msg":"evaluator serving"`, 30*time.Second)

	for _, url := range []string{"http://" + httpAddr + "/healthz", "http://" + metricsAddr + "/healthz"} {
		if code, body := testenv.Get(t, url); code != 200 || body != "ok\n" {
			t.Errorf("%s: %d %q, want 200 \"ok\\n\"", url, code, body)
		}
	}
	if code, body := testenv.Get(t, "http://"+httpAddr+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics on EVALUATOR_HTTP_ADDR: %d", code)
	}
	// A schedule of every second would have run by now: serve has none.
	time.Sleep(1500 * time.Millisecond)
	if code, body := testenv.Get(t, "http://"+httpAddr+"/metrics"); code != 200 || strings.Contains(body, `lagwatch_evaluator_runs_total{result="ok"}`) {
		t.Errorf("serve mode ran an evaluation:\n%s", body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	proc.WaitFor(t, `"msg":"evaluator stopped"`, 30*time.Second)
	if err := proc.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}

// TestServeRefuses: serve with flags, a flag with serve, or no address to
// listen on exits 2 with one line saying why.
func TestServeRefuses(t *testing.T) {
	t.Setenv("ELASTICSEARCH_URL", "http://127.0.0.1:1")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	cases := []struct {
		name, reason string
		args         []string
		httpAddr     string
		want         string
	}{
		{"a flag after serve", "serve has no flags", []string{"serve", "--once"}, ":0", `serve takes no flags or arguments, got "--once"`},
		{"an argument after serve", "nor arguments", []string{"serve", "now"}, ":0", `serve takes no flags or arguments, got "now"`},
		{"a flag before serve", "serve is a command, first and alone", []string{"--once", "serve"}, ":0", "serve is a command"},
		{"status and serve", "two commands", []string{"status", "serve"}, ":0", "serve is a command"},
		{"no address", "nothing to serve on", []string{"serve"}, "", "serve needs EVALUATOR_HTTP_ADDR"},
		{"a bad address", "the configuration names the variable", []string{"serve"}, "8000", "EVALUATOR_HTTP_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EVALUATOR_HTTP_ADDR", tc.httpAddr)
			var out, logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tc.args, &out, &logs)
			var line bytes.Buffer
			code := exitCode(err, &line)
			if code != 2 || !strings.Contains(line.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q: %s", code, line.String(), tc.want, tc.reason)
			}
			if n := strings.Count(strings.TrimSpace(line.String()), "\n"); n > 0 {
				t.Errorf("%d lines, want one: %q", n+1, line.String())
			}
		})
	}
}
