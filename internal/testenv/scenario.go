package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// CreateFilledTopic creates a topic (as CreateTopic does) with one partition
// per count, and produces count messages to each: CreateFilledTopic(t,
// "orders", 40, 0) makes two partitions, the second empty.
func CreateFilledTopic(t testing.TB, prefix string, counts ...int) string {
	t.Helper()
	topic := CreateTopic(t, prefix, len(counts))
	for p, n := range counts {
		if n > 0 {
			Produce(t, topic, p, n)
		}
	}
	return topic
}

// JoinAndRead joins group as a kafka-go consumer of topics, from their first
// offsets, and reads n messages, committing each before the next read. The
// member then stays in the group, reading no more, until the test ends;
// the group is deleted after it leaves.
func JoinAndRead(ctx context.Context, t testing.TB, group string, n int, topics ...string) {
	t.Helper()
	DeleteGroupOnCleanup(t, group)
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: Kafka(t), GroupID: group, GroupTopics: topics, StartOffset: kafka.FirstOffset,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
	})
	t.Cleanup(func() { _ = rd.Close() })
	for i := range n {
		if _, err := rd.ReadMessage(ctx); err != nil {
			t.Fatalf("group %s: read message %d: %v", group, i, err)
		}
	}
}
