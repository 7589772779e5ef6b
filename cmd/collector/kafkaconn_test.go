package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, plus a key that matches neither.
type testPKI struct {
	caFile, clientCert, clientKey, otherKey string
	caPool                                  *x509.CertPool
	server                                  tls.Certificate
}

func writeTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	now := time.Now()

	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lagwatch test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}

	var p testPKI
	p.caFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(caCert)

	clientDER, clientKey := issue(2, "lagwatch-client", x509.ExtKeyUsageClientAuth, nil)
	p.clientCert = writePEM("client.pem", "CERTIFICATE", clientDER)
	p.clientKey = writePEM("client-key.pem", "PRIVATE KEY", keyDER(clientKey))
	p.otherKey = writePEM("other-key.pem", "PRIVATE KEY", keyDER(newKey()))

	serverDER, serverKey := issue(3, "broker", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	return p
}

// TestTransportTLSHandshake: the tls.Config built from the files verifies a
// server signed by the CA and presents the client certificate, in a real
// handshake on loopback.
func TestTransportTLSHandshake(t *testing.T) {
	pki := writeTestPKI(t)
	c := ClusterConfig{
		Name: "prod", Prefix: "KAFKA_PROD_", Brokers: []string{"127.0.0.1:9093"},
		TLS: &TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey},
	}
	tr, err := c.Transport(7 * time.Second)
	if err != nil {
		t.Fatalf("Transport: %v", err)
	}
	if tr.DialTimeout != 7*time.Second || tr.ClientID != kafkaClientID || tr.SASL != nil {
		t.Errorf("Transport = DialTimeout %v, ClientID %q, SASL %v", tr.DialTimeout, tr.ClientID, tr.SASL)
	}
	if tr.TLS == nil || tr.TLS.ServerName != "" || tr.TLS.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS config = %+v; want one with no ServerName (kafka-go sets it per broker)", tr.TLS)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.caPool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	// The server handshakes every connection and reports the client's name.
	peer := make(chan string, 2)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // listener closed
			}
			tc := conn.(*tls.Conn)
			_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.Handshake(); err != nil {
				peer <- "server handshake: " + err.Error()
			} else {
				peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			tc.Close()
		}
	}()
	dial := func(cfg *tls.Config) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err == nil {
			conn.Close()
		}
		return err
	}

	// As kafka-go does: clone and set ServerName to the broker's host.
	cfg := tr.TLS.Clone()
	cfg.ServerName = "127.0.0.1"
	if err := dial(cfg); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if got := <-peer; got != "lagwatch-client" {
		t.Errorf("server saw client %q, want lagwatch-client", got)
	}

	// Without the CA the same server is not trusted: RootCAs came from the file.
	cfg.RootCAs = nil
	var unknown x509.UnknownAuthorityError
	if err := dial(cfg); !errors.As(err, &unknown) {
		t.Errorf("handshake without the CA file: err = %v, want an unknown authority", err)
	}
	<-peer
}

func TestTransport(t *testing.T) {
	pki := writeTestPKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name     string
		tls      *TLSConfig
		sasl     *SASLConfig
		wantErr  string // prefix of the error ("VAR: ..."), "" for success
		wantSASL string // mechanism name on success
		reason   string
	}{
		{name: "plaintext", reason: "no TLS, no SASL"},
		{name: "tls system roots", tls: &TLSConfig{}, reason: "no files: the system roots"},
		{name: "tls insecure", tls: &TLSConfig{InsecureSkipVerify: true}, reason: "the operator's explicit choice"},
		{name: "plain", sasl: &SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}, wantSASL: "PLAIN", reason: "SASL/PLAIN"},
		{name: "scram 256", sasl: &SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}, wantSASL: "SCRAM-SHA-256", reason: "SCRAM with SHA-256"},
		{name: "scram 512", sasl: &SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}, wantSASL: "SCRAM-SHA-512", reason: "SCRAM with SHA-512"},
		{name: "unknown mechanism", sasl: &SASLConfig{Mechanism: "GSSAPI"}, wantErr: "KAFKA_PROD_SASL_MECHANISM: ", reason: "only the three mechanisms"},
		{name: "scram bad username", sasl: &SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u\x00", Password: "pass-word"}, wantErr: "KAFKA_PROD_SASL_USERNAME: ", reason: "SASLprep rejects NUL"},
		{name: "scram bad password", sasl: &SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "pass\x00word"}, wantErr: "KAFKA_PROD_SASL_PASSWORD: ", reason: "SASLprep rejects NUL"},
		{name: "ca missing", tls: &TLSConfig{CAFile: missing}, wantErr: "KAFKA_PROD_TLS_CA_FILE: open ", reason: "the file must exist"},
		{name: "ca not pem", tls: &TLSConfig{CAFile: notPEM}, wantErr: "KAFKA_PROD_TLS_CA_FILE: no PEM certificates", reason: "the file must hold certificates"},
		{name: "cert without key", tls: &TLSConfig{CertFile: pki.clientCert}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: required", reason: "both or neither"},
		{name: "key without cert", tls: &TLSConfig{KeyFile: pki.clientKey}, wantErr: "KAFKA_PROD_TLS_CERT_FILE: required", reason: "both or neither"},
		{name: "cert missing", tls: &TLSConfig{CertFile: missing, KeyFile: pki.clientKey}, wantErr: "KAFKA_PROD_TLS_CERT_FILE: open ", reason: "the file must exist"},
		{name: "cert is a key", tls: &TLSConfig{CertFile: pki.clientKey, KeyFile: pki.clientKey}, wantErr: "KAFKA_PROD_TLS_CERT_FILE: no PEM certificate", reason: "files swapped"},
		{name: "key missing", tls: &TLSConfig{CertFile: pki.clientCert, KeyFile: missing}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: open ", reason: "the file must exist"},
		{name: "key not pem", tls: &TLSConfig{CertFile: pki.clientCert, KeyFile: notPEM}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: ", reason: "the file must hold a key"},
		{name: "key mismatch", tls: &TLSConfig{CertFile: pki.clientCert, KeyFile: pki.otherKey}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: ", reason: "a key of another certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ClusterConfig{Name: "prod", Prefix: "KAFKA_PROD_", Brokers: []string{"k:9092"}, TLS: tc.tls, SASL: tc.sasl}
			tr, err := c.Transport(time.Second)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("%s: err = %v, want prefix %q", tc.reason, err, tc.wantErr)
				}
				if tc.sasl != nil && tc.sasl.Password != "" && strings.Contains(err.Error(), tc.sasl.Password) {
					t.Errorf("%s: error shows the password: %v", tc.reason, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			if (tr.TLS != nil) != (tc.tls != nil) {
				t.Errorf("%s: TLS = %v, want set: %v", tc.reason, tr.TLS, tc.tls != nil)
			}
			if tc.tls != nil && tr.TLS.InsecureSkipVerify != tc.tls.InsecureSkipVerify {
				t.Errorf("%s: InsecureSkipVerify = %v", tc.reason, tr.TLS.InsecureSkipVerify)
			}
			switch {
			case tc.wantSASL == "" && tr.SASL != nil:
				t.Errorf("%s: SASL = %v, want none", tc.reason, tr.SASL.Name())
			case tc.wantSASL != "" && (tr.SASL == nil || tr.SASL.Name() != tc.wantSASL):
				t.Errorf("%s: SASL = %v, want %s", tc.reason, tr.SASL, tc.wantSASL)
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
