package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/kafkasource"
	"github.com/lagwatch/lagwatch/internal/testenv"
)

// testPKI names the files of testenv.WritePKI for the configuration tests.
type testPKI struct {
	caFile, clientCert, clientKey, otherKey string
}

func writeTestPKI(t *testing.T) testPKI {
	t.Helper()
	p := testenv.WritePKI(t)
	return testPKI{caFile: p.CAFile, clientCert: p.ClientCert, clientKey: p.ClientKey, otherKey: p.OtherKey}
}

// TestSource: every setting of a cluster reaches kafkasource, and its errors
// name the variable of this cluster's prefix. kafkasource's own tests cover
// each TLS and SASL error.
func TestSource(t *testing.T) {
	pki := writeTestPKI(t)
	c := ClusterConfig{
		Name: "prod", Prefix: "KAFKA_PROD_", Brokers: []string{"p1:9092", "p2:9092"},
		TLS:        &TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, InsecureSkipVerify: true},
		SASL:       &SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"},
		GroupAllow: regexp.MustCompile("^orders-"),
	}
	got := c.source(7*time.Second, 4*time.Second, 3)
	if got.Name != "prod" || strings.Join(got.Brokers, ",") != "p1:9092,p2:9092" || got.VarPrefix != "KAFKA_PROD_" ||
		got.DialTimeout != 7*time.Second || got.RequestTimeout != 4*time.Second || got.Concurrency != 3 || got.ClientID != "" {
		t.Errorf("source = %+v", got)
	}
	if got.TLS == nil || *got.TLS != (kafkasource.TLSFiles{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, InsecureSkipVerify: true}) {
		t.Errorf("TLS = %+v", got.TLS)
	}
	if got.SASL == nil || *got.SASL != (kafkasource.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}) {
		t.Errorf("SASL = %+v", got.SASL)
	}
	if got.Filter == nil || !got.Filter("orders-eu") || got.Filter("payments") {
		t.Error("the group filter did not come along")
	}
	src, err := kafkasource.New(got)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	src.Close()

	plain := ClusterConfig{Name: "default", Brokers: []string{"k:9092"}}.source(time.Second, time.Second, 1)
	if plain.TLS != nil || plain.SASL != nil || plain.VarPrefix != "KAFKA_" {
		t.Errorf("plaintext cluster = %+v; want no TLS, no SASL, prefix KAFKA_", plain)
	}

	cases := []struct {
		name    string
		tls     *TLSConfig
		sasl    *SASLConfig
		wantVar string
		reason  string
	}{
		{"missing CA file", &TLSConfig{CAFile: filepath.Join(t.TempDir(), "missing.pem")}, nil, "KAFKA_PROD_TLS_CA_FILE", "the file must exist"},
		{"bad SCRAM password", nil, &SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "pass\x00word"}, "KAFKA_PROD_SASL_PASSWORD", "SASLprep rejects NUL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ClusterConfig{Name: "prod", Prefix: "KAFKA_PROD_", Brokers: []string{"k:9092"}, TLS: tc.tls, SASL: tc.sasl}
			_, err := kafkasource.New(c.source(time.Second, time.Second, 1))
			var fe *envconf.FieldError
			if !errors.As(err, &fe) || fe.Var != tc.wantVar || !strings.HasPrefix(err.Error(), tc.wantVar+": ") {
				t.Fatalf("%s: err = %v, want a field error on %s", tc.reason, err, tc.wantVar)
			}
			if tc.sasl != nil && strings.Contains(err.Error(), tc.sasl.Password) {
				t.Errorf("%s: error shows the password: %v", tc.reason, err)
			}
		})
	}
}

func TestGroupFilter(t *testing.T) {
	re := regexp.MustCompile
	cases := []struct {
		name        string
		allow, deny *regexp.Regexp
		group       string
		want        bool
		reason      string
	}{
		{"no filters", nil, nil, "anything", true, "nothing set watches every group"},
		{"allowed", re("^orders-"), nil, "orders-eu", true, "matches allow"},
		{"not allowed", re("^orders-"), nil, "payments", false, "allow set and not matched"},
		{"unanchored", re("orders"), nil, "old-orders-v1", true, "patterns match anywhere unless anchored"},
		{"denied", nil, re("^console-consumer-"), "console-consumer-123", false, "matches deny"},
		{"not denied", nil, re("^console-consumer-"), "orders", true, "deny set and not matched"},
		{"deny wins", re("^orders-"), re("-test$"), "orders-test", false, "allowed, then denied"},
		{"allow then deny passes", re("^orders-"), re("-test$"), "orders-prod", true, "allowed and not denied"},
		{"empty group id", re("^orders-"), nil, "", false, "an empty id does not match a non-empty pattern"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := ClusterConfig{GroupAllow: tc.allow, GroupDeny: tc.deny}.GroupFilter()
			if got := f(tc.group); got != tc.want {
				t.Errorf("%s: filter(%q) = %v, want %v", tc.reason, tc.group, got, tc.want)
			}
		})
	}
}
