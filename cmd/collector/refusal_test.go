package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// storedTick is the part of a collector document the tests read.
type storedTick struct {
	Timestamp string `json:"@timestamp"`
	Lagwatch  struct {
		Collector struct {
			Result   string `json:"result"`
			Written  int    `json:"documents_written"`
			Failed   int    `json:"documents_failed"`
			Spooled  int    `json:"documents_spooled"`
			Replayed int    `json:"documents_replayed"`
			Refused  int    `json:"documents_refused"`
			Refusal  string `json:"write_refusal"`
		} `json:"collector"`
	} `json:"lagwatch"`
}

// nextSecond waits for the next whole second: a tick's time is its second,
// so that each run of --once is a tick of its own.
func nextSecond() { time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) }

// TestWriteBlockLosesNoTick is the case of issue 22: the data streams'
// backing indices get index.blocks.write (an operator, a shrink), so every
// document is answered 403 cluster_block_exception. Two runs of
// `collector --once` under the block exit 1 saying why, with their
// documents in the spool, none failed; once the block is lifted, the next
// run replays both in order. Every tick's documents are stored exactly
// once, and the collector documents count what happened.
func TestWriteBlockLosesNoTick(t *testing.T) {
	group := committedGroup(t, "block", map[int]int64{0: 1, 1: 2, 2: 3}, 10, 10, 10)
	ns := setCollectorEnv(t, group)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A long tick timeout: the templates' installation has a fifth of it,
	// and a node that holds thousands of test templates takes seconds for
	// each.
	env := map[string]string{"COLLECTOR_TICK_TIMEOUT": "60s"}

	if out, err := runOnce(ctx, t, env); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	lift := testenv.BlockWrites(t, ".ds-metrics-lagwatch.*-"+ns+"-*")
	for i := 2; i <= 3; i++ {
		nextSecond()
		out, err := runOnce(ctx, t, env)
		if err == nil || !strings.Contains(err.Error(), "4 documents went to the spool instead of Elasticsearch (cluster_block_exception") {
			t.Fatalf("run %d under the block: %v, want an error saying 4 documents were spooled and why\n%s", i, err, out)
		}
		if strings.Count(out, "Elasticsearch refuses writes") != 1 || !strings.Contains(out, "index write (api)") {
			t.Errorf("run %d: want the refusal logged once with its reason:\n%s", i, out)
		}
		if strings.Contains(out, "not brought up to date") {
			t.Errorf("run %d: the existing data streams' mappings were not brought up to date:\n%s", i, out)
		}
		if !strings.Contains(out, `"failed":0`) || !strings.Contains(out, `"spooled":4`) {
			t.Errorf("run %d: want 4 documents spooled and none failed in the tick line:\n%s", i, out)
		}
	}
	lift()
	nextSecond()
	out, err := runOnce(ctx, t, env)
	if err != nil {
		t.Fatalf("run after the block was lifted: %v\n%s", err, out)
	}

	wantTicks(t, ns, 4, 3)
	if n := len(testenv.SearchAll[map[string]any](t, "metrics-lagwatch.groups-"+ns)); n != 4 {
		t.Errorf("%d group documents, want 4 (one per tick)", n)
	}
	ticks := testenv.SearchAll[storedTick](t, "metrics-lagwatch.collector-"+ns)
	byResult := map[string][]storedTick{}
	for _, d := range ticks {
		byResult[d.Lagwatch.Collector.Result] = append(byResult[d.Lagwatch.Collector.Result], d)
	}
	if len(byResult["spooled"]) != 2 || len(byResult["ok"]) != 2 || len(ticks) != 4 {
		t.Fatalf("collector documents %+v; want 2 ok and 2 spooled (themselves replayed)", byResult)
	}
	for _, d := range byResult["spooled"] {
		c := d.Lagwatch.Collector
		if c.Spooled != 4 || c.Failed != 0 || c.Refused < 4 || !strings.Contains(c.Refusal, "cluster_block_exception") {
			t.Errorf("spooled tick %s: %+v; want 4 spooled, 0 failed, the refusals and their reason", d.Timestamp, c)
		}
	}
	// The last run replayed the two spooled ticks: 4 documents each, and
	// the first of them's collector document.
	replayed := 0
	for _, d := range byResult["ok"] {
		replayed += d.Lagwatch.Collector.Replayed
	}
	if replayed < 8 {
		t.Errorf("collector documents %+v: want the replayed documents counted", byResult["ok"])
	}
}

// TestRevokedPrivilegeLosesNoTick writes to the secured node as a user that
// may install the templates but not write the data streams (scripts/testenv
// puts lagwatch-reader in its file realm): every document is answered 403
// security_exception, so the ticks spool. Run again as the user that may
// write, the collector replays them: nothing is lost.
func TestRevokedPrivilegeLosesNoTick(t *testing.T) {
	url, ca, writer, reader := testenv.SecureElasticsearchUsers(t)
	_, password, _ := testenv.SecureElasticsearch(t)
	group := committedGroup(t, "revoked", map[int]int64{0: 3, 1: 4}, 5, 5)
	ns := setCollectorEnv(t, group)
	spool := t.TempDir()
	t.Setenv("COLLECTOR_SPOOL_DIR", spool)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	as := func(u testenv.SecureUser) map[string]string {
		return map[string]string{"ELASTICSEARCH_URL": url, "ELASTICSEARCH_CA_FILE": ca, "ELASTICSEARCH_USERNAME": u.Name,
			"ELASTICSEARCH_PASSWORD": u.Password, "COLLECTOR_TICK_TIMEOUT": "60s"}
	}

	for i := 1; i <= 2; i++ {
		out, err := runOnce(ctx, t, as(reader))
		if err == nil || !strings.Contains(err.Error(), "3 documents went to the spool instead of Elasticsearch (security_exception") {
			t.Fatalf("run %d as %s: %v, want the documents spooled for a security_exception\n%s", i, reader.Name, err, out)
		}
		if !strings.Contains(out, `"cause":"security_exception","status":403`) || strings.Contains(out, reader.Password) {
			t.Errorf("run %d: want the 403 logged with its cause, and no password:\n%s", i, out)
		}
		nextSecond()
	}
	if segs, _ := filepath.Glob(filepath.Join(spool, "seg-*")); len(segs) != 4 {
		t.Fatalf("spool holds %d segments after two refused ticks, want 4 (a snapshot and a collector document each)", len(segs))
	}
	if out, err := runOnce(ctx, t, as(writer)); err != nil {
		t.Fatalf("run as %s: %v\n%s", writer.Name, err, out)
	}
	if segs, _ := filepath.Glob(filepath.Join(spool, "seg-*")); len(segs) != 0 {
		t.Errorf("spool holds %d segments after the replay, want none", len(segs))
	}
	// Three ticks of two partitions, a group document and a collector
	// document each.
	if n := countSecure(t, url, password, ca, "metrics-lagwatch.offsets-"+ns); n != 6 {
		t.Errorf("%d offsets documents on the secured node, want 6 (3 ticks of 2 partitions)", n)
	}
	if n := countSecure(t, url, password, ca, "metrics-lagwatch.groups-"+ns); n != 3 {
		t.Errorf("%d group documents, want 3", n)
	}
	if n := countSecure(t, url, password, ca, "metrics-lagwatch.collector-"+ns); n != 3 {
		t.Errorf("%d collector documents, want 3", n)
	}
}
