package main

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// kafkaClientID is sent with every request, so that broker logs and quotas
// can tell the collector apart.
const kafkaClientID = "lagwatch-collector"

// Transport builds the kafka-go transport for this cluster: dial timeout
// (which covers the TLS handshake and SASL exchange), TLS from the
// configured PEM files and SASL. Errors name the variable at fault and never
// contain the password.
func (c ClusterConfig) Transport(dialTimeout time.Duration) (*kafka.Transport, error) {
	t := &kafka.Transport{
		DialTimeout: dialTimeout,
		ClientID:    kafkaClientID,
	}
	p := c.prefix()
	if c.TLS != nil {
		tc, err := c.TLS.build(p)
		if err != nil {
			return nil, err
		}
		t.TLS = tc
	}
	if c.SASL != nil {
		m, err := c.SASL.mechanism(p)
		if err != nil {
			return nil, err
		}
		t.SASL = m
	}
	return t, nil
}

// GroupFilter returns whether a consumer group is watched: it must match
// GroupAllow (when set) and must not match GroupDeny (when set). Both are
// unanchored: "^orders-" selects ids starting with "orders-", "orders"
// every id containing it.
func (c ClusterConfig) GroupFilter() func(group string) bool {
	allow, deny := c.GroupAllow, c.GroupDeny
	return func(group string) bool {
		if allow != nil && !allow.MatchString(group) {
			return false
		}
		return deny == nil || !deny.MatchString(group)
	}
}

// build reads the PEM files into a *tls.Config. Each error is an
// *envconf.FieldError naming the variable of the file at fault. ServerName
// is left empty: kafka-go sets it to each broker's host.
func (t TLSConfig) build(prefix string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator asked for it by name
	}
	if t.CAFile != "" {
		pool, err := envconf.LoadCAPool(t.CAFile)
		if err != nil {
			return nil, &envconf.FieldError{Var: prefix + "TLS_CA_FILE", Msg: err.Error()}
		}
		tc.RootCAs = pool
	}
	certVar, keyVar := prefix+"TLS_CERT_FILE", prefix+"TLS_KEY_FILE"
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return tc, nil
	case t.KeyFile == "":
		return nil, &envconf.FieldError{Var: keyVar, Msg: "required when " + certVar + " is set"}
	case t.CertFile == "":
		return nil, &envconf.FieldError{Var: certVar, Msg: "required when " + keyVar + " is set"}
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, &envconf.FieldError{Var: certVar, Msg: err.Error()}
	}
	if !hasPEMBlock(certPEM, "CERTIFICATE") {
		return nil, &envconf.FieldError{Var: certVar, Msg: fmt.Sprintf("no PEM certificate in %q", t.CertFile)}
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, &envconf.FieldError{Var: keyVar, Msg: err.Error()}
	}
	// crypto/tls's messages here are fixed strings, never key material.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &envconf.FieldError{Var: keyVar, Msg: fmt.Sprintf("%q with %s %q: %v", t.KeyFile, certVar, t.CertFile, err)}
	}
	tc.Certificates = []tls.Certificate{pair}
	return tc, nil
}

// mechanism builds the SASL mechanism. Errors are *envconf.FieldError values.
func (s SASLConfig) mechanism(prefix string) (sasl.Mechanism, error) {
	var algo scram.Algorithm
	switch s.Mechanism {
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "SCRAM-SHA-256":
		algo = scram.SHA256
	case "SCRAM-SHA-512":
		algo = scram.SHA512
	default:
		return nil, &envconf.FieldError{Var: prefix + "SASL_MECHANISM", Msg: fmt.Sprintf("%q is not supported", s.Mechanism)}
	}
	m, err := scram.Mechanism(algo, s.Username, s.Password)
	if err != nil {
		// SASLprep rejected a character. Its message quotes the value, the
		// password included, so it is not passed on: find which one failed.
		v := prefix + "SASL_PASSWORD"
		if _, uerr := scram.Mechanism(algo, s.Username, ""); uerr != nil {
			v = prefix + "SASL_USERNAME"
		}
		return nil, &envconf.FieldError{Var: v, Msg: "contains characters that SCRAM (SASLprep) does not allow (value not shown)"}
	}
	return m, nil
}

// hasPEMBlock reports whether b holds at least one PEM block of type typ.
func hasPEMBlock(b []byte, typ string) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == typ {
			return true
		}
	}
}
