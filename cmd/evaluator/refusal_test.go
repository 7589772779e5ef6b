package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
)

// blockedHistory is a history of one group of cluster "alerts" whose status
// data stream and incident indices exist, ready to be blocked: an evaluation
// of the group caught up has been written, and the incident indices made.
// The test's environment points the evaluator at it with a webhook.
type blockedHistory struct {
	*alertGroup
	hook *hook
}

func newBlockedHistory(ctx context.Context, t *testing.T, prefix string) *blockedHistory {
	t.Helper()
	b := &blockedHistory{alertGroup: newAlertGroup(ctx, t, prefix), hook: newHook(t)}
	for k, v := range map[string]string{"EVALUATOR_WEBHOOK_URL": b.hook.srv.URL, "EVALUATOR_WEBHOOK_RETRIES": "0",
		"EVALUATOR_ALERT_RESEND": "1h", "EVALUATOR_TIMEOUT": "30s", "EVALUATOR_WINDOW_SIZE": "3"} {
		t.Setenv(k, v)
	}
	// Well before the ticks stop writes (ticks are whole seconds: a tick
	// of the same second would be the same documents, already stored).
	now := time.Now().UTC()
	for i := 10; i >= 8; i-- {
		b.write(now.Add(-time.Duration(i)*time.Second), 20, 20)
	}
	runOnce(ctx, t, "evaluation of the group caught up")
	for _, index := range []string{b.names.Incidents, b.names.IncidentLog} {
		res, err := b.es.Indices.Create(index)
		if err != nil {
			t.Fatal(err)
		}
		testenv.MustOK(t, res.StatusCode, res.Body, "create "+index)
	}
	return b
}

// block puts a write block on the status data stream and the incident
// indices, as an operator does; the returned function lifts it.
func (b *blockedHistory) block(t *testing.T) (lift func()) {
	return testenv.BlockWrites(t, ".ds-"+b.names.Status+"-*,"+b.names.Incidents+","+b.names.IncidentLog)
}

// fallBehind writes three ticks of the group stopped behind: ERR.
func (b *blockedHistory) fallBehind() {
	now := time.Now().UTC()
	for i := 3; i >= 1; i-- {
		b.write(now.Add(-time.Duration(i)*time.Second), 5, 30-int64(i))
	}
}

// incident is the group's stored incident.
func (b *blockedHistory) incident(ctx context.Context, t *testing.T) notify.Incident {
	t.Helper()
	incs, err := b.client.Incidents().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return incs[notify.GroupKey{Cluster: "alerts", Group: b.name}]
}

// TestAlertWhileWritesAreBlocked: an evaluator running on (one process)
// while the status data stream and the incident indices of the real node
// have a write block, and the group turns ERR. The alert reaches the
// webhook once; the statuses are kept; another evaluation under the block
// sends nothing more. Once the block is lifted, the kept statuses are
// written, the incident saved, and no alert is sent twice; the close is sent
// once.
func TestAlertWhileWritesAreBlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newBlockedHistory(ctx, t, "blocked")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	e, err := newEvaluator(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	live := func(step string) {
		t.Helper()
		if err := e.Live(ctx); err != nil {
			t.Fatalf("%s: %v (a refused write is no failure of the run)\n%s", step, err, logs.String())
		}
		time.Sleep(5 * time.Millisecond) // distinct evaluation instants
	}

	lift := b.block(t)
	b.fallBehind()
	live("under the block")
	if got := b.hook.kinds(); !slices.Equal(got, []string{"open:ERR"}) {
		t.Fatalf("alerts %v under the block, want [open:ERR]\n%s", got, logs.String())
	}
	live("still under the block")
	if got := b.hook.kinds(); len(got) != 1 {
		t.Fatalf("a second evaluation under the block sent %v, want nothing more", got)
	}
	if statuses, incidents := e.Unwritten(); statuses != 2 || incidents != 1 {
		t.Errorf("Unwritten = %d statuses, %d incidents; want 2 and 1", statuses, incidents)
	}
	if n := len(testenv.SearchAll[storedStatus](t, b.names.Status)); n != 1 {
		t.Errorf("%d status documents under the block, want 1 (the one before)", n)
	}
	if !strings.Contains(logs.String(), "cluster_block_exception") {
		t.Errorf("the log does not name the block:\n%s", logs.String())
	}

	lift()
	live("once the block is lifted")
	live("after that")
	if got := b.hook.kinds(); len(got) != 1 {
		t.Fatalf("alerts %v once the block is lifted, want [open:ERR] only", got)
	}
	if inc := b.incident(ctx, t); !inc.Open || inc.Sends != 1 || inc.Pending != notify.None || inc.Status.String() != "ERR" {
		t.Errorf("stored incident %+v; want open at ERR after one send", inc)
	}
	if statuses, incidents := e.Unwritten(); statuses != 0 || incidents != 0 {
		t.Errorf("Unwritten = %d statuses, %d incidents; want none", statuses, incidents)
	}
	byStatus := map[string]int{}
	for _, s := range testenv.SearchAll[storedStatus](t, b.names.Status) {
		byStatus[s.Lagwatch.Status.Status]++
	}
	if byStatus["OK"] != 1 || byStatus["ERR"] != 4 {
		t.Errorf("status documents by status %v; want 1 OK and 4 ERR (two of them kept under the block)", byStatus)
	}

	now := time.Now().UTC()
	b.write(now.Add(-10*time.Millisecond), 30, 30) // caught up
	live("recovered")
	live("recovered, again")
	if got := b.hook.kinds(); !slices.Equal(got, []string{"open:ERR", "close:OK"}) {
		t.Errorf("alerts %v, want the close once", got)
	}
}

// TestOnceWhileWritesAreBlocked: evaluator --once, each run a new process,
// with EVALUATOR_STATE_FILE, while the status data stream and the incident
// indices are blocked. The first run sends the alert and exits 1 saying
// what was not written; the second sends nothing (the state file knows);
// once the block is lifted, a run saves the incident and sends nothing. The
// statuses of the blocked runs are gone with their processes, and --at at
// their instant writes them.
func TestOnceWhileWritesAreBlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newBlockedHistory(ctx, t, "blockedonce")
	state := filepath.Join(t.TempDir(), "evaluator-state.json")
	t.Setenv("EVALUATOR_STATE_FILE", state)
	once := func() (ats []string, err error) {
		t.Helper()
		var stderr bytes.Buffer
		err = run(ctx, []string{"--once"}, io.Discard, &stderr)
		for _, l := range strings.Split(stderr.String(), "\n") {
			var m struct{ Msg, At string }
			if json.Unmarshal([]byte(l), &m) == nil && m.Msg == "evaluation" {
				ats = append(ats, m.At)
			}
		}
		if len(ats) != 1 {
			t.Fatalf("%d summary lines, want 1:\n%s", len(ats), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
		return ats, err
	}

	lift := b.block(t)
	b.fallBehind()
	var blocked []string
	for i := range 2 {
		at, err := once()
		if err == nil || !strings.Contains(err.Error(), "1 status documents were not written") ||
			!strings.Contains(err.Error(), "EVALUATOR_STATE_FILE keeps them for the next run") {
			t.Fatalf("run %d under the block: %v; want an error naming the status and the incident not written", i+1, err)
		}
		blocked = append(blocked, at...)
	}
	if got := b.hook.kinds(); !slices.Equal(got, []string{"open:ERR"}) {
		t.Fatalf("alerts %v after two runs under the block, want [open:ERR] once", got)
	}
	lift()
	if _, err := once(); err != nil {
		t.Fatalf("run once the block is lifted: %v", err)
	}
	if got := b.hook.kinds(); len(got) != 1 {
		t.Fatalf("alerts %v once the block is lifted, want [open:ERR] only", got)
	}
	if inc := b.incident(ctx, t); !inc.Open || inc.Sends != 1 || inc.Pending != notify.None {
		t.Errorf("stored incident %+v; want open after one send", inc)
	}
	if n := len(testenv.SearchAll[storedStatus](t, b.names.Status)); n != 2 {
		t.Errorf("%d status documents, want 2: before and after the block", n)
	}
	for _, at := range blocked {
		var stderr bytes.Buffer
		if err := run(ctx, []string{"--at", at}, io.Discard, &stderr); err != nil {
			t.Fatalf("--at %s: %v\n%s", at, err, stderr.String())
		}
	}
	if n := len(testenv.SearchAll[storedStatus](t, b.names.Status)); n != 4 {
		t.Errorf("%d status documents after --at at the blocked runs' instants, want 4", n)
	}
	if got := b.hook.kinds(); len(got) != 1 {
		t.Errorf("alerts %v, want [open:ERR] only", got)
	}
}
