package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// storedOffsets is the part of an offsets document the tests read.
type storedOffsets struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Consumergroup struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Offset *int64 `json:"offset"`
			Lag    *int64 `json:"consumer_lag"`
			Client *struct {
				MemberID string `json:"member_id"`
			} `json:"client"`
		} `json:"consumergroup"`
		Topic struct {
			Name string `json:"name"`
		} `json:"topic"`
		Partition struct {
			ID     int `json:"id"`
			Offset struct {
				Newest *int64 `json:"newest"`
			} `json:"offset"`
		} `json:"partition"`
	} `json:"kafka"`
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

// TestOnceStoresKafkaToolLags runs `collector --once` against the real
// servers and checks every stored offsets document against Kafka's own
// consumer-groups tool: groups with active members, an Empty group, a
// partition never committed, several topics.
func TestOnceStoresKafkaToolLags(t *testing.T) {
	topicA := testenv.CreateTopic(t, "coll-a", 3)
	topicB := testenv.CreateTopic(t, "coll-b", 2)
	testenv.Produce(t, topicA, 0, 40)
	testenv.Produce(t, topicA, 1, 40)
	testenv.Produce(t, topicB, 0, 25)
	testenv.Produce(t, topicB, 1, 5)

	empty := testenv.Name(t, "coll-empty")
	testenv.Commit(t, empty, topicA, map[int]int64{0: 40, 1: 7})
	testenv.Commit(t, empty, topicB, map[int]int64{0: 3})

	active := testenv.Name(t, "coll-active")
	testenv.DeleteGroupOnCleanup(t, active)
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: testenv.Kafka(t), GroupID: active, GroupTopics: []string{topicA, topicB},
		MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
	})
	t.Cleanup(func() { _ = rd.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < 30; i++ {
		if _, err := rd.ReadMessage(ctx); err != nil {
			t.Fatalf("read message %d: %v", i, err)
		}
	}

	ns := setCollectorEnv(t, empty, active)
	var stderr bytes.Buffer
	if err := run(ctx, []string{"--once"}, &stderr); err != nil {
		t.Fatalf("collector --once: %v\n%s", err, stderr.String())
	}
	docs := testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+ns)

	rows, err := testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, "--describe", "--group", empty, "--group", active))
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]storedOffsets{}
	stamps := map[string]bool{}
	for _, d := range docs {
		cg := d.Kafka.Consumergroup
		stored[fmt.Sprintf("%s/%s/%d", cg.ID, d.Kafka.Topic.Name, d.Kafka.Partition.ID)] = d
		stamps[d.Timestamp] = true
	}
	if len(docs) != len(rows) || len(stored) != len(rows) {
		t.Errorf("%d documents (%d distinct partitions) stored, the tool lists %d partitions", len(docs), len(stored), len(rows))
	}
	if len(stamps) != 1 {
		t.Errorf("one tick wrote %d distinct @timestamp values, want 1: %v", len(stamps), stamps)
	}
	var absentLag int
	for _, row := range rows {
		key := fmt.Sprintf("%s/%s/%d", row.Group, row.Topic, row.Partition)
		d, ok := stored[key]
		if !ok {
			t.Errorf("%s: listed by the tool, not stored", key)
			continue
		}
		cg := d.Kafka.Consumergroup
		lag, committed, member := int64(-1), int64(-1), "-"
		if cg.Lag != nil {
			lag = *cg.Lag
		} else {
			absentLag++
		}
		if cg.Offset != nil {
			committed = *cg.Offset
		}
		if cg.Client != nil {
			member = cg.Client.MemberID
		}
		if lag != row.Lag || committed != row.Committed || member != row.ConsumerID ||
			d.Kafka.Partition.Offset.Newest == nil || *d.Kafka.Partition.Offset.Newest != row.LogEnd {
			t.Errorf("%s: stored lag %d committed %d member %s; tool %d %d %s (log end %d)",
				key, lag, committed, member, row.Lag, row.Committed, row.ConsumerID, row.LogEnd)
		}
		wantState := map[string]string{empty: "Empty", active: "Stable"}[row.Group]
		if cg.State != wantState {
			t.Errorf("%s: state %q, want %q", key, cg.State, wantState)
		}
	}
	if absentLag == 0 {
		t.Error("scenario: no partition without a commit was exercised")
	}
}

// TestBadConfigurationExitsTwo checks that an invalid value stops the
// collector before it does anything, with status 2 and a line naming the
// variable.
func TestBadConfigurationExitsTwo(t *testing.T) {
	cases := []struct {
		name, variable, value string
	}{
		{"schedule that is no cron spec", "COLLECTOR_SCHEDULE", "every thirty seconds"},
		{"unknown SASL mechanism", "KAFKA_SASL_MECHANISM", "GSSAPI"},
		{"Elasticsearch URL without a scheme", "ELASTICSEARCH_URL", "127.0.0.1:9200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KAFKA_BROKERS", "127.0.0.1:9092")
			t.Setenv("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
			t.Setenv(tc.variable, tc.value)
			var stderr bytes.Buffer
			err := run(context.Background(), []string{"--once"}, &stderr)
			if code := exitCode(err, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2 (err %v)", code, err)
			}
			if !strings.Contains(stderr.String(), tc.variable) {
				t.Errorf("message does not name %s: %q", tc.variable, stderr.String())
			}
		})
	}
}
