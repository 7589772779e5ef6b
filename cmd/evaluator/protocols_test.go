package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestVerdictsOfBothGroupProtocols runs Kafka's own Java consumer on the
// real broker in a classic group and in a group of Kafka 4's consumer
// protocol (KIP-848), each healthy (commits the head while 20 messages a
// second arrive), stalled (a live member that stopped committing new
// offsets) and stopped (the member gone while messages keep arriving), lets
// the real collector snapshot them once a second, and checks what is
// stored and judged: both kinds of group are recorded with their type,
// state, members and owners, and get the same verdicts, OK, STALL and STOP.
func TestVerdictsOfBothGroupProtocols(t *testing.T) {
	brokers := testenv.Kafka(t)
	esURL := testenv.Elasticsearch(t)
	prefix := testenv.Name(t, "proto")
	ns := strings.ReplaceAll(prefix, "-", "")
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, "metrics-lagwatch.offsets-"+ns,
		"metrics-lagwatch.groups-"+ns, "metrics-lagwatch.status-"+ns, "metrics-lagwatch.collector-"+ns)

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
	bin := filepath.Join(t.TempDir(), "collector")
	if out, err := exec.Command("go", "build", "-o", bin, "../collector").CombinedOutput(); err != nil {
		t.Fatalf("build collector: %v\n%s", err, out)
	}
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
