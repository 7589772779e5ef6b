package main

import (
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
	group := committedGroup(t, "tls", map[int]int64{0: 1}, 5)

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
			env := map[string]string{"KAFKA_BROKERS": addr, "KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": tc.ca,
				"COLLECTOR_TICK_TIMEOUT": "15s", "COLLECTOR_KAFKA_TIMEOUT": "5s"}
			if tc.cert != "" {
				env["KAFKA_TLS_CERT_FILE"], env["KAFKA_TLS_KEY_FILE"] = tc.cert, tc.key
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := runOnce(ctx, t, env)
			switch {
			case !tc.ok && err == nil:
				t.Fatalf("the tick succeeded:\n%s", out)
			case tc.ok && err != nil:
				t.Fatalf("collector --once over TLS: %v\n%s", err, out)
			case tc.ok:
				wantOneLag(t, ns, 4)
			}
		})
	}
}
