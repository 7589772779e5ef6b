package kafkasource

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestGroupProtocolsMatchKafkaTool runs Kafka's own Java consumer with each
// group protocol: the classic one (JoinGroup/SyncGroup, described by
// DescribeGroups) and KIP-848's consumer protocol (which DescribeGroups
// answers as Dead, described by ConsumerGroupDescribe). While the consumer
// runs, the snapshot must show the group Stable with its type, its one
// member and that member owning every partition, all as Kafka's
// consumer-groups tool shows them; once it is stopped, the group must be
// Empty with its commits and no owners.
func TestGroupProtocolsMatchKafkaTool(t *testing.T) {
	for _, tc := range []struct {
		protocol, wantType string
	}{
		{"classic", snapshot.TypeClassic},
		{"consumer", snapshot.TypeConsumer},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			t.Parallel()
			topic := testenv.CreateTopic(t, "proto-"+tc.protocol, 3)
			sizes := []int{20, 30, 40}
			for p, n := range sizes {
				testenv.Produce(t, topic, p, n)
			}
			group := testenv.Name(t, "proto-"+tc.protocol)
			testenv.DeleteGroupOnCleanup(t, group)
			clientID := testenv.Name(t, "client")
			jc := testenv.StartJavaConsumer(t, testenv.JavaConsumerOptions{
				Topic: topic, Group: group, Protocol: tc.protocol, ClientID: clientID, FromBeginning: true,
				Properties: map[string]string{"auto.commit.interval.ms": "200"},
			})

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			r := newReader(t, func(g string) bool { return g == group })

			// Running: every message read and committed, every partition
			// owned.
			g := waitGroup(ctx, t, r, jc, group, func(g snapshot.Group) bool {
				if g.State != "Stable" || len(g.Members) != 1 || len(g.Partitions) != len(sizes) {
					return false
				}
				for _, p := range g.Partitions {
					if p.Owner == nil || !p.HasCommitted || !p.HasOffsets || p.Committed != p.LogEnd {
						return false
					}
				}
				return true
			})
			m := g.Members[0]
			if g.Type != tc.wantType || g.ProtocolType != "consumer" {
				t.Errorf("type %q, protocol type %q; want %q and consumer", g.Type, g.ProtocolType, tc.wantType)
			}
			if m.MemberID == "" || m.ClientID != clientID || m.Host != "/127.0.0.1" {
				t.Errorf("member %+v; want an id, client id %s, host /127.0.0.1", m, clientID)
			}
			if wantEpoch := tc.wantType == snapshot.TypeConsumer; (g.Epoch > 0) != wantEpoch {
				t.Errorf("epoch %d; want one above 0: %v", g.Epoch, wantEpoch)
			}
			for _, p := range g.Partitions {
				if p.Owner.MemberID != m.MemberID || p.LogEnd != int64(sizes[p.Partition]) {
					t.Errorf("partition %d: owner %s, log end %d; want %s and %d", p.Partition, p.Owner.MemberID, p.LogEnd, m.MemberID, sizes[p.Partition])
				}
			}
			compareWithTool(ctx, t, g)
			members := testenv.ParseTable(testenv.ConsumerGroups(ctx, t, "--describe", "--group", group, "--members"))
			if len(members) != 1 || members[0]["CONSUMER-ID"] != m.MemberID || members[0]["HOST"] != m.Host || members[0]["CLIENT-ID"] != m.ClientID {
				t.Errorf("the tool's members %v; the snapshot's %+v", members, m)
			}

			// Stopped: the consumer left, its commits stay.
			jc.Stop(t)
			g = waitGroup(ctx, t, r, nil, group, func(g snapshot.Group) bool { return g.State == "Empty" })
			if g.Type != tc.wantType || len(g.Members) != 0 || len(g.Partitions) != len(sizes) {
				t.Errorf("stopped: type %q, %d members, %d partitions; want %q, none and %d", g.Type, len(g.Members), len(g.Partitions), tc.wantType, len(sizes))
			}
			for _, p := range g.Partitions {
				if p.Owner != nil || !p.HasCommitted || p.Committed != int64(sizes[p.Partition]) {
					t.Errorf("stopped: partition %d owner %+v committed %d (%v); want no owner and %d", p.Partition, p.Owner, p.Committed, p.HasCommitted, sizes[p.Partition])
				}
			}
			compareWithTool(ctx, t, g)
		})
	}
}

// waitGroup takes snapshots until group is read without error and done
// accepts it, and returns it. It fails the test when jc (if any) exits, or
// after ctx ends.
func waitGroup(ctx context.Context, t *testing.T, r *Source, jc *testenv.JavaConsumer, group string, done func(snapshot.Group) bool) snapshot.Group {
	t.Helper()
	var last snapshot.Snapshot
	for {
		s := r.Take(ctx, time.Now())
		if s.Err == nil && len(s.Groups) == 1 && s.Groups[0].ID == group && s.Groups[0].Err == nil && done(s.Groups[0]) {
			return s.Groups[0]
		}
		last = s
		if jc != nil {
			if err := jc.Exited(); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s not as expected in time; last snapshot: err %v, groups %+v", group, last.Err, last.Groups)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// compareWithTool checks g's state and every partition's commit, log end,
// lag and owner against `kafka-consumer-groups --describe`, which reads
// classic groups with DescribeGroups and consumer-protocol groups with
// ConsumerGroupDescribe.
func compareWithTool(ctx context.Context, t *testing.T, g snapshot.Group) {
	t.Helper()
	states := testenv.ParseTable(testenv.ConsumerGroups(ctx, t, "--describe", "--group", g.ID, "--state"))
	if len(states) != 1 || states[0]["STATE"] != g.State || states[0]["#MEMBERS"] != strconv.Itoa(len(g.Members)) {
		t.Errorf("the tool's state %v; the snapshot's %s with %d members", states, g.State, len(g.Members))
	}
	out := testenv.ConsumerGroups(ctx, t, "--describe", "--group", g.ID)
	rows, err := testenv.ParseDescribe(out)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]snapshot.Partition{}
	for _, p := range g.Partitions {
		ours[fmt.Sprintf("%s/%d", p.Topic, p.Partition)] = p
	}
	if len(rows) != len(ours) {
		t.Errorf("the tool lists %d partitions, the snapshot %d:\n%s", len(rows), len(ours), out)
	}
	for _, row := range rows {
		key := fmt.Sprintf("%s/%d", row.Topic, row.Partition)
		p, ok := ours[key]
		if !ok {
			t.Errorf("%s: in the tool's output, not in the snapshot", key)
			continue
		}
		lag, hasLag, _ := p.Lag()
		if !hasLag {
			lag = -1
		}
		owner := "-"
		if p.Owner != nil {
			owner = p.Owner.MemberID
		}
		if p.Committed != row.Committed || p.LogEnd != row.LogEnd || lag != row.Lag || owner != row.ConsumerID {
			t.Errorf("%s: snapshot committed=%d log-end=%d lag=%d owner=%s; tool %d %d %d %s",
				key, p.Committed, p.LogEnd, lag, owner, row.Committed, row.LogEnd, row.Lag, row.ConsumerID)
		}
	}
}
