package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// BlockWrites sets index.blocks.write on the test node's indices that match
// pattern, as an operator, a shrink or a full disk's clean-up does: every
// document written to them is answered 403 cluster_block_exception. For a
// data stream, pattern names its backing indices: ".ds-<data stream>-*".
// At least one index must match. The block is lifted by the function
// returned, and in any case when the test ends.
func BlockWrites(t testing.TB, pattern string) (lift func()) {
	t.Helper()
	u := strings.TrimRight(Elasticsearch(t), "/")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// _cat/indices answers 404 when no index matches a pattern without a
	// wildcard and an empty list when none matches one with.
	status, body := doBody(ctx, t, http.MethodGet, u+"/_cat/indices/"+pattern+"?h=index&expand_wildcards=all", "")
	if status != http.StatusOK || strings.TrimSpace(body) == "" {
		t.Fatalf("block writes: no index matches %s (HTTP %d: %s)", pattern, status, body)
	}
	setWriteBlock(ctx, t, u, pattern, "true")
	lifted := false
	lift = func() {
		t.Helper()
		if lifted {
			return
		}
		lifted = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		setWriteBlock(ctx, t, u, pattern, "null")
	}
	t.Cleanup(lift)
	return lift
}

func setWriteBlock(ctx context.Context, t testing.TB, u, pattern, value string) {
	t.Helper()
	status, body := doBody(ctx, t, http.MethodPut, u+"/"+pattern+"/_settings?expand_wildcards=all",
		`{"index.blocks.write":`+value+`}`)
	if status != http.StatusOK {
		t.Errorf("set index.blocks.write to %s on %s: HTTP %d: %s", value, pattern, status, body)
	}
}

// doBody sends a request with a JSON body (none when empty) to the test
// node and returns the answer's status and body; a request that fails is an
// error of the test, and status 0.
func doBody(ctx context.Context, t testing.TB, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Errorf("%s %s: read the answer: %v", method, url, err)
	}
	return res.StatusCode, string(b)
}

// SecureUser is a user of the secured test node's file realm
// (scripts/testenv).
type SecureUser struct{ Name, Password string }

// SecureElasticsearchUsers returns the two users scripts/testenv puts in the
// secured node's file realm, after checking that the node knows them: the
// writer may write lagwatch's data streams and indices, the reader may
// install the templates and read, but write no document to the
// metrics-lagwatch.* data streams (403 security_exception per document).
func SecureElasticsearchUsers(t testing.TB) (url, caFile string, writer, reader SecureUser) {
	t.Helper()
	url, _, caFile = SecureElasticsearch(t)
	user := func(env, def string) SecureUser {
		name, password, _ := strings.Cut(getenv(env, def), ":")
		return SecureUser{Name: name, Password: password}
	}
	writer = user("TESTENV_ES_SECURE_WRITER", "lagwatch-writer:lagwatch-writer-secret")
	reader = user("TESTENV_ES_SECURE_READER", "lagwatch-reader:lagwatch-reader-secret")
	ca := mustRead(t, caFile)
	for _, u := range []SecureUser{writer, reader} {
		if err := authenticates(url, ca, u); err != nil {
			t.Fatalf("secure Elasticsearch: user %s: %v (a secured node started before its file realm had the users: "+
				"`scripts/testenv down secure && scripts/testenv up secure`)", u.Name, err)
		}
	}
	return url, caFile, writer, reader
}

// authenticates is nil when the node at url knows u's password.
func authenticates(url string, ca []byte, u SecureUser) error {
	c, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, Username: u.Name, Password: u.Password, CACert: ca})
	if err != nil {
		return err
	}
	res, err := c.Security.Authenticate()
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("authenticate: %s", res.Status())
	}
	return nil
}
