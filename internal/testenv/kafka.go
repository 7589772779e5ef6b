package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaClient returns a kafka-go client for the test broker.
func KafkaClient(t testing.TB) *kafka.Client {
	t.Helper()
	brokers := Kafka(t)
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
}

// CreateTopic creates a topic with a unique name and the given partition
// count, waits until every partition has a leader, and deletes the topic when
// the test ends.
func CreateTopic(t testing.TB, prefix string, partitions int) string {
	t.Helper()
	c := KafkaClient(t)
	name := Name(t, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	DeleteTopicOnCleanup(t, name)
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

// DeleteTopicOnCleanup deletes the topic when the test ends.
func DeleteTopicOnCleanup(t testing.TB, topic string) {
	t.Helper()
	c := KafkaClient(t)
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

// Produce writes n messages to each listed partition of topic, synchronously.
func Produce(t testing.TB, topic string, partition, n int) {
	t.Helper()
	c := KafkaClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const batch = 500
	for sent := 0; sent < n; {
		k := min(batch, n-sent)
		recs := make([]kafka.Record, k)
		for i := range recs {
			recs[i] = kafka.Record{Value: kafka.NewBytes([]byte("m" + strconv.Itoa(sent+i)))}
		}
		var err error
		// Right after a topic is created the client's cached metadata may
		// still name no leader: retry what Kafka calls retriable.
		for attempt := 0; attempt < 100; attempt++ {
			var resp *kafka.ProduceResponse
			resp, err = c.Produce(ctx, &kafka.ProduceRequest{
				Topic: topic, Partition: partition, RequiredAcks: kafka.RequireAll,
				Records: kafka.NewRecordReader(recs...),
			})
			if err == nil {
				err = resp.Error
			}
			if err == nil || !retriable(err) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("produce %d messages to %s/%d: %v", k, topic, partition, err)
		}
		sent += k
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

// DeleteGroupOnCleanup deletes the consumer group when the test ends.
func DeleteGroupOnCleanup(t testing.TB, group string) {
	t.Helper()
	c := KafkaClient(t)
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
