package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestTLSAgainstTheRealBroker takes a tick through the test broker's
// mutual-TLS listener, and checks that a tick fails without a client
// certificate and when the broker's certificate is checked against another
// CA.
func TestTLSAgainstTheRealBroker(t *testing.T) {
	addr, dir := testenv.KafkaTLS(t)
	topic := testenv.CreateTopic(t, "tls", 1)
	testenv.Produce(t, topic, 0, 5)
	group := testenv.Name(t, "tls-group")
	testenv.Commit(t, group, topic, map[int]int64{0: 1})

	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", otherCA+".key",
		"-out", otherCA, "-days", "1", "-subj", "/CN=another-ca").CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	cases := []struct {
		name          string
		ca, cert, key string
		ok            bool
	}{
		{"mutual TLS with the test CA", ca, cert, key, true},
		{"no client certificate: the broker refuses", ca, "", "", false},
		{"the broker's certificate checked against another CA", otherCA, cert, key, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := setCollectorEnv(t, group)
			t.Setenv("KAFKA_BROKERS", addr)
			t.Setenv("KAFKA_TLS_ENABLED", "true")
			t.Setenv("KAFKA_TLS_CA_FILE", tc.ca)
			if tc.cert != "" {
				t.Setenv("KAFKA_TLS_CERT_FILE", tc.cert)
				t.Setenv("KAFKA_TLS_KEY_FILE", tc.key)
			}
			t.Setenv("COLLECTOR_METRICS_ADDR", "")
			t.Setenv("COLLECTOR_TICK_TIMEOUT", "15s")
			t.Setenv("COLLECTOR_KAFKA_TIMEOUT", "5s")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stderr bytes.Buffer
			err := run(ctx, []string{"--once"}, &stderr)
			if !tc.ok {
				if err == nil {
					t.Fatalf("the tick succeeded:\n%s", stderr.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("collector --once over TLS: %v\n%s", err, stderr.String())
			}
			docs := testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+ns)
			if len(docs) != 1 || docs[0].Kafka.Consumergroup.Lag == nil || *docs[0].Kafka.Consumergroup.Lag != 4 {
				t.Errorf("stored %+v, want one document with lag 4", docs)
			}
		})
	}
}
