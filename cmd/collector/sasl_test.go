package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
	"github.com/xdg-go/pbkdf2"
)

// createScramUser makes a SCRAM user on the test broker through Kafka's admin
// API (AlterUserScramCredentials), deleted when the test ends.
func createScramUser(t *testing.T, mech kafka.ScramMechanism, user, password string) {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	const iterations = 4096
	h, size := sha256.New, 32
	if mech == kafka.ScramMechanismSha512 {
		h, size = func() hash.Hash { return sha512.New() }, 64
	}
	salted := pbkdf2.Key([]byte(password), salt, iterations, size, h)
	c := testenv.KafkaClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
		Upsertions: []kafka.UserScramCredentialsUpsertion{{Name: user, Mechanism: mech, Iterations: iterations, Salt: salt, SaltedPassword: salted}},
	})
	if err == nil {
		for _, r := range res.Results {
			err = r.Error
		}
	}
	if err != nil {
		t.Fatalf("create SCRAM user %s: %v", user, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
			Deletions: []kafka.UserScramCredentialsDeletion{{Name: user, Mechanism: mech}},
		})
	})
}

// TestSASLAgainstTheRealBroker takes a tick through the test broker's SASL
// listener with each mechanism, and checks that a wrong password fails the
// tick without the password showing anywhere in the output.
func TestSASLAgainstTheRealBroker(t *testing.T) {
	sasl := testenv.KafkaSASL(t)
	group := committedGroup(t, "sasl", map[int]int64{0: 2}, 5)

	scramUser := testenv.Name(t, "scram")
	createScramUser(t, kafka.ScramMechanismSha256, scramUser, "sha256-secret")
	createScramUser(t, kafka.ScramMechanismSha512, scramUser, "sha512-secret")

	cases := []struct {
		name, mechanism, user, password string
		ok                              bool
	}{
		{"PLAIN", "PLAIN", testenv.SASLPlainUser, testenv.SASLPlainPassword, true},
		{"SCRAM-SHA-256", "SCRAM-SHA-256", scramUser, "sha256-secret", true},
		{"SCRAM-SHA-512, lower case as configured", "scram-sha-512", scramUser, "sha512-secret", true},
		{"PLAIN with a wrong password fails the tick", "PLAIN", testenv.SASLPlainUser, "not-the-password", false},
		{"SCRAM-SHA-256 with a wrong password fails the tick", "SCRAM-SHA-256", scramUser, "wrong-sha256-secret", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := setCollectorEnv(t, group)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := runOnce(ctx, t, map[string]string{"KAFKA_BROKERS": sasl, "KAFKA_SASL_MECHANISM": tc.mechanism,
				"KAFKA_SASL_USERNAME": tc.user, "KAFKA_SASL_PASSWORD": tc.password,
				"COLLECTOR_TICK_TIMEOUT": "15s", "COLLECTOR_KAFKA_TIMEOUT": "5s"})
			if strings.Contains(out, tc.password) {
				t.Errorf("the password shows in the collector's output:\n%s", out)
			}
			switch {
			case !tc.ok && err == nil:
				t.Fatalf("a wrong password gave a successful tick:\n%s", out)
			case tc.ok && err != nil:
				t.Fatalf("collector --once over %s: %v\n%s", tc.mechanism, err, out)
			case tc.ok:
				wantOneLag(t, ns, 3)
			}
		})
	}
}
