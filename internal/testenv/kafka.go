package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaClient returns a kafka-go client for the test broker.
func KafkaClient(t testing.TB) *kafka.Client {
	t.Helper()
	return ClientOf(Kafka(t))
}

// ClientOf returns a kafka-go client bootstrapping from brokers (the test
// broker's, or KafkaCluster's).
func ClientOf(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
}

// CreateTopic creates a topic with a unique name and the given partition
// count on the test broker, waits until every partition has a leader, and
// deletes the topic when the test ends.
func CreateTopic(t testing.TB, prefix string, partitions int) string {
	t.Helper()
	return CreateTopicOn(t, Kafka(t), prefix, partitions, 1)
}

// CreateTopicOn is CreateTopic on the cluster of brokers, with the given
// replication factor.
func CreateTopicOn(t testing.TB, brokers []string, prefix string, partitions, replicationFactor int) string {
	t.Helper()
	c := ClientOf(brokers)
	name := Name(t, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: replicationFactor,
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	deleteTopicOnCleanup(t, c, name)
	// Wait for leaders: a produce right after creation can otherwise fail.
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
		if err == nil && hasLeaders(md, partitions) {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s has no leaders after a minute (last error: %v)", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// hasLeaders reports whether md describes one topic with the given number of
// partitions, each with a leader and no error.
func hasLeaders(md *kafka.MetadataResponse, partitions int) bool {
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != partitions {
		return false
	}
	return !slices.ContainsFunc(md.Topics[0].Partitions, func(p kafka.Partition) bool {
		return p.Leader.ID < 0 || p.Error != nil
	})
}

// DeleteTopicOnCleanup deletes the topic of the test broker when the test
// ends.
func DeleteTopicOnCleanup(t testing.TB, topic string) {
	t.Helper()
	deleteTopicOnCleanup(t, KafkaClient(t), topic)
}

func deleteTopicOnCleanup(t testing.TB, c *kafka.Client, topic string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		if err == nil {
			err = resp.Errors[topic]
		}
		if err != nil {
			t.Errorf("delete topic %s: %v", topic, err)
		}
	})
}

// Produce writes n messages to a partition of topic on the test broker,
// synchronously.
func Produce(t testing.TB, topic string, partition, n int) {
	t.Helper()
	ProduceOn(t, Kafka(t), topic, partition, n)
}

// ProduceOn is Produce on the cluster of brokers; every in-sync replica has
// the messages when it returns. Kafka's Java-compatible client (franz-go)
// sends them: it follows a partition's leader when it moves (a broker
// killed) and retries what Kafka calls retriable, for a minute at the most.
func ProduceOn(t testing.TB, brokers []string, topic string, partition, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatalf("producer of %v: %v", brokers, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(partition), Value: []byte("m" + strconv.Itoa(i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d messages to %s/%d: %v", n, topic, partition, err)
	}
}

// Commit commits offsets for a group without joining it (generation -1, no
// member), as an admin tool or a stopped consumer's last commit would leave
// them. The group is deleted when the test ends. offsets maps partition to
// offset.
func Commit(t testing.TB, group, topic string, offsets map[int]int64) {
	t.Helper()
	c := KafkaClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var commits []kafka.OffsetCommit
	for p, o := range offsets {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: o})
	}
	// The coordinator may still be loading right after the broker started.
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		resp, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
			GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: commits},
		})
		lastErr = err
		if err == nil {
			for _, pr := range resp.Topics[topic] {
				if pr.Error != nil {
					lastErr = fmt.Errorf("partition %d: %w", pr.Partition, pr.Error)
				}
			}
		}
		if lastErr == nil {
			DeleteGroupOnCleanup(t, group)
			return
		}
		if !retriable(lastErr) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("commit offsets for group %s: %v", group, lastErr)
}

func retriable(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

// DeleteGroupOnCleanup deletes the consumer group of the test broker when
// the test ends.
func DeleteGroupOnCleanup(t testing.TB, group string) {
	t.Helper()
	DeleteGroupOnCleanupOn(t, Kafka(t), group)
}

// DeleteGroupOnCleanupOn deletes the consumer group of the cluster of
// brokers when the test ends.
func DeleteGroupOnCleanupOn(t testing.TB, brokers []string, group string) {
	t.Helper()
	c := ClientOf(brokers)
	t.Cleanup(func() {
		// A group whose members are still leaving answers NonEmptyGroup; a
		// group already gone answers GroupIdNotFound. Neither leaves litter.
		err := deleteGroup(c, group)
		if err != nil && !errors.Is(err, kafka.GroupIdNotFound) && !errors.Is(err, kafka.NonEmptyGroup) {
			t.Errorf("delete group %s: %v", group, err)
		}
	})
}

// deleteGroup deletes a consumer group, waiting 30 seconds at the most.
// kafka-go reports the group's own failure in the response, not as err.
func deleteGroup(c *kafka.Client, group string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err == nil {
		err = resp.Errors[group]
	}
	return err
}

// DeleteRecords advances a partition's log-start offset to before, as
// retention would, with Kafka's own delete-records tool.
func DeleteRecords(ctx context.Context, t testing.TB, topic string, partition int, before int64) {
	t.Helper()
	brokers := Kafka(t)
	cp := KafkaClasspath(t)
	file := filepath.Join(t.TempDir(), "delete.json")
	spec := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":%d,"offset":%d}]}`, topic, partition, before)
	if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, javaBin(), "-Xmx256m", "-cp", cp,
		"org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server", strings.Join(brokers, ","), "--offset-json-file", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("delete records of %s/%d before %d: %v\n%s", topic, partition, before, err, out)
	}
}

// DeleteGroup deletes a consumer group now (it must have no members).
func DeleteGroup(t testing.TB, group string) {
	t.Helper()
	if err := deleteGroup(KafkaClient(t), group); err != nil {
		t.Fatalf("delete group %s: %v", group, err)
	}
}

// The SASL listener of the test broker (scripts/testenv): PLAIN knows one
// user; SCRAM users are made with CreateScramUser.
const (
	SASLPlainUser     = "lagwatch"
	SASLPlainPassword = "lagwatch-secret"
)

// KafkaSASL returns the address of the test broker's SASL listener, from
// TESTENV_KAFKA_SASL_BROKERS or the default, after checking that it accepts
// connections.
func KafkaSASL(t testing.TB) string {
	t.Helper()
	Kafka(t)
	addr := getenv("TESTENV_KAFKA_SASL_BROKERS", "127.0.0.1:9094")
	if err := checkKafka(addr); err != nil {
		t.Fatalf("%v (the SASL listener of `scripts/testenv up`; restart the broker if it predates it)", err)
	}
	return addr
}

// KafkaTLS returns the address of the test broker's mutual-TLS listener and
// the folder holding ca.pem, client.pem and client.key (scripts/testenv
// makes them), from TESTENV_KAFKA_TLS_BROKERS and TESTENV_KAFKA_TLS_DIR or
// their defaults.
func KafkaTLS(t testing.TB) (addr, dir string) {
	t.Helper()
	Kafka(t)
	addr = getenv("TESTENV_KAFKA_TLS_BROKERS", "127.0.0.1:9095")
	dir = getenv("TESTENV_KAFKA_TLS_DIR", filepath.Join(RepoRoot(t), ".testenv", "tls"))
	if err := checkKafka(addr); err != nil {
		t.Fatalf("%v (the TLS listener of `scripts/testenv up`; restart the broker if it predates it)", err)
	}
	return addr, dir
}

// KafkaJMX returns the address (host:port) of the test broker's JMX server,
// from TESTENV_KAFKA_JMX or the default, after checking that it accepts
// connections.
func KafkaJMX(t testing.TB) string {
	t.Helper()
	Kafka(t)
	addr := getenv("TESTENV_KAFKA_JMX", "127.0.0.1:9999")
	if err := dialable("the Kafka broker's JMX server", addr); err != nil {
		t.Fatalf("%v (`scripts/testenv up` starts the broker with it; restart the broker if it predates it)", err)
	}
	return addr
}

// KafkaClasspath is the classpath of the Kafka jars scripts/testenv fetched
// (kafka-clients, kafka-tools and their dependencies), as
// `scripts/testenv classpath` prints it.
func KafkaClasspath(t testing.TB) string {
	t.Helper()
	classpath.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var stderr strings.Builder
		cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(t), "scripts", "testenv"), "classpath")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			classpath.err = fmt.Errorf("kafka classpath: %w\n%s", err, stderr.String())
			return
		}
		classpath.cp = strings.TrimSpace(string(out))
	})
	if classpath.err != nil {
		t.Fatal(classpath.err)
	}
	return classpath.cp
}

var classpath struct {
	once sync.Once
	cp   string
	err  error
}

// javaBin is $JAVA_HOME/bin/java when there is one, else java on PATH, as
// scripts/testenv chooses.
func javaBin() string {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if j := filepath.Join(home, "bin", "java"); fileExists(j) {
			return j
		}
	}
	return "java"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// RequireConsumerProtocol skips the test when the test broker does not run
// the consumer group protocol (KIP-848): generally available from Kafka 4.0,
// a preview that is off by default in 3.x, where no group of that protocol
// can exist. It asks with a ConsumerGroupHeartbeat of a probe group with no
// topics (then leaves it): Kafka 3.9 lists the API but answers
// UNSUPPORTED_VERSION. An unreachable broker fails the test.
func RequireConsumerProtocol(t testing.TB) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(Kafka(t)...))
	if err != nil {
		t.Fatalf("client of the test broker: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	group := Name(t, "kip848-probe")
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group = group
	// A member id of the client's making, as Kafka 4 wants it: a UUID in
	// Kafka's base64 form.
	var id [16]byte
	_, _ = rand.Read(id[:])
	req.MemberID = base64.RawURLEncoding.EncodeToString(id[:])
	req.RebalanceTimeoutMillis = 5000
	// The first heartbeat names the subscription and the owned partitions,
	// both empty here, never null.
	req.SubscribedTopicNames = []string{}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ConsumerGroupHeartbeat to the test broker: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnsupportedVersion) {
			t.Skip("the test broker does not run the consumer group protocol (KIP-848, generally available from Kafka 4.0; a preview, off, in 3.x)")
		}
		t.Fatalf("ConsumerGroupHeartbeat to the test broker: %v", err)
	}
	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Group, leave.MemberID, leave.MemberEpoch = group, req.MemberID, -1
	_, _ = leave.RequestWith(ctx, cl)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{group}
	_, _ = del.RequestWith(ctx, cl)
}
