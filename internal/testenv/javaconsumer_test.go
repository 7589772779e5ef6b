package testenv

import (
	"context"
	"testing"
	"time"
)

// TestJavaConsumerJoinsAndLeaves starts Kafka's console consumer with each
// group protocol and checks with Kafka's consumer-groups tool that it joins
// (Stable, one member, its client id) and that Stop makes it leave (Empty,
// no members) at once rather than after the session timeout.
func TestJavaConsumerJoinsAndLeaves(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			t.Parallel()
			topic := CreateTopic(t, "java-"+protocol, 2)
			group := Name(t, "java-"+protocol)
			DeleteGroupOnCleanup(t, group)
			clientID := Name(t, "client")
			c := StartJavaConsumer(t, JavaConsumerOptions{Topic: topic, Group: group, Protocol: protocol, ClientID: clientID})

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			waitState(ctx, t, c, group, "Stable", "1")
			members := ParseTable(ConsumerGroups(ctx, t, "--describe", "--group", group, "--members"))
			if len(members) != 1 || members[0]["CLIENT-ID"] != clientID || members[0]["#PARTITIONS"] != "2" {
				t.Errorf("members: %v; want one, client id %s, 2 partitions", members, clientID)
			}

			start := time.Now()
			c.Stop(t)
			// Leaving is part of the consumer's shutdown: the group is Empty
			// right away, long before a session timeout (45 s by default).
			waitState(ctx, t, nil, group, "Empty", "0")
			if took := time.Since(start); took > 40*time.Second {
				t.Errorf("the group took %s to become Empty: the consumer did not leave it", took)
			}
		})
	}
}

// waitState polls `--describe --state` until group has the state and member
// count given, failing when c (if any) exits or ctx ends.
func waitState(ctx context.Context, t *testing.T, c *JavaConsumer, group, state, members string) {
	t.Helper()
	var rows []map[string]string
	for {
		rows = ParseTable(ConsumerGroups(ctx, t, "--describe", "--group", group, "--state"))
		if len(rows) == 1 && rows[0]["STATE"] == state && rows[0]["#MEMBERS"] == members {
			return
		}
		if c != nil {
			if err := c.Exited(); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s: state %v, want %s with %s members", group, rows, state, members)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
