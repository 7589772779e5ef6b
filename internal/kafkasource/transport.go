package kafkasource

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// DefaultClientID is sent with every request when Cluster.ClientID is empty,
// so that broker logs and quotas can tell the collector apart.
const DefaultClientID = "lagwatch-collector"

// TLSFiles are the PEM files of a TLS connection. Every field may be empty:
// no CAFile trusts the system roots, no CertFile and KeyFile (both or
// neither) presents no client certificate.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
	// InsecureSkipVerify accepts any broker certificate; only for an
	// operator who asked for it by name.
	InsecureSkipVerify bool
}

// SASL is the authentication of a connection.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (upper case).
	Mechanism          string
	Username, Password string
}

// transport builds the kafka-go transport for c: dial timeout (which covers
// the TLS handshake and SASL exchange), client id, TLS from the PEM files
// and SASL. Requests are not counted yet: see countRequests.
func transport(c Cluster) (*kafka.Transport, error) {
	t := &kafka.Transport{
		DialTimeout: c.DialTimeout,
		ClientID:    c.ClientID,
	}
	if t.ClientID == "" {
		t.ClientID = DefaultClientID
	}
	if c.TLS != nil {
		tc, err := c.TLS.Config(c.VarPrefix)
		if err != nil {
			return nil, err
		}
		t.TLS = tc
	}
	if c.SASL != nil {
		m, err := c.SASL.mechanism(c.VarPrefix)
		if err != nil {
			return nil, err
		}
		t.SASL = m
	}
	return t, nil
}

// Config reads the PEM files into a *tls.Config. Each error is an
// *envconf.FieldError naming the variable of the file at fault, varPrefix
// followed by TLS_CA_FILE, TLS_CERT_FILE or TLS_KEY_FILE. ServerName is left
// empty: the dial sets it to each broker's host.
func (t TLSFiles) Config(varPrefix string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator asked for it by name
	}
	if t.CAFile != "" {
		pool, err := envconf.LoadCAPool(t.CAFile)
		if err != nil {
			return nil, &envconf.FieldError{Var: varPrefix + "TLS_CA_FILE", Msg: err.Error()}
		}
		tc.RootCAs = pool
	}
	pair, err := envconf.LoadKeyPair(t.CertFile, t.KeyFile, varPrefix+"TLS_CERT_FILE", varPrefix+"TLS_KEY_FILE")
	if err != nil {
		return nil, err
	}
	if pair != nil {
		tc.Certificates = []tls.Certificate{*pair}
	}
	return tc, nil
}

// Check reports what New would say of these settings: an unknown
// mechanism, or a username or password that SCRAM's SASLprep refuses. Each
// error is an *envconf.FieldError naming the variable at fault, varPrefix
// followed by SASL_MECHANISM, SASL_USERNAME or SASL_PASSWORD; none contains
// the password. An empty username or password is not checked here.
func (s SASL) Check(varPrefix string) error {
	_, err := s.mechanism(varPrefix)
	return err
}

// mechanism builds the SASL mechanism. Errors are as Check's.
func (s SASL) mechanism(varPrefix string) (sasl.Mechanism, error) {
	var algo scram.Algorithm
	switch s.Mechanism {
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "SCRAM-SHA-256":
		algo = scram.SHA256
	case "SCRAM-SHA-512":
		algo = scram.SHA512
	default:
		return nil, &envconf.FieldError{Var: varPrefix + "SASL_MECHANISM", Msg: fmt.Sprintf("%q is not supported", s.Mechanism)}
	}
	m, err := scram.Mechanism(algo, s.Username, s.Password)
	if err != nil {
		// SASLprep rejected a character. Its message quotes the value, the
		// password included, so it is not passed on: find which one failed.
		v := varPrefix + "SASL_PASSWORD"
		if _, uerr := scram.Mechanism(algo, s.Username, ""); uerr != nil {
			v = varPrefix + "SASL_USERNAME"
		}
		return nil, &envconf.FieldError{Var: v, Msg: "contains characters that SCRAM (SASLprep) does not allow (value not shown)"}
	}
	return m, nil
}

// countRequests makes the transport's connections count the requests they
// carry. TLS moves into the dial function so that the counter reads the
// plain protocol bytes.
func countRequests(tr *kafka.Transport, counter *requestCounter) {
	dial := tr.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: tr.DialTimeout}
		dial = d.DialContext
	}
	if tlsCfg := tr.TLS; tlsCfg != nil {
		tr.TLS = nil
		plain := dial
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialTLS(ctx, plain, tlsCfg, network, addr)
		}
	}
	tr.Dial = counter.Dial(dial)
}

// dialTLS dials the plain connection and does the TLS handshake on it,
// checking the broker's certificate against its host unless cfg names a
// server.
func dialTLS(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), cfg *tls.Config, network, addr string) (net.Conn, error) {
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := cfg.Clone()
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		tc.ServerName = host
	}
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return conn, nil
}
