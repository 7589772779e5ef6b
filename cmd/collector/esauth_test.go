package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// TestSecuredElasticsearch writes to the test node that has security on
// (basic authentication, HTTPS with a certificate of the test CA): with the
// right user, password and CA a tick is stored; with a wrong password, an
// unknown API key or without the CA, the tick fails (its documents wait in
// the spool) and no secret shows in the output.
func TestSecuredElasticsearch(t *testing.T) {
	url, password, ca := testenv.SecureElasticsearch(t)
	group := committedGroup(t, "esauth", map[int]int64{0: 3}, 5)

	cases := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"basic authentication over HTTPS with the CA", map[string]string{
			"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": password, "ELASTICSEARCH_CA_FILE": ca}, true},
		{"wrong password", map[string]string{
			"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "not-" + password, "ELASTICSEARCH_CA_FILE": ca}, false},
		{"unknown API key", map[string]string{
			"ELASTICSEARCH_API_KEY": "bm8tc3VjaC1pZDpuby1zdWNoLWtleQ==", "ELASTICSEARCH_CA_FILE": ca}, false},
		{"without the CA the node's certificate is not trusted", map[string]string{
			"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": password}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := setCollectorEnv(t, group)
			spool := t.TempDir()
			t.Setenv("COLLECTOR_SPOOL_DIR", spool)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			env := map[string]string{"ELASTICSEARCH_URL": url, "COLLECTOR_TICK_TIMEOUT": "10s"}
			maps.Copy(env, tc.env)
			out, err := runOnce(ctx, t, env)
			for _, secret := range []string{tc.env["ELASTICSEARCH_PASSWORD"], tc.env["ELASTICSEARCH_API_KEY"]} {
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("a secret shows in the output:\n%s", out)
				}
			}
			if !tc.ok {
				if err == nil {
					t.Fatalf("the tick succeeded:\n%s", out)
				}
				segs, _ := filepath.Glob(filepath.Join(spool, "*"))
				if len(segs) == 0 {
					t.Errorf("nothing in the spool: the tick's documents are lost")
				}
				return
			}
			if err != nil {
				t.Fatalf("collector --once: %v\n%s", err, out)
			}
			if n := countSecure(t, url, password, ca, "metrics-lagwatch.offsets-"+ns); n != 1 {
				t.Errorf("%d offsets documents on the secured node, want 1", n)
			}
		})
	}
}

func countSecure(t *testing.T, url, password, ca, index string) int {
	t.Helper()
	es, err := esindex.NewClient(esindex.ConnConfig{URLs: []string{url}, Username: "elastic", Password: password, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index)); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	res, err := es.Count(es.Count.WithIndex(index))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out struct {
		Count int `json:"count"`
	}
	if res.IsError() || json.Unmarshal(body, &out) != nil {
		t.Fatalf("count %s: %s", index, body)
	}
	return out.Count
}
