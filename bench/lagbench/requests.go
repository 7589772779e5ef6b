package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/lagwatch/lagwatch/bench/internal/brokerstats"
)

// brokerCounter takes the broker's own request counts (RequestMetrics,
// over JMX) just before and just after a measured run. The broker counts
// every client's requests: quiet is called before each run to close
// lagbench's own Kafka connections, whose background metadata refreshes
// would count too.
type brokerCounter struct {
	tool  brokerstats.JmxTool
	addr  string
	quiet func()
}

// newBrokerCounter returns a counter for the broker's JMX server at addr
// (TESTENV_KAFKA_JMX), or nil and the reason why the broker's counts are
// not available: no address, no Kafka classpath, or a first snapshot that
// failed. classpath empty asks `scripts/testenv classpath`.
func newBrokerCounter(ctx context.Context, addr, classpath string, quiet func()) (*brokerCounter, error) {
	if addr == "" {
		return nil, errors.New("TESTENV_KAFKA_JMX is not set (`scripts/testenv env` prints it)")
	}
	if classpath == "" {
		out, err := exec.CommandContext(ctx, "scripts/testenv", "classpath").Output()
		if err != nil {
			return nil, fmt.Errorf("scripts/testenv classpath (run lagbench from the repository's top folder): %w", err)
		}
		classpath = strings.TrimSpace(string(out))
	}
	b := &brokerCounter{tool: brokerstats.JmxTool{Classpath: classpath}, addr: addr, quiet: quiet}
	if _, err := b.tool.Snapshot(ctx, addr); err != nil {
		return nil, err
	}
	return b, nil
}

// around runs f between two snapshots and returns what the broker counted
// meanwhile. With no counter it only runs f.
func (b *brokerCounter) around(ctx context.Context, f func()) (brokerstats.Counts, error) {
	if b == nil {
		f()
		return nil, nil
	}
	b.quiet()
	before, err := b.tool.Snapshot(ctx, b.addr)
	f()
	if err != nil {
		return nil, fmt.Errorf("broker counts before the run: %w", err)
	}
	after, err := b.tool.Snapshot(ctx, b.addr)
	if err != nil {
		return nil, fmt.Errorf("broker counts after the run: %w", err)
	}
	return brokerstats.Diff(after, before), nil
}

// countsText words counts as "ApiVersions 2, Metadata 1 (3)", sorted by
// type, with the total; "none" when empty.
func countsText(c brokerstats.Counts) string {
	if len(c) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(c))
	for _, name := range c.Names() {
		parts = append(parts, fmt.Sprintf("%s %s", name, thousands(c[name])))
	}
	return fmt.Sprintf("%s (%s)", strings.Join(parts, ", "), thousands(c.Total()))
}

// agreement compares the broker's count of a collector run with the
// collector's own: "yes" when every type matches, else the types that
// differ.
func agreement(broker, own brokerstats.Counts) string {
	var diffs []string
	for _, name := range typeNames(broker, own) {
		if broker[name] != own[name] {
			diffs = append(diffs, fmt.Sprintf("%s: broker %d, collector %d", name, broker[name], own[name]))
		}
	}
	if len(diffs) == 0 {
		return "yes"
	}
	return "no: " + strings.Join(diffs, "; ")
}

// typeNames are the request types in any of cs, sorted.
func typeNames(cs ...brokerstats.Counts) []string {
	var names []string
	for _, c := range cs {
		for name := range c {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// requestColumn is one measured program of the requests table: its runs'
// counts of the client request types.
type requestColumn struct {
	label string
	runs  []brokerstats.Counts
}

// median is the column's median per type (a type missing from a run counts
// 0 there) and the median of the runs' totals; with an even number of runs
// a median may end in .5.
func (c requestColumn) median() (byType map[string]float64, total float64) {
	byType = map[string]float64{}
	for _, name := range typeNames(c.runs...) {
		xs := make([]float64, len(c.runs))
		for i, r := range c.runs {
			xs[i] = float64(r[name])
		}
		byType[name] = median(xs)
	}
	totals := make([]float64, len(c.runs))
	for i, r := range c.runs {
		totals[i] = float64(r.Total())
	}
	return byType, median(totals)
}

// countCell words a median count: thousands separated, with its fraction
// when there is one.
func countCell(x float64) string {
	s := thousands(int64(x))
	if frac := x - math.Trunc(x); frac != 0 {
		s += strings.TrimPrefix(strconv.FormatFloat(frac, 'f', -1, 64), "0")
	}
	return s
}

// runsLabel is "1 run" or "n runs".
func runsLabel(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("median of %d runs", n)
}

// requestsMarkdown is the report's section on Kafka requests by type.
func (r *report) requestsMarkdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("### Kafka requests by type\n\n")
	if r.brokerCountsErr != nil {
		p("The broker's own request counts are not available: %s. ", r.brokerCountsErr)
		p("The collector's own counts, from its `tick` log line (`kafka_requests_by_type`, which counts the Kafka read of the tick):\n\n")
		var own requestColumn
		for _, t := range r.okTicks() {
			own.runs = append(own.runs, t.OwnByType)
		}
		own.label = "collector tick, its own count, " + runsLabel(len(own.runs))
		b.WriteString(requestTable([]requestColumn{own}))
		return b.String()
	}

	p("Counted by the broker itself: the `Count` of its RequestMetrics (`%s`), summed over the request versions, ", brokerstats.ObjectName)
	p("read over JMX with Kafka's JmxTool just before and just after each run; the difference is every request the broker answered meanwhile. ")
	p("lagbench closes its own Kafka connections before each run, so that the benchmark's own client is silent; anything else using the broker meanwhile would count too. ")
	p("The broker counts the collector's whole process, its own count (per run below) the Kafka read of its tick: a background metadata refresh of its Kafka client (kafka-go refreshes at a random time within 6 s) that falls outside the read, during the Elasticsearch write, is counted by the broker only. ")
	p("Left out of the table: the requests the broker sends its own controller in this one-node KRaft cluster (BrokerHeartbeat and the like), which no measured program sends; they are listed per run below.\n\n")
	var cols []requestColumn
	col := requestColumn{}
	for _, t := range r.okTicks() {
		if t.Broker != nil {
			clients, _ := t.Broker.Split()
			col.runs = append(col.runs, clients)
		}
	}
	col.label = "collector tick, " + runsLabel(len(col.runs))
	cols = append(cols, col)
	if len(r.toolAll) > 0 {
		col := requestColumn{}
		for _, t := range r.toolAll {
			if t.Broker != nil && t.Rows == r.layout.GroupPartitions {
				clients, _ := t.Broker.Split()
				col.runs = append(col.runs, clients)
			}
		}
		col.label = "`--all-groups`, " + runsLabel(len(col.runs))
		cols = append(cols, col)
	}
	if t := r.toolGroups; t != nil && t.Broker != nil {
		clients, _ := t.Broker.Split()
		cols = append(cols, requestColumn{label: t.Label, runs: []brokerstats.Counts{clients}})
	}
	b.WriteString(requestTable(cols))
	p("Each cell is the median of the runs for that type (a run without the type counts 0); the total is the median of the runs' totals. Only successful ticks and complete tool runs count.\n\n")

	p("Per run, as the broker counted it; for the collector also its own count from its `tick` log line (`kafka_requests_by_type`), which covers the Kafka read of the tick:\n\n")
	p("| run | requests by type, counted by the broker (total) | left out: broker to controller | collector's own count (total) | same? |\n|---|---|---|---|---|\n")
	row := func(label string, broker brokerstats.Counts, err error, own string, same string) {
		if err != nil {
			p("| %s | %s | | %s | %s |\n", label, tableText(err.Error()), own, same)
			return
		}
		clients, internal := broker.Split()
		p("| %s | %s | %s | %s | %s |\n", label, countsText(clients), countsText(internal), own, same)
	}
	for _, t := range r.ticks {
		clients, _ := t.Broker.Split()
		same := ""
		if t.BrokerErr == nil && t.OwnByType != nil {
			same = agreement(clients, t.OwnByType)
		}
		row(fmt.Sprintf("collector tick %d", t.Run), t.Broker, t.BrokerErr, countsText(t.OwnByType), same)
	}
	for i, t := range r.toolAll {
		row(fmt.Sprintf("`--all-groups` %d", i+1), t.Broker, t.BrokerErr, "—", "")
	}
	if t := r.toolGroups; t != nil {
		row("`--describe` with `--group`", t.Broker, t.BrokerErr, "—", "")
	}
	p("\n")
	return b.String()
}

// requestTable is a Markdown table with a row per request type in any
// column, the columns' medians, and a total row.
func requestTable(cols []requestColumn) string {
	var b strings.Builder
	b.WriteString("| request type |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.label)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	medians := make([]map[string]float64, len(cols))
	totals := make([]float64, len(cols))
	var all []brokerstats.Counts
	for i, c := range cols {
		medians[i], totals[i] = c.median()
		all = append(all, c.runs...)
	}
	for _, name := range typeNames(all...) {
		fmt.Fprintf(&b, "| %s |", name)
		for i, c := range cols {
			if len(c.runs) == 0 {
				b.WriteString(" ? |")
				continue
			}
			fmt.Fprintf(&b, " %s |", countCell(medians[i][name]))
		}
		b.WriteString("\n")
	}
	b.WriteString("| **total** |")
	for i, c := range cols {
		if len(c.runs) == 0 {
			b.WriteString(" ? |")
			continue
		}
		fmt.Fprintf(&b, " **%s** |", countCell(totals[i]))
	}
	b.WriteString("\n\n")
	return b.String()
}

// tableText makes s fit a Markdown table cell: one line, no bare '|'.
func tableText(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "|", "\\|")
}
