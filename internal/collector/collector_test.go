package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSource answers Take with its snapshot, stamped with the cluster and
// the tick's time. When started is set, Take signals it and waits for
// release (or the tick's end), so that a test sees the reads overlap.
type fakeSource struct {
	snap             snapshot.Snapshot
	started, release chan struct{}
}

func (f *fakeSource) Take(ctx context.Context, at time.Time) snapshot.Snapshot {
	if f.started != nil {
		f.started <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
			return snapshot.Snapshot{Cluster: f.snap.Cluster, Time: at, Err: ctx.Err()}
		}
	}
	s := f.snap
	s.Time = at.Truncate(time.Second)
	return s
}

// fakeSink records what it is given. write answers Write (zero and nil
// without it); installErr answers AwaitInstall.
type fakeSink struct {
	mu         sync.Mutex
	installErr error
	write      func(snapshot.Snapshot) (esindex.WriteResult, error)
	segments   int
	bytes      int64

	installs, awaits int
	snaps            []snapshot.Snapshot
	ticks            []esindex.TickDoc
}

func (f *fakeSink) StartInstall() { f.mu.Lock(); f.installs++; f.mu.Unlock() }

func (f *fakeSink) AwaitInstall(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.awaits++
	return f.installErr
}

func (f *fakeSink) Write(_ context.Context, s snapshot.Snapshot) (esindex.WriteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps = append(f.snaps, s)
	if f.write == nil {
		return esindex.WriteResult{}, nil
	}
	return f.write(s)
}

func (f *fakeSink) WriteTick(_ context.Context, t esindex.TickDoc) (esindex.WriteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticks = append(f.ticks, t)
	return esindex.WriteResult{Docs: 1, Indexed: 1}, nil
}

func (f *fakeSink) SpoolDepth() (int, int64) { return f.segments, f.bytes }

// logLine is one line of the JSON log.
type logLine map[string]any

// newCollector builds a Collector over the fakes, logging JSON lines to the
// returned buffer.
func newCollector(sink *fakeSink, sources ...Source) (*Collector, *bytes.Buffer) {
	var buf bytes.Buffer
	return &Collector{Sources: sources, Sink: sink, Timeout: 10 * time.Second, Metrics: NewMetrics(),
		Log: slog.New(slog.NewJSONHandler(&buf, nil)), LastRun: &service.LastRun{Noun: "tick"}}, &buf
}

func logLines(t *testing.T, buf *bytes.Buffer) []logLine {
	t.Helper()
	var lines []logLine
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m logLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// twoGroups is a cluster's snapshot: two groups, three partitions, one of
// them failed, plus a group error and a negative lag in the stats.
func twoGroups(cluster string) snapshot.Snapshot {
	return snapshot.Snapshot{Cluster: cluster, ClusterID: "id-" + cluster,
		Groups: []snapshot.Group{
			{ID: "orders", State: "Stable", Partitions: []snapshot.Partition{
				{Topic: "o", Partition: 0, Committed: 5, HasCommitted: true, LogEnd: 9, HasOffsets: true},
				{Topic: "o", Partition: 1, Err: errors.New("offsets unavailable")},
			}},
			{ID: "payments", State: "Empty", Partitions: []snapshot.Partition{
				{Topic: "p", Partition: 0, Committed: 3, HasCommitted: true, LogEnd: 3, HasOffsets: true},
			}},
		},
		Stats: snapshot.Stats{Requests: 7, NegativeLags: 1, GroupErrors: 1}}
}

// TestGoodTick: one cluster read and written. The snapshot reaches the sink,
// then one tick document; the metrics count it; one Info line sums it up.
func TestGoodTick(t *testing.T) {
	sink := &fakeSink{segments: 0, bytes: 0, write: func(s snapshot.Snapshot) (esindex.WriteResult, error) {
		return esindex.WriteResult{Docs: 5, Indexed: 4, Duplicates: 1, Retried: 2, Replayed: 3}, nil
	}}
	c, logs := newCollector(sink, &fakeSource{snap: twoGroups("prod")})
	before := time.Now()
	res, err := c.Tick(context.Background())
	if err != nil || res.Spooled != 0 {
		t.Fatalf("Tick = %+v, %v; want no spooled documents, nil", res, err)
	}
	if sink.installs != 1 || sink.awaits != 1 {
		t.Errorf("StartInstall %d, AwaitInstall %d times; want 1 each", sink.installs, sink.awaits)
	}
	if len(sink.snaps) != 1 || sink.snaps[0].ClusterID != "id-prod" {
		t.Fatalf("sink got %+v, want the prod snapshot", sink.snaps)
	}
	if len(sink.ticks) != 1 {
		t.Fatalf("%d tick documents, want 1", len(sink.ticks))
	}
	td := sink.ticks[0]
	want := esindex.TickDoc{Time: sink.snaps[0].Time, Cluster: "prod", Result: "ok", Groups: 2, Partitions: 3,
		KafkaRequests: 7, GroupErrors: 1, PartitionErrors: 1, NegativeLags: 1, Written: 4, Duplicates: 1, Replayed: 3}
	if td.TickDuration <= 0 || td.ReadDuration <= 0 || td.ReadDuration > td.TickDuration {
		t.Errorf("durations: read %s, tick %s", td.ReadDuration, td.TickDuration)
	}
	td.TickDuration, td.ReadDuration = 0, 0
	if td != want {
		t.Errorf("tick document\n got %+v\nwant %+v", td, want)
	}

	m := c.Metrics
	for _, tc := range []struct {
		series string
		c      prometheus.Collector
		want   float64
	}{
		{"ticks ok", m.ticks.WithLabelValues("prod", "ok"), 1},
		{"documents written", m.docs.WithLabelValues("prod", "written"), 4},
		{"documents duplicate", m.docs.WithLabelValues("prod", "duplicate"), 1},
		{"documents replayed", m.docs.WithLabelValues("prod", "replayed"), 3},
		{"documents failed", m.docs.WithLabelValues("prod", "failed"), 0},
		{"kafka requests", m.kafkaRequests.WithLabelValues("prod"), 7},
		{"negative lags", m.negativeLags.WithLabelValues("prod"), 1},
		{"group errors", m.kafkaErrors.WithLabelValues("prod", "group"), 1},
		{"partition errors", m.kafkaErrors.WithLabelValues("prod", "partition"), 1},
		{"cluster errors", m.kafkaErrors.WithLabelValues("prod", "cluster"), 0},
		{"groups", m.groups.WithLabelValues("prod"), 2},
		{"partitions", m.partitions.WithLabelValues("prod"), 3},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.series, got, tc.want)
		}
	}
	if ls := testutil.ToFloat64(c.Metrics.lastSuccess.WithLabelValues("prod")); ls < float64(before.Unix()) {
		t.Errorf("last success %v, before the tick (%d)", ls, before.Unix())
	}
	if n := testutil.CollectAndCount(c.Metrics.tickDuration); n != 1 {
		t.Errorf("%d tick duration series, want 1", n)
	}

	lines := logLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(lines), lines)
	}
	l := lines[0]
	if l["msg"] != "tick" || l["level"] != "INFO" {
		t.Errorf("line %v, want an INFO line \"tick\"", l)
	}
	for key, want := range map[string]float64{"groups": 2, "partitions": 3, "kafka_requests": 7, "group_errors": 1,
		"partition_errors": 1, "negative_lags": 1, "written": 4, "duplicates": 1, "failed": 0, "retried": 2,
		"spooled": 0, "replayed": 3, "dropped": 0} {
		if l[key] != want {
			t.Errorf("log %s = %v, want %v", key, l[key], want)
		}
	}
	for _, key := range []string{"cluster", "read_duration", "duration"} {
		if _, ok := l[key]; !ok {
			t.Errorf("log line lacks %s: %v", key, l)
		}
	}
	if _, ok := l["problems"]; ok {
		t.Errorf("log line has problems where there were none: %v", l)
	}
	if at, err := c.LastRun.Last(); at.IsZero() || err != nil {
		t.Errorf("last run %s, %v; want recorded, nil", at, err)
	}
}

// TestClusterNotRead: a cluster that could not be read fails the tick
// without a write, and its tick document carries the error; the other
// cluster is written as usual.
func TestClusterNotRead(t *testing.T) {
	sink := &fakeSink{}
	down := &fakeSource{snap: snapshot.Snapshot{Cluster: "down", Err: errors.New("dial tcp: connection refused")}}
	c, logs := newCollector(sink, down, &fakeSource{snap: twoGroups("up")})
	_, err := c.Tick(context.Background())
	if err == nil || !strings.Contains(err.Error(), `cluster "down": dial tcp: connection refused`) {
		t.Fatalf("Tick error %v, want the down cluster's", err)
	}
	if strings.Contains(err.Error(), `"up"`) {
		t.Errorf("error names the cluster that was read: %v", err)
	}
	if len(sink.snaps) != 1 || sink.snaps[0].Cluster != "up" {
		t.Errorf("sink got %+v, want only the up cluster's snapshot", sink.snaps)
	}
	ticks := map[string]esindex.TickDoc{}
	for _, td := range sink.ticks {
		ticks[td.Cluster] = td
	}
	if len(sink.ticks) != 2 || ticks["down"].Result != "error" || ticks["down"].Error != "dial tcp: connection refused" || ticks["up"].Result != "ok" {
		t.Errorf("tick documents %+v; want down (error, with its message) and up (ok)", sink.ticks)
	}
	if testutil.ToFloat64(c.Metrics.kafkaErrors.WithLabelValues("down", "cluster")) != 1 || testutil.ToFloat64(c.Metrics.ticks.WithLabelValues("down", "error")) != 1 ||
		testutil.ToFloat64(c.Metrics.ticks.WithLabelValues("up", "ok")) != 1 {
		t.Error("the failed cluster's tick or error is not counted")
	}
	if n := testutil.CollectAndCount(c.Metrics.groups); n != 1 {
		t.Errorf("%d groups series, want only the read cluster's", n)
	}
	lines := map[any]logLine{}
	for _, l := range logLines(t, logs) {
		lines[l["cluster"]] = l
	}
	if down := lines["down"]; len(lines) != 2 || down["msg"] != "tick failed: cluster not read" || down["level"] != "ERROR" ||
		down["err"] != "dial tcp: connection refused" || lines["up"]["msg"] != "tick" {
		t.Errorf("log %v; want the down cluster's error line and the up cluster's tick", lines)
	}
	if _, ok := lines["down"]["written"]; ok {
		t.Errorf("the line of a cluster not read counts documents: %v", lines["down"])
	}
	if _, err := c.LastRun.Last(); err == nil {
		t.Error("the failed tick is not recorded for /healthz")
	}
}

// TestWriteFails: an error from the sink, or documents it rejected, fail
// the cluster's tick.
func TestWriteFails(t *testing.T) {
	cases := []struct {
		name     string
		res      esindex.WriteResult
		err      error
		wantErr  string
		docError string
	}{
		{"the sink fails: its error", esindex.WriteResult{Docs: 4, Spooled: 1, Dropped: 3}, errors.New("spool full"), "spool full", "spool full"},
		{"documents rejected without an error: counted as one", esindex.WriteResult{Docs: 4, Indexed: 2, Failed: 2,
			Problems: []esindex.Problem{{Kind: esindex.Rejected, Status: 400, Reason: "mapper_parsing_exception", Count: 2}}},
			nil, "2 documents rejected by Elasticsearch for their content", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &fakeSink{write: func(snapshot.Snapshot) (esindex.WriteResult, error) { return tc.res, tc.err }}
			c, logs := newCollector(sink, &fakeSource{snap: twoGroups("prod")})
			res, err := c.Tick(context.Background())
			if err == nil || err.Error() != `cluster "prod": `+tc.wantErr {
				t.Fatalf("Tick error %v, want %q", err, tc.wantErr)
			}
			if res.Spooled != 0 {
				t.Errorf("a failed tick counts %d spooled documents", res.Spooled)
			}
			if td := sink.ticks[0]; td.Result != "error" || td.Error != tc.docError || td.Failed != tc.res.Failed || td.Dropped != tc.res.Dropped {
				t.Errorf("tick document %+v; want result error, error %q", td, tc.docError)
			}
			if testutil.ToFloat64(c.Metrics.ticks.WithLabelValues("prod", "error")) != 1 || testutil.ToFloat64(c.Metrics.ticks.WithLabelValues("prod", "ok")) != 0 ||
				testutil.ToFloat64(c.Metrics.docs.WithLabelValues("prod", "failed")) != float64(tc.res.Failed) || testutil.ToFloat64(c.Metrics.docs.WithLabelValues("prod", "dropped")) != float64(tc.res.Dropped) {
				t.Error("metrics do not count the failed tick")
			}
			if testutil.ToFloat64(c.Metrics.lastSuccess.WithLabelValues("prod")) != 0 {
				t.Error("a failed tick set the last success")
			}
			lines := logLines(t, logs)
			last := lines[len(lines)-1]
			if last["msg"] != "tick failed" || last["level"] != "ERROR" || last["err"] != tc.wantErr {
				t.Errorf("summary line %v; want ERROR \"tick failed\" with err %q", last, tc.wantErr)
			}
			if (tc.res.Dropped > 0 || tc.res.Failed > 0) != (len(lines) == 2) {
				t.Errorf("%d lines; want a line of its own exactly when documents were dropped or rejected: %v", len(lines), lines)
			}
			if len(lines) == 2 && tc.res.Dropped > 0 && lines[0]["msg"] != "documents lost: neither written nor kept in the spool" {
				t.Errorf("first line %v, want the lost documents", lines[0])
			}
			if _, ok := last["problems"]; ok != (len(tc.res.Problems) > 0) {
				t.Errorf("problems in the line: %v; want them exactly when there are some", last)
			}
		})
	}
}

// TestSpooled: templates not installed, so the sink spools. The tick
// succeeds (nothing is lost), says so in a warning and in its document, and
// Result counts the snapshot's spooled documents for --once.
func TestSpooled(t *testing.T) {
	sink := &fakeSink{installErr: errors.New("connection refused"), segments: 4, bytes: 2048,
		write: func(s snapshot.Snapshot) (esindex.WriteResult, error) {
			return esindex.WriteResult{Docs: 5, Spooled: 5}, nil
		}}
	c, logs := newCollector(sink, &fakeSource{snap: twoGroups("a")}, &fakeSource{snap: twoGroups("b")})
	res, err := c.Tick(context.Background())
	if err != nil || res.Spooled != 10 {
		t.Fatalf("Tick = %+v, %v; want 10 spooled documents (5 a cluster), nil", res, err)
	}
	for _, td := range sink.ticks {
		if td.Result != "spooled" || td.Spooled != 5 || td.SpoolSegments != 4 || td.SpoolBytes != 2048 {
			t.Errorf("tick document %+v; want spooled, 5 documents, the spool's depth", td)
		}
	}
	if testutil.ToFloat64(c.Metrics.ticks.WithLabelValues("a", "ok")) != 1 || testutil.ToFloat64(c.Metrics.docs.WithLabelValues("a", "spooled")) != 5 ||
		testutil.ToFloat64(c.Metrics.spoolSegments) != 4 || testutil.ToFloat64(c.Metrics.spoolBytes) != 2048 {
		t.Error("a spooled tick is not counted as a successful one with its spool")
	}
	lines := logLines(t, logs)
	if len(lines) != 3 || lines[0]["msg"] != "index templates not installed yet; snapshots spool until Elasticsearch answers" ||
		lines[0]["err"] != "connection refused" {
		t.Fatalf("log %v; want the installation warning, then a line a cluster", lines)
	}
	for _, l := range lines[1:] {
		if l["level"] != "WARN" || l["msg"] != "tick spooled: Elasticsearch unavailable or refusing writes, or templates not installed; replayed in order later" || l["spooled"] != 5.0 {
			t.Errorf("line %v, want a WARN line saying the tick spooled", l)
		}
	}
}

// TestClustersReadConcurrently: every cluster's read is under way before
// any ends (a sequential tick would wait here until its timeout), and every
// snapshot is written once.
func TestClustersReadConcurrently(t *testing.T) {
	const n = 4
	started, release := make(chan struct{}), make(chan struct{})
	var sources []Source
	for _, name := range []string{"c0", "c1", "c2", "c3"} {
		sources = append(sources, &fakeSource{snap: twoGroups(name), started: started, release: release})
	}
	sink := &fakeSink{}
	c, _ := newCollector(sink, sources...)
	c.Timeout = 5 * time.Second
	done := make(chan error, 1)
	go func() { _, err := c.Tick(context.Background()); done <- err }()
	for i := range n {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d reads started: clusters are read one after the other", i, n)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	written := map[string]int{}
	for _, s := range sink.snaps {
		written[s.Cluster]++
	}
	for _, src := range sources {
		if name := src.(*fakeSource).snap.Cluster; written[name] != 1 {
			t.Errorf("cluster %s written %d times, want once", name, written[name])
		}
	}
	if len(sink.snaps) != n || len(sink.ticks) != n {
		t.Errorf("%d snapshots and %d tick documents written, want %d each", len(sink.snaps), len(sink.ticks), n)
	}
	// One tick, one time: every snapshot carries the tick's start.
	for _, s := range sink.snaps {
		if !s.Time.Equal(sink.snaps[0].Time) {
			t.Errorf("snapshot times differ: %s and %s", s.Time, sink.snaps[0].Time)
		}
	}
}

// hangingSource answers Take only when its context ends, as a cluster whose
// brokers accept connections and never answer, and records the deadline it
// was given.
type hangingSource struct {
	cluster  string
	deadline time.Time
}

func (h *hangingSource) Take(ctx context.Context, at time.Time) snapshot.Snapshot {
	h.deadline, _ = ctx.Deadline()
	<-ctx.Done()
	return snapshot.Snapshot{Cluster: h.cluster, Time: at.Truncate(time.Second), Err: ctx.Err()}
}

// TestHangingClusterCostsOnlyItself: one cluster that never answers and one
// that does. The one that answers is written at once, without waiting for
// the other; the other's read ends at a deadline of its own, before the
// tick's, so that its tick document is still written within the tick.
func TestHangingClusterCostsOnlyItself(t *testing.T) {
	sink := &fakeSink{}
	hanging := &hangingSource{cluster: "hanging"}
	c, _ := newCollector(sink, hanging, &fakeSource{snap: twoGroups("up")})
	c.Timeout = 2 * time.Second
	start := time.Now()
	_, err := c.Tick(context.Background())
	if err == nil || !strings.Contains(err.Error(), `cluster "hanging": context deadline exceeded`) || strings.Contains(err.Error(), `"up"`) {
		t.Errorf("Tick error %v; want the hanging cluster's deadline only", err)
	}
	if limit := start.Add(c.Timeout); hanging.deadline.IsZero() || !hanging.deadline.Before(limit.Add(-c.Timeout/5)) {
		t.Errorf("the hanging cluster's read deadline %s; want one of its own, well before the tick's %s", hanging.deadline, limit)
	}
	if len(sink.snaps) != 1 || sink.snaps[0].Cluster != "up" {
		t.Errorf("snapshots written %+v; want the up cluster's", sink.snaps)
	}
	if len(sink.ticks) != 2 || sink.ticks[0].Cluster != "up" || sink.ticks[0].Result != "ok" ||
		sink.ticks[1].Cluster != "hanging" || sink.ticks[1].Result != "error" {
		t.Errorf("tick documents %+v; want up's (ok) first, written while the other read, then hanging's (error)", sink.ticks)
	}
}

// TestBrokerErrorsCounted: a snapshot with a broker that could not list its
// groups and items asked again. Each broker error has a Warn line of its
// own with its reason; the tick line, the tick document and the metrics
// count both.
func TestBrokerErrorsCounted(t *testing.T) {
	snap := twoGroups("prod")
	snap.BrokerErrors = []snapshot.BrokerError{{Broker: 2, Err: errors.New("list groups on broker 2: unexpected EOF")}}
	snap.Stats.BrokerErrors, snap.Stats.Retries = 1, 3
	sink := &fakeSink{}
	c, logs := newCollector(sink, &fakeSource{snap: snap})
	if _, err := c.Tick(context.Background()); err != nil {
		t.Fatalf("a broker error failed the tick: %v", err)
	}
	lines := logLines(t, logs)
	if len(lines) != 2 {
		t.Fatalf("log %v; want the broker's line and the tick's", lines)
	}
	if b := lines[0]; b["level"] != "WARN" || b["cluster"] != "prod" || b["broker"] != 2.0 || b["err"] != "list groups on broker 2: unexpected EOF" {
		t.Errorf("broker line %v", b)
	}
	if l := lines[1]; l["msg"] != "tick" || l["broker_errors"] != 1.0 || l["kafka_retries"] != 3.0 {
		t.Errorf("tick line %v; want broker_errors 1, kafka_retries 3", l)
	}
	if td := sink.ticks[0]; td.BrokerErrors != 1 || td.Retries != 3 {
		t.Errorf("tick document %+v; want 1 broker error, 3 retries", td)
	}
	if testutil.ToFloat64(c.Metrics.kafkaErrors.WithLabelValues("prod", "broker")) != 1 || testutil.ToFloat64(c.Metrics.kafkaRetries.WithLabelValues("prod")) != 3 {
		t.Error("the broker error or the retries are not counted")
	}
}

// TestRejectedForContent: documents Elasticsearch rejected for their
// content fail the tick, are counted by cause and logged once, with one
// example document and its reason.
func TestRejectedForContent(t *testing.T) {
	res := esindex.WriteResult{Docs: 5, Indexed: 2, Failed: 3,
		Problems: []esindex.Problem{{Kind: esindex.Rejected, Status: 400, Cause: "document_parsing_exception",
			Reason: "document_parsing_exception: failed to parse field [kafka.partition.id]", Count: 3}},
		Rejections: []esindex.CauseCount{{Cause: "document_parsing_exception", Count: 3}},
		Rejection: &esindex.Rejection{Index: "metrics-lagwatch.offsets-default", ID: "abc",
			Reason: "document_parsing_exception: failed to parse field [kafka.partition.id]", Body: `{"kafka":{"partition":{"id":"x"}}}`}}
	sink := &fakeSink{write: func(snapshot.Snapshot) (esindex.WriteResult, error) { return res, nil }}
	c, logs := newCollector(sink, &fakeSource{snap: twoGroups("prod")})
	if _, err := c.Tick(context.Background()); err == nil {
		t.Fatal("a tick whose documents were rejected succeeded")
	}
	var rejected []logLine
	for _, l := range logLines(t, logs) {
		if l["msg"] == "documents rejected for their content (a mapping conflict): not stored, not kept" {
			rejected = append(rejected, l)
		}
	}
	if len(rejected) != 1 {
		t.Fatalf("%d rejection lines, want 1:\n%s", len(rejected), logs)
	}
	l := rejected[0]
	ex, _ := l["example"].(map[string]any)
	if l["level"] != "ERROR" || l["failed"] != 3.0 || l["rejected"].(map[string]any)["document_parsing_exception"] != 3.0 ||
		ex["id"] != "abc" || ex["index"] != "metrics-lagwatch.offsets-default" || ex["document"] != res.Rejection.Body ||
		!strings.Contains(ex["reason"].(string), "failed to parse field") {
		t.Errorf("rejection line %v; want the count by cause and the example", l)
	}
	if n := testutil.ToFloat64(c.Metrics.rejections.WithLabelValues("prod", "document_parsing_exception")); n != 3 {
		t.Errorf("documents_rejected_total{cause=document_parsing_exception} = %v, want 3", n)
	}
}

// TestRefusalLoggedOnce: Elasticsearch refuses the documents of two ticks
// (a write block), then takes them again: the ticks spool and succeed, each
// says why in its line, its document and the metrics, and the refusal is
// logged once when it starts and once when it ends.
func TestRefusalLoggedOnce(t *testing.T) {
	const reason = "cluster_block_exception: index [.ds-metrics-lagwatch.offsets-default-2026.12.06-000001] blocked by: [FORBIDDEN/8/index write (api)];"
	refused := esindex.WriteResult{Docs: 5, Spooled: 5, Refused: 5,
		Problems: []esindex.Problem{{Kind: esindex.Refused, Status: 403, Cause: "cluster_block_exception", Reason: reason, Count: 5}},
		Refusals: []esindex.CauseCount{{Cause: "cluster_block_exception", Count: 5}}}
	results := []esindex.WriteResult{refused, refused, {Docs: 5, Indexed: 15, Replayed: 10}}
	sink := &fakeSink{segments: 2}
	sink.write = func(snapshot.Snapshot) (esindex.WriteResult, error) {
		r := results[0]
		results = results[1:]
		if len(results) == 0 {
			sink.segments = 0
		}
		return r, nil
	}
	c, logs := newCollector(sink, &fakeSource{snap: twoGroups("prod")})
	for i := range 3 {
		res, err := c.Tick(context.Background())
		if err != nil {
			t.Fatalf("tick %d: %v (nothing was lost)", i+1, err)
		}
		if i < 2 && (res.Spooled != 5 || res.Refusal != reason) {
			t.Errorf("tick %d: %+v; want 5 spooled, with the refusal's reason", i+1, res)
		}
	}
	var starts, ends, spooled int
	for _, l := range logLines(t, logs) {
		switch l["msg"] {
		case "Elasticsearch refuses writes: documents go to the spool and are replayed in order once it takes them":
			starts++
			if l["level"] != "WARN" || l["cause"] != "cluster_block_exception" || l["status"] != 403.0 || l["reason"] != reason {
				t.Errorf("refusal line %v; want its cause, status and reason", l)
			}
		case "Elasticsearch takes writes again: the spool is replayed":
			ends++
			if l["replayed"] != 10.0 {
				t.Errorf("end line %v; want the replayed count", l)
			}
		case "tick spooled: Elasticsearch unavailable or refusing writes, or templates not installed; replayed in order later":
			spooled++
			if l["refused"] != 5.0 || l["refusal"] != reason || l["refusals"].(map[string]any)["cluster_block_exception"] != 5.0 {
				t.Errorf("tick line %v; want the refusals by cause and the reason", l)
			}
		}
	}
	if starts != 1 || ends != 1 || spooled != 2 {
		t.Errorf("%d refusal lines, %d end lines, %d spooled tick lines; want 1, 1, 2:\n%s", starts, ends, spooled, logs)
	}
	if td := sink.ticks[0]; td.Result != "spooled" || td.Refused != 5 || td.Refusal != reason {
		t.Errorf("tick document %+v; want spooled, 5 refused, the reason", td)
	}
	if td := sink.ticks[2]; td.Result != "ok" || td.Refused != 0 || td.Refusal != "" || td.Replayed != 10 {
		t.Errorf("tick document after the block %+v; want ok, 10 replayed, no refusal", td)
	}
	if n := testutil.ToFloat64(c.Metrics.refusals.WithLabelValues("prod", "cluster_block_exception")); n != 10 {
		t.Errorf("documents_refused_total{cause=cluster_block_exception} = %v, want 10", n)
	}
}
