package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex/internal/spool"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// testNames returns data stream names in a namespace unique to this test,
// removed (where the node can) when the test ends.
func testNames(t *testing.T) Names {
	t.Helper()
	ns := strings.ReplaceAll(testenv.Name(t, "esindex"), "-", "")
	names, err := NewNames(ns)
	if err != nil {
		t.Fatalf("NewNames(%q): %v", ns, err)
	}
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, names.Offsets, names.Groups, names.Ticks, names.Status)
	return names
}

// installed returns unique names whose templates are installed on the test
// node, and a client for it.
func installed(t *testing.T) (Names, *elasticsearch.Client) {
	t.Helper()
	es := testenv.ESClient(t)
	names := testNames(t)
	if _, err := clientOf(t, es, names).Install(ctxT(t), 30*24*time.Hour); err != nil {
		t.Fatalf("Install: %v", err)
	}
	return names, es
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clientFor returns a client built by NewClient for url.
func clientFor(t *testing.T, url string) *elasticsearch.Client {
	t.Helper()
	es, err := NewClient(ConnConfig{URLs: []string{url}})
	if err != nil {
		t.Fatalf("NewClient(%s): %v", url, err)
	}
	return es
}

// clientOf wraps a connection and names in a Client.
func clientOf(t *testing.T, es *elasticsearch.Client, names Names) *Client {
	t.Helper()
	c, err := NewFromClient(es, names)
	if err != nil {
		t.Fatalf("NewFromClient: %v", err)
	}
	return c
}

// newWriter returns a Writer that takes its templates as installed, as
// installed(t) leaves them (or, against a closed port, so that its writes
// try to send).
func newWriter(t *testing.T, es *elasticsearch.Client, names Names, opts WriterOptions) *Writer {
	t.Helper()
	w, err := clientOf(t, es, names).NewWriter(opts)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	w.installed = true
	return w
}

// segmentOf is the spool segment file a Writer leaves for docs.
func segmentOf(t *testing.T, docs []doc) []byte {
	t.Helper()
	dir := t.TempDir()
	sp, err := spool.Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := encodeSpoolRecords(docs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Add(recs); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "seg-*.ndjson"))
	if err != nil || len(files) != 1 {
		t.Fatalf("spool files %v, %v; want one segment", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fastRetries are options that keep outage tests short.
func fastRetries(spoolDir string) WriterOptions {
	return WriterOptions{SpoolDir: spoolDir, MaxRetries: 2, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}
}

var tick0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tickSnapshot is a snapshot at tick i (30 s apart) with groups groups of
// partitions partitions each, split over two topics in (topic, partition)
// order, with some of every case the documents distinguish: no commit, no
// log offsets (with an error), an owner, skipped offsets and an open
// transaction.
func tickSnapshot(i, groups, partitions int) snapshot.Snapshot {
	s := snapshot.Snapshot{Cluster: "test", ClusterID: "cluster-id-1", Time: tick0.Add(time.Duration(i) * 30 * time.Second)}
	for g := range groups {
		m := snapshot.Member{MemberID: fmt.Sprintf("m-%d", g), ClientID: "client", Host: "/10.0.0.1"}
		grp := snapshot.Group{ID: fmt.Sprintf("group-%03d", g), Type: snapshot.TypeClassic, State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{m}}
		for p := range partitions {
			part := snapshot.Partition{
				Topic: "topic-0", Partition: int32(p),
				Committed: int64(1000 + p), HasCommitted: p%7 != 3,
				LogEnd: int64(1000 + 2*p + i), LogStart: 10, HasOffsets: p%11 != 5,
			}
			if half := (partitions + 1) / 2; p >= half {
				part.Topic, part.Partition = "topic-1", int32(p-half)
			}
			if p%3 == 0 {
				part.Owner = &grp.Members[0]
			}
			// Transactions: a commit marker right at the committed
			// offset, or a transaction still open at the log end.
			switch p % 6 {
			case 1:
				part.Skipped = 1
			case 4:
				part.Pending = 2
			}
			if !part.HasOffsets {
				part.Err = errors.New("list offsets: NOT_LEADER_OR_FOLLOWER")
			}
			grp.Partitions = append(grp.Partitions, part)
		}
		s.Groups = append(s.Groups, grp)
	}
	return s
}

// refresh makes everything written to the namespace's streams searchable.
func refresh(t *testing.T, es *elasticsearch.Client, names Names) {
	t.Helper()
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups),
		es.Indices.Refresh.WithIgnoreUnavailable(true), es.Indices.Refresh.WithContext(ctxT(t)))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	testenv.MustOK(t, res.StatusCode, res.Body, "refresh")
}

// countAt counts the documents of index whose @timestamp is at.
func countAt(t *testing.T, es *elasticsearch.Client, index string, at time.Time) int {
	t.Helper()
	q := `{"query":{"term":{"@timestamp":"` + at.UTC().Format(timestampLayout) + `"}}}`
	res, err := es.Count(es.Count.WithIndex(index), es.Count.WithBody(strings.NewReader(q)),
		es.Count.WithIgnoreUnavailable(true), es.Count.WithContext(ctxT(t)))
	if err != nil {
		t.Fatalf("count %s: %v", index, err)
	}
	var out struct{ Count int }
	testenv.DecodeBody(t, res.StatusCode, res.Body, "count "+index, &out)
	return out.Count
}

// wantCounts checks that every tick has exactly the documents of its
// snapshot in both streams: each once.
func wantCounts(t *testing.T, es *elasticsearch.Client, names Names, snaps map[int]snapshot.Snapshot, absent ...snapshot.Snapshot) {
	t.Helper()
	refresh(t, es, names)
	for i, s := range snaps {
		groups, offsets := countDocs(s)
		if got := countAt(t, es, names.Groups, s.Time); got != groups {
			t.Errorf("tick %d: %d group documents stored, want %d", i, got, groups)
		}
		if got := countAt(t, es, names.Offsets, s.Time); got != offsets {
			t.Errorf("tick %d: %d offsets documents stored, want %d", i, got, offsets)
		}
	}
	for _, s := range absent {
		if got := countAt(t, es, names.Offsets, s.Time) + countAt(t, es, names.Groups, s.Time); got != 0 {
			t.Errorf("tick at %s: %d documents stored, want none", s.Time, got)
		}
	}
}

func countDocs(s snapshot.Snapshot) (groups, offsets int) {
	for _, g := range s.Groups {
		groups++
		offsets += len(g.Partitions)
	}
	return groups, offsets
}

// getJSON GETs path on the node and decodes the answer.
func getJSON(t *testing.T, es *elasticsearch.Client, path string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := es.Perform(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	testenv.DecodeBody(t, res.StatusCode, res.Body, "GET "+path, v)
}

func decodeAny(r io.Reader, v any) {
	b, _ := io.ReadAll(r)
	_ = json.Unmarshal(b, v)
}

// refreshIndex makes everything written to index searchable.
func refreshIndex(t *testing.T, es *elasticsearch.Client, index string) {
	t.Helper()
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index), es.Indices.Refresh.WithContext(ctxT(t)))
	if err != nil {
		t.Fatalf("refresh %s: %v", index, err)
	}
	testenv.MustOK(t, res.StatusCode, res.Body, "refresh "+index)
}
