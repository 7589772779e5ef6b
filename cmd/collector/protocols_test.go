package main

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// typedGroup is the part of a group document this test reads.
type typedGroup struct {
	Kafka struct {
		Consumergroup struct {
			ID           string `json:"id"`
			Type         string `json:"type"`
			State        string `json:"state"`
			ProtocolType string `json:"protocol_type"`
		} `json:"consumergroup"`
	} `json:"kafka"`
	Lagwatch struct {
		Group struct {
			Members    int `json:"members"`
			Partitions int `json:"partitions"`
		} `json:"group"`
	} `json:"lagwatch"`
}

// TestOnceStoresGroupTypes runs `collector --once` with a group of Kafka's
// Java consumer on the consumer protocol (KIP-848) and a classic group that
// only holds commits, and checks what lands in Elasticsearch: each group's
// type and state, the consumer-protocol member owning its partitions, lags
// as Kafka's consumer-groups tool reports them; through each of the test
// broker's listeners.
func TestOnceStoresGroupTypes(t *testing.T) {
	topic := testenv.CreateFilledTopic(t, "coll-types", 15, 25)
	classic := testenv.Name(t, "coll-classic")
	testenv.Commit(t, classic, topic, map[int]int64{0: 5, 1: 25})
	consumer := testenv.Name(t, "coll-consumer")
	testenv.DeleteGroupOnCleanup(t, consumer)
	clientID := testenv.Name(t, "client")
	jc := testenv.StartJavaConsumer(t, testenv.JavaConsumerOptions{
		Topic: topic, Group: consumer, Protocol: "consumer", ClientID: clientID, FromBeginning: true,
		Properties: map[string]string{"auto.commit.interval.ms": "200"},
	})

	// Wait until Kafka's tool shows the consumer caught up: every message
	// read and committed, so that the tool and the collector read the same.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rows []testenv.DescribeRow
	for {
		var err error
		rows, err = testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, "--describe", "--group", consumer, "--group", classic))
		if err != nil {
			t.Fatal(err)
		}
		caught := 0
		for _, r := range rows {
			if r.Group == consumer && r.Lag == 0 && r.ConsumerID != "-" {
				caught++
			}
		}
		if caught == 2 && len(rows) == 4 {
			break
		}
		if err := jc.Exited(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the consumer did not catch up: %+v", rows)
		case <-time.After(500 * time.Millisecond):
		}
	}

	// ConsumerGroupDescribe rides on the transport's own connections: once
	// in plain text, once through mutual TLS, once after SASL.
	tlsAddr, tlsDir := testenv.KafkaTLS(t)
	listeners := []struct {
		name string
		env  map[string]string
	}{
		{"plaintext", nil},
		{"mutual TLS", map[string]string{"KAFKA_BROKERS": tlsAddr, "KAFKA_TLS_ENABLED": "true",
			"KAFKA_TLS_CA_FILE": filepath.Join(tlsDir, "ca.pem"), "KAFKA_TLS_CERT_FILE": filepath.Join(tlsDir, "client.pem"),
			"KAFKA_TLS_KEY_FILE": filepath.Join(tlsDir, "client.key")}},
		{"SASL PLAIN", map[string]string{"KAFKA_BROKERS": testenv.KafkaSASL(t), "KAFKA_SASL_MECHANISM": "PLAIN",
			"KAFKA_SASL_USERNAME": testenv.SASLPlainUser, "KAFKA_SASL_PASSWORD": testenv.SASLPlainPassword}},
	}
	for _, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			ns := setCollectorEnv(t, classic, consumer)
			env := map[string]string{"COLLECTOR_TICK_TIMEOUT": "15s", "COLLECTOR_KAFKA_TIMEOUT": "5s"}
			maps.Copy(env, l.env)
			if out, err := runOnce(ctx, t, env); err != nil {
				t.Fatalf("collector --once: %v\n%s", err, out)
			}

			groups := map[string]typedGroup{}
			for _, g := range testenv.SearchAll[typedGroup](t, "metrics-lagwatch.groups-"+ns) {
				groups[g.Kafka.Consumergroup.ID] = g
			}
			for id, want := range map[string]struct {
				typ, state string
				members    int
			}{classic: {"classic", "Empty", 0}, consumer: {"consumer", "Stable", 1}} {
				g, ok := groups[id]
				cg := g.Kafka.Consumergroup
				if !ok || cg.Type != want.typ || cg.State != want.state || g.Lagwatch.Group.Members != want.members || g.Lagwatch.Group.Partitions != 2 {
					t.Errorf("group document of %s: %+v; want type %s, state %s, %d members, 2 partitions", id, g, want.typ, want.state, want.members)
				}
			}

			forEachRow(t, rows, testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+ns), func(key string, row testenv.DescribeRow, d storedOffsets) {
				cg := d.Kafka.Consumergroup
				lag, member := int64(-1), "-"
				if cg.Lag != nil {
					lag = *cg.Lag
				}
				if cg.Client != nil {
					member = cg.Client.MemberID
					if cg.Client.ID != clientID || cg.Client.Host != "/127.0.0.1" {
						t.Errorf("%s: owner %+v; want client id %s on /127.0.0.1", key, *cg.Client, clientID)
					}
				}
				wantType := map[string]string{classic: "classic", consumer: "consumer"}[row.Group]
				if lag != row.Lag || member != row.ConsumerID || cg.Type != wantType {
					t.Errorf("%s: stored lag %d, owner %s, type %q; tool %d, %s; want type %s", key, lag, member, cg.Type, row.Lag, row.ConsumerID, wantType)
				}
			})
		})
	}
}
