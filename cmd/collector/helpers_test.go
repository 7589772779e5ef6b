package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// storedOffsets is the part of an offsets document the tests read.
type storedOffsets struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Consumergroup struct {
			ID, Type, State string
			Offset          *int64
			Lag             *int64 `json:"consumer_lag"`
			Client          *struct {
				MemberID string `json:"member_id"`
				ID, Host string
			}
		}
		Topic     struct{ Name string }
		Partition struct {
			ID     int
			Offset struct{ Newest *int64 }
		}
	}
}

// committedGroup is a new group named after prefix that committed offsets
// (partition -> offset) on a new topic, also named after prefix, filled
// with counts messages per partition.
func committedGroup(t *testing.T, prefix string, offsets map[int]int64, counts ...int) (group string) {
	t.Helper()
	topic := testenv.CreateFilledTopic(t, prefix, counts...)
	group = testenv.Name(t, prefix+"-group")
	testenv.Commit(t, group, topic, offsets)
	return group
}

// setCollectorEnv points the collector at the test servers, with a namespace
// and spool of its own, watching only the given groups.
func setCollectorEnv(t *testing.T, groups ...string) (namespace string) {
	t.Helper()
	namespace = strings.ReplaceAll(testenv.Name(t, "coll"), "-", "")
	t.Setenv("KAFKA_BROKERS", strings.Join(testenv.Kafka(t), ","))
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", namespace)
	t.Setenv("COLLECTOR_SPOOL_DIR", t.TempDir())
	t.Setenv("COLLECTOR_METRICS_ADDR", "127.0.0.1:0")
	allow := make([]string, len(groups))
	for i, g := range groups {
		allow[i] = "^" + g + "$"
	}
	t.Setenv("KAFKA_GROUP_ALLOW", strings.Join(allow, "|"))
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+namespace,
		"metrics-lagwatch.offsets-"+namespace, "metrics-lagwatch.groups-"+namespace, "metrics-lagwatch.collector-"+namespace)
	return namespace
}

// runOnce runs `collector --once` with env set on top of what the test set
// already (no metrics listener), and returns its output and its error.
func runOnce(ctx context.Context, t *testing.T, env map[string]string) (output string, err error) {
	t.Helper()
	t.Setenv("COLLECTOR_METRICS_ADDR", "")
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stderr bytes.Buffer
	err = run(ctx, []string{"--once"}, io.Discard, &stderr)
	return stderr.String(), err
}

// forEachRow calls check with every partition Kafka's consumer-groups tool
// listed and its stored offsets document (key is group/topic/partition). It
// reports a partition listed and not stored, and a number of documents or
// partitions other than the tool's.
func forEachRow(t *testing.T, rows []testenv.DescribeRow, docs []storedOffsets, check func(key string, row testenv.DescribeRow, d storedOffsets)) {
	t.Helper()
	stored := map[string]storedOffsets{}
	for _, d := range docs {
		stored[fmt.Sprintf("%s/%s/%d", d.Kafka.Consumergroup.ID, d.Kafka.Topic.Name, d.Kafka.Partition.ID)] = d
	}
	if len(docs) != len(rows) || len(stored) != len(rows) {
		t.Errorf("%d documents (%d distinct partitions) stored, the tool lists %d partitions", len(docs), len(stored), len(rows))
	}
	for _, row := range rows {
		key := fmt.Sprintf("%s/%s/%d", row.Group, row.Topic, row.Partition)
		if d, ok := stored[key]; ok {
			check(key, row, d)
		} else {
			t.Errorf("%s: listed by the tool, not stored", key)
		}
	}
}

// wantOneLag checks that the namespace's offsets data stream holds one
// document, with the given lag.
func wantOneLag(t *testing.T, namespace string, lag int64) {
	t.Helper()
	docs := testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+namespace)
	if len(docs) != 1 || docs[0].Kafka.Consumergroup.Lag == nil || *docs[0].Kafka.Consumergroup.Lag != lag {
		t.Errorf("stored %+v, want one document with lag %d", docs, lag)
	}
}

// wantTicks checks that the namespace's offsets data stream holds the
// documents of ticks ticks, exactly partitions of each: none lost, none
// twice.
func wantTicks(t *testing.T, namespace string, ticks, partitions int) {
	t.Helper()
	perTick := map[string]int{}
	for _, d := range testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+namespace) {
		perTick[d.Timestamp]++
	}
	if len(perTick) != ticks {
		t.Fatalf("offsets documents of %d ticks stored, want %d: %v", len(perTick), ticks, perTick)
	}
	for ts, n := range perTick {
		if n != partitions {
			t.Errorf("tick %s: %d offsets documents, want exactly %d (one per partition)", ts, n, partitions)
		}
	}
}
