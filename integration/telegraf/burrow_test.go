package telegraf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/plugins/inputs/burrow"
	"github.com/influxdata/telegraf/testutil"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// The seeded history: one cluster, ticks every 10 s, a window of the last 5
// of 6 ticks (so even the window's first document has a commit lag).
const (
	cluster  = "tg"
	ticks    = 6
	window   = 5
	interval = 10 * time.Second
)

// The log-end offsets of tick i: orders has two partitions, payments one.
func ordersEnd(i int, p int32) int64 { return 100*int64(p+1) + 20*int64(i) }
func paymentsEnd(i int) int64        { return 50 + 10*int64(i) }

// seed writes the history of three groups with the esindex Writer:
//   - g-ok keeps up: a live member commits the log end of both orders
//     partitions at every tick (OK);
//   - g-stop stopped: no member, orders committed at 10 and 20 throughout
//     (both partitions STOP, the group ERR);
//   - g-warn falls behind on payments: a live member commits, but less than
//     is produced, so the commit lag grows (WARN), while its orders/1 keeps
//     up (OK): the group is its worst partition's, WARN.
func seed(ctx context.Context, t *testing.T, w *esindex.Writer, t0 time.Time) {
	t.Helper()
	for i := range ticks {
		okMember := snapshot.Member{MemberID: "m-ok", ClientID: "c-ok", Host: "/10.0.0.1"}
		warnMember := snapshot.Member{MemberID: "m-warn", ClientID: "c-warn", Host: "/10.0.0.2"}
		part := func(topic string, p int32, committed, end int64, owner *snapshot.Member) snapshot.Partition {
			return snapshot.Partition{Topic: topic, Partition: p, Committed: committed, HasCommitted: true,
				LogEnd: end, HasOffsets: true, Owner: owner}
		}
		gOK := snapshot.Group{ID: "g-ok", Type: snapshot.TypeClassic, State: "Stable", ProtocolType: "consumer",
			Members: []snapshot.Member{okMember}}
		gOK.Partitions = []snapshot.Partition{
			part("orders", 0, ordersEnd(i, 0), ordersEnd(i, 0), &gOK.Members[0]),
			part("orders", 1, ordersEnd(i, 1), ordersEnd(i, 1), &gOK.Members[0]),
		}
		gStop := snapshot.Group{ID: "g-stop", Type: snapshot.TypeClassic, State: "Empty", ProtocolType: "consumer",
			Partitions: []snapshot.Partition{
				part("orders", 0, 10, ordersEnd(i, 0), nil),
				part("orders", 1, 20, ordersEnd(i, 1), nil),
			}}
		gWarn := snapshot.Group{ID: "g-warn", Type: snapshot.TypeClassic, State: "Stable", ProtocolType: "consumer",
			Members: []snapshot.Member{warnMember}}
		gWarn.Partitions = []snapshot.Partition{
			part("orders", 1, ordersEnd(i, 1), ordersEnd(i, 1), &gWarn.Members[0]),
			part("payments", 0, 30+2*int64(i), paymentsEnd(i), &gWarn.Members[0]),
		}
		s := snapshot.Snapshot{Cluster: cluster, Time: t0.Add(time.Duration(i) * interval),
			Groups: []snapshot.Group{gOK, gStop, gWarn}}
		if _, err := w.Write(ctx, s); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
}

// lagBody is Burrow's /consumer/(group)/lag body, as each line of
// `evaluator status --json` prints it.
type lagBody = evaluate.BurrowLagResponse

// statusCode is Telegraf's status_code for a Burrow status string; written
// out here so that a change on either side shows.
var statusCode = map[string]int{"OK": 1, "NOT_FOUND": 2, "WARN": 3, "ERR": 4, "STOP": 5, "STALL": 6}

// TestTelegrafBurrowInput seeds a history, starts the built `evaluator
// serve` on it, gathers once with Telegraf's inputs.burrow and compares every
// burrow_group, burrow_partition and burrow_topic point with lagwatch's own
// answer: `evaluator status --json` (the evaluator's verdicts, computed
// without the HTTP API) for the groups, and the seeded log-end offsets for
// the topics. The seeded groups' statuses are checked against the expected
// OK, ERR and WARN too, so that both sides being wrong alike fails.
func TestTelegrafBurrowInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "telegraf")
	ns := h.Namespace
	t0 := time.Now().UTC().Truncate(time.Second).Add(-ticks * interval)
	seed(ctx, t, h.Writer, t0)
	if err := h.Client.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	bin := buildEvaluator(t)
	env := append(os.Environ(), "ELASTICSEARCH_URL="+testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE="+ns,
		"EVALUATOR_WINDOW_SIZE="+strconv.Itoa(window), "EVALUATOR_METRICS_ADDR=", "LOG_FORMAT=json")
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(slices.Clone(env), "EVALUATOR_HTTP_ADDR="+addr)
	proc := testenv.StartProcess(t, cmd)
	proc.WaitFor(t, `"msg":"evaluator serving"`, 30*time.Second)
	// Gather once the present window is in memory, as a load balancer
	// would send the requests.
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get("http://" + addr + "/burrow/admin/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/burrow/admin/ready not READY within 30 s (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	plugin := &burrow.Burrow{Servers: []string{"http://" + addr}}
	var acc testutil.Accumulator
	if err := plugin.Gather(&acc); err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, err := range acc.Errors {
		t.Errorf("gather: %v", err)
	}

	// lagwatch's own answer, from a second process of the same program.
	status := exec.CommandContext(ctx, bin, "status", "--json")
	status.Env = append(slices.Clone(env), "EVALUATOR_HTTP_ADDR=")
	var stderr bytes.Buffer
	status.Stderr = &stderr
	out, err := status.Output()
	if err != nil {
		t.Fatalf("evaluator status --json: %v\n%s", err, stderr.String())
	}
	want := map[string]lagBody{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var b lagBody
		if err := dec.Decode(&b); err != nil {
			t.Fatalf("decode evaluator status --json: %v\n%s", err, out)
		}
		want[b.Status.Group] = b
	}

	// The seeded verdicts, so that both sides wrong alike fails.
	expected := map[string]struct {
		group      string
		partitions map[string]string // topic/partition -> status
		reason     string
	}{
		"g-ok":   {"OK", map[string]string{"orders/0": "OK", "orders/1": "OK"}, "commits the log end"},
		"g-stop": {"ERR", map[string]string{"orders/0": "STOP", "orders/1": "STOP"}, "no member, offsets fixed"},
		"g-warn": {"WARN", map[string]string{"orders/1": "OK", "payments/0": "WARN"}, "commit lag on payments grows"},
	}
	if got := slices.Sorted(maps.Keys(want)); !slices.Equal(got, []string{"g-ok", "g-stop", "g-warn"}) {
		t.Fatalf("evaluator status --json has groups %v, want g-ok, g-stop, g-warn:\n%s", got, out)
	}
	for g, e := range expected {
		b := want[g]
		if b.Status.Status.String() != e.group {
			t.Errorf("lagwatch: %s is %s, want %s: %s", g, b.Status.Status, e.group, e.reason)
		}
		got := map[string]string{}
		for _, p := range b.Status.Partitions {
			got[fmt.Sprintf("%s/%d", p.Topic, p.Partition)] = p.Status.String()
		}
		if !maps.Equal(got, e.partitions) {
			t.Errorf("lagwatch: %s partitions %v, want %v: %s", g, got, e.partitions, e.reason)
		}
	}

	// burrow_group: one point per group, each field as Telegraf derives it
	// from the lag body.
	groups := points(t, &acc, "burrow_group", "cluster", "group")
	if got := slices.Sorted(maps.Keys(groups)); !slices.Equal(got, []string{"tg/g-ok", "tg/g-stop", "tg/g-warn"}) {
		t.Errorf("burrow_group points for %v, want tg/g-ok, tg/g-stop, tg/g-warn", got)
	}
	for g, b := range want {
		var offsetSum, newest int64
		for _, p := range b.Status.Partitions {
			if p.End != nil {
				offsetSum += p.End.Offset
				newest = max(newest, p.End.Timestamp)
			}
		}
		var maxLag int64
		if b.Status.MaxLag != nil {
			maxLag = b.Status.MaxLag.CurrentLag
		}
		fields := map[string]any{
			"status":          b.Status.Status.String(),
			"status_code":     statusCode[b.Status.Status.String()],
			"partition_count": b.Status.PartitionCount,
			"total_lag":       b.Status.TotalLag,
			"lag":             maxLag,
			"offset":          offsetSum,
			"timestamp":       newest,
		}
		compare(t, "burrow_group "+g, groups[cluster+"/"+g], fields)
	}

	// burrow_partition: one point per partition of every group (the lag
	// body lists them all).
	parts := points(t, &acc, "burrow_partition", "cluster", "group", "topic", "partition", "owner")
	n := 0
	for g, b := range want {
		for _, p := range b.Status.Partitions {
			n++
			key := fmt.Sprintf("%s/%s/%s/%d/%s", cluster, g, p.Topic, p.Partition, p.Owner)
			var end evaluate.BurrowOffset
			if p.End != nil {
				end = *p.End
			}
			compare(t, "burrow_partition "+key, parts[key], map[string]any{
				"status":      p.Status.String(),
				"status_code": statusCode[p.Status.String()],
				"lag":         p.CurrentLag,
				"offset":      end.Offset,
				"timestamp":   end.Timestamp,
			})
		}
	}
	if len(parts) != n || n != 6 {
		t.Errorf("%d burrow_partition points, lagwatch has %d partitions, the seed 6", len(parts), n)
	}

	// burrow_topic: the log-end offset of each partition at the last tick.
	topics := points(t, &acc, "burrow_topic", "cluster", "topic", "partition")
	last := ticks - 1
	wantTopics := map[string]int64{
		"tg/orders/0":   ordersEnd(last, 0),
		"tg/orders/1":   ordersEnd(last, 1),
		"tg/payments/0": paymentsEnd(last),
	}
	if got := slices.Sorted(maps.Keys(topics)); !slices.Equal(got, slices.Sorted(maps.Keys(wantTopics))) {
		t.Errorf("burrow_topic points for %v, want %v", got, slices.Sorted(maps.Keys(wantTopics)))
	}
	for key, end := range wantTopics {
		compare(t, "burrow_topic "+key, topics[key], map[string]any{"offset": end})
	}

	// The lags and offsets the seed implies, for the groups: g-ok has none,
	// g-stop lags its log ends, g-warn's payments lags.
	for _, tc := range []struct {
		key, status string
		lag, offset int64
		reason      string
	}{
		{"tg/g-ok/orders/0//10.0.0.1", "OK", 0, ordersEnd(last, 0), "commits the log end"},
		{"tg/g-stop/orders/1/", "STOP", ordersEnd(last, 1) - 20, 20, "stopped at 20"},
		{"tg/g-warn/payments/0//10.0.0.2", "WARN", paymentsEnd(last) - (30 + 2*int64(last)), 30 + 2*int64(last), "behind on payments"},
	} {
		m := parts[tc.key]
		if m == nil {
			t.Errorf("no burrow_partition %s", tc.key)
			continue
		}
		if m.Fields["lag"] != tc.lag || m.Fields["offset"] != tc.offset || m.Fields["status"] != tc.status {
			t.Errorf("burrow_partition %s: lag %v offset %v status %v, want %d, %d, %s: %s",
				tc.key, m.Fields["lag"], m.Fields["offset"], m.Fields["status"], tc.lag, tc.offset, tc.status, tc.reason)
		}
	}

	proc.Terminate(t, `"msg":"evaluator stopped"`, 30*time.Second)
}

// buildEvaluator builds cmd/evaluator in the main module, with its own
// dependency versions (not this module's, which Telegraf's graph raises).
func buildEvaluator(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "evaluator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/evaluator")
	build.Dir = testenv.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/evaluator: %v\n%s", err, out)
	}
	return bin
}

// points returns the gathered points of measurement by their tags' values
// joined with "/", failing on two points with the same tags.
func points(t *testing.T, acc *testutil.Accumulator, measurement string, tags ...string) map[string]*testutil.Metric {
	t.Helper()
	byKey := map[string]*testutil.Metric{}
	for _, m := range acc.Metrics {
		if m.Measurement != measurement {
			continue
		}
		vals := make([]string, len(tags))
		for i, k := range tags {
			vals[i] = m.Tags[k]
		}
		key := strings.Join(vals, "/")
		if _, dup := byKey[key]; dup {
			t.Errorf("two %s points tagged %s", measurement, key)
		}
		if len(m.Tags) != len(tags) {
			t.Errorf("%s %s: tags %v, want only %v", measurement, key, m.Tags, tags)
		}
		byKey[key] = m
	}
	return byKey
}

// compare fails unless m has exactly the fields want, with the same Go
// values (types included: Telegraf's int and int64 are kept apart).
func compare(t *testing.T, what string, m *testutil.Metric, want map[string]any) {
	t.Helper()
	if m == nil {
		t.Errorf("%s: no point", what)
		return
	}
	if !maps.Equal(m.Fields, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, m.Fields, want)
	}
}
