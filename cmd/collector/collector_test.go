package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestOnceStoresKafkaToolLags runs `collector --once` against the real
// servers and checks every stored offsets document against Kafka's own
// consumer-groups tool: groups with active members, an Empty group, a
// partition never committed, several topics.
func TestOnceStoresKafkaToolLags(t *testing.T) {
	topicA := testenv.CreateFilledTopic(t, "coll-a", 40, 40, 0)
	topicB := testenv.CreateFilledTopic(t, "coll-b", 25, 5)
	empty := testenv.Name(t, "coll-empty")
	testenv.Commit(t, empty, topicA, map[int]int64{0: 40, 1: 7})
	testenv.Commit(t, empty, topicB, map[int]int64{0: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	active := testenv.Name(t, "coll-active")
	testenv.JoinAndRead(ctx, t, active, 30, topicA, topicB)

	ns := setCollectorEnv(t, empty, active)
	var stderr bytes.Buffer
	if err := run(ctx, []string{"--once"}, io.Discard, &stderr); err != nil {
		t.Fatalf("collector --once: %v\n%s", err, stderr.String())
	}
	docs := testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+ns)

	rows, err := testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, "--describe", "--group", empty, "--group", active))
	if err != nil {
		t.Fatal(err)
	}
	stamps := map[string]bool{}
	for _, d := range docs {
		stamps[d.Timestamp] = true
	}
	if len(stamps) != 1 {
		t.Errorf("one tick wrote %d distinct @timestamp values, want 1: %v", len(stamps), stamps)
	}
	var absentLag int
	forEachRow(t, rows, docs, func(key string, row testenv.DescribeRow, d storedOffsets) {
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
	})
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
			err := run(context.Background(), []string{"--once"}, io.Discard, &stderr)
			if code := exitCode(err, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2 (err %v)", code, err)
			}
			if !strings.Contains(stderr.String(), tc.variable) {
				t.Errorf("message does not name %s: %q", tc.variable, stderr.String())
			}
		})
	}
}
