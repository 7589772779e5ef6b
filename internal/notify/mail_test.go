package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestMailStartTLS delivers through the real SMTP server with STARTTLS,
// verified by the test CA and logged in, and checks that a server
// certificate the sink cannot verify fails the delivery rather than going
// on unencrypted.
func TestMailStartTLS(t *testing.T) {
	addr, _ := testenv.SMTP(t)
	pem, err := os.ReadFile(testenv.SMTPCA(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the test CA file")
	}
	m := &Mail{Addr: addr, TLS: MailStartTLS, TLSConfig: &tls.Config{RootCAs: pool}, Username: "u", Password: "p",
		From: "lagwatch@example.com", To: []string{"oncall@example.com"},
		Subject: MustParse("s", MailSubjectTemplate), Body: MustParse("b", MailBodyTemplate), Timeout: 10 * time.Second}
	a := Alert{Kind: Open, Cluster: "c", Group: testenv.Name(t, "tls"), Status: "ERR", At: time.Now(), TimeLagSeconds: -1}
	if err := m.Send(context.Background(), a); err != nil {
		t.Fatalf("STARTTLS with the test CA: %v", err)
	}
	m.TLSConfig = nil // the system's roots do not know the test CA
	err = m.Send(context.Background(), a)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("STARTTLS with an unverifiable certificate: %v, want a STARTTLS error", err)
	}
	m.TLS = MailTLS // the server speaks plain SMTP first
	if err := m.Send(context.Background(), a); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("implicit TLS to a plain SMTP port: %v, want a TLS error", err)
	}
}
