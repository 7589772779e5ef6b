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
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Default addresses: those scripts/testenv starts.
const (
	DefaultKafkaBrokers     = "127.0.0.1:9092"
	DefaultElasticsearchURL = "http://127.0.0.1:9200"
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

func checkKafka(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("kafka broker %s unreachable: %w", addr, err)
	}
	return conn.Close()
}

// Elasticsearch returns the test node's URL from ELASTICSEARCH_URL (or the
// default), after checking that its cluster health answers.
func Elasticsearch(t testing.TB) string {
	t.Helper()
	return server(t, "Elasticsearch", "ELASTICSEARCH_URL", DefaultElasticsearchURL, checkElasticsearch)
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
