package esindex

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

const secret = "s3cr3t-value"

func TestNewClientValidation(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodKey := base64.StdEncoding.EncodeToString([]byte("id1:" + secret))
	tests := []struct {
		name    string
		c       ConnConfig
		wantErr string // substring naming the field; "" means valid
	}{
		{"one plain URL is enough", ConnConfig{URLs: []string{"http://127.0.0.1:9200"}}, ""},
		{"basic auth over https", ConnConfig{URLs: []string{"https://es:9200/"}, Username: "u", Password: secret}, ""},
		{"an API key wins over basic auth", ConnConfig{URLs: []string{"https://es:9200"}, APIKey: goodKey, Username: "u"}, ""},
		{"no URL", ConnConfig{}, "ConnConfig.URLs"},
		{"second URL bad scheme", ConnConfig{URLs: []string{"http://a:9200", "ftp://b"}}, "ConnConfig.URLs[1]"},
		{"URL without host", ConnConfig{URLs: []string{"http://"}}, "ConnConfig.URLs[0]: no host"},
		{"credentials in a URL are refused and not echoed", ConnConfig{URLs: []string{"http://u:" + secret + "@es:9200"}}, "ConnConfig.URLs[0]: credentials"},
		{"an unparsable URL is not echoed", ConnConfig{URLs: []string{"http://u:" + secret + "@es:9200/%zz"}}, "ConnConfig.URLs[0]"},
		{"username without password", ConnConfig{URLs: []string{"http://es"}, Username: "u"}, "ConnConfig.Password"},
		{"password without username", ConnConfig{URLs: []string{"http://es"}, Password: secret}, "ConnConfig.Username"},
		{"API key not base64", ConnConfig{URLs: []string{"http://es"}, APIKey: secret + "!"}, "ConnConfig.APIKey"},
		{"API key without a colon", ConnConfig{URLs: []string{"http://es"}, APIKey: base64.StdEncoding.EncodeToString([]byte(secret))}, "ConnConfig.APIKey"},
		{"missing CA file", ConnConfig{URLs: []string{"https://es"}, CAFile: filepath.Join(dir, "none.pem")}, "ConnConfig.CAFile"},
		{"CA file without a certificate", ConnConfig{URLs: []string{"https://es"}, CAFile: notPEM}, "ConnConfig.CAFile"},
		{"a PEM CA file", ConnConfig{URLs: []string{"https://es"}, CAFile: testenv.WritePKI(t).CAFile}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, err := NewClient(tc.c)
			if tc.wantErr == "" {
				if err != nil || es == nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewClient = %v, want an error containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error reveals a secret: %v", err)
			}
		})
	}
}

// TestNewClientAuthHeader sends a request through a forwarder to the real
// node (whose security is off, so it ignores credentials) and checks what
// credentials the client put on the wire: the API key, not basic auth, when
// both are configured.
func TestNewClientAuthHeader(t *testing.T) {
	target, err := url.Parse(testenv.Elasticsearch(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var auth []string
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	key := base64.StdEncoding.EncodeToString([]byte("id1:" + secret))
	for _, tc := range []struct {
		name string
		c    ConnConfig
		want string
	}{
		{"API key wins", ConnConfig{URLs: []string{srv.URL}, APIKey: key, Username: "u", Password: "p"}, "ApiKey " + key},
		{"basic auth", ConnConfig{URLs: []string{srv.URL}, Username: "u", Password: "p"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))},
		{"nothing", ConnConfig{URLs: []string{srv.URL}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			auth = nil
			mu.Unlock()
			es, err := NewClient(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			res, err := es.Cluster.Health(es.Cluster.Health.WithContext(ctxT(t)))
			if err != nil {
				t.Fatalf("cluster health through the forwarder: %v", err)
			}
			testenv.MustOK(t, res.StatusCode, res.Body, "cluster health")
			mu.Lock()
			defer mu.Unlock()
			if len(auth) != 1 || !strings.EqualFold(auth[0], tc.want) {
				t.Errorf("Authorization headers %q, want [%q]", auth, tc.want)
			}
		})
	}
}
