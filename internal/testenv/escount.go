package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// ESCounter is an HTTP proxy to the test Elasticsearch that counts the
// searches sent through it, and can hold them: a test points a program's
// ELASTICSEARCH_URL at URL to see what its requests cost, or to keep them
// in flight.
type ESCounter struct {
	srv      *httptest.Server
	searches atomic.Int64

	mu      sync.Mutex
	hold    chan struct{} // nil: searches pass
	match   []byte        // held searches have it in their body
	waiting atomic.Int64
}

// CountES starts an ESCounter, stopped when the test ends.
func CountES(t testing.TB) *ESCounter {
	t.Helper()
	target, err := url.Parse(Elasticsearch(t))
	if err != nil {
		t.Fatalf("parse Elasticsearch URL: %v", err)
	}
	c := &ESCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_search") {
			c.searches.Add(1)
			c.mu.Lock()
			hold, match := c.hold, c.match
			c.mu.Unlock()
			if hold != nil {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				if !bytes.Contains(body, match) {
					hold = nil
				}
			}
			if hold != nil {
				c.waiting.Add(1)
				select {
				case <-hold:
				case <-r.Context().Done():
				}
				c.waiting.Add(-1)
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		c.Release()
		c.srv.Close()
	})
	return c
}

// URL is the proxy's http:// address.
func (c *ESCounter) URL() string { return c.srv.URL }

// Searches is the number of searches sent so far.
func (c *ESCounter) Searches() int64 { return c.searches.Load() }

// Hold keeps every search whose body holds match ("" for all) from now on
// until Release.
func (c *ESCounter) Hold(match string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold == nil {
		c.hold = make(chan struct{})
	}
	c.match = []byte(match)
}

// Held is the number of searches being held.
func (c *ESCounter) Held() int64 { return c.waiting.Load() }

// Release lets the held searches, and every later one, through.
func (c *ESCounter) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold != nil {
		close(c.hold)
		c.hold = nil
	}
}
