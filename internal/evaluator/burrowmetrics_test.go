package evaluator

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// burrowHelp are Burrow's help texts, word for word, and the order the
// expected expositions list the gauges in.
var burrowHelp = []struct{ name, help string }{
	{"burrow_kafka_consumer_current_offset", "Latest offset that Burrow is storing for this partition"},
	{"burrow_kafka_consumer_lag_total", "The sum of all partition current lag values for the group"},
	{"burrow_kafka_consumer_partition_lag", "Number of messages the consumer group is behind by for a partition as reported by Burrow"},
	{"burrow_kafka_consumer_status", "The status of the consumer group. It is calculated from the highest status for the individual partitions. Statuses are an index list from NOTFOUND, OK, WARN, or ERR"},
	{"burrow_kafka_topic_partition_offset", "Latest offset the topic that Burrow is storing for this partition"},
	{"burrow_kafka_topic_partition_status", "The status of topic partition. It is calculated from the highest status for the individual partitions. Statuses are an index list from OK, WARN, STOP, STALL, REWIND"},
}

// wantBurrow compares Burrow's gauges on the evaluator's registry with the
// samples given (each `name{labels} value`, labels in name order), the help
// texts and types added.
func wantBurrow(t *testing.T, h *harness, samples ...string) {
	t.Helper()
	var b strings.Builder
	var names []string
	for _, m := range burrowHelp {
		names = append(names, m.name)
		var lines []string
		for _, s := range samples {
			if strings.HasPrefix(s, m.name+"{") {
				lines = append(lines, s)
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s\n", m.name, m.help, m.name, strings.Join(lines, "\n"))
		}
	}
	if err := testutil.GatherAndCompare(h.metrics.reg, strings.NewReader(b.String()), names...); err != nil {
		t.Error(err)
	}
}

// burrowWindows are one group per status, all at instant at: OK, WARN (one
// partition with a full window, one without), STOP, STALL, REWIND, a
// partition never committed, and a group reading orders/0 a second later
// than the others, whose log end is the newer.
func burrowWindows(at time.Time) []evaluate.GroupWindow {
	one := func(group, topic string, partition int32, obs []evaluate.Observation) evaluate.GroupWindow {
		return evaluate.GroupWindow{Cluster: "c", Group: group, Partitions: []evaluate.PartitionWindow{{Topic: topic, Partition: partition, Obs: obs}}}
	}
	warn := one("b-warn", "payments", 0, ticks(at, true, [2]int64{10, 20}, [2]int64{11, 22}, [2]int64{12, 24}))
	warn.Partitions = append(warn.Partitions, evaluate.PartitionWindow{Topic: "payments", Partition: 1,
		Obs: ticks(at, true, [2]int64{5, 7}, [2]int64{6, 8})})
	return []evaluate.GroupWindow{
		window("a-ok", false, at),
		warn,
		window("c-stop", true, at),
		one("d-stall", "orders", 1, ticks(at, true, [2]int64{5, 20}, [2]int64{5, 21}, [2]int64{5, 22})),
		one("e-rewind", "orders", 2, ticks(at, true, [2]int64{15, 20}, [2]int64{10, 21}, [2]int64{11, 22})),
		one("f-nocommit", "orders", 3, ticks(at, false, [2]int64{-1, 30}, [2]int64{-1, 30}, [2]int64{-1, 30})),
		one("h-later", "orders", 0, ticks(at.Add(time.Second), true, [2]int64{23, 23}, [2]int64{24, 24}, [2]int64{25, 25})),
	}
}

// burrowAll are the gauges of burrowWindows plus a NOTFOUND group.
var burrowAll = []string{
	`burrow_kafka_consumer_status{cluster="c",consumer_group="a-ok"} 1`,
	`burrow_kafka_consumer_status{cluster="c",consumer_group="b-warn"} 2`,
	`burrow_kafka_consumer_status{cluster="c",consumer_group="c-stop"} 3`,
	`burrow_kafka_consumer_status{cluster="c",consumer_group="d-stall"} 3`,
	`burrow_kafka_consumer_status{cluster="c",consumer_group="e-rewind"} 3`,
	`burrow_kafka_consumer_status{cluster="c",consumer_group="f-nocommit"} 1`,
	`burrow_kafka_consumer_status{cluster="c",consumer_group="h-later"} 1`,

	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="a-ok"} 0`,
	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="b-warn"} 14`,
	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="c-stop"} 17`,
	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="d-stall"} 17`,
	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="e-rewind"} 11`,
	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="f-nocommit"} 0`,
	`burrow_kafka_consumer_lag_total{cluster="c",consumer_group="h-later"} 0`,

	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="a-ok",partition="0",topic="orders"} 0`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="b-warn",partition="0",topic="payments"} 12`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="b-warn",partition="1",topic="payments"} 2`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="c-stop",partition="0",topic="orders"} 17`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="d-stall",partition="1",topic="orders"} 17`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="e-rewind",partition="2",topic="orders"} 11`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="f-nocommit",partition="3",topic="orders"} 0`,
	`burrow_kafka_consumer_partition_lag{cluster="c",consumer_group="h-later",partition="0",topic="orders"} 0`,

	// Only complete windows (not b-warn's partition 1), and only with a
	// commit (not f-nocommit's).
	`burrow_kafka_consumer_current_offset{cluster="c",consumer_group="a-ok",partition="0",topic="orders"} 22`,
	`burrow_kafka_consumer_current_offset{cluster="c",consumer_group="b-warn",partition="0",topic="payments"} 12`,
	`burrow_kafka_consumer_current_offset{cluster="c",consumer_group="c-stop",partition="0",topic="orders"} 5`,
	`burrow_kafka_consumer_current_offset{cluster="c",consumer_group="d-stall",partition="1",topic="orders"} 5`,
	`burrow_kafka_consumer_current_offset{cluster="c",consumer_group="e-rewind",partition="2",topic="orders"} 11`,
	`burrow_kafka_consumer_current_offset{cluster="c",consumer_group="h-later",partition="0",topic="orders"} 25`,

	// Partition statuses: OK 1, WARN 2, STOP 4, STALL 5, REWIND 6.
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="a-ok",partition="0",topic="orders"} 1`,
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="b-warn",partition="0",topic="payments"} 2`,
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="c-stop",partition="0",topic="orders"} 4`,
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="d-stall",partition="1",topic="orders"} 5`,
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="e-rewind",partition="2",topic="orders"} 6`,
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="f-nocommit",partition="3",topic="orders"} 1`,
	`burrow_kafka_topic_partition_status{cluster="c",consumer_group="h-later",partition="0",topic="orders"} 1`,

	// Once per topic partition: orders/0 is read by three groups, h-later's
	// observation is the newest.
	`burrow_kafka_topic_partition_offset{cluster="c",partition="0",topic="orders"} 25`,
	`burrow_kafka_topic_partition_offset{cluster="c",partition="1",topic="orders"} 22`,
	`burrow_kafka_topic_partition_offset{cluster="c",partition="2",topic="orders"} 22`,
	`burrow_kafka_topic_partition_offset{cluster="c",partition="3",topic="orders"} 30`,
	`burrow_kafka_topic_partition_offset{cluster="c",partition="0",topic="payments"} 24`,
	`burrow_kafka_topic_partition_offset{cluster="c",partition="1",topic="payments"} 8`,
}

// without is samples less those that mention any of drop.
func without(samples []string, drop ...string) []string {
	var out []string
	for _, s := range samples {
		keep := true
		for _, d := range drop {
			keep = keep && !strings.Contains(s, d)
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

// TestBurrowGauges: a live evaluation shows Burrow's gauges of every group
// but the NOTFOUND one, with Burrow's names, help texts, labels and values.
// The next evaluation replaces them whole: a group and a partition it no
// longer reports lose their series, as does a topic partition no group
// reads any more.
func TestBurrowGauges(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := time.Now().UTC()
	wantBurrow(t, h) // nothing before the first live evaluation

	h.history.windows = burrowWindows(now)
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "g-notfound"}}
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	wantBurrow(t, h, burrowAll...)

	// d-stall is gone (so is orders/1, which only it read) and b-warn no
	// longer has payments/1.
	var next []evaluate.GroupWindow
	for _, w := range burrowWindows(now) {
		switch w.Group {
		case "d-stall":
			continue
		case "b-warn":
			w.Partitions = w.Partitions[:1]
		}
		next = append(next, w)
	}
	h.history.windows = next
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	wantBurrow(t, h, append(without(burrowAll, `"d-stall"`, `partition="1",topic="orders"`, `partition="1",topic="payments"`,
		`consumer_group="b-warn"} 14`), `burrow_kafka_consumer_lag_total{cluster="c",consumer_group="b-warn"} 12`)...)
}

// TestBurrowGaugesKeptOnFailure: a live evaluation that fails, before any
// group or after all of them went by, leaves the previous evaluation's
// gauges; past evaluations (--at and backtests) never change them.
func TestBurrowGaugesKeptOnFailure(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := time.Now().UTC()
	h.history.windows = burrowWindows(now)
	if err := h.Live(ctx); err != nil {
		t.Fatal(err)
	}
	wantBurrow(t, h, burrowAll...)

	h.history.windows = []evaluate.GroupWindow{window("new", true, now)}
	h.history.knownErr = errors.New("search: HTTP 503")
	if err := h.Live(ctx); err == nil {
		t.Fatal("Live succeeded, want the KnownGroups error")
	}
	wantBurrow(t, h, burrowAll...)
	h.history.knownErr, h.history.readErr = nil, errors.New("search: HTTP 503")
	if err := h.Live(ctx); err == nil {
		t.Fatal("Live succeeded, want the read error")
	}
	wantBurrow(t, h, burrowAll...)

	h.history.readErr = nil
	if err := h.Historical(ctx, at0); err != nil {
		t.Fatal(err)
	}
	if err := h.Backtest(ctx, at0, at0.Add(time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	wantBurrow(t, h, burrowAll...)
}

// burrowSetOf is a set of groups groups of parts partitions each, every
// group with a topic of its own (so no topic partition is shared), as one
// live evaluation would collect it.
func burrowSetOf(groups, parts int, at time.Time) *burrowBuild {
	b := newBurrowBuild()
	for g := range groups {
		r := evaluate.GroupResult{Cluster: "cluster-1", Group: fmt.Sprintf("group-%05d", g), Status: evaluate.Warn}
		topic := fmt.Sprintf("topic-%05d", g)
		for p := range parts {
			end := evaluate.Observation{Time: at, Committed: 1_000_000, HasCommitted: true, LogEnd: 1_000_100, HasLogEnd: true}
			r.Partitions = append(r.Partitions, evaluate.PartitionResult{Topic: topic, Partition: int32(p), Status: evaluate.Warn,
				Complete: 1, End: end, CurrentLag: 100, HasLag: true})
			r.TotalLag += 100
		}
		r.PartitionCount = parts
		b.add(r)
	}
	return b
}

// BenchmarkBurrowGauges50k: 50,000 partitions (1,000 groups of 50, one topic
// each). Reports the bytes the published set keeps per partition and, per
// op, one scrape of the gauges: 200,000 series gathered.
func BenchmarkBurrowGauges50k(b *testing.B) {
	const groups, parts = 1000, 50
	at := time.Now()
	g := &burrowGauges{}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g.publish(burrowSetOf(groups, parts, at))
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := float64(after.HeapAlloc-before.HeapAlloc) / (groups * parts)

	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	b.ResetTimer()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		if n := len(mfs); n != 6 {
			b.Fatalf("%d families, want 6", n)
		}
	}
	runtime.KeepAlive(g)
	b.ReportMetric(kept, "set-bytes/partition") // after the loop: ResetTimer deletes reported metrics
}
