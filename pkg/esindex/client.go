package esindex

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// Client is lagwatch's access to Elasticsearch: one connection and the data
// stream names of one namespace. Its methods are what the two programs do
// there: the collector installs templates and writes through a Writer; the
// evaluator reads windows and known groups, writes statuses through a
// StatusWriter, and keeps incidents. A Client is safe for concurrent use.
type Client struct {
	es    *elasticsearch.Client
	names Names
}

// New connects to Elasticsearch as conn says (see NewClient) and uses the
// data streams of namespace (see NewNames). Errors are NewClient's and
// NewNames's, unwrapped.
func New(conn ConnConfig, namespace string) (*Client, error) {
	es, err := NewClient(conn)
	if err != nil {
		return nil, err
	}
	names, err := NewNames(namespace)
	if err != nil {
		return nil, err
	}
	return &Client{es: es, names: names}, nil
}

// NewFromClient uses an existing connection (a test's, or one made by
// NewClient) with names, which must come from NewNames.
func NewFromClient(es *elasticsearch.Client, names Names) (*Client, error) {
	if es == nil {
		return nil, errors.New("esindex: no Elasticsearch client")
	}
	if names.Offsets == "" || names.Groups == "" || names.Ticks == "" || names.Status == "" || names.Incidents == "" {
		return nil, errors.New("esindex: names not made by NewNames")
	}
	return &Client{es: es, names: names}, nil
}

// Names are the data streams and index the Client uses.
func (c *Client) Names() Names { return c.names }

// Refresh makes what was written to the offsets, groups and collector data
// streams searchable (the evaluator does it before reading the collector's
// latest tick). Missing data streams are no error.
func (c *Client) Refresh(ctx context.Context) error {
	ix := c.es.Indices
	res, err := ix.Refresh(ix.Refresh.WithContext(ctx), ix.Refresh.WithIndex(c.names.Offsets, c.names.Groups, c.names.Ticks), ix.Refresh.WithIgnoreUnavailable(true))
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		body := readExcerpt(res.Body)
		return fmt.Errorf("refresh: %w", &requestError{Status: res.StatusCode, Reason: errorReason(res.StatusCode, body)})
	}
	return nil
}

// ConnConfig says how to reach Elasticsearch. Both programs use it.
type ConnConfig struct {
	URLs               []string // at least one
	APIKey             string   // base64 "id:key" as Elasticsearch issues it; wins over basic auth
	Username, Password string
	CAFile             string // PEM file; empty means system roots
}

// NewClient validates c and returns a connection for it: the low-level
// client that New wraps. Errors name the field at fault and never include a
// secret.
//
// The client retries a request that failed on the network or answered 502,
// 503 or 504 twice, after 100 and 200 ms; longer outages, 429 and
// per-document failures of a bulk request are the Writer's business.
func NewClient(c ConnConfig) (*elasticsearch.Client, error) {
	if len(c.URLs) == 0 {
		return nil, errors.New("ConnConfig.URLs: at least one Elasticsearch URL is needed")
	}
	cfg := elasticsearch.Config{
		MaxRetries:   2,
		RetryBackoff: clientBackoff,
	}
	for i, raw := range c.URLs {
		if err := validateURL(raw); err != nil {
			return nil, fmt.Errorf("ConnConfig.URLs[%d]: %w", i, err)
		}
		cfg.Addresses = append(cfg.Addresses, strings.TrimRight(raw, "/"))
	}
	switch {
	case c.APIKey != "":
		if err := validateAPIKey(c.APIKey); err != nil {
			return nil, fmt.Errorf("ConnConfig.APIKey: %w", err)
		}
		// The API key wins: basic auth credentials are not sent at all.
		cfg.APIKey = c.APIKey
	case c.Username != "" && c.Password == "":
		return nil, errors.New("ConnConfig.Password: empty while Username is set")
	case c.Username == "" && c.Password != "":
		return nil, errors.New("ConnConfig.Username: empty while Password is set")
	default:
		cfg.Username, cfg.Password = c.Username, c.Password
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ConnConfig.CAFile: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ConnConfig.CAFile: %s holds no PEM certificate", c.CAFile)
		}
		// Only these authorities are trusted, not the system's.
		cfg.CACert = pem
	}
	es, err := elasticsearch.NewClient(cfg)
	if err != nil {
		// The library's messages quote neither the key nor the password.
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return es, nil
}

// validateURL accepts http and https URLs with a host and no credentials.
// Its messages never quote the URL, which could hold a password.
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("credentials in the URL are not accepted; use APIKey or Username and Password")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("a query or fragment is not accepted")
	}
	return nil
}

// validateAPIKey checks the form Elasticsearch issues an API key in (the
// "encoded" value of the create API key response): base64 of "id:key".
func validateAPIKey(k string) error {
	b, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return errors.New(`not base64; give the "encoded" value Elasticsearch returned, base64 of "id:key"`)
	}
	id, key, ok := strings.Cut(string(b), ":")
	if !ok || id == "" || key == "" {
		return errors.New(`does not decode to "id:key"; give the "encoded" value Elasticsearch returned`)
	}
	return nil
}

// clientBackoff is the wait after the transport's attempt number attempt
// (from 1): 100ms, 200ms, 400ms..., capped at 1s. The transport also waits
// after its last attempt.
func clientBackoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(max(attempt-1, 0), 4), time.Second)
}
