package kafkasource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// TestTransportTLSHandshake: the tls.Config built from the files verifies a
// server signed by the CA and presents the client certificate, in a real
// handshake on loopback.
func TestTransportTLSHandshake(t *testing.T) {
	pki := testenv.WritePKI(t)
	c := Cluster{
		Name: "prod", VarPrefix: "KAFKA_PROD_", Brokers: []string{"127.0.0.1:9093"}, DialTimeout: 7 * time.Second,
		TLS: &TLSFiles{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey},
	}
	tr, err := transport(c)
	if err != nil {
		t.Fatalf("Transport: %v", err)
	}
	if tr.DialTimeout != 7*time.Second || tr.ClientID != DefaultClientID || tr.SASL != nil {
		t.Errorf("Transport = DialTimeout %v, ClientID %q, SASL %v", tr.DialTimeout, tr.ClientID, tr.SASL)
	}
	if tr.TLS == nil || tr.TLS.ServerName != "" || tr.TLS.MinVersion != tls.VersionTLS12 {
		t.Fatalf("TLS config = %+v; want one with no ServerName (kafka-go sets it per broker)", tr.TLS)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.CAPool,
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

	// New moves TLS into the dial function, under the request counter: the
	// transport's own TLS option is off, and its Dial does the handshake
	// with ServerName set to the broker's host.
	src, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer src.Close()
	ktr := src.transport.(*kafka.Transport)
	if ktr.TLS != nil || ktr.Dial == nil {
		t.Fatalf("New's transport: TLS %v, Dial set %v; want TLS in the dial function", ktr.TLS, ktr.Dial != nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := ktr.Dial(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial through New's transport: %v", err)
	}
	if got := <-peer; got != "lagwatch-client" {
		t.Errorf("server saw client %q through New's transport, want lagwatch-client", got)
	}
	// One size-prefixed frame written: one request counted.
	before := src.counter.Count()
	_, _ = conn.Write([]byte{0, 0, 0, 0})
	conn.Close()
	if got := src.counter.Count() - before; got != 1 {
		t.Errorf("counted %d requests for one frame, want 1", got)
	}
}

func TestTransport(t *testing.T) {
	pki := testenv.WritePKI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name     string
		tls      *TLSFiles
		sasl     *SASL
		wantErr  string // prefix of the error ("VAR: ..."), "" for success
		wantSASL string // mechanism name on success
		reason   string
	}{
		{name: "plaintext", reason: "no TLS, no SASL"},
		{name: "tls system roots", tls: &TLSFiles{}, reason: "no files: the system roots"},
		{name: "tls insecure", tls: &TLSFiles{InsecureSkipVerify: true}, reason: "the operator's explicit choice"},
		{name: "plain", sasl: &SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}, wantSASL: "PLAIN", reason: "SASL/PLAIN"},
		{name: "scram 256", sasl: &SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}, wantSASL: "SCRAM-SHA-256", reason: "SCRAM with SHA-256"},
		{name: "scram 512", sasl: &SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}, wantSASL: "SCRAM-SHA-512", reason: "SCRAM with SHA-512"},
		{name: "unknown mechanism", sasl: &SASL{Mechanism: "GSSAPI"}, wantErr: "KAFKA_PROD_SASL_MECHANISM: ", reason: "only the three mechanisms"},
		{name: "scram bad username", sasl: &SASL{Mechanism: "SCRAM-SHA-256", Username: "u\x00", Password: "pass-word"}, wantErr: "KAFKA_PROD_SASL_USERNAME: ", reason: "SASLprep rejects NUL"},
		{name: "scram bad password", sasl: &SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "pass\x00word"}, wantErr: "KAFKA_PROD_SASL_PASSWORD: ", reason: "SASLprep rejects NUL"},
		{name: "ca missing", tls: &TLSFiles{CAFile: missing}, wantErr: "KAFKA_PROD_TLS_CA_FILE: open ", reason: "the file must exist"},
		{name: "ca not pem", tls: &TLSFiles{CAFile: notPEM}, wantErr: "KAFKA_PROD_TLS_CA_FILE: no PEM certificates", reason: "the file must hold certificates"},
		{name: "cert without key", tls: &TLSFiles{CertFile: pki.ClientCert}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: required", reason: "both or neither"},
		{name: "key without cert", tls: &TLSFiles{KeyFile: pki.ClientKey}, wantErr: "KAFKA_PROD_TLS_CERT_FILE: required", reason: "both or neither"},
		{name: "cert missing", tls: &TLSFiles{CertFile: missing, KeyFile: pki.ClientKey}, wantErr: "KAFKA_PROD_TLS_CERT_FILE: open ", reason: "the file must exist"},
		{name: "cert is a key", tls: &TLSFiles{CertFile: pki.ClientKey, KeyFile: pki.ClientKey}, wantErr: "KAFKA_PROD_TLS_CERT_FILE: no PEM certificate", reason: "files swapped"},
		{name: "key missing", tls: &TLSFiles{CertFile: pki.ClientCert, KeyFile: missing}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: open ", reason: "the file must exist"},
		{name: "key not pem", tls: &TLSFiles{CertFile: pki.ClientCert, KeyFile: notPEM}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: ", reason: "the file must hold a key"},
		{name: "key mismatch", tls: &TLSFiles{CertFile: pki.ClientCert, KeyFile: pki.OtherKey}, wantErr: "KAFKA_PROD_TLS_KEY_FILE: ", reason: "a key of another certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Cluster{Name: "prod", VarPrefix: "KAFKA_PROD_", Brokers: []string{"k:9092"}, DialTimeout: time.Second, TLS: tc.tls, SASL: tc.sasl}
			tr, err := transport(c)
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
