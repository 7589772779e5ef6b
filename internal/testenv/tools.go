package testenv

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaTool runs one of Kafka's own command-line tools, by its main class
// (org.apache.kafka.tools.ProducerPerformance, say), from the test broker's
// classpath, and returns what it printed on standard output. A failure
// fails the test with what the tool printed on standard error.
func KafkaTool(ctx context.Context, t testing.TB, mainClass string, args ...string) string {
	t.Helper()
	jvm := []string{"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", KafkaClasspath(t), mainClass}
	cmd := exec.CommandContext(ctx, javaBin(), append(jvm, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", mainClass, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// ProduceTransaction writes n records to topic (every partition, as the
// producer's partitioner spreads them) in one transaction committed by
// Kafka's own ProducerPerformance tool with a transactional id: n records
// and one commit marker per partition written to.
func ProduceTransaction(ctx context.Context, t testing.TB, topic, transactionalID string, n int) {
	t.Helper()
	KafkaTool(ctx, t, "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(n), "--record-size", "100", "--throughput", "-1",
		"--transactional-id", transactionalID, "--transaction-duration-ms", "600000",
		"--producer-props", "bootstrap.servers="+strings.Join(Kafka(t), ","), "acks=all")
}

// Transact writes n records to partition 0 of topic in one transaction of
// franz-go's transactional producer, then commits it (commit true) or
// aborts it: n records and one marker.
func Transact(ctx context.Context, t testing.TB, topic string, n int, commit bool) {
	t.Helper()
	cl := beginTransaction(ctx, t, topic, n)
	defer cl.Close()
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end a transaction on %s (commit %v): %v", topic, commit, err)
	}
}

// OpenTransaction writes n records to partition 0 of topic in a transaction
// it leaves open until the test ends, then aborts: the partition's last
// stable offset stays at the transaction's first record meanwhile.
func OpenTransaction(ctx context.Context, t testing.TB, topic string, n int) {
	t.Helper()
	cl := beginTransaction(ctx, t, topic, n)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		cl.Close()
	})
}

// beginTransaction starts a transaction and writes n records in it.
func beginTransaction(ctx context.Context, t testing.TB, topic string, n int) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(Kafka(t)...), kgo.TransactionalID(Name(t, "txn")),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(5*time.Minute))
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		t.Fatalf("begin a transaction on %s: %v", topic, err)
	}
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte("r" + strconv.Itoa(i)), Partition: 0}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		cl.Close()
		t.Fatalf("produce in a transaction on %s: %v", topic, err)
	}
	return cl
}
