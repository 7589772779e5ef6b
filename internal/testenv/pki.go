package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA and valid for an hour, plus a key that
// matches neither. The files are PEM, in a directory removed when the test
// ends.
type PKI struct {
	// CAFile holds the CA certificate; ClientCert and ClientKey the client's
	// certificate (common name lagwatch-client) and key; ServerCert and
	// ServerKey the server's (for 127.0.0.1); OtherKey a key of no
	// certificate.
	CAFile, ClientCert, ClientKey, ServerCert, ServerKey, OtherKey string
	// CAPool trusts the CA; Server is the server's certificate and key.
	CAPool *x509.CertPool
	Server tls.Certificate
}

// WritePKI makes a PKI for t.
func WritePKI(t testing.TB) PKI {
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

	var p PKI
	p.CAFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	p.CAPool = x509.NewCertPool()
	p.CAPool.AddCert(caCert)

	clientDER, clientKey := issue(2, "lagwatch-client", x509.ExtKeyUsageClientAuth, nil)
	p.ClientCert = writePEM("client.pem", "CERTIFICATE", clientDER)
	p.ClientKey = writePEM("client-key.pem", "PRIVATE KEY", keyDER(clientKey))
	p.OtherKey = writePEM("other-key.pem", "PRIVATE KEY", keyDER(newKey()))

	serverDER, serverKey := issue(3, "broker", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.Server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	p.ServerCert = writePEM("server.pem", "CERTIFICATE", serverDER)
	p.ServerKey = writePEM("server-key.pem", "PRIVATE KEY", keyDER(serverKey))
	return p
}
