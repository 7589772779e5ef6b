package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// endToEnd is what a test through the real collector needs: the brokers,
// the Elasticsearch URL, a unique prefix for topics and groups, and a
// namespace made of it whose data streams go at cleanup.
func endToEnd(t *testing.T, name string) (brokers []string, esURL, prefix, ns string) {
	t.Helper()
	brokers, esURL = testenv.Kafka(t), testenv.Elasticsearch(t)
	prefix = testenv.Name(t, name)
	ns = strings.ReplaceAll(prefix, "-", "")
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, "metrics-lagwatch.offsets-"+ns,
		"metrics-lagwatch.groups-"+ns, "metrics-lagwatch.status-"+ns, "metrics-lagwatch.collector-"+ns)
	return brokers, esURL, prefix, ns
}

// storedStatus is the part of a status document the tests read.
type storedStatus struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Consumergroup struct {
			ID string `json:"id"`
		} `json:"consumergroup"`
	} `json:"kafka"`
	Lagwatch struct {
		Status struct {
			Status         string   `json:"status"`
			TotalLag       int64    `json:"total_lag"`
			TimeLagSeconds *float64 `json:"time_lag_seconds"`
			Partitions     []struct {
				Status string `json:"status"`
			} `json:"partitions"`
		} `json:"status"`
	} `json:"lagwatch"`
}

// evaluateOnce runs `evaluator --once` in this process, with the
// environment the test set, and returns the status documents of namespace
// ns by group.
func evaluateOnce(ctx context.Context, t *testing.T, ns string) map[string]storedStatus {
	t.Helper()
	runOnce(ctx, t, "evaluate")
	got := map[string]storedStatus{}
	for _, s := range testenv.SearchAll[storedStatus](t, "metrics-lagwatch.status-"+ns) {
		got[s.Kafka.Consumergroup.ID] = s
	}
	return got
}

// logEndClock produces one message every interval to a one-partition topic
// and remembers when the log end reached each offset, so that a test can
// commit "the offset that was the head d ago".
type logEndClock struct {
	mu      sync.Mutex
	times   []time.Time // times[i]: when the log end became i+1
	stop    chan struct{}
	stopped chan struct{}
}

func startLogEndClock(t *testing.T, topic string, interval time.Duration) *logEndClock {
	c := &logEndClock{stop: make(chan struct{}), stopped: make(chan struct{})}
	client := testenv.KafkaClient(t)
	go func() {
		defer close(c.stopped)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-tk.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: topic, Partition: 0, RequiredAcks: kafka.RequireAll,
				Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes([]byte("tick"))})})
			cancel()
			if err != nil || res.Error != nil {
				continue
			}
			c.mu.Lock()
			for int64(len(c.times)) < res.BaseOffset+1 {
				c.times = append(c.times, time.Now())
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(c.stop); <-c.stopped })
	return c
}

// headAt is the log end at time at: the offset the consumer must have
// committed to be exactly at the head as of then.
func (c *logEndClock) headAt(at time.Time) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(0)
	for i, ts := range c.times {
		if ts.After(at) {
			break
		}
		n = int64(i + 1)
	}
	return n
}

// TestEndToEndThroughTheCollector drives real consumer groups on the real
// broker into every state, lets the real collector snapshot them once a
// second, and checks the evaluator's verdicts stored in Elasticsearch:
// healthy OK, slow WARN, stuck member STALL (group ERR), departed consumer
// with lag STOP (ERR), rewound REWIND (ERR), a group gone for longer than
// the maximum age NOTFOUND, and the time lag of a consumer steadily 3 s
// behind within one collection interval of 3 s.
func TestEndToEndThroughTheCollector(t *testing.T) {
	brokers, esURL, prefix, ns := endToEnd(t, "e2e")
	t.Cleanup(func() {
		es := testenv.ESClient(t)
		if res, err := es.Indices.Delete([]string{"lagwatch-incidents-" + ns}, es.Indices.Delete.WithIgnoreUnavailable(true)); err == nil {
			res.Body.Close()
		}
	})

	topic := map[string]string{}
	group := map[string]string{}
	for _, s := range []string{"healthy", "slow", "stall", "stop", "rewind", "timelag", "gone"} {
		topic[s] = testenv.CreateTopic(t, prefix+"-"+s, 1)
		group[s] = prefix + "-" + s
		testenv.DeleteGroupOnCleanup(t, group[s])
	}
	clock := startLogEndClock(t, topic["timelag"], 100*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := testenv.KafkaClient(t)
	commit := func(s string, offset int64) {
		t.Helper()
		res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group[s], GenerationID: -1,
			Topics: map[string][]kafka.OffsetCommit{topic[s]: {{Partition: 0, Offset: offset}}}})
		if err == nil {
			for _, p := range res.Topics[topic[s]] {
				err = p.Error
			}
		}
		if err != nil {
			t.Fatalf("commit %d for %s: %v", offset, s, err)
		}
	}

	// Setup: history to consume.
	testenv.Produce(t, topic["stop"], 0, 10)
	commit("stop", 4)
	testenv.Produce(t, topic["rewind"], 0, 50)
	commit("rewind", 40)
	testenv.Produce(t, topic["gone"], 0, 5)
	commit("gone", 2)
	testenv.Produce(t, topic["stall"], 0, 10)
	stall := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group["stall"], Topic: topic["stall"],
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = stall.Close() })
	for i := 0; i < 2; i++ {
		if _, err := stall.ReadMessage(ctx); err != nil {
			t.Fatalf("stall consumer: %v", err)
		}
	}

	bin := testenv.BuildProgram(t, "../collector")
	spool := t.TempDir()
	tick := func(i int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, "--once")
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+strings.Join(brokers, ","), "ELASTICSEARCH_URL="+esURL,
			"ELASTICSEARCH_NAMESPACE="+ns, "KAFKA_GROUP_ALLOW=^"+prefix+"-", "COLLECTOR_SPOOL_DIR="+spool, "COLLECTOR_METRICS_ADDR=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("collector tick %d: %v\n%s", i, err, out)
		}
	}

	const ticks = 10
	slowCommitted := int64(0)
	var lastTick time.Time
	for i := 0; i < ticks; i++ {
		next := time.Now().Truncate(time.Second).Add(time.Second)
		testenv.Produce(t, topic["healthy"], 0, 5)
		commit("healthy", int64(5*(i+1)))
		testenv.Produce(t, topic["slow"], 0, 10)
		slowCommitted += 3
		commit("slow", slowCommitted)
		testenv.Produce(t, topic["stall"], 0, 5)
		testenv.Produce(t, topic["stop"], 0, 5)
		if i == ticks-1 {
			// On the last tick: a rewind far older than the window's span
			// would be taken for a stopped consumer (STOP comes first).
			commit("rewind", 10)
		}
		time.Sleep(time.Until(next))
		// Right before the tick, so that at the tick the consumer is 3 s
		// behind, not 3 s plus the wait for the next second.
		commit("timelag", clock.headAt(time.Now().Add(-3*time.Second)))
		tick(i)
		lastTick = time.Now()
		if i == 1 {
			// The group disappears (deleted); its documents age out.
			testenv.DeleteGroup(t, group["gone"])
		}
	}

	t.Setenv("ELASTICSEARCH_URL", esURL)
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_WINDOW_SIZE", "5")
	t.Setenv("EVALUATOR_MAX_AGE", "6s")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	got := evaluateOnce(ctx, t, ns)
	var stderr bytes.Buffer
	want := []struct{ scenario, group, partition string }{
		{"healthy", "OK", ""},
		{"slow", "WARN", "WARN"},
		{"stall", "ERR", "STALL"},
		{"stop", "ERR", "STOP"},
		{"rewind", "ERR", "REWIND"},
		{"gone", "NOTFOUND", ""},
	}
	for _, w := range want {
		s, ok := got[group[w.scenario]]
		if !ok {
			t.Errorf("%s: no status document", w.scenario)
			continue
		}
		st := s.Lagwatch.Status
		var parts []string
		for _, p := range st.Partitions {
			parts = append(parts, p.Status)
		}
		if st.Status != w.group || (w.partition != "" && (len(parts) != 1 || parts[0] != w.partition)) {
			t.Errorf("%s: group %s partitions %v; want %s with partition %q", w.scenario, st.Status, parts, w.group, w.partition)
		}
	}
	tl := got[group["timelag"]].Lagwatch.Status.TimeLagSeconds
	if tl == nil || *tl < 2 || *tl > 4 {
		t.Errorf("time lag of a consumer 3 s behind: %v s, want within 1 s (one collection interval) of 3", deref(tl))
	}

	// The status command reads the same history and prints Burrow's shape.
	var out bytes.Buffer
	if err := run(ctx, []string{"status", "--json", "--group", group["stall"]}, &out, &stderr); err != nil {
		t.Fatalf("evaluator status --json: %v\n%s", err, stderr.String())
	}
	var burrow struct {
		Error  bool `json:"error"`
		Status struct {
			Group      string `json:"group"`
			Status     string `json:"status"`
			Partitions []struct {
				Status string `json:"status"`
				Topic  string `json:"topic"`
			} `json:"partitions"`
			TotalLag int64 `json:"totallag"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out.Bytes(), &burrow); err != nil {
		t.Fatalf("status --json output is not one Burrow response: %v\n%s", err, out.String())
	}
	if burrow.Error || burrow.Status.Group != group["stall"] || burrow.Status.Status != "ERR" ||
		len(burrow.Status.Partitions) != 1 || burrow.Status.Partitions[0].Status != "STALL" || burrow.Status.TotalLag <= 0 {
		t.Errorf("Burrow view of the stalled group: %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"status"}, &out, &stderr); err != nil {
		t.Fatalf("evaluator status: %v", err)
	}
	for _, col := range []string{"STATUS", "TIME-LAG", "PARTITION-STATUS", group["stop"], "STOP", "REWIND", "NOTFOUND"} {
		if !strings.Contains(out.String(), col) {
			t.Errorf("status table lacks %q:\n%s", col, out.String())
		}
	}
	// The default table leaves the offsets and consumers to --wide.
	if strings.Contains(out.String(), "CURRENT-OFFSET") {
		t.Errorf("the default status table has the offsets:\n%s", out.String())
	}
	narrow := out.String()
	out.Reset()
	if err := run(ctx, []string{"status", "--wide"}, &out, &stderr); err != nil {
		t.Fatalf("evaluator status --wide: %v", err)
	}
	for _, col := range []string{"CURRENT-OFFSET", "LOG-END-OFFSET", "KAFKA-LAG", "CONSUMER-ID", "CLIENT-ID", group["stop"], "STOP"} {
		if !strings.Contains(out.String(), col) {
			t.Errorf("status --wide lacks %q:\n%s", col, out.String())
		}
	}
	if n, w := strings.Count(narrow, "\n"), strings.Count(out.String(), "\n"); n != w {
		t.Errorf("status has %d lines, status --wide %d", n, w)
	}

	// A deleted group is NOTFOUND by every route, also with a maximum age
	// that still holds its last documents: its window is the cluster's last
	// ticks, not its own. A group that never existed gets Burrow's NOTFOUND
	// body too. Each asked-for NOTFOUND exits 1 and says why on stderr.
	t.Setenv("EVALUATOR_MAX_AGE", "1h")
	at := lastTick.UTC().Format(time.RFC3339Nano)
	for _, tc := range []struct {
		name, group string
		args        []string
	}{
		{"deleted, now", group["gone"], []string{"status", "--json", "--group", group["gone"]}},
		{"deleted, at the last tick", group["gone"], []string{"status", "--json", "--group", group["gone"], "--at", at}},
		{"deleted, in its cluster", group["gone"], []string{"status", "--json", "--group", group["gone"], "--cluster", "default"}},
		{"never existed", prefix + "-nosuchgroup", []string{"status", "--json", "--group", prefix + "-nosuchgroup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(ctx, tc.args, &out, &errOut)
			if err == nil {
				t.Fatalf("exit 0, want 1 for a NOTFOUND group; printed %s", out.String())
			}
			var line bytes.Buffer
			if code := exitCode(err, &line); code != 1 || !strings.Contains(line.String(), tc.group) || !strings.Contains(line.String(), "NOTFOUND") {
				t.Errorf("exit %d with %q on stderr; want 1 and a line naming the group and NOTFOUND", code, line.String())
			}
			var body map[string]any
			if err := json.Unmarshal(out.Bytes(), &body); err != nil {
				t.Fatalf("stdout is not one Burrow body: %v\n%s", err, out.String())
			}
			st, _ := body["status"].(map[string]any)
			if body["error"] != false || body["message"] != "consumer status returned" || st == nil ||
				st["status"] != "NOTFOUND" || st["group"] != tc.group || st["cluster"] != "default" || st["complete"] != 1.0 ||
				fmt.Sprint(st["partitions"]) != "[]" || st["partition_count"] != 0.0 || st["maxlag"] != nil || st["totallag"] != 0.0 {
				t.Errorf("not Burrow's NOTFOUND body: %s", out.String())
			}
		})
	}
	out.Reset()
	if err := run(ctx, []string{"status", "--json"}, &out, &stderr); err != nil {
		t.Fatalf("evaluator status --json: %v", err)
	}
	gone := false
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var b struct {
			Status struct{ Group, Status string }
		}
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("status --json line %q: %v", line, err)
		}
		if b.Status.Group == group["gone"] {
			gone = b.Status.Status == "NOTFOUND"
		}
	}
	if !gone {
		t.Errorf("all groups: the deleted group is not NOTFOUND:\n%s", out.String())
	}
	var table, errOut bytes.Buffer
	err := run(ctx, []string{"status", "--group", prefix + "-nosuchgroup"}, &table, &errOut)
	var line bytes.Buffer
	if code := exitCode(err, &line); code != 1 || !strings.Contains(table.String(), "NOTFOUND") || !strings.Contains(line.String(), "nosuchgroup") {
		t.Errorf("table for a group that never existed: exit %d, stdout %q, stderr %q", code, table.String(), line.String())
	}
}

// TestStatusNeverSilent: with Elasticsearch unreachable, every way of asking
// fails with exit 1 and one line on stderr naming what failed.
func TestStatusNeverSilent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv("ELASTICSEARCH_URL", "http://"+addr)
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	t.Setenv("EVALUATOR_TIMEOUT", "5s")
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"status", "--group", "g"}, {"--once"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, logs bytes.Buffer
			err := run(context.Background(), args, &out, &logs)
			var line bytes.Buffer
			code := exitCode(err, &line)
			said := line.String() + logs.String()
			if code != 1 || !strings.Contains(said, addr) {
				t.Errorf("exit %d, stderr %q; want 1 and a line naming %s", code, said, addr)
			}
			if n := strings.Count(strings.TrimSpace(line.String()), "\n"); n > 0 {
				t.Errorf("the exit printed %d lines, want one: %q", n+1, line.String())
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestVerdictsOfBothGroupProtocols runs Kafka's own Java consumer on the
// real broker in a classic group and in a group of Kafka 4's consumer
// protocol (KIP-848), each healthy (commits the head while 20 messages a
// second arrive), stalled (a live member that stopped committing new
// offsets) and stopped (the member gone while messages keep arriving), lets
// the real collector snapshot them once a second, and checks what is
// stored and judged: both kinds of group are recorded with their type,
// state, members and owners, and get the same verdicts, OK, STALL and STOP.
func TestVerdictsOfBothGroupProtocols(t *testing.T) {
	brokers, esURL, prefix, ns := endToEnd(t, "proto")

	type scenario struct{ protocol, kind, topic, group string }
	var scenarios []*scenario
	for _, protocol := range []string{"classic", "consumer"} {
		for _, kind := range []string{"healthy", "stall", "stop"} {
			s := &scenario{protocol: protocol, kind: kind, group: prefix + "-" + protocol + "-" + kind}
			s.topic = testenv.CreateTopic(t, prefix+"-"+protocol+"-"+kind, 1)
			testenv.DeleteGroupOnCleanup(t, s.group)
			scenarios = append(scenarios, s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The workload of the side-by-side run with Burrow: 20 messages a
	// second on every partition, for as long as the test runs.
	client := testenv.KafkaClient(t)
	stopProducing := make(chan struct{})
	var producing sync.WaitGroup
	producing.Add(1)
	go func() {
		defer producing.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopProducing:
				return
			case <-tk.C:
			}
			for _, s := range scenarios {
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				_, _ = client.Produce(pctx, &kafka.ProduceRequest{Topic: s.topic, Partition: 0, RequiredAcks: kafka.RequireAll,
					Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes([]byte("a"))}, kafka.Record{Value: kafka.NewBytes([]byte("b"))})})
				pcancel()
			}
		}
	}()
	t.Cleanup(func() { close(stopProducing); producing.Wait() })

	start := func(s *scenario, props map[string]string) *testenv.JavaConsumer {
		return testenv.StartJavaConsumer(t, testenv.JavaConsumerOptions{Topic: s.topic, Group: s.group, Protocol: s.protocol,
			ClientID: "java-" + s.kind, FromBeginning: true, Properties: props})
	}
	committing := map[string]string{"auto.commit.interval.ms": "200"}
	consumers := map[*scenario]*testenv.JavaConsumer{}
	for _, s := range scenarios {
		consumers[s] = start(s, committing)
	}
	committed := func(s *scenario) int64 {
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.group, Topics: map[string][]int{s.topic: {0}}})
		if err != nil || res.Error != nil || len(res.Topics[s.topic]) == 0 {
			return -1
		}
		return res.Topics[s.topic][0].CommittedOffset
	}
	// Every consumer joined and commits.
	for _, s := range scenarios {
		for committed(s) <= 0 {
			if err := consumers[s].Exited(); err != nil {
				t.Fatalf("%s: %v", s.group, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s never committed:\n%s", s.group, consumers[s].Log())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The stalled consumers come back without committing; the stopped ones
	// leave for good.
	for _, s := range scenarios {
		switch s.kind {
		case "stop":
			consumers[s].Stop(t)
		case "stall":
			consumers[s].Stop(t)
			consumers[s] = start(s, map[string]string{"enable.auto.commit": "false"})
		}
	}
	for _, s := range scenarios {
		if s.kind != "stall" {
			continue
		}
		for {
			rows, err := testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, "--describe", "--group", s.group))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 1 && rows[0].ConsumerID != "-" && rows[0].ConsumerID != "" {
				break
			}
			if err := consumers[s].Exited(); err != nil {
				t.Fatalf("%s: %v", s.group, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: the non-committing consumer never owned the partition:\n%s", s.group, consumers[s].Log())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	// Ten ticks a second apart; the window is the last five.
	bin := testenv.BuildProgram(t, "../collector")
	spool := t.TempDir()
	for i := 0; i < 10; i++ {
		next := time.Now().Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(next))
		cmd := exec.CommandContext(ctx, bin, "--once")
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+strings.Join(brokers, ","), "ELASTICSEARCH_URL="+esURL,
			"ELASTICSEARCH_NAMESPACE="+ns, "KAFKA_GROUP_ALLOW=^"+prefix+"-", "COLLECTOR_SPOOL_DIR="+spool, "COLLECTOR_METRICS_ADDR=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("collector tick %d: %v\n%s", i, err, out)
		}
	}

	// What the collector recorded at its last tick.
	type groupDoc struct {
		Timestamp string `json:"@timestamp"`
		Kafka     struct {
			Consumergroup struct {
				ID, State, Type string
			} `json:"consumergroup"`
		} `json:"kafka"`
		Lagwatch struct {
			Group struct {
				Members int `json:"members"`
			} `json:"group"`
		} `json:"lagwatch"`
	}
	newest := map[string]groupDoc{}
	for _, d := range testenv.SearchAll[groupDoc](t, "metrics-lagwatch.groups-"+ns) {
		if cur, ok := newest[d.Kafka.Consumergroup.ID]; !ok || d.Timestamp > cur.Timestamp {
			newest[d.Kafka.Consumergroup.ID] = d
		}
	}
	for _, s := range scenarios {
		d, ok := newest[s.group]
		if !ok {
			t.Errorf("%s: no group document", s.group)
			continue
		}
		wantState, wantMembers := "Stable", 1
		if s.kind == "stop" {
			wantState, wantMembers = "Empty", 0
		}
		g := d.Kafka.Consumergroup
		if g.Type != s.protocol || g.State != wantState || d.Lagwatch.Group.Members != wantMembers {
			t.Errorf("%s: type %q, state %q, %d members; want %s, %s, %d", s.group, g.Type, g.State, d.Lagwatch.Group.Members, s.protocol, wantState, wantMembers)
		}
	}

	// The verdicts, through Burrow's view of every group.
	t.Setenv("ELASTICSEARCH_URL", esURL)
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_WINDOW_SIZE", "5")
	t.Setenv("EVALUATOR_MAX_AGE", "1h")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	var out, stderr bytes.Buffer
	if err := run(ctx, []string{"status", "--json"}, &out, &stderr); err != nil {
		t.Fatalf("evaluator status --json: %v\n%s", err, stderr.String())
	}
	type partition struct {
		Status   string `json:"status"`
		Owner    string `json:"owner"`
		ClientID string `json:"client_id"`
	}
	verdicts := map[string]struct {
		Status     string      `json:"status"`
		Partitions []partition `json:"partitions"`
	}{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var b struct {
			Status struct {
				Group      string      `json:"group"`
				Status     string      `json:"status"`
				Partitions []partition `json:"partitions"`
			} `json:"status"`
		}
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("status --json line %q: %v", line, err)
		}
		verdicts[b.Status.Group] = struct {
			Status     string      `json:"status"`
			Partitions []partition `json:"partitions"`
		}{b.Status.Status, b.Status.Partitions}
	}
	want := map[string]struct{ group, partition string }{
		"healthy": {"OK", "OK"},
		"stall":   {"ERR", "STALL"},
		"stop":    {"ERR", "STOP"},
	}
	for _, s := range scenarios {
		v, w := verdicts[s.group], want[s.kind]
		got := fmt.Sprintf("%s %v", v.Status, v.Partitions)
		if v.Status != w.group || len(v.Partitions) != 1 || v.Partitions[0].Status != w.partition {
			t.Errorf("%s (%s protocol): %s; want group %s, partition %s", s.group, s.protocol, got, w.group, w.partition)
			continue
		}
		owned := v.Partitions[0].Owner != "" && v.Partitions[0].ClientID == "java-"+s.kind
		if owned != (s.kind != "stop") {
			t.Errorf("%s (%s protocol): owner %q client %q; want an owner with client id java-%s unless stopped",
				s.group, s.protocol, v.Partitions[0].Owner, v.Partitions[0].ClientID, s.kind)
		}
	}
}

// TestSecuredElasticsearch runs `evaluator --once` against the test node that
// has security on: it works with the elastic user, its password and the CA,
// and fails, without showing the password, when the password is wrong.
func TestSecuredElasticsearch(t *testing.T) {
	url, password, ca := testenv.SecureElasticsearch(t)
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"right password", password, true},
		{"wrong password", "not-" + password, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ELASTICSEARCH_URL", url)
			t.Setenv("ELASTICSEARCH_USERNAME", "elastic")
			t.Setenv("ELASTICSEARCH_PASSWORD", tc.password)
			t.Setenv("ELASTICSEARCH_CA_FILE", ca)
			t.Setenv("ELASTICSEARCH_NAMESPACE", strings.ReplaceAll(testenv.Name(t, "evalauth"), "-", ""))
			t.Setenv("EVALUATOR_METRICS_ADDR", "")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stderr bytes.Buffer
			err := run(ctx, []string{"--once"}, io.Discard, &stderr)
			if strings.Contains(stderr.String(), tc.password) {
				t.Errorf("the password shows in the output:\n%s", stderr.String())
			}
			if (err == nil) != tc.ok {
				t.Fatalf("evaluator --once: %v, want success %v\n%s", err, tc.ok, stderr.String())
			}
		})
	}
}
