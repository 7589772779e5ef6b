package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
