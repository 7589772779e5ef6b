package testenv

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
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
