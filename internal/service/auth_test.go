package service

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestCredentialsAllows: each way a request may or may not carry the
// credentials.
func TestCredentialsAllows(t *testing.T) {
	token := Credentials{Token: "s3cret-token"}
	basic := Credentials{Username: "telegraf", Password: "pa55"}
	both := Credentials{Token: "s3cret-token", Username: "telegraf", Password: "pa55"}
	bearer := func(v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Authorization", v) } }
	userPass := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	cases := []struct {
		name   string
		creds  Credentials
		set    func(*http.Request)
		want   bool
		reason string
	}{
		{"none set", Credentials{}, nil, true, "the zero value is open"},
		{"token", token, bearer("Bearer s3cret-token"), true, "the token"},
		{"token, scheme in lower case", token, bearer("bearer s3cret-token"), true, "RFC 6750: the scheme is case-insensitive"},
		{"no header", token, nil, false, "nothing presented"},
		{"wrong token", token, bearer("Bearer s3cret-tokeN"), false, "one character off"},
		{"token prefix", token, bearer("Bearer s3cret"), false, "a prefix is not the token"},
		{"token as basic", token, userPass("s3cret-token", ""), false, "another scheme"},
		{"empty bearer", token, bearer("Bearer "), false, "an empty token"},
		{"basic", basic, userPass("telegraf", "pa55"), true, "user and password"},
		{"basic, wrong password", basic, userPass("telegraf", "pa56"), false, "password off"},
		{"basic, wrong user", basic, userPass("telegraF", "pa55"), false, "user off"},
		{"basic given a token", basic, bearer("Bearer pa55"), false, "no token is set"},
		{"both set, token", both, bearer("Bearer s3cret-token"), true, "either is enough"},
		{"both set, basic", both, userPass("telegraf", "pa55"), true, "either is enough"},
		{"both set, neither", both, userPass("telegraf", "s3cret-token"), false, "the token is not a password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v3/kafka", nil)
			if tc.set != nil {
				tc.set(r)
			}
			if got := tc.creds.Allows(r); got != tc.want {
				t.Errorf("Allows = %v, want %v: %s", got, tc.want, tc.reason)
			}
		})
	}
	if got := both.Challenge(); got != `Bearer realm="lagwatch", Basic realm="lagwatch", charset="UTF-8"` {
		t.Errorf("Challenge = %q", got)
	}
}

// TestListenTLS: with a certificate the listener speaks HTTPS only; with a
// client CA, a client without a certificate of that CA fails the
// handshake; /metrics asks for its credentials, /healthz for none.
func TestListenTLS(t *testing.T) {
	pki := testenv.WritePKI(t)
	clientCert, err := tls.LoadX509KeyPair(pki.ClientCert, pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pki.CAPool, Certificates: certs, MinVersion: tls.VersionTLS12}}}
	}
	get := func(t *testing.T, c *http.Client, url string, creds *Credentials) (int, string, error) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if creds != nil {
			req.SetBasicAuth(creds.Username, string(creds.Password))
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	metrics := Credentials{Username: "prometheus", Password: "scrape"}

	t.Run("server certificate", func(t *testing.T) {
		s, err := ListenWith("127.0.0.1:0", "TEST_HTTP_ADDR", NewRegistry(), &LastRun{}, nil,
			ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{pki.Server}, MinVersion: tls.VersionTLS12}, Metrics: metrics}, discard())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		base := "https://" + s.Addr().String()
		if code, body, err := get(t, client(), base+"/healthz", nil); err != nil || code != 200 || body != "ok\n" {
			t.Errorf("/healthz over TLS: %d %q %v", code, body, err)
		}
		if code, _, err := get(t, client(), base+"/metrics", nil); err != nil || code != 401 {
			t.Errorf("/metrics without credentials: %d %v, want 401", code, err)
		}
		if code, body, err := get(t, client(), base+"/metrics", &metrics); err != nil || code != 200 || !strings.Contains(body, "go_goroutines") {
			t.Errorf("/metrics with credentials: %d %v", code, err)
		}
		// Plain HTTP to a TLS port: Go answers 400, never the content.
		if code, body, err := get(t, http.DefaultClient, "http://"+s.Addr().String()+"/healthz", nil); err == nil && (code != 400 || body == "ok\n") {
			t.Errorf("plain HTTP to the TLS listener: %d %q", code, body)
		}
	})
	t.Run("mutual TLS", func(t *testing.T) {
		s, err := ListenWith("127.0.0.1:0", "TEST_HTTP_ADDR", NewRegistry(), &LastRun{}, nil, ServerOptions{TLS: &tls.Config{
			Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.CAPool, ClientAuth: tls.RequireAndVerifyClientCert,
			MinVersion: tls.VersionTLS12}}, discard())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		base := "https://" + s.Addr().String()
		if code, _, err := get(t, client(), base+"/healthz", nil); err == nil {
			t.Errorf("no client certificate: %d, want a failed handshake", code)
		}
		if code, body, err := get(t, client(clientCert), base+"/healthz", nil); err != nil || code != 200 || body != "ok\n" {
			t.Errorf("with the client certificate: %d %q %v", code, body, err)
		}
	})
}
