package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultKafkaCluster is the three-broker cluster `scripts/testenv up
// cluster` starts: node N (broker and controller) listens on the N-th
// address. Every topic it creates by default, and the offsets and
// transaction topics, have three replicas, two of which must be in sync.
const DefaultKafkaCluster = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"

// KafkaCluster returns the addresses of the three-broker cluster from
// TESTENV_KAFKA_CLUSTER (or the default), after checking that every broker
// accepts connections. Node ids are 1, 2 and 3, in the order of the
// addresses.
//
// Tests kill the cluster's brokers, and `go test ./...` runs packages at
// once: the test holds the cluster alone until it ends, taking a lock (a
// file lock in the temporary folder, named after the addresses) that tests
// in other processes wait for.
func KafkaCluster(t testing.TB) []string {
	t.Helper()
	v := server(t, "three-broker Kafka cluster", "TESTENV_KAFKA_CLUSTER", DefaultKafkaCluster, func(v string) error {
		for _, addr := range strings.Split(v, ",") {
			if err := dialable("kafka cluster broker", addr); err != nil {
				return err
			}
		}
		return nil
	})
	lockCluster(t, v)
	return strings.Split(v, ",")
}

// clusterLock is this process's hold on the cluster's file lock: taken by
// the first test that asks, released when the last one holding it ends.
var clusterLock struct {
	sync.Mutex
	holders int
	file    *os.File
}

func lockCluster(t testing.TB, addrs string) {
	t.Helper()
	clusterLock.Lock()
	defer clusterLock.Unlock()
	if clusterLock.holders == 0 {
		name := filepath.Join(os.TempDir(), "lagwatch-testenv-cluster-"+strings.NewReplacer(":", "_", ",", "-").Replace(addrs)+".lock")
		f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatalf("lock of the Kafka cluster: %v", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("lock of the Kafka cluster %s: %v", name, err)
		}
		clusterLock.file = f
	}
	clusterLock.holders++
	t.Cleanup(func() {
		clusterLock.Lock()
		defer clusterLock.Unlock()
		if clusterLock.holders--; clusterLock.holders == 0 {
			clusterLock.file.Close() // releases the lock
			clusterLock.file = nil
		}
	})
}

// killed holds the cluster's nodes a test killed and has not started again.
var killed struct {
	sync.Mutex
	ids map[int32]bool
}

// KillBroker SIGKILLs node id of the cluster (`scripts/testenv cluster-kill`)
// and returns once its process is gone. The broker stays registered until
// the controller fences it, a broker session timeout (9 s) later. A broker
// still down when the test ends is started again then.
func KillBroker(t testing.TB, id int32) {
	t.Helper()
	script := filepath.Join(RepoRoot(t), "scripts", "testenv")
	if err := clusterScript(script, "cluster-kill", id); err != nil {
		t.Fatal(err)
	}
	killed.Lock()
	if killed.ids == nil {
		killed.ids = map[int32]bool{}
	}
	killed.ids[id] = true
	killed.Unlock()
	t.Cleanup(func() {
		killed.Lock()
		down := killed.ids[id]
		killed.Unlock()
		if !down {
			return
		}
		if err := startBroker(script, id); err != nil {
			t.Errorf("start the killed broker again at the test's end: %v", err)
		}
	})
}

// StartBroker starts node id of the cluster again (`scripts/testenv
// cluster-start`) and returns once the cluster's metadata lists it and it
// answers requests. Its replicas may still be catching up: WaitInSync waits
// for them.
func StartBroker(t testing.TB, id int32) {
	t.Helper()
	if err := startBroker(filepath.Join(RepoRoot(t), "scripts", "testenv"), id); err != nil {
		t.Fatal(err)
	}
}

func startBroker(script string, id int32) error {
	if err := clusterScript(script, "cluster-start", id); err != nil {
		return err
	}
	killed.Lock()
	delete(killed.ids, id)
	killed.Unlock()
	return nil
}

// clusterScript runs `scripts/testenv <command> <id>` (script is its path),
// for three minutes at the most.
func clusterScript(script, command string, id int32) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, command, strconv.Itoa(int(id))).CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/testenv %s %d: %w\n%s", command, id, err, out)
	}
	return nil
}

// clusterRequest sends req through a client of brokers, retrying what Kafka
// calls retriable (and a broker that does not answer) until it succeeds,
// check accepts the response or a minute passes. check returns nil to accept
// the response, or the reason to ask again.
func clusterRequest[R kmsg.Response](t testing.TB, brokers []string, req kmsg.Request, what string, check func(R) error) R {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequestRetries(2))
	if err != nil {
		t.Fatalf("%s: client of %v: %v", what, brokers, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var resp R
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		raw, err := cl.Request(rctx, req)
		rcancel()
		if err == nil {
			resp = raw.(R)
			if err = check(resp); err == nil {
				return resp
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still failing after a minute: %v", what, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ClusterBrokers returns the ids of the brokers the cluster's metadata
// lists (live and not fenced), in order.
func ClusterBrokers(t testing.TB, brokers []string) []int32 {
	t.Helper()
	resp := clusterRequest(t, brokers, kmsg.NewPtrMetadataRequest(), "metadata",
		func(*kmsg.MetadataResponse) error { return nil })
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

// TopicPartitions returns the partitions of topic as the cluster's metadata
// describes them (leader, replicas, in-sync replicas), by partition id,
// once every partition has a leader.
func TopicPartitions(t testing.TB, brokers []string, topic string) []kmsg.MetadataResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp := clusterRequest(t, brokers, req, "metadata of topic "+topic, func(r *kmsg.MetadataResponse) error {
		if len(r.Topics) != 1 {
			return fmt.Errorf("%d topics in the answer", len(r.Topics))
		}
		if err := kerr.ErrorForCode(r.Topics[0].ErrorCode); err != nil {
			return err
		}
		for _, p := range r.Topics[0].Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil && p.Leader < 0 {
				return fmt.Errorf("partition %d: %w", p.Partition, err)
			}
			if p.Leader < 0 {
				return fmt.Errorf("partition %d has no leader", p.Partition)
			}
		}
		return nil
	})
	parts := resp.Topics[0].Partitions
	slices.SortFunc(parts, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
	return parts
}

// LeaderOf returns the broker leading partition of topic, as the cluster's
// metadata says (a broker just killed stays leader until the controller
// fences it).
func LeaderOf(t testing.TB, brokers []string, topic string, partition int32) int32 {
	t.Helper()
	for _, p := range TopicPartitions(t, brokers, topic) {
		if p.Partition == partition {
			return p.Leader
		}
	}
	t.Fatalf("topic %s has no partition %d", topic, partition)
	return -1
}

// CoordinatorOf returns the broker coordinating consumer group group.
func CoordinatorOf(t testing.TB, brokers []string, group string) int32 {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	req.CoordinatorKeys = []string{group}
	resp := clusterRequest(t, brokers, req, "coordinator of group "+group, func(r *kmsg.FindCoordinatorResponse) error {
		if len(r.Coordinators) > 0 {
			return kerr.ErrorForCode(r.Coordinators[0].ErrorCode)
		}
		return kerr.ErrorForCode(r.ErrorCode)
	})
	if len(resp.Coordinators) > 0 {
		return resp.Coordinators[0].NodeID
	}
	return resp.NodeID
}

// OffsetsPartition is the partition of Kafka's offsets topic (of partitions
// partitions) that holds group's commits, as Kafka places it: the absolute
// value of the group id's Java hashCode (0 for the least int), modulo
// partitions. Groups of one partition share one coordinator, the
// partition's leader.
func OffsetsPartition(group string, partitions int32) int32 {
	var h int32
	for _, c := range utf16Units(group) {
		h = 31*h + int32(c)
	}
	switch {
	case h == -1<<31:
		h = 0
	case h < 0:
		h = -h
	}
	return h % partitions
}

// utf16Units is s as Java's String holds it.
func utf16Units(s string) []uint16 {
	var out []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// WaitInSync waits until every partition of each topic has a leader and all
// its replicas in sync: after a broker came back, its replicas have caught
// up. It fails the test after within.
func WaitInSync(t testing.TB, brokers []string, within time.Duration, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var behind []string
		for _, topic := range topics {
			for _, p := range TopicPartitions(t, brokers, topic) {
				if len(p.ISR) < len(p.Replicas) {
					behind = append(behind, fmt.Sprintf("%s/%d (replicas %v, in sync %v)", topic, p.Partition, p.Replicas, p.ISR))
				}
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas not in sync after %s: %s", within, strings.Join(behind, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// CommittedOffsets returns the offsets group committed on topic, by
// partition; a partition without a commit is left out.
func CommittedOffsets(t testing.TB, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for _, p := range TopicPartitions(t, brokers, topic) {
		rt.Partitions = append(rt.Partitions, p.Partition)
	}
	req.Topics = append(req.Topics, rt)
	out := map[int32]int64{}
	clusterRequest(t, brokers, req, "committed offsets of group "+group, func(r *kmsg.OffsetFetchResponse) error {
		clear(out)
		topics := r.Topics
		if len(r.Groups) > 0 {
			if err := kerr.ErrorForCode(r.Groups[0].ErrorCode); err != nil {
				return err
			}
			topics = nil
			for _, gt := range r.Groups[0].Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = gt.Topic
				for _, gp := range gt.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.ErrorCode = gp.Partition, gp.Offset, gp.ErrorCode
					rt.Partitions = append(rt.Partitions, rp)
				}
				topics = append(topics, rt)
			}
		} else if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return err
		}
		for _, rt := range topics {
			for _, p := range rt.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("partition %d: %w", p.Partition, err)
				}
				if rt.Topic == topic && p.Offset >= 0 {
					out[p.Partition] = p.Offset
				}
			}
		}
		return nil
	})
	return out
}

// GroupMembers returns the state of classic consumer group group (Stable,
// Empty, ...) and its number of members, from its coordinator.
func GroupMembers(t testing.TB, brokers []string, group string) (state string, members int) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp := clusterRequest(t, brokers, req, "description of group "+group, func(r *kmsg.DescribeGroupsResponse) error {
		if len(r.Groups) != 1 {
			return fmt.Errorf("%d groups in the answer", len(r.Groups))
		}
		return kerr.ErrorForCode(r.Groups[0].ErrorCode)
	})
	return resp.Groups[0].State, len(resp.Groups[0].Members)
}
