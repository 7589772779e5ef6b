package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestWriteLandsWithValues writes a snapshot with every case the documents
// distinguish, then searches the data streams and compares each stored
// document, and its _id, with what the snapshot says.
func TestWriteLandsWithValues(t *testing.T) {
	names, es := installed(t)
	owner := snapshot.Member{MemberID: "m-1", ClientID: "c-1", Host: "/10.0.0.9"}
	s := snapshot.Snapshot{Cluster: "prod", ClusterID: "kid-1", Time: tick0, Groups: []snapshot.Group{
		{ID: "billing", Type: snapshot.TypeConsumer, State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{owner}, Partitions: []snapshot.Partition{
			{Topic: "orders", Partition: 0, Committed: 5, HasCommitted: true, LogEnd: 10, HasOffsets: true, Owner: &owner},
			{Topic: "orders", Partition: 1, Committed: 12, HasCommitted: true, LogEnd: 10, HasOffsets: true, Owner: &owner},
			{Topic: "orders", Partition: 2, LogEnd: 7, HasOffsets: true, Owner: &owner},
			{Topic: "orders", Partition: 3, Committed: 30, HasCommitted: true, LogEnd: 40, Pending: 4, Skipped: 1, HasOffsets: true},
			{Topic: "payments", Partition: 0, Committed: 3, HasCommitted: true, LogStart: 7, LogEnd: 20, HasOffsets: true},
			{Topic: "payments", Partition: 1, Committed: 4, HasCommitted: true, Err: errors.New("list offsets: NOT_LEADER_OR_FOLLOWER")},
		}},
		{ID: "audit", Err: errors.New("describe group: COORDINATOR_NOT_AVAILABLE")},
		{ID: "queue", Type: snapshot.TypeShare, ProtocolType: "share"},
	}}
	w := newWriter(t, es, names, WriterOptions{SpoolDir: t.TempDir()})
	r, err := w.Write(ctxT(t), s)
	if err != nil || r.Docs != 9 || r.Indexed != 9 || r.Duplicates+r.Failed+r.Spooled+r.Retried+r.Dropped != 0 {
		t.Fatalf("Write = %+v, %v; want 9 documents indexed and nothing else", r, err)
	}
	refresh(t, es, names)

	ts := "2026-03-01T12:00:00.000Z"
	cluster := `"cluster":{"name":"prod","id":"kid-1"}`
	wantOffsets := map[string]string{
		offsetsID("prod", "billing", "orders", 0, tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","offset":5,"consumer_lag":5,"client":{"id":"c-1","host":"/10.0.0.9","member_id":"m-1"}},
			"topic":{"name":"orders"},"partition":{"id":0,"offset":{"newest":10,"oldest":0}}},"lagwatch":{"readable_lag":5}}`,
		offsetsID("prod", "billing", "orders", 1, tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","offset":12,"consumer_lag":0,"client":{"id":"c-1","host":"/10.0.0.9","member_id":"m-1"}},
			"topic":{"name":"orders"},"partition":{"id":1,"offset":{"newest":10,"oldest":0}}},"lagwatch":{"readable_lag":0,"lag_clamped":true}}`,
		offsetsID("prod", "billing", "orders", 3, tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","offset":30,"consumer_lag":10},
			"topic":{"name":"orders"},"partition":{"id":3,"offset":{"newest":40,"oldest":0,"stable":36}}},"lagwatch":{"readable_lag":5}}`,
		offsetsID("prod", "billing", "orders", 2, tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","client":{"id":"c-1","host":"/10.0.0.9","member_id":"m-1"}},
			"topic":{"name":"orders"},"partition":{"id":2,"offset":{"newest":7,"oldest":0}}}}`,
		offsetsID("prod", "billing", "payments", 0, tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","offset":3,"consumer_lag":17},
			"topic":{"name":"payments"},"partition":{"id":0,"offset":{"newest":20,"oldest":7}}},"lagwatch":{"readable_lag":17,"below_log_start":true}}`,
		offsetsID("prod", "billing", "payments", 1, tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","offset":4},
			"topic":{"name":"payments"},"partition":{"id":1}},"lagwatch":{"error":"list offsets: NOT_LEADER_OR_FOLLOWER"}}`,
	}
	wantGroups := map[string]string{
		groupID("prod", "billing", tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"billing","type":"consumer","state":"Stable","protocol_type":"consumer"}},
			"lagwatch":{"group":{"members":1,"partitions":6,"topics":["orders","payments"],"total_lag":32,"total_readable_lag":27,
			"max_lag":17,"max_lag_topic":"payments","max_lag_partition":0,"below_log_start":1}}}`,
		groupID("prod", "audit", tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"audit"}},
			"lagwatch":{"group":{"members":0,"partitions":0,"total_lag":0,"total_readable_lag":0,"below_log_start":0},
			"error":"describe group: COORDINATOR_NOT_AVAILABLE"}}`,
		groupID("prod", "queue", tick0.UnixMilli()): `{"@timestamp":"` + ts + `","kafka":{` + cluster + `,
			"consumergroup":{"id":"queue","type":"share","protocol_type":"share"}},
			"lagwatch":{"group":{"members":0,"partitions":0,"total_lag":0,"total_readable_lag":0,"below_log_start":0}}}`,
	}
	for stream, want := range map[string]map[string]string{names.Offsets: wantOffsets, names.Groups: wantGroups} {
		var sr struct {
			Hits struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		res, err := es.Search(es.Search.WithIndex(stream), es.Search.WithSize(100), es.Search.WithContext(ctxT(t)))
		if err != nil {
			t.Fatalf("search %s: %v", stream, err)
		}
		testenv.DecodeBody(t, res.StatusCode, res.Body, "search "+stream, &sr)
		if len(sr.Hits.Hits) != len(want) {
			t.Errorf("%s: %d documents, want %d", stream, len(sr.Hits.Hits), len(want))
		}
		for _, h := range sr.Hits.Hits {
			w, ok := want[h.ID]
			if !ok {
				t.Errorf("%s: unexpected _id %s: %s", stream, h.ID, h.Source)
				continue
			}
			var got, exp any
			if err := json.Unmarshal(h.Source, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(w), &exp); err != nil {
				t.Fatalf("expected document: %v\n%s", err, w)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%s: document %s\n got %s\nwant %s", stream, h.ID, h.Source, strings.Join(strings.Fields(w), ""))
			}
		}
	}
}

// TestWriteTwiceIsExactlyOnce writes the same snapshot twice: the second
// time every document is a duplicate and the stored count does not change.
func TestWriteTwiceIsExactlyOnce(t *testing.T) {
	names, es := installed(t)
	w := newWriter(t, es, names, WriterOptions{SpoolDir: t.TempDir()})
	s := tickSnapshot(0, 4, 25)
	before := scanned.Load()
	r1, err := w.Write(ctxT(t), s)
	if err != nil || r1.Indexed != r1.Docs || r1.Docs != 4*26 {
		t.Fatalf("first Write = %+v, %v", r1, err)
	}
	// The node's answer to a write where every document was created is the
	// one bulkDecoder scans (other tests may add to the count meanwhile).
	if scanned.Load() == before {
		t.Error("the node's all-created answer did not take bulkDecoder's scan")
	}
	r2, err := w.Write(ctxT(t), s)
	if err != nil || r2.Duplicates != r2.Docs || r2.Indexed != 0 || r2.Failed != 0 || r2.Spooled != 0 {
		t.Fatalf("second Write = %+v, %v; want all %d duplicates", r2, err, r2.Docs)
	}
	wantCounts(t, es, names, map[int]snapshot.Snapshot{0: s})
}

// TestOutageSpoolsAndReplays puts a TCP proxy between the Writer and the
// node: tick 1 is written, ticks 2 and 3 are spooled while the proxy is
// down, and tick 4 replays them before writing itself. Each tick is then
// stored exactly once.
func TestOutageSpoolsAndReplays(t *testing.T) {
	names, es := installed(t)
	proxy := testenv.ElasticsearchProxy(t)
	w := newWriter(t, clientFor(t, proxy.URL()), names, fastRetries(t.TempDir()))
	ticks := map[int]snapshot.Snapshot{}
	for i := 1; i <= 4; i++ {
		ticks[i] = tickSnapshot(i, 3, 20)
	}
	per := 3 * 21

	r, err := w.Write(ctxT(t), ticks[1])
	if err != nil || r.Indexed != per {
		t.Fatalf("tick 1: %+v, %v", r, err)
	}

	proxy.Down()
	for _, i := range []int{2, 3} {
		r, err := w.Write(ctxT(t), ticks[i])
		if err != nil {
			t.Fatalf("tick %d during the outage: %v (nothing is lost: it must be spooled)", i, err)
		}
		if r.Spooled != per || r.Indexed != 0 || r.Dropped != 0 {
			t.Fatalf("tick %d during the outage: %+v, want %d spooled", i, r, per)
		}
		if !hasProblem(r, Temporary) {
			t.Errorf("tick %d: no temporary problem reported: %+v", i, r.Problems)
		}
		t.Logf("tick %d: %+v", i, r)
	}
	if segs, size := w.SpoolDepth(); segs != 2 || size <= 0 {
		t.Fatalf("spool depth %d segments, %d bytes; want 2", segs, size)
	}

	proxy.Up(t)
	r, err = w.Write(ctxT(t), ticks[4])
	if err != nil || r.Replayed != 2*per || r.Indexed != 3*per || r.Spooled != 0 {
		t.Fatalf("tick 4 after the outage: %+v, %v; want %d replayed and %d indexed", r, err, 2*per, 3*per)
	}
	if segs, size := w.SpoolDepth(); segs != 0 || size != 0 {
		t.Errorf("spool depth %d segments, %d bytes after the replay; want empty", segs, size)
	}
	wantCounts(t, es, names, ticks)
}

// TestSpoolSurvivesRestart spools a tick with one Writer and replays it with
// a new Writer on the same directory, as after a restart.
func TestSpoolSurvivesRestart(t *testing.T) {
	names, es := installed(t)
	proxy := testenv.ElasticsearchProxy(t)
	dir := t.TempDir()
	es2 := clientFor(t, proxy.URL())
	s1, s2 := tickSnapshot(1, 2, 10), tickSnapshot(2, 2, 10)

	proxy.Down()
	w1 := newWriter(t, es2, names, fastRetries(dir))
	if r, err := w1.Write(ctxT(t), s1); err != nil || r.Spooled != r.Docs {
		t.Fatalf("tick 1, down: %+v, %v", r, err)
	}
	proxy.Up(t)

	w2 := newWriter(t, es2, names, fastRetries(dir))
	if segs, _ := w2.SpoolDepth(); segs != 1 {
		t.Fatalf("the new Writer finds %d spool segments, want 1", segs)
	}
	r, err := w2.Write(ctxT(t), s2)
	if err != nil || r.Replayed != 22 || r.Indexed != 44 {
		t.Fatalf("tick 2 on the new Writer: %+v, %v; want 22 replayed, 44 indexed", r, err)
	}
	wantCounts(t, es, names, map[int]snapshot.Snapshot{1: s1, 2: s2})
}

// TestSpoolLimitDropsOldest gives the spool room for two ticks: a third
// drops the oldest, which is counted and reported, and never reaches the
// node; the two others are replayed.
func TestSpoolLimitDropsOldest(t *testing.T) {
	names, es := installed(t)
	proxy := testenv.ElasticsearchProxy(t)
	ticks := map[int]snapshot.Snapshot{}
	for i := 1; i <= 4; i++ {
		ticks[i] = tickSnapshot(i, 2, 15)
	}
	seg := segmentOf(t, encodeSnapshot(names, ticks[1]))
	opts := fastRetries(t.TempDir())
	opts.SpoolMaxBytes = int64(len(seg))*2 + int64(len(seg))/2
	w := newWriter(t, clientFor(t, proxy.URL()), names, opts)
	per := 2 * 16

	proxy.Down()
	for _, i := range []int{1, 2} {
		if r, err := w.Write(ctxT(t), ticks[i]); err != nil || r.Spooled != per {
			t.Fatalf("tick %d: %+v, %v", i, r, err)
		}
	}
	r, err := w.Write(ctxT(t), ticks[3])
	if !errors.Is(err, ErrLost) || r.Dropped != per || r.Spooled != per {
		t.Fatalf("tick 3 into a full spool: %+v, %v; want tick 1's %d documents dropped and ErrLost", r, err, per)
	}
	if !hasProblem(r, Spool) {
		t.Errorf("the drop is not among the problems: %+v", r.Problems)
	}
	if segs, size := w.SpoolDepth(); segs != 2 || size > opts.SpoolMaxBytes {
		t.Errorf("spool depth %d segments, %d bytes; want 2 within %d", segs, size, opts.SpoolMaxBytes)
	}

	proxy.Up(t)
	if r, err := w.Write(ctxT(t), ticks[4]); err != nil || r.Replayed != 2*per || r.Indexed != 3*per {
		t.Fatalf("tick 4: %+v, %v", r, err)
	}
	dropped := ticks[1]
	delete(ticks, 1)
	wantCounts(t, es, names, ticks, dropped)
}

// TestReplayRejectedDocument puts a document the strict mapping refuses in
// the spool: the replay counts it in Failed with Elasticsearch's reason, and
// empties the spool.
func TestReplayRejectedDocument(t *testing.T) {
	names, es := installed(t)
	dir := t.TempDir()
	good := encodeSnapshot(names, tickSnapshot(1, 1, 2))
	bad := doc{index: names.Offsets, id: "bad-1", body: []byte(`{"@timestamp":"2026-03-01T12:00:30.000Z","surprise":true}`)}
	seg := segmentOf(t, append(good, bad))
	if err := os.WriteFile(filepath.Join(dir, "seg-00000000000000000007.ndjson"), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, es, names, WriterOptions{SpoolDir: dir})
	r, err := w.Write(ctxT(t), snapshot.Snapshot{Cluster: "test", Time: tick0})
	if !errors.Is(err, ErrLost) || r.Failed != 1 || r.Replayed != len(good) || r.Docs != 0 {
		t.Fatalf("Write = %+v, %v; want 1 failed, %d replayed, ErrLost", r, err, len(good))
	}
	if len(r.Problems) == 0 || r.Problems[0].Kind != Rejected || r.Problems[0].Status != 400 ||
		!strings.Contains(r.Problems[0].Reason, "strict_dynamic_mapping_exception") {
		t.Errorf("problems %+v, want a 400 strict_dynamic_mapping_exception rejection", r.Problems)
	}
	if segs, _ := w.SpoolDepth(); segs != 0 {
		t.Errorf("%d segments left; a rejected document must not stay in the spool", segs)
	}
	if !slices.Equal(r.Rejections, []CauseCount{{Cause: "strict_dynamic_mapping_exception", Count: 1}}) {
		t.Errorf("rejections %+v, want one strict_dynamic_mapping_exception", r.Rejections)
	}
	if e := r.Rejection; e == nil || e.Index != names.Offsets || e.ID != "bad-1" || e.Body != string(bad.body) ||
		!strings.Contains(e.Reason, "strict_dynamic_mapping_exception") {
		t.Errorf("example %+v, want the rejected document with its reason", e)
	}
}

func hasProblem(r WriteResult, k ProblemKind) bool {
	for _, p := range r.Problems {
		if p.Kind == k {
			return true
		}
	}
	return false
}

// The Writer tests below need no Elasticsearch: nothing listens on the
// address, as in an outage.

const closedURL = "http://127.0.0.1:1"

func TestWriteWithoutSpoolLosesAndSays(t *testing.T) {
	names, _ := NewNames("unit")
	w := newWriter(t, clientFor(t, closedURL), names, WriterOptions{MaxRetries: -1})
	r, err := w.Write(context.Background(), tickSnapshot(0, 1, 3))
	if !errors.Is(err, ErrLost) || r.Dropped != 4 || r.Spooled != 0 {
		t.Fatalf("Write = %+v, %v; want 4 dropped and ErrLost", r, err)
	}
}

func TestWriteTooBigForSpool(t *testing.T) {
	names, _ := NewNames("unit")
	w := newWriter(t, clientFor(t, closedURL), names, WriterOptions{SpoolDir: t.TempDir(), SpoolMaxBytes: 100, MaxRetries: -1})
	r, err := w.Write(context.Background(), tickSnapshot(0, 1, 3))
	if !errors.Is(err, ErrLost) || r.Dropped != 4 || r.Spooled != 0 || !strings.Contains(err.Error(), "spool") {
		t.Fatalf("Write = %+v, %v; want 4 dropped, ErrLost naming the spool", r, err)
	}
}

func TestWriteCancelledContextSpools(t *testing.T) {
	names, _ := NewNames("unit")
	w := newWriter(t, clientFor(t, closedURL), names, WriterOptions{SpoolDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	r, err := w.Write(ctx, tickSnapshot(0, 2, 3))
	if err != nil || r.Spooled != 8 || r.Retried != 0 {
		t.Fatalf("Write = %+v, %v; want all 8 spooled at once", r, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a cancelled Write took %s", d)
	}
	// The spool is not empty and the context is done: the next tick queues
	// behind it, in order.
	r, err = w.Write(ctx, tickSnapshot(1, 2, 3))
	if err != nil || r.Spooled != 8 {
		t.Fatalf("second Write = %+v, %v", r, err)
	}
	if segs, _ := w.SpoolDepth(); segs != 2 {
		t.Errorf("%d segments, want 2", segs)
	}
}

func TestNewWriterValidation(t *testing.T) {
	names, _ := NewNames("unit")
	es := clientFor(t, closedURL)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		names   Names
		opts    WriterOptions
		wantErr string
	}{
		{"zero options are the defaults", names, WriterOptions{}, ""},
		{"names not from NewNames", Names{}, WriterOptions{}, "names"},
		{"negative spool size", names, WriterOptions{SpoolMaxBytes: -1}, "SpoolMaxBytes"},
		{"negative retry wait", names, WriterOptions{RetryBase: -time.Second}, "RetryBase"},
		{"spool dir is a file", names, WriterOptions{SpoolDir: file}, "SpoolDir"},
		{"negative install timeout", names, WriterOptions{InstallTimeout: -time.Second}, "InstallTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewFromClient(es, tc.names)
			if err == nil {
				_, err = c.NewWriter(tc.opts)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("NewWriter = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestWriterSpoolsUntilInstalled: a new Writer sends nothing before its
// templates are in; StartInstall and AwaitInstall put them in (OnInstall
// hears it once) and the next Write replays what waited, in order.
func TestWriterSpoolsUntilInstalled(t *testing.T) {
	es := testenv.ESClient(t)
	names := testNames(t)
	var calls atomic.Int32
	var got Features
	opts := fastRetries(t.TempDir())
	opts.Retention = 30 * 24 * time.Hour
	opts.InstallTimeout = time.Minute
	opts.OnInstall = func(f Features) { got = f; calls.Add(1) }
	w, err := clientOf(t, es, names).NewWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := tickSnapshot(1, 1, 3), tickSnapshot(2, 1, 3)
	if r, err := w.Write(ctxT(t), s1); err != nil || r.Spooled != 4 || r.Indexed != 0 {
		t.Fatalf("Write before install = %+v, %v; want all 4 spooled", r, err)
	}
	if r, err := w.WriteTick(ctxT(t), TickDoc{Time: s1.Time, Cluster: "test", Result: "ok"}); err != nil || r.Spooled != 1 {
		t.Fatalf("WriteTick before install = %+v, %v; want spooled", r, err)
	}
	w.StartInstall()
	w.StartInstall() // one in flight at a time
	if err := w.AwaitInstall(ctxT(t)); err != nil {
		t.Fatalf("AwaitInstall: %v", err)
	}
	if err := w.AwaitInstall(ctxT(t)); err != nil || !w.Installed() {
		t.Fatalf("AwaitInstall again = %v, installed %v", err, w.Installed())
	}
	if calls.Load() != 1 || got.Retention != "30d" {
		t.Errorf("OnInstall called %d times with %+v; want once, retention 30d", calls.Load(), got)
	}
	r, err := w.Write(ctxT(t), s2)
	if err != nil || r.Replayed != 5 || r.Indexed != 9 {
		t.Fatalf("Write after install = %+v, %v; want the 5 spooled replayed, 9 indexed", r, err)
	}
	wantCounts(t, es, names, map[int]snapshot.Snapshot{1: s1, 2: s2})
}

// TestAwaitInstallUnreachable: while Elasticsearch does not answer, the
// install fails within its timeout, writes keep spooling, and a context that
// ends first leaves the attempt for the next call.
func TestAwaitInstallUnreachable(t *testing.T) {
	names, _ := NewNames("unit")
	c := clientOf(t, clientFor(t, closedURL), names)
	called := false
	w, err := c.NewWriter(WriterOptions{SpoolDir: t.TempDir(), InstallTimeout: 5 * time.Second, OnInstall: func(Features) { called = true }})
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.AwaitInstall(done); !errors.Is(err, context.Canceled) {
		t.Errorf("AwaitInstall(done context) = %v, want context.Canceled", err)
	}
	if err := w.AwaitInstall(ctxT(t)); err == nil || w.Installed() {
		t.Fatalf("AwaitInstall against a closed port = %v, installed %v; want an error", err, w.Installed())
	}
	if called {
		t.Error("OnInstall called for a failed install")
	}
	if r, err := w.Write(ctxT(t), tickSnapshot(0, 1, 3)); err != nil || r.Spooled != 4 || hasProblem(r, Temporary) {
		t.Fatalf("Write = %+v, %v; want spooled without trying to send", r, err)
	}
}

func TestWriteResultAdd(t *testing.T) {
	a := WriteResult{Docs: 1, Indexed: 2, Duplicates: 3, Failed: 4, Retried: 5, Spooled: 6, Replayed: 7, Dropped: 8, Problems: []Problem{{Kind: Spool, Count: 1}}}
	var sum WriteResult
	sum.Add(a)
	sum.Add(a)
	want := WriteResult{Docs: 2, Indexed: 4, Duplicates: 6, Failed: 8, Retried: 10, Spooled: 12, Replayed: 14, Dropped: 16, Problems: []Problem{{Kind: Spool, Count: 1}, {Kind: Spool, Count: 1}}}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("sum = %+v, want %+v (every count, Spooled and Replayed included)", sum, want)
	}
}
