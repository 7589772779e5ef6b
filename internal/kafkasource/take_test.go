package kafkasource

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
)

func newReader(t *testing.T, filter func(string) bool) *Source {
	t.Helper()
	brokers := testenv.Kafka(t)
	rc := &requestCounter{}
	tr := &kafka.Transport{Dial: rc.Dial(nil), MetadataTTL: time.Second, DialTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &Source{cluster: "test", addr: kafka.TCP(brokers...), transport: tr, filter: filter, counter: rc}
}

// TestTakeMatchesKafkaTool builds groups with active members, an Empty group
// spanning two topics, and an assigned partition never committed, then checks
// every partition of the snapshot against `kafka-consumer-groups --describe`.
func TestTakeMatchesKafkaTool(t *testing.T) {
	topicA := testenv.CreateTopic(t, "take-a", 3)
	topicB := testenv.CreateTopic(t, "take-b", 2)
	testenv.Produce(t, topicA, 0, 100)
	testenv.Produce(t, topicA, 1, 50)
	// Partition 2 of topicA stays empty: the active group never commits it.
	testenv.Produce(t, topicB, 0, 30)
	testenv.Produce(t, topicB, 1, 30)

	empty := testenv.Name(t, "take-empty")
	testenv.Commit(t, empty, topicB, map[int]int64{0: 10, 1: 30})
	testenv.Commit(t, empty, topicA, map[int]int64{0: 100})

	active := testenv.Name(t, "take-active")
	testenv.DeleteGroupOnCleanup(t, active)
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers: testenv.Kafka(t), GroupID: active, Topic: topicA,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
		StartOffset: kafka.FirstOffset, CommitInterval: 0,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
	})
	t.Cleanup(func() { _ = rd.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Read (and synchronously commit) 60 messages, then stop reading: the
	// member stays in the group with lag behind it.
	for i := 0; i < 60; i++ {
		if _, err := rd.ReadMessage(ctx); err != nil {
			t.Fatalf("read message %d of group %s: %v", i, active, err)
		}
	}

	groups := map[string]bool{empty: true, active: true}
	r := newReader(t, func(g string) bool { return groups[g] })
	var s snapshot.Snapshot
	// Metadata is cached by the transport; a topic made a moment ago may
	// need one refresh before it has leaders.
	for attempt := 0; ; attempt++ {
		s = r.Take(ctx, time.Now())
		if s.Err == nil && len(s.Groups) == 2 && s.Groups[0].Err == nil && s.Groups[1].Err == nil && allOffsets(s) && stable(s, active) {
			break
		}
		if attempt == 30 {
			t.Fatalf("snapshot not complete after 30 tries: err=%v groups=%+v", s.Err, s.Groups)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if s.ClusterID == "" {
		t.Error("cluster id is empty")
	}
	if s.Stats.Requests <= 0 {
		t.Errorf("requests counted: %d", s.Stats.Requests)
	}

	out := testenv.ConsumerGroups(ctx, t, "--describe", "--group", empty, "--group", active)
	rows, err := testenv.ParseDescribe(out)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]snapshot.Partition{}
	state := map[string]string{}
	for _, g := range s.Groups {
		state[g.ID] = g.State
		for _, p := range g.Partitions {
			ours[fmt.Sprintf("%s/%s/%d", g.ID, p.Topic, p.Partition)] = p
		}
	}
	if state[empty] != "Empty" || state[active] != "Stable" {
		t.Errorf("states: %s=%q %s=%q, want Empty and Stable", empty, state[empty], active, state[active])
	}
	if len(rows) != len(ours) {
		t.Errorf("the tool lists %d partitions, the snapshot %d:\n%s", len(rows), len(ours), out)
	}
	var uncommitted, withLag int
	for _, row := range rows {
		key := fmt.Sprintf("%s/%s/%d", row.Group, row.Topic, row.Partition)
		p, ok := ours[key]
		if !ok {
			t.Errorf("%s: in the tool's output, not in the snapshot", key)
			continue
		}
		committed := int64(-1)
		if p.HasCommitted {
			committed = p.Committed
		}
		lag, hasLag, _ := p.Lag()
		if !hasLag {
			lag = -1
			uncommitted++
		} else if lag > 0 {
			withLag++
		}
		owner := "-"
		if p.Owner != nil {
			owner = p.Owner.MemberID
		}
		if committed != row.Committed || p.LogEnd != row.LogEnd || lag != row.Lag || owner != row.ConsumerID {
			t.Errorf("%s: snapshot committed=%d log-end=%d lag=%d owner=%s; tool %d %d %d %s",
				key, committed, p.LogEnd, lag, owner, row.Committed, row.LogEnd, row.Lag, row.ConsumerID)
		}
	}
	// The scenario must have exercised what it claims to.
	if uncommitted < 1 || withLag < 2 {
		t.Errorf("scenario: %d uncommitted partitions (want >= 1), %d with lag (want >= 2)", uncommitted, withLag)
	}
}

func allOffsets(s snapshot.Snapshot) bool {
	for _, g := range s.Groups {
		for _, p := range g.Partitions {
			if !p.HasOffsets {
				return false
			}
		}
	}
	return true
}

func stable(s snapshot.Snapshot, group string) bool {
	for _, g := range s.Groups {
		if g.ID == group {
			return g.State == "Stable" && len(g.Partitions) == 3
		}
	}
	return false
}

// TestCommittedBelowLogStart deletes records past a group's committed offset,
// as retention does to a consumer that fell too far behind: the partition is
// flagged, and its lag still equals Kafka's tool.
func TestCommittedBelowLogStart(t *testing.T) {
	topic := testenv.CreateTopic(t, "retention", 1)
	testenv.Produce(t, topic, 0, 20)
	group := testenv.Name(t, "retention-group")
	testenv.Commit(t, group, topic, map[int]int64{0: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	testenv.DeleteRecords(ctx, t, topic, 0, 10)

	r := newReader(t, func(g string) bool { return g == group })
	var p snapshot.Partition
	for attempt := 0; ; attempt++ {
		s := r.Take(ctx, time.Now())
		if s.Err == nil && len(s.Groups) == 1 && len(s.Groups[0].Partitions) == 1 && s.Groups[0].Partitions[0].HasOffsets {
			p = s.Groups[0].Partitions[0]
			break
		}
		if attempt == 30 {
			t.Fatalf("no complete snapshot: %+v", s)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if p.LogStart != 10 || !p.BelowLogStart() {
		t.Errorf("log start %d, below log start %v; want 10 and true", p.LogStart, p.BelowLogStart())
	}
	rows, err := testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, "--describe", "--group", group))
	if err != nil {
		t.Fatal(err)
	}
	lag, _, _ := p.Lag()
	if len(rows) != 1 || rows[0].Lag != lag {
		t.Errorf("tool rows %+v; our lag %d", rows, lag)
	}
}

// TestRequestsDoNotGrowWithPartitions counts the Kafka requests of a tick for
// a group on one partition and for a group on sixty: the same six (list
// groups on the one broker, one describe for the coordinator, one offset
// fetch for the group, and the log-start, log-end and last stable offsets
// from the one leader).
func TestRequestsDoNotGrowWithPartitions(t *testing.T) {
	small := testenv.CreateTopic(t, "req-small", 1)
	large := testenv.CreateTopic(t, "req-large", 60)
	gSmall, gLarge := testenv.Name(t, "req-small"), testenv.Name(t, "req-large")
	testenv.Commit(t, gSmall, small, map[int]int64{0: 0})
	all := map[int]int64{}
	for p := 0; p < 60; p++ {
		all[p] = 0
	}
	testenv.Commit(t, gLarge, large, all)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	complete := func(partitions int) func(snapshot.Snapshot) bool {
		return func(s snapshot.Snapshot) bool { return len(s.Groups[0].Partitions) == partitions && allOffsets(s) }
	}
	one, _ := fewestRequests(ctx, t, []string{gSmall}, complete(1))
	sixty, _ := fewestRequests(ctx, t, []string{gLarge}, complete(60))
	t.Logf("requests per tick of a classic group: %d on 1 partition, %d on 60", one, sixty)
	if one != 6 || sixty != 6 {
		t.Errorf("requests per tick: %d for 1 partition, %d for 60; want 6 for both", one, sixty)
	}
}

// TestRequestsWithConsumerProtocolGroups counts the requests of ticks with
// consumer-protocol groups (Kafka's Java consumer, group.protocol=consumer)
// on one partition and on sixty: one ConsumerGroupDescribe more than a
// classic group's six, whatever the partitions. A tick with both of them and
// a classic group sends one DescribeGroups, one ConsumerGroupDescribe and
// one OffsetFetch for the three (one coordinator): seven as well.
func TestRequestsWithConsumerProtocolGroups(t *testing.T) {
	small := testenv.CreateTopic(t, "req-cg-small", 1)
	large := testenv.CreateTopic(t, "req-cg-large", 60)
	gSmall, gLarge, gClassic := testenv.Name(t, "req-cg-small"), testenv.Name(t, "req-cg-large"), testenv.Name(t, "req-classic")
	testenv.Commit(t, gClassic, small, map[int]int64{0: 0})
	for g, topic := range map[string]string{gSmall: small, gLarge: large} {
		testenv.DeleteGroupOnCleanup(t, g)
		testenv.StartJavaConsumer(t, testenv.JavaConsumerOptions{Topic: topic, Group: g, Protocol: "consumer"})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Complete: every consumer-protocol group described, its one member
	// owning every partition, every log offset read.
	complete := func(s snapshot.Snapshot) bool {
		for _, g := range s.Groups {
			if g.ID == gClassic {
				continue
			}
			if g.Type != snapshot.TypeConsumer || g.State != "Stable" || len(g.Members) != 1 {
				return false
			}
			want := map[string]int{gSmall: 1, gLarge: 60}[g.ID]
			if len(g.Partitions) != want {
				return false
			}
			for _, p := range g.Partitions {
				if p.Owner == nil {
					return false
				}
			}
		}
		return allOffsets(s)
	}
	one, _ := fewestRequests(ctx, t, []string{gSmall}, complete)
	sixty, _ := fewestRequests(ctx, t, []string{gLarge}, complete)
	three, tick := fewestRequests(ctx, t, []string{gSmall, gLarge, gClassic}, complete)
	t.Logf("requests per tick: %d for a consumer-protocol group on 1 partition, %d on 60, %d for both and a classic group (%v)",
		one, sixty, three, tick.Stats.RequestsByType)
	if one != 7 || sixty != 7 || three != 7 || tick.Stats.RequestsByType["OffsetFetch"] != 1 {
		t.Errorf("requests per tick: %d for a consumer-protocol group on 1 partition, %d on 60, %d for both and a classic group (%v); want 7 each, one OffsetFetch",
			one, sixty, three, tick.Stats.RequestsByType)
	}
}

// TestManyGroupsOneOffsetFetch: forty groups on one coordinator cost the
// six requests of one (list groups, one describe, one OffsetFetch v8 for
// all forty, log-start, log-end and last stable offsets), and every
// committed offset reads back as committed.
func TestManyGroupsOneOffsetFetch(t *testing.T) {
	topic := testenv.CreateTopic(t, "many", 4)
	testenv.Produce(t, topic, 0, 10)
	testenv.Produce(t, topic, 3, 10)
	want := map[string]map[int32]int64{}
	var groups []string
	for i := range 40 {
		g := testenv.Name(t, fmt.Sprintf("many-%02d", i))
		offsets := map[int]int64{0: int64(i % 11), 3: int64((i * 7) % 11)}
		if i%2 == 0 {
			offsets[1] = 0
		}
		testenv.Commit(t, g, topic, offsets)
		want[g] = map[int32]int64{}
		for p, o := range offsets {
			want[g][int32(p)] = o
		}
		groups = append(groups, g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, s := fewestRequests(ctx, t, groups, allOffsets)
	t.Logf("requests per tick of 40 groups: %d (%v)", n, s.Stats.RequestsByType)
	if n != 6 || s.Stats.RequestsByType["OffsetFetch"] != 1 || s.Stats.RequestsByType["ListOffsets"] != 3 {
		t.Errorf("requests per tick of 40 groups: %d (%v); want 6, one OffsetFetch, three ListOffsets", n, s.Stats.RequestsByType)
	}
	for _, g := range s.Groups {
		got := map[int32]int64{}
		for _, p := range g.Partitions {
			if p.Topic != topic || !p.HasCommitted {
				t.Errorf("group %s: partition %+v", g.ID, p)
				continue
			}
			got[p.Partition] = p.Committed
		}
		if !maps.Equal(got, want[g.ID]) {
			t.Errorf("group %s: committed %v, want %v", g.ID, got, want[g.ID])
		}
	}
}

// fewestRequests ticks a reader that keeps only groups until a tick reads
// them all without error and complete accepts it, then returns the fewest
// requests of three more such ticks, with that tick.
func fewestRequests(ctx context.Context, t *testing.T, groups []string, complete func(snapshot.Snapshot) bool) (int64, snapshot.Snapshot) {
	t.Helper()
	keep := map[string]bool{}
	for _, g := range groups {
		keep[g] = true
	}
	ok := func(s snapshot.Snapshot) bool {
		if s.Err != nil || len(s.Groups) != len(groups) {
			return false
		}
		for _, g := range s.Groups {
			if g.Err != nil {
				return false
			}
		}
		return complete(s)
	}
	rc := &requestCounter{}
	// Metadata is refreshed in the background at this interval; an hour
	// keeps refreshes out of the count.
	tr := &kafka.Transport{Dial: rc.Dial(nil), MetadataTTL: time.Hour}
	t.Cleanup(tr.CloseIdleConnections)
	r := &Source{cluster: "test", addr: kafka.TCP(testenv.Kafka(t)...), transport: tr, counter: rc,
		filter: func(g string) bool { return keep[g] }}
	// The first ticks also open connections and negotiate versions, a
	// broker may answer NOT_LEADER for a moment after a topic was made, and
	// a consumer takes a moment to join: tick until a complete one.
	for attempt := 0; ; attempt++ {
		s := r.Take(ctx, time.Now())
		if ok(s) {
			break
		}
		if attempt == 120 {
			t.Fatalf("no complete tick of %v: %v %+v", groups, s.Err, s.Groups)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The fewest of three ticks: a retry after a transient NOT_LEADER adds
	// requests to one tick, not to every one.
	fewest := int64(-1)
	var tick snapshot.Snapshot
	for i := 0; i < 3; i++ {
		s := r.Take(ctx, time.Now())
		if !ok(s) {
			t.Fatalf("tick of %v: %v %+v", groups, s.Err, s.Groups)
		}
		if fewest < 0 || s.Stats.Requests < fewest {
			fewest, tick = s.Stats.Requests, s
		}
	}
	return fewest, tick
}
