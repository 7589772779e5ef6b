package testenv

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// ESClient returns a go-elasticsearch client for the test node.
func ESClient(t testing.TB) *elasticsearch.Client {
	t.Helper()
	u := Elasticsearch(t)
	c, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{u}})
	if err != nil {
		t.Fatalf("elasticsearch client: %v", err)
	}
	return c
}

var warnDataStreamDelete sync.Once

// DeleteDataStreamsOnCleanup removes, when the test ends, the data streams
// matching pattern (for example "lagwatch-test-1a2b3c4d-*") and the index
// templates named in templates.
//
// The integ-test distribution of Elasticsearch that scripts/testenv runs has
// no data-streams module, so `DELETE /_data_stream` is not there: on such a
// node the data streams and the templates they use stay, each under its
// unique name, until `scripts/testenv reset` wipes the node's data.
func DeleteDataStreamsOnCleanup(t testing.TB, pattern string, templates ...string) {
	t.Helper()
	u := strings.TrimRight(Elasticsearch(t), "/")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		status, body := do(ctx, t, http.MethodDelete, u+"/_data_stream/"+pattern)
		switch {
		case status == http.StatusOK || status == http.StatusNotFound:
		case status == http.StatusMethodNotAllowed || status == http.StatusBadRequest && strings.Contains(body, "no handler"):
			warnDataStreamDelete.Do(func() {
				t.Logf("this Elasticsearch cannot delete data streams (no data-streams module); %s stays until `scripts/testenv reset`", pattern)
			})
			// Templates in use by a data stream cannot be deleted either.
			return
		default:
			t.Errorf("delete data streams %s: HTTP %d: %s", pattern, status, body)
		}
		for _, name := range templates {
			status, body := do(ctx, t, http.MethodDelete, u+"/_index_template/"+name)
			if status != http.StatusOK && status != http.StatusNotFound {
				t.Errorf("delete index template %s: HTTP %d: %s", name, status, body)
			}
		}
	})
}

func do(ctx context.Context, t testing.TB, method, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// SearchAll refreshes index and returns the _source of up to 10,000 of its
// documents, decoded as T.
func SearchAll[T any](t testing.TB, index string) []T {
	t.Helper()
	es := ESClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index), es.Indices.Refresh.WithContext(ctx))
	if err != nil {
		t.Fatalf("refresh %s: %v", index, err)
	}
	res.Body.Close()
	res, err = es.Search(es.Search.WithIndex(index), es.Search.WithSize(10000), es.Search.WithContext(ctx))
	if err != nil {
		t.Fatalf("search %s: %v", index, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.IsError() {
		t.Fatalf("search %s: %s: %s", index, res.Status(), body)
	}
	var sr struct {
		Hits struct {
			Hits []struct {
				Source T `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &sr); err != nil {
		t.Fatalf("decode search of %s: %v", index, err)
	}
	out := make([]T, len(sr.Hits.Hits))
	for i, h := range sr.Hits.Hits {
		out[i] = h.Source
	}
	return out
}

// SecureElasticsearch returns the URL, the elastic user's password and the CA
// file of the test node that has security on (scripts/testenv), after
// checking that it answers.
func SecureElasticsearch(t testing.TB) (url, password, caFile string) {
	t.Helper()
	Elasticsearch(t)
	url, password, caFile = os.Getenv("TESTENV_ES_SECURE_URL"), os.Getenv("TESTENV_ES_SECURE_PASSWORD"), os.Getenv("TESTENV_ES_SECURE_CA")
	if url == "" {
		url, password, caFile = "https://127.0.0.1:9201", "lagwatch-elastic", filepath.Join(RepoRoot(t), ".testenv", "tls", "ca.pem")
	}
	c, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, Username: "elastic", Password: password, CACert: mustRead(t, caFile)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Cluster.Health()
	if err != nil {
		t.Fatalf("secure Elasticsearch at %s unreachable (started by `scripts/testenv up`): %v", url, err)
	}
	res.Body.Close()
	if res.IsError() {
		t.Fatalf("secure Elasticsearch at %s: %s", url, res.Status())
	}
	return url, password, caFile
}

// MustOK fails the test unless an answer of the node, its status and body,
// is a success; it closes the body.
func MustOK(t testing.TB, status int, body io.ReadCloser, what string) {
	t.Helper()
	defer body.Close()
	b, _ := io.ReadAll(body)
	if status >= 300 {
		t.Fatalf("%s: HTTP %d: %s", what, status, b)
	}
}

// DecodeBody fails the test unless an answer of the node is a success, and
// decodes its JSON body into v; it closes the body.
func DecodeBody(t testing.TB, status int, body io.ReadCloser, what string, v any) {
	t.Helper()
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("%s: read: %v", what, err)
	}
	if status >= 300 {
		t.Fatalf("%s: HTTP %d: %s", what, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: decode %s: %v", what, b, err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}
