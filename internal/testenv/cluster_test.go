package testenv

import (
	"slices"
	"testing"
	"time"
)

// TestKafkaClusterGround checks the three-broker cluster the broker-failure
// tests run on: three brokers; a topic of replication factor 3 has leaders
// on all of them and every replica in sync; groups are placed on the
// offsets topic's partitions as OffsetsPartition says; and a kill and start
// cycle works: the killed broker's partitions get another leader, produce
// with acks=all keeps working on the two left, and the broker comes back
// and catches up.
func TestKafkaClusterGround(t *testing.T) {
	brokers := KafkaCluster(t)
	if ids := ClusterBrokers(t, brokers); !slices.Equal(ids, []int32{1, 2, 3}) {
		t.Fatalf("brokers %v in the metadata, want [1 2 3]", ids)
	}
	topic := CreateTopicOn(t, brokers, "cluster-ground", 6, 3)
	WaitInSync(t, brokers, time.Minute, topic)
	leaders := map[int32]bool{}
	for _, p := range TopicPartitions(t, brokers, topic) {
		if len(p.Replicas) != 3 {
			t.Errorf("partition %d: replicas %v, want 3", p.Partition, p.Replicas)
		}
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Errorf("leaders on brokers %v, want all three", leaders)
	}

	// A group's coordinator leads the offsets partition its id hashes to.
	group := Name(t, "cluster-ground")
	coordinator := CoordinatorOf(t, brokers, group)
	offsets := TopicPartitions(t, brokers, "__consumer_offsets")
	if leader := offsets[OffsetsPartition(group, int32(len(offsets)))].Leader; leader != coordinator {
		t.Errorf("group %s: coordinator %d, but OffsetsPartition's leader is %d", group, coordinator, leader)
	}

	victim := LeaderOf(t, brokers, topic, 0)
	KillBroker(t, victim)
	deadline := time.Now().Add(time.Minute)
	for LeaderOf(t, brokers, topic, 0) == victim {
		if time.Now().After(deadline) {
			t.Fatalf("broker %d, killed, still leads partition 0 after a minute", victim)
		}
		time.Sleep(500 * time.Millisecond)
	}
	ProduceOn(t, brokers, topic, 0, 10)
	if ids := ClusterBrokers(t, brokers); slices.Contains(ids, victim) {
		t.Errorf("killed broker %d still in the metadata: %v", victim, ids)
	}

	StartBroker(t, victim)
	if ids := ClusterBrokers(t, brokers); !slices.Equal(ids, []int32{1, 2, 3}) {
		t.Errorf("brokers %v in the metadata after the restart, want [1 2 3]", ids)
	}
	WaitInSync(t, brokers, 2*time.Minute, topic)
}

// TestOffsetsPartition: Java's String.hashCode, as Kafka places groups.
func TestOffsetsPartition(t *testing.T) {
	for _, tc := range []struct {
		name, group string
		partitions  int32
		want        int32
	}{
		{"empty id hashes to 0", "", 50, 0},
		{"one letter: its code", "a", 50, 97 % 50},
		{"two letters: 31*first + second", "ab", 10, (31*97 + 98) % 10},
		// "polygenelubricants".hashCode() is Integer.MIN_VALUE: Kafka's
		// Utils.abs makes it 0.
		{"the least int hashes to 0", "polygenelubricants", 50, 0},
		// "lagwatch".hashCode() = -1799795075 in Java.
		{"a negative hash: its absolute value", "lagwatch", 50, 1799795075 % 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OffsetsPartition(tc.group, tc.partitions); got != tc.want {
				t.Errorf("OffsetsPartition(%q, %d) = %d, want %d", tc.group, tc.partitions, got, tc.want)
			}
		})
	}
}
