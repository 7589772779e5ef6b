package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf/envconftest"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
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

	bin := testenv.BuildProgram(t, ".")
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

	proc.Terminate(t, `"msg":"evaluator stopped"`, 30*time.Second)
}

// TestServeHealthzAndSIGTERM runs the built `evaluator serve`: it answers
// /healthz and /metrics on EVALUATOR_HTTP_ADDR, and /healthz alone on
// EVALUATOR_METRICS_ADDR, runs no evaluation, and exits 0 on SIGTERM.
func TestServeHealthzAndSIGTERM(t *testing.T) {
	ns := strings.ReplaceAll(testenv.Name(t, "evalapi"), "-", "")
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, "metrics-lagwatch.status-"+ns)
	httpAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	bin := testenv.BuildProgram(t, ".")
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

	proc.Terminate(t, `"msg":"evaluator stopped"`, 30*time.Second)
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
		{"a flag before serve", "serve is a command, first and alone", []string{"--once", "serve"}, ":0", "a command (serve, status, report) comes first"},
		{"status and serve", "two commands", []string{"status", "serve"}, ":0", "status: unexpected arguments: serve"},
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

// apiSnapshot is one tick of cluster "alerts": group "billing" left at
// offset 5 on orders/0 (its log end moves on), group "shipping" keeps up on
// both partitions of orders.
func apiSnapshot(at time.Time, i int64) snapshot.Snapshot {
	head0, head1 := 20+10*i, 7+3*i
	ship := &snapshot.Member{MemberID: "m-1", ClientID: "ship", Host: "/10.0.0.7"}
	return snapshot.Snapshot{Cluster: "alerts", Time: at, Groups: []snapshot.Group{
		{ID: "billing", State: "Empty", ProtocolType: "consumer", Partitions: []snapshot.Partition{
			{Topic: "orders", Partition: 0, Committed: 5, HasCommitted: true, LogEnd: head0, HasOffsets: true},
		}},
		{ID: "shipping", State: "Stable", ProtocolType: "consumer",
			Members: []snapshot.Member{*ship},
			Partitions: []snapshot.Partition{
				{Topic: "orders", Partition: 0, Committed: head0, HasCommitted: true, LogEnd: head0, HasOffsets: true, Owner: ship},
				{Topic: "orders", Partition: 1, Committed: head1, HasCommitted: true, LogEnd: head1, HasOffsets: true, Owner: ship},
			}},
	}}
}

// apiHistory writes four apiSnapshot ticks, 30 s apart up to 30 s ago, in
// a namespace of the test's, searchable: its name and the tick times.
func apiHistory(ctx context.Context, t *testing.T, prefix string) (string, []time.Time) {
	t.Helper()
	es, ns, names, _, w := newHistory(ctx, t, prefix)
	now := time.Now().UTC().Truncate(time.Second)
	ticks := make([]time.Time, 4)
	for i := range ticks {
		ticks[i] = now.Add(time.Duration(i-len(ticks)) * 30 * time.Second)
		if _, err := w.Write(ctx, apiSnapshot(ticks[i], int64(i))); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err == nil {
		res.Body.Close()
	}
	return ns, ticks
}

// TestServeBurrowAPI runs `evaluator serve` against a history in the real
// Elasticsearch and reads every endpoint the way Burrow's clients do,
// checking the bodies' field names and the values against the history and
// against `evaluator status --json`.
func TestServeBurrowAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, ticks := apiHistory(ctx, t, "api")

	addr := testenv.FreeAddr(t)
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_HTTP_ADDR", addr)
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	base := serveInProcess(ctx, t, addr)
	waitHealthy(t, base+"/healthz")
	// READY once the present window is in memory: the answers below come
	// from it, as a load balancer's would.
	waitHealthy(t, base+"/burrow/admin/ready")

	// The clusters, groups and topics the history knows.
	var clusters struct {
		Error    bool     `json:"error"`
		Message  string   `json:"message"`
		Clusters []string `json:"clusters"`
		Request  struct {
			URL  string `json:"url"`
			Host string `json:"host"`
		} `json:"request"`
	}
	getJSON(t, base+"/v3/kafka", 200, &clusters)
	if clusters.Error || !slices.Contains(clusters.Clusters, "alerts") || clusters.Request.URL != "/v3/kafka" || clusters.Request.Host == "" {
		t.Errorf("/v3/kafka: %+v", clusters)
	}
	var consumers struct {
		Consumers []string `json:"consumers"`
	}
	getJSON(t, base+"/v3/kafka/alerts/consumer", 200, &consumers)
	if !slices.Equal(consumers.Consumers, []string{"billing", "shipping"}) {
		t.Errorf("consumers %v, want [billing shipping]", consumers.Consumers)
	}
	var topics struct {
		Topics []string `json:"topics"`
	}
	getJSON(t, base+"/v3/kafka/alerts/topic", 200, &topics)
	if !slices.Equal(topics.Topics, []string{"orders"}) {
		t.Errorf("topics %v, want [orders]", topics.Topics)
	}
	var topic struct {
		Offsets []int64 `json:"offsets"`
	}
	getJSON(t, base+"/v3/kafka/alerts/topic/orders", 200, &topic)
	last := int64(len(ticks) - 1)
	if !slices.Equal(topic.Offsets, []int64{20 + 10*last, 7 + 3*last}) {
		t.Errorf("orders offsets %v, want the last tick's log ends [%d %d]", topic.Offsets, 20+10*last, 7+3*last)
	}
	getJSON(t, base+"/v3/kafka/alerts/topic/orders?at="+ticks[0].Format(time.RFC3339), 200, &topic)
	if !slices.Equal(topic.Offsets, []int64{20, 7}) {
		t.Errorf("orders offsets at the first tick %v, want [20 7]", topic.Offsets)
	}
	getJSON(t, base+"/v3/kafka/alerts/topic/orders/consumers", 200, &consumers)
	if !slices.Equal(consumers.Consumers, []string{"billing", "shipping"}) {
		t.Errorf("orders consumers %v, want [billing shipping]", consumers.Consumers)
	}

	// The verdicts: the API's /lag is `evaluator status --json`'s body
	// (Burrow's field names are checked by internal/burrowapi's tests and by
	// Telegraf's plugin in integration/telegraf).
	type lagBody = evaluate.BurrowLagResponse
	var billing lagBody
	getJSON(t, base+"/v3/kafka/alerts/consumer/billing/lag", 200, &billing)
	s := billing.Status
	if billing.Error || s == nil || s.Status != evaluate.Err || len(s.Partitions) != 1 || s.Partitions[0].Status != evaluate.Stop ||
		s.TotalLag != 20+10*last-5 || s.Partitions[0].End == nil || s.Partitions[0].End.Offset != 5 || s.MaxLag == nil {
		t.Errorf("billing/lag: %+v, want ERR with orders/0 STOP at offset 5, lag %d", s, 20+10*last-5)
	}
	var cli bytes.Buffer
	if err := run(ctx, []string{"status", "--json", "--group", "billing"}, &cli, io.Discard); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var fromCLI lagBody
	if err := json.Unmarshal(cli.Bytes(), &fromCLI); err != nil {
		t.Fatalf("status --json: %v\n%s", err, cli.String())
	}
	// The CLI evaluates now, the API at its request: the same history gives
	// the same verdict and figures.
	if fromCLI.Status == nil || fromCLI.Status.Status != s.Status || fromCLI.Status.TotalLag != s.TotalLag || len(fromCLI.Status.Partitions) != len(s.Partitions) {
		t.Errorf("API and status --json differ:\nAPI %+v\nCLI %+v", s, fromCLI.Status)
	}
	var shipping lagBody
	getJSON(t, base+"/v3/kafka/alerts/consumer/shipping/status", 200, &shipping)
	if shipping.Status == nil || shipping.Status.Status != evaluate.OK || len(shipping.Status.Partitions) != 0 || shipping.Status.PartitionCount != 2 {
		t.Errorf("shipping/status: %+v, want OK with no partition listed (all OK) of 2", shipping.Status)
	}
	getJSON(t, base+"/v3/kafka/alerts/consumer/shipping/lag", 200, &shipping)
	if len(shipping.Status.Partitions) != 2 {
		t.Errorf("shipping/lag lists %d partitions, want every one (2)", len(shipping.Status.Partitions))
	}
	// At the first tick the stopped group had not been stopped long enough
	// to tell: a window of one observation.
	getJSON(t, base+"/v3/kafka/alerts/consumer/billing/lag?at="+ticks[0].Format(time.RFC3339), 200, &billing)
	if billing.Status.TotalLag != 15 {
		t.Errorf("billing at the first tick: total lag %d, want 15 (20 - 5)", billing.Status.TotalLag)
	}

	// The window of offsets, read by Burrow's field names.
	var detail struct {
		Topics map[string][]map[string]any `json:"topics"`
	}
	getJSON(t, base+"/v3/kafka/alerts/consumer/shipping", 200, &detail)
	parts := detail.Topics["orders"]
	if len(parts) != 2 || parts[1] == nil || parts[1]["current-lag"] != 0.0 || parts[1]["client_id"] != "ship" || parts[1]["owner"] != "/10.0.0.7" {
		t.Fatalf("shipping detail: %v", detail)
	}
	offsets, _ := parts[1]["offsets"].([]any)
	if len(offsets) != len(ticks) {
		t.Fatalf("orders/1 has %d offsets, want one per tick (%d): %v", len(offsets), len(ticks), parts[1])
	}
	newest, _ := offsets[len(ticks)-1].(map[string]any)
	if newest["offset"] != float64(7+3*last) || newest["timestamp"] != float64(ticks[len(ticks)-1].UnixMilli()) || newest["lag"] != 0.0 {
		t.Errorf("newest offset of orders/1: %v, want offset %d at %d with commit lag 0", newest, 7+3*last, ticks[len(ticks)-1].UnixMilli())
	}

	// Not found, not allowed, and the admin endpoints.
	var nf struct {
		Error   bool   `json:"error"`
		Message string `json:"message"`
		Status  struct {
			Status string `json:"status"`
		} `json:"status"`
	}
	getJSON(t, base+"/v3/kafka/alerts/consumer/nobody/lag", 404, &nf)
	if nf.Error || nf.Status.Status != "NOTFOUND" {
		t.Errorf("unknown group's lag: %+v, want Burrow's NOTFOUND body (error false)", nf)
	}
	for _, path := range []string{"/v3/kafka/nowhere/consumer", "/v3/kafka/alerts/topic/nothing"} {
		nf = struct {
			Error   bool   `json:"error"`
			Message string `json:"message"`
			Status  struct {
				Status string `json:"status"`
			} `json:"status"`
		}{}
		getJSON(t, base+path, 404, &nf)
		if !nf.Error || !strings.Contains(nf.Message, "not found") {
			t.Errorf("%s: %+v, want error true and a not-found message", path, nf)
		}
	}
	req, err := http.NewRequest(http.MethodDelete, base+"/v3/kafka/alerts/consumer/billing", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "ELASTICSEARCH_RETENTION") {
		t.Errorf("DELETE: %d %s, want 405 pointing to retention", res.StatusCode, body)
	}
	if code, body := testenv.Get(t, base+"/burrow/admin"); code != 200 || strings.TrimSpace(body) != "GOOD" {
		t.Errorf("/burrow/admin: %d %q", code, body)
	}
}

// waitHealthy polls url until it answers 200, for up to 30 s.
// serveInProcess runs `evaluator serve` in this process on addr, with the
// environment the test set, until the test ends, and returns its base URL.
func serveInProcess(ctx context.Context, t *testing.T, addr string) string {
	t.Helper()
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(srvCtx, []string{"serve"}, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
	})
	return "http://" + addr
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30 s (last error %v)", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getJSON GETs url, checks the status code and decodes the body into v.
func getJSON(t *testing.T, url string, code int, v any) {
	t.Helper()
	status, body := testenv.Get(t, url)
	if status != code {
		t.Fatalf("GET %s: %d, want %d: %s", url, status, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// TestHelpAndVersion: --help (of the evaluator and of each command) prints,
// on standard output and with exit status 0, the commands, the flags and,
// for the evaluator, every environment variable the configuration reads,
// with its default; --version names the module. Flags of another command
// are refused with one line and status 2.
func TestHelpAndVersion(t *testing.T) {
	p := envconftest.Program{Name: "evaluator", Run: run, ExitCode: exitCode}
	out := p.Help(t, []string{"--help"}, "evaluator status [flags]", "evaluator report [flags]", "evaluator serve", "-once", "-version", "Exit status")
	envconftest.HelpListsVariables(t, out, "", &evaluatorEnv{})
	for cmd, want := range map[string]string{"status": "-group", "report": "-from TIME", "serve": "no flags"} {
		p.Help(t, []string{cmd, "--help"}, want)
	}
	p.WantVersion(t)
	for _, args := range [][]string{{"status", "--once"}, {"status", "--from", "2026-01-01 00:00"}, {"status", "--json", "--wide"}, {"--bogus"}} {
		p.WantRefused(t, args...)
	}
}
