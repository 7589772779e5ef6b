package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// storedOffsets is the part of an offsets document the transaction test
// reads.
type storedOffsets struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Consumergroup struct {
			ID          string `json:"id"`
			Offset      int64  `json:"offset"`
			ConsumerLag *int64 `json:"consumer_lag"`
		} `json:"consumergroup"`
		Partition struct {
			Offset struct {
				Newest int64  `json:"newest"`
				Stable *int64 `json:"stable"`
			} `json:"offset"`
		} `json:"partition"`
	} `json:"kafka"`
	Lagwatch struct {
		ReadableLag *int64 `json:"readable_lag"`
	} `json:"lagwatch"`
}

// TestTransactionalConsumersAreOK: on a partition written by transactional
// producers (Kafka's own ProducerPerformance, a committed and an aborted
// transaction of franz-go's, then a transaction left open), a consumer
// that committed its last record + 1 and Kafka's console consumer reading
// read_committed, stopped behind the open transaction, are caught up: OK,
// with nothing left to read. A group with records truly left is ERR. The
// stored Kafka lag stays what kafka-consumer-groups says.
func TestTransactionalConsumersAreOK(t *testing.T) {
	brokers, esURL, prefix, ns := endToEnd(t, "txn")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	topic := testenv.CreateTopic(t, prefix, 1)
	testenv.ProduceTransaction(ctx, t, topic, prefix+"-perf", 20) // 0-19, marker 20
	testenv.Transact(ctx, t, topic, 5, false)                     // 21-25 aborted, marker 26
	testenv.Transact(ctx, t, topic, 3, true)                      // 27-29, marker 30
	last1, behind, rc := prefix+"-last1", prefix+"-behind", prefix+"-rc"
	testenv.Commit(t, last1, topic, map[int]int64{0: 30})
	testenv.Commit(t, behind, topic, map[int]int64{0: 10})
	testenv.OpenTransaction(ctx, t, topic, 4) // 31-34, open: the LSO stays 31, the log end is 35
	testenv.DeleteGroupOnCleanup(t, rc)
	testenv.StartJavaConsumer(t, testenv.JavaConsumerOptions{Topic: topic, Group: rc, FromBeginning: true,
		Properties: map[string]string{"isolation.level": "read_committed", "auto.commit.interval.ms": "200"}})
	client := testenv.KafkaClient(t)
	for deadline := time.Now().Add(time.Minute); ; {
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: rc, Topics: map[string][]int{topic: {0}}})
		if err == nil && len(res.Topics[topic]) == 1 && res.Topics[topic][0].CommittedOffset == 31 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read_committed console consumer did not commit 31 within a minute: %+v, %v", res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The collector on a schedule: the transaction reads need a tick to
	// compare with.
	bin := testenv.BuildProgram(t, "../collector")
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+strings.Join(brokers, ","), "ELASTICSEARCH_URL="+esURL,
		"ELASTICSEARCH_NAMESPACE="+ns, "KAFKA_GROUP_ALLOW=^"+prefix+"-", "COLLECTOR_SPOOL_DIR="+t.TempDir(),
		"COLLECTOR_METRICS_ADDR=", "COLLECTOR_SCHEDULE=*/1 * * * * *", "LOG_FORMAT=json")
	proc := testenv.StartProcess(t, cmd)
	for range 4 {
		proc.WaitFor(t, `"msg":"tick"`, 30*time.Second)
	}
	proc.Terminate(t, `"msg":"collector stopped"`, 30*time.Second)

	t.Setenv("ELASTICSEARCH_URL", esURL)
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_WINDOW_SIZE", "3")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	got := evaluateOnce(ctx, t, ns)
	for _, w := range []struct {
		group, status string
		readable      int64
		why           string
	}{
		{last1, "OK", 0, "committed its last record + 1: only markers are left, and records of an open transaction"},
		{rc, "OK", 0, "a live read_committed consumer at the last stable offset"},
		{behind, "ERR", 13, "10 records of the first transaction and 3 of the last are left"},
	} {
		s, ok := got[w.group]
		if !ok {
			t.Errorf("%s: no status document", w.group)
			continue
		}
		if st := s.Lagwatch.Status; st.Status != w.status || st.TotalLag != w.readable {
			t.Errorf("%s (%s): %s with lag %d, want %s with %d", w.group, w.why, st.Status, st.TotalLag, w.status, w.readable)
		}
	}

	// The stored Kafka lag is the tool's; the readable lag beside it.
	rows, err := testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, "--describe", "--group", last1, "--group", behind, "--group", rc))
	if err != nil {
		t.Fatal(err)
	}
	toolLag := map[string]int64{}
	for _, r := range rows {
		toolLag[r.Group] = r.Lag
	}
	newest := map[string]storedOffsets{}
	for _, d := range testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+ns) {
		if d.Timestamp > newest[d.Kafka.Consumergroup.ID].Timestamp {
			newest[d.Kafka.Consumergroup.ID] = d
		}
	}
	for g, readable := range map[string]int64{last1: 0, rc: 0, behind: 13} {
		d := newest[g]
		lag, r, stable := d.Kafka.Consumergroup.ConsumerLag, d.Lagwatch.ReadableLag, d.Kafka.Partition.Offset.Stable
		if lag == nil || *lag != toolLag[g] || r == nil || *r != readable || stable == nil || *stable != 31 || d.Kafka.Partition.Offset.Newest != 35 {
			t.Errorf("group %s: stored consumer_lag %v (kafka-consumer-groups %d), readable_lag %v (want %d), stable %v (want 31), newest %d (want 35)",
				g, deref64(lag), toolLag[g], deref64(r), readable, deref64(stable), d.Kafka.Partition.Offset.Newest)
		}
	}
}

func deref64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
