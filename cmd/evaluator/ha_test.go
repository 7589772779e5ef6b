package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestTwoEvaluatorsSendEachTransitionOnce runs two evaluators in schedule
// mode, both at every whole second (so that they evaluate at the same
// instant and race for each transition), against one Elasticsearch and one
// webhook, over a
// series of transitions of one group (ERR, OK, ERR, OK). One of them is
// killed (SIGKILL) after the first transition and started again after the
// second. Each transition must reach the webhook exactly once: the incident's
// claim, saved over the version read, decides which evaluator sends it.
func TestTwoEvaluatorsSendEachTransitionOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	es, ns, names, _, w := newHistory(ctx, t, "ha")
	hook := newHook(t)
	group := testenv.Name(t, "ha-group")
	bin := testenv.BuildProgram(t, ".")
	env := append(os.Environ(), "ELASTICSEARCH_URL="+testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE="+ns,
		"EVALUATOR_WEBHOOK_URL="+hook.srv.URL, "EVALUATOR_WEBHOOK_RETRIES=0", "EVALUATOR_SCHEDULE=* * * * * *",
		"EVALUATOR_TIMEOUT=10s", "EVALUATOR_WINDOW_SIZE=3", "EVALUATOR_ALERT_RESEND=1h",
		"EVALUATOR_METRICS_ADDR=", "EVALUATOR_HTTP_ADDR=", "LOG_FORMAT=json")
	start := func() *testenv.Process {
		t.Helper()
		cmd := exec.Command(bin)
		cmd.Env = env
		p := testenv.StartProcess(t, cmd)
		p.WaitFor(t, `"msg":"evaluator running"`, 30*time.Second)
		return p
	}
	write := func(committed, logEnd int64) {
		t.Helper()
		if _, err := w.Write(ctx, stoppedSnapshot(time.Now().UTC(), group, committed, logEnd)); err != nil {
			t.Fatalf("write snapshot: %v", err)
		}
		if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err == nil {
			res.Body.Close()
		}
		time.Sleep(20 * time.Millisecond) // distinct tick times
	}
	// stuck writes three ticks of a consumer stopped at committed: ERR.
	stuck := func(committed, logEnd int64) {
		for i := range int64(3) {
			write(committed, logEnd+i)
		}
	}
	// expect waits for the webhook to have received want, then watches a
	// few more evaluations of both for a duplicate.
	expect := func(step string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !slices.Equal(hook.kinds(), want) {
			if time.Now().After(deadline) || len(hook.kinds()) > len(want) {
				t.Fatalf("%s: alerts %v, want %v", step, hook.kinds(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(3 * time.Second)
		if got := hook.kinds(); !slices.Equal(got, want) {
			t.Fatalf("%s: alerts %v after a few more evaluations, want %v: a transition was sent twice", step, got, want)
		}
	}

	a, b := start(), start()
	_ = b
	stuck(5, 20)
	expect("stopped", "open:ERR")

	if err := a.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	write(30, 30) // caught up
	expect("recovered, one evaluator killed", "open:ERR", "close:OK")

	start()
	// A tick behind first, so that the window's first commit lags the log
	// end before it (Burrow's rules call a window starting at lag 0 OK).
	write(30, 35)
	stuck(30, 40)
	expect("stopped again, both running", "open:ERR", "close:OK", "open:ERR")
	write(50, 50)
	expect("recovered again", "open:ERR", "close:OK", "open:ERR", "close:OK")
}

// TestShardsSplitTheGroups runs two evaluators over one history, each with
// EVALUATOR_SHARDS=2 and its own EVALUATOR_SHARD, at the same instant
// (--at): between them they write exactly one status per group, each of
// the verdict an evaluator of every group writes, and each only for the
// groups its shard owns.
func TestShardsSplitTheGroups(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	es, ns, names, _, w := newHistory(ctx, t, "shards")
	t0 := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	var groups []string
	for g := range 16 {
		groups = append(groups, fmt.Sprintf("shard-group-%02d", g))
	}
	for i := range 5 {
		s := snapshot.Snapshot{Cluster: "alerts", Time: t0.Add(time.Duration(i) * 30 * time.Second)}
		for g, id := range groups {
			committed := int64(10*i) + 20 // caught up
			if g%2 == 1 {
				committed = 5 // stopped
			}
			s.Groups = append(s.Groups, stoppedSnapshot(s.Time, id, committed, int64(10*i)+20).Groups[0])
		}
		if _, err := w.Write(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	evaluateHistory(t, es, ns, names)
	t.Setenv("EVALUATOR_WINDOW_SIZE", "5")
	t.Setenv("EVALUATOR_SHARDS", "2")
	at := t0.Add(2 * time.Minute).Format(time.RFC3339)
	written := map[int]map[string]string{}
	for shard := range 2 {
		t.Setenv("EVALUATOR_SHARD", strconv.Itoa(shard))
		var stderr bytes.Buffer
		if err := run(ctx, []string{"--at", at}, io.Discard, &stderr); err != nil {
			t.Fatalf("shard %d: %v\n%s", shard, err, stderr.String())
		}
		written[shard] = map[string]string{}
		for _, s := range testenv.SearchAll[storedStatus](t, names.Status) {
			written[shard][s.Kafka.Consumergroup.ID] = s.Lagwatch.Status.Status
		}
	}
	// written[1] holds both shards' statuses; what shard 1 added is the rest.
	for g, id := range groups {
		want := "OK"
		if g%2 == 1 {
			want = "ERR"
		}
		status, ok := written[1][id]
		if !ok || status != want {
			t.Errorf("group %s: status %q (written %v), want %s", id, status, ok, want)
		}
		_, byFirst := written[0][id]
		owner := 1
		if byFirst {
			owner = 0
		}
		if !(esindex.Shard{Index: owner, Count: 2}).Owns("alerts", id) {
			t.Errorf("group %s evaluated by shard %d, which does not own it", id, owner)
		}
	}
	if n := len(testenv.SearchAll[storedStatus](t, names.Status)); n != len(groups) {
		t.Errorf("%d status documents, want one per group (%d)", n, len(groups))
	}
	if len(written[0]) == 0 || len(written[0]) == len(groups) {
		t.Errorf("shard 0 wrote %d of %d statuses; want a part", len(written[0]), len(groups))
	}
}
