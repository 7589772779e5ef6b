package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestElasticsearchDownForTwoTicks starts the collector while Elasticsearch
// is unreachable (a proxy in front of the real node, closed): the templates
// cannot be installed, so two ticks go to the spool. Then Elasticsearch comes
// back: the third tick installs the templates, replays both spooled ticks in
// order and writes its own. Every tick's documents are stored exactly once.
func TestElasticsearchDownForTwoTicks(t *testing.T) {
	group := committedGroup(t, "outage", map[int]int64{0: 1, 1: 2}, 10, 10)
	ns := setCollectorEnv(t, group)
	proxy := testenv.ElasticsearchProxy(t)
	proxy.Down()
	c, _ := collectorBehind(t, proxy, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for i := 1; i <= 2; i++ {
		if _, err := c.core.Tick(ctx); err != nil {
			t.Fatalf("tick %d while Elasticsearch is down: %v (it must spool, not fail)", i, err)
		}
		// Distinct tick times: a tick's time is its second.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	}
	// Each tick spools its snapshot and the document recording the tick.
	if segs, _ := c.writer.SpoolDepth(); segs != 4 {
		t.Fatalf("spool holds %d segments after two ticks, want 4", segs)
	}
	proxy.Up(t)
	if _, err := c.core.Tick(ctx); err != nil {
		t.Fatalf("tick after Elasticsearch came back: %v", err)
	}
	if segs, bytes := c.writer.SpoolDepth(); segs != 0 || bytes != 0 {
		t.Errorf("spool not empty after the replay: %d segments, %d bytes", segs, bytes)
	}

	wantTicks(t, ns, 3, 2)
	groups := testenv.SearchAll[map[string]any](t, "metrics-lagwatch.groups-"+ns)
	if len(groups) != 3 {
		t.Errorf("%d group documents, want 3 (one per tick)", len(groups))
	}
	type tickDoc struct {
		Lagwatch struct {
			Collector struct {
				Result  string `json:"result"`
				Spooled int    `json:"documents_spooled"`
				Written int    `json:"documents_written"`
			} `json:"collector"`
		} `json:"lagwatch"`
	}
	results := map[string]int{}
	for _, d := range testenv.SearchAll[tickDoc](t, "metrics-lagwatch.collector-"+ns) {
		results[d.Lagwatch.Collector.Result]++
	}
	if results["spooled"] != 2 || results["ok"] != 1 {
		t.Errorf("tick documents by result %v, want 2 spooled and 1 ok", results)
	}
}

// TestElasticsearchHangs: Elasticsearch accepts connections and never
// answers. The tick still reads Kafka, spools its documents when its time is
// up, and ends within its timeout; once Elasticsearch answers again the next
// tick writes both.
func TestElasticsearchHangs(t *testing.T) {
	group := committedGroup(t, "hang", map[int]int64{0: 4}, 10)
	ns := setCollectorEnv(t, group)
	proxy := testenv.ElasticsearchProxy(t)
	proxy.Hang()
	// The template installation gets a fifth of the tick timeout: 2 s.
	c, took := collectorBehind(t, proxy, map[string]string{"COLLECTOR_KAFKA_TIMEOUT": "5s"})
	if took > 15*time.Second { // bounded by a fifth of the tick timeout, 2 s; without a bound it would hang
		t.Errorf("starting took %s: installing the templates must not wait long for a hanging Elasticsearch", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	if _, err := c.core.Tick(ctx); err != nil {
		t.Fatalf("tick while Elasticsearch hangs: %v (it must spool)", err)
	}
	if took := time.Since(start); took > 30*time.Second { // bounded by the 10 s tick timeout; without it the tick would hang
		t.Errorf("the tick took %s, beyond its 5 s timeout", took)
	}
	if segs, _ := c.writer.SpoolDepth(); segs == 0 {
		t.Fatal("nothing spooled: the tick's documents are lost")
	}

	proxy.Up(t)
	if _, err := c.core.Tick(ctx); err != nil {
		t.Fatalf("tick after Elasticsearch answered again: %v", err)
	}
	perTick := map[string]int{}
	for _, d := range testenv.SearchAll[storedOffsets](t, "metrics-lagwatch.offsets-"+ns) {
		perTick[d.Timestamp]++
	}
	if len(perTick) != 2 {
		t.Errorf("offsets documents of %d ticks stored, want 2: %v", len(perTick), perTick)
	}
}

// collectorBehind builds the collector's parts as run does, with
// Elasticsearch reached through proxy (down or hanging already), no metrics
// listener, a 10 s tick timeout and env on top of what the test set; it
// returns how long building took. The parts are closed when the test ends.
func collectorBehind(t *testing.T, proxy *testenv.Proxy, env map[string]string) (*program, time.Duration) {
	t.Helper()
	t.Setenv("ELASTICSEARCH_URL", proxy.URL())
	t.Setenv("COLLECTOR_METRICS_ADDR", "")
	t.Setenv("COLLECTOR_TICK_TIMEOUT", "10s")
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := newCollector(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("the collector must start while Elasticsearch is away: %v", err)
	}
	t.Cleanup(c.close)
	return c, took
}
