// Package testenv gives tests the addresses of the real Kafka broker and
// Elasticsearch node that scripts/testenv starts, unique names for the topics,
// groups and data streams a test creates, and their cleanup.
//
// A test that needs a server calls Kafka(t) or Elasticsearch(t). Under
// `go test -short` such tests are skipped: that is the unit-test run. In every
// other run the servers are expected, and a server that cannot be reached
// fails the test; it never skips.
//
// This package is imported only by tests.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// Default addresses: those scripts/testenv starts.
const (
	DefaultKafkaBrokers     = "127.0.0.1:9092"
	DefaultElasticsearchURL = "http://127.0.0.1:9200"
	DefaultAlertmanagerURL  = "http://127.0.0.1:9193"
	DefaultSMTPAddr         = "127.0.0.1:1025"
	DefaultMailpitURL       = "http://127.0.0.1:8025"
)

// Kafka returns the test broker addresses from KAFKA_BROKERS (or the default),
// after checking that the first one accepts connections.
func Kafka(t testing.TB) []string {
	t.Helper()
	v := server(t, "Kafka broker", "KAFKA_BROKERS", DefaultKafkaBrokers, func(v string) error {
		return checkKafka(strings.Split(v, ",")[0])
	})
	return strings.Split(v, ",")
}

func checkKafka(addr string) error { return dialable("kafka broker", addr) }

// dialable is nil when addr accepts TCP connections; what names the server
// in the error.
func dialable(what, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%s %s unreachable: %w", what, addr, err)
	}
	return conn.Close()
}

// Elasticsearch returns the test node's URL from ELASTICSEARCH_URL (or the
// default), after checking that its cluster health answers.
func Elasticsearch(t testing.TB) string {
	t.Helper()
	return server(t, "Elasticsearch", "ELASTICSEARCH_URL", DefaultElasticsearchURL, checkElasticsearch)
}

// Alertmanager returns the test Alertmanager's URL from
// TESTENV_ALERTMANAGER_URL (or the default), after checking that it is ready.
func Alertmanager(t testing.TB) string {
	t.Helper()
	return server(t, "Alertmanager", "TESTENV_ALERTMANAGER_URL", DefaultAlertmanagerURL, func(u string) error {
		return httpOK("alertmanager", strings.TrimRight(u, "/")+"/-/ready")
	})
}

// SMTP returns the test SMTP server's address (TESTENV_SMTP_ADDR) and the URL
// of its HTTP API listing what arrived (TESTENV_MAILPIT_URL), after
// checking both.
func SMTP(t testing.TB) (addr, api string) {
	t.Helper()
	addr = server(t, "SMTP server", "TESTENV_SMTP_ADDR", DefaultSMTPAddr, func(a string) error {
		return dialable("smtp server", a)
	})
	api = server(t, "Mailpit API", "TESTENV_MAILPIT_URL", DefaultMailpitURL, func(u string) error {
		return httpOK("mailpit", strings.TrimRight(u, "/")+"/api/v1/info")
	})
	return addr, api
}

// SMTPCA is the PEM file of the CA that signed the test SMTP server's
// certificate (TESTENV_SMTP_CA), for STARTTLS.
func SMTPCA(t testing.TB) string {
	t.Helper()
	return server(t, "SMTP server's CA", "TESTENV_SMTP_CA", "", func(path string) error {
		if path == "" {
			return errors.New("TESTENV_SMTP_CA is not set")
		}
		_, err := os.Stat(path)
		return err
	})
}

// httpOK is nil when url answers 200.
func httpOK(what, url string) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("%s at %s unreachable: %w", what, url, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s at %s answered %s", what, url, resp.Status)
	}
	return nil
}

// server returns the address of a real server from the variable env, or def
// when it is unset. Under -short it skips the test; otherwise a server that
// check finds unreachable fails it.
func server(t testing.TB, what, env, def string, check func(addr string) error) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs the real %s; skipped with -short", what)
	}
	v := getenv(env, def)
	if err := check(v); err != nil {
		t.Fatalf("%v (start it with `scripts/testenv up`, or run unit tests alone with -short)", err)
	}
	return v
}

// getenv returns the variable name, or def when it is unset or empty.
func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func checkElasticsearch(u string) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(strings.TrimRight(u, "/") + "/_cluster/health")
	if err != nil {
		return fmt.Errorf("elasticsearch at %s unreachable: %w", u, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("elasticsearch at %s: cluster health answered %s", u, resp.Status)
	}
	return nil
}

// Name returns a name unique to this run, safe for Kafka topics and groups and
// for Elasticsearch data streams (lower case, no spaces).
func Name(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(b)
}

// RepoRoot is the repository's top folder, found from this file's location.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ConsumerGroups runs Kafka's own consumer-groups tool (scripts/kafka-consumer-groups)
// against the test broker and returns what it printed on standard output.
func ConsumerGroups(ctx context.Context, t testing.TB, args ...string) string {
	t.Helper()
	brokers := Kafka(t)
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(t), "scripts", "kafka-consumer-groups"),
		append([]string{"--bootstrap-server", strings.Join(brokers, ",")}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kafka-consumer-groups %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// DescribeRow is one partition line of `kafka-consumer-groups --describe`.
type DescribeRow struct {
	Group, Topic string
	Partition    int
	// Committed is the CURRENT-OFFSET column; -1 when it printed "-".
	Committed int64
	// LogEnd is LOG-END-OFFSET.
	LogEnd int64
	// Lag is the LAG column; -1 when it printed "-".
	Lag int64
	// ConsumerID is CONSUMER-ID; "-" when no member owns the partition.
	ConsumerID string
}

// ParseDescribe reads the partition rows of `--describe` output. The tool
// pads every column to a common width, so a row's fields are cut at the
// positions where the header's column names start: a consumer id may hold
// spaces ("client (library)-uuid"). Columns are found by name, so extra
// columns in newer Kafka versions do not matter.
func ParseDescribe(out string) ([]DescribeRow, error) {
	var rows []DescribeRow
	err := eachRow(out, "-", wordColumns, func(line string, field map[string]string) error {
		num := func(h string) (int64, error) {
			s, ok := field[h]
			if !ok || s == "-" {
				return -1, nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("column %s: %q is not a number in line %q", h, s, line)
			}
			return n, nil
		}
		r := DescribeRow{Group: field["GROUP"], Topic: field["TOPIC"], ConsumerID: field["CONSUMER-ID"]}
		p, err := num("PARTITION")
		if err != nil {
			return err
		}
		r.Partition = int(p)
		if r.Committed, err = num("CURRENT-OFFSET"); err != nil {
			return err
		}
		if r.LogEnd, err = num("LOG-END-OFFSET"); err != nil {
			return err
		}
		if r.Lag, err = num("LAG"); err != nil {
			return err
		}
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// ParseTable reads the rows of a table Kafka's consumer-groups tool prints
// (`--describe --state`, `--describe --members`, ...) as maps from column
// name to value, cut like ParseDescribe at the positions where the header's
// names start. Names are separated by two spaces or more: the tool pads
// every column and adds one space, and one header name holds a single space
// ("COORDINATOR (ID)"). Every line that starts with "GROUP " begins a new
// table.
func ParseTable(out string) []map[string]string {
	var rows []map[string]string
	_ = eachRow(out, "", paddedColumns, func(_ string, field map[string]string) error {
		rows = append(rows, field)
		return nil
	})
	return rows
}

// eachRow calls row for every line of out in a table, cut into the columns
// of the table's header: a line that starts with "GROUP ", split into
// column names and their start positions by columns. Blank lines, and lines
// before the first header, are skipped. A column a line is too short to
// reach holds missing. The first error of row ends the walk.
func eachRow(out, missing string, columns func(header string) (starts []int, names []string),
	row func(line string, field map[string]string) error) error {
	var starts []int
	var names []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "GROUP "):
			starts, names = columns(line)
		case starts != nil:
			if err := row(line, cutRow(line, starts, names, missing)); err != nil {
				return err
			}
		}
	}
	return nil
}

// wordColumns splits a header at every word: no name holds a space.
func wordColumns(line string) (starts []int, names []string) {
	for i := 0; i < len(line); i++ {
		if line[i] != ' ' && (i == 0 || line[i-1] == ' ') {
			starts = append(starts, i)
			end := strings.IndexByte(line[i:], ' ')
			if end < 0 {
				end = len(line) - i
			}
			names = append(names, line[i:i+end])
		}
	}
	return starts, names
}

// paddedColumns splits a header at runs of two spaces or more: a name may
// hold a single space.
func paddedColumns(line string) (starts []int, names []string) {
	for i := 0; i < len(line); {
		if line[i] == ' ' {
			i++
			continue
		}
		end := strings.Index(line[i:], "  ")
		if end < 0 {
			end = len(line) - i
		}
		starts = append(starts, i)
		names = append(names, strings.TrimSpace(line[i:i+end]))
		i += end
	}
	return starts, names
}

// cutRow cuts a padded table line into its columns at starts, the positions
// where the header's names begin; a column the line is too short to reach
// gets missing.
func cutRow(line string, starts []int, names []string, missing string) map[string]string {
	row := make(map[string]string, len(starts))
	for i, st := range starts {
		end := len(line)
		if i+1 < len(starts) {
			end = min(starts[i+1], len(line))
		}
		if st >= len(line) {
			row[names[i]] = missing
			continue
		}
		row[names[i]] = strings.TrimSpace(line[st:end])
	}
	return row
}

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
	return doBody(ctx, t, method, url, "")
}

// SearchAll refreshes index and returns the _source of up to 10,000 of its
// documents, decoded as T.
func SearchAll[T any](t testing.TB, index string) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	docs, err := Search[T](ctx, ESClient(t), index, `{"size":10000}`)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// Search refreshes index and returns the _source of the hits of the search
// body, decoded as T. An index or data stream that does not exist (yet) has
// no hits. It touches no *testing.T: a test's other goroutines may call it.
func Search[T any](ctx context.Context, es *elasticsearch.Client, index, body string) ([]T, error) {
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index), es.Indices.Refresh.WithIgnoreUnavailable(true),
		es.Indices.Refresh.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("refresh %s: %w", index, err)
	}
	res.Body.Close()
	res, err = es.Search(es.Search.WithIndex(index), es.Search.WithBody(strings.NewReader(body)),
		es.Search.WithIgnoreUnavailable(true), es.Search.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", index, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.IsError() {
		return nil, fmt.Errorf("search %s: %s: %s", index, res.Status(), b)
	}
	var sr struct {
		Hits struct {
			Hits []struct {
				Source T `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &sr); err != nil {
		return nil, fmt.Errorf("decode search of %s: %w", index, err)
	}
	out := make([]T, len(sr.Hits.Hits))
	for i, h := range sr.Hits.Hits {
		out[i] = h.Source
	}
	return out, nil
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
