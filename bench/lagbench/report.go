package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/lagwatch/lagwatch/bench/internal/brokerstats"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lagwatch/lagwatch/bench/internal/benchenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// Targets from the issue.
const (
	targetTick      = 5 * time.Second
	targetRSS       = 150 * 1000 * 1000 // bytes: 150 MB
	targetSpeedup   = 10.0
	targetSmallerBy = 3.0
)

type machine struct {
	Collector     string
	Cores         int
	CPU           string
	Memory        string
	Go, OS        string
	Kafka, ESText string
}

func readMachine(ctx context.Context, kafkaTool string, es *esHTTP) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseInt(strings.Fields(kb)[0], 10, 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", float64(n)/(1<<20))
		}
	}
	m.Kafka = kafkaVersion(ctx, kafkaTool)
	if out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Collector = strings.TrimSpace(string(out))
	}
	m.ESText = es.version(ctx)
	return m
}

// procField reads the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

type report struct {
	// scheduled are the ticks of one collector on its schedule, every
	// apart (-scheduled).
	scheduled  []scheduledTick
	every      time.Duration
	layout     layout
	namespace  string
	pause      time.Duration
	machine    machine
	seed       seedStats
	ticks      []tickResult
	profiled   *profiledTick
	toolAll    []toolResult
	toolGroups *toolResult
	// loadBefore and loadAfter are /proc/loadavg at the start and the end:
	// other work on the machine shows there.
	loadBefore, loadAfter string
	// brokerGroups is how many groups the broker had when the tool ran.
	brokerGroups int
	storage      []storeStats
	floor        *floorResult
	// brokerCountsErr says why the broker's own request counts are not
	// available; nil when they are.
	brokerCountsErr error
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// okTicks are the runs that succeeded.
func (r *report) okTicks() []tickResult {
	var out []tickResult
	for _, t := range r.ticks {
		if t.Err == nil {
			out = append(out, t)
		}
	}
	return out
}

func (r *report) markdown() string {
	var b strings.Builder
	l := r.layout
	m := r.machine
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("### Setup\n\n")
	p("- Machine: %d cores (%s), %s memory, %s.\n", m.Cores, m.CPU, m.Memory, m.OS)
	p("- Go %s; Kafka %s; Elasticsearch %s.\n", strings.TrimPrefix(m.Go, "go"), m.Kafka, m.ESText)
	if m.Collector != "" {
		p("- Source tree: git `%s`.\n", m.Collector)
	}
	p("- Data: %s consumer groups committing to %s group-partitions on %d topics × %d partitions (%s partitions), %d messages per partition; groups commit without joining, so they have no members.\n",
		thousands(int64(l.Groups)), thousands(int64(l.GroupPartitions)), l.Topics, l.PartitionsPerTopic, thousands(int64(l.Partitions())), l.Messages)
	p("- Data streams written: `metrics-lagwatch.offsets-%s` and `metrics-lagwatch.groups-%s`.\n", r.namespace, r.namespace)
	if r.loadBefore != "" {
		p("- Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", r.loadBefore, r.loadAfter)
	}
	p("- Seeding took %s (%d topics created, %d reused; %s messages produced).\n\n",
		secs(r.seed.Took), r.seed.TopicsCreated, r.seed.TopicsExisting, thousands(r.seed.Messages))

	p("### Collector tick (`collector --once`, a fresh process per run)\n\n")
	p("Every run is a new process (start-up, template installation and the first metadata fetch included) writing to the same data streams, %s after the previous one.\n\n", r.pause)
	p("| run | process wall | tick duration | Kafka read | Elasticsearch's own bulk time (took) | Kafka requests | documents written | docs/s (written ÷ tick) | peak RSS | CPU (user+sys) |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	var walls, durs, reads, cpus, tooks []time.Duration
	var reqs, rss []int64
	var dps []float64
	for _, t := range r.ticks {
		status := ""
		if t.Err != nil {
			status = " (failed)"
		}
		p("| %d%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.Run, status, secs(t.Wall), secs(t.Duration), secs(t.ReadDuration), secs(t.BulkTook),
			thousands(t.KafkaRequests), thousands(int64(t.Written)), thousands(int64(t.DocsPerSecond())), mib(t.MaxRSS), secs(t.CPU))
	}
	for _, t := range r.okTicks() {
		walls, durs, reads, cpus = append(walls, t.Wall), append(durs, t.Duration), append(reads, t.ReadDuration), append(cpus, t.CPU)
		tooks = append(tooks, t.BulkTook)
		reqs, rss, dps = append(reqs, t.KafkaRequests), append(rss, t.MaxRSS), append(dps, t.DocsPerSecond())
	}
	var written int64
	if ok := r.okTicks(); len(ok) > 0 {
		written = int64(ok[0].Written)
	}
	p("| **median** | **%s** | **%s** | %s | %s | %s | %s | **%s** | **%s** | %s |\n\n", secs(median(walls)), secs(median(durs)), secs(median(reads)), secs(median(tooks)),
		thousands(median(reqs)), thousands(written), thousands(int64(median(dps))), mib(median(rss)), secs(median(cpus)))
	p("Documents written per tick: one offsets document per group-partition plus one group document per group.\n\n")

	if f := r.floor; f != nil && len(f.Runs) > 0 {
		p("#### Elasticsearch alone\n\n")
		p("The last tick's %s documents, read back with their ids, sent again as %d ready-made bulk requests of up to %s (the collector's request size), %d in flight (the collector's), into fresh indices made from the same templates: nothing of the collector's own work (encoding, answers, garbage collection) is left, so no client can write a tick faster here.\n\n",
			thousands(int64(f.Docs)), f.Requests, mib(esindex.DefaultFlushBytes), esindex.DefaultWorkers)
		p("| run | wall | docs/s | Elasticsearch's own bulk time (took) |\n|---|---|---|---|\n")
		for i, d := range f.Runs {
			p("| %d | %s | %s | %s |\n", i+1, secs(d), thousands(int64(float64(f.Docs)/d.Seconds())), secs(f.Took[i]))
		}
		fm := median(f.Runs)
		p("| **median** | **%s** | **%s** | %s |\n\n", secs(fm), thousands(int64(float64(f.Docs)/fm.Seconds())), secs(median(f.Took)))
		p("Lower bound of a tick on this machine: median Kafka read %s + Elasticsearch alone %s = **%s**.\n\n", secs(median(reads)), secs(fm), secs(median(reads)+fm))
	}

	if pt := r.profiled; pt != nil {
		p("One more tick taken inside lagbench under the CPU profiler: read %s, write %s, %s documents, %s Kafka requests, %s allocated, %s heap in use at the end.\n\n",
			secs(pt.Read), secs(pt.Write), thousands(int64(pt.Docs)), thousands(pt.KafkaRequests), mib(int64(pt.TotalAlloc)), mib(int64(pt.HeapInUse)))
	}

	if len(r.scheduled) > 0 {
		p("### Collector on its schedule (one process, a tick every %s)\n\n", r.every)
		p("The same data, unchanged between ticks: every group with lag is at rest, so from the second tick on it is a candidate for the transaction reads (one Fetch per partition leader, at most 1,000 ranges a tick, each answer remembered while the group stays put).\n\n")
		p("| tick | duration | Kafka requests | by type | transaction ranges read |\n|---|---|---|---|---|\n")
		for _, t := range r.scheduled {
			by := make(brokerstats.Counts, len(t.ByType))
			for k, v := range t.ByType {
				by[k] = v
			}
			status := ""
			if t.Err != "" {
				status = " (failed: " + t.Err + ")"
			}
			p("| %d%s | %s | %s | %s | %s |\n", t.Tick, status, secs(t.Duration), thousands(t.Requests), countsText(by), thousands(int64(t.TxnReads)))
		}
		p("\n")
	}

	var toolWall time.Duration
	if len(r.toolAll) > 0 || r.toolGroups != nil {
		p("### Kafka's consumer-groups tool on the same cluster\n\n")
		p("| command | run | wall | rows of benchmark groups | peak RSS | result |\n|---|---|---|---|---|---|\n")
		var tw []time.Duration
		for i, t := range r.toolAll {
			p("| %s | %d | %s | %s | %s | %s |\n", t.Label, i+1, secs(t.Wall), thousands(int64(t.Rows)), mib(t.MaxRSS), toolStatus(t))
			// Only complete answers count: a run that did not describe
			// every benchmark row did not do the work being timed.
			if t.Rows == l.GroupPartitions {
				tw = append(tw, t.Wall)
			}
		}
		if t := r.toolGroups; t != nil {
			p("| %s | 1 | %s | %s | %s | %s |\n", t.Label, secs(t.Wall), thousands(int64(t.Rows)), mib(t.MaxRSS), toolStatus(*t))
		}
		toolWall = median(tw)
		if len(tw) < len(r.toolAll) {
			p("\nRuns whose output lacked benchmark rows are left out of the median.\n")
		}
		p("\n`--all-groups` also describes every other group on the broker (%s groups in all when it ran, %s of them the benchmark's); the collector only reads the benchmark's (`KAFKA_GROUP_ALLOW`). ",
			thousands(int64(r.brokerGroups)), thousands(int64(l.Groups)))
		p("The tool only reads Kafka and prints; the collector also writes %s documents to Elasticsearch.\n\n", thousands(written))
		if toolWall > 0 && median(walls) > 0 {
			p("Median `--all-groups` wall %s ÷ median collector process wall %s = **%.1f×**", secs(toolWall), secs(median(walls)), toolWall.Seconds()/median(walls).Seconds())
			if t := r.toolGroups; t != nil && t.Wall > 0 {
				p("; with the benchmark groups only: %.1f×", t.Wall.Seconds()/median(walls).Seconds())
			}
			p(".\n\n")
			if f := r.floor; f != nil && len(f.Runs) > 0 {
				lb := median(reads) + median(f.Runs)
				p("At the lower bound above (%s), the tool would be %.1f× slower.\n\n", secs(lb), toolWall.Seconds()/lb.Seconds())
			}
		}
	}

	b.WriteString(r.requestsMarkdown())

	// storage[0] is lagwatch's data stream, [1] the Telegraf-style
	// baseline (no template); the others are for reference.
	var ratio float64
	if len(r.storage) > 0 {
		ours := r.storage[0].BytesPerDoc()
		p("### Storage per offsets document, force-merged to one segment\n\n")
		p("| stored as | documents | primaries on disk | bytes/document | mapping | size vs lagwatch |\n|---|---|---|---|---|---|\n")
		for i, s := range r.storage {
			rel := "—"
			if i > 0 && ours > 0 {
				rel = relSize(s.BytesPerDoc() / ours)
				if i == 1 {
					ratio = s.BytesPerDoc() / ours
				}
			}
			p("| %s | %s | %s | %.1f | %s | %s |\n", s.Label, thousands(s.Docs), mib(s.Bytes), s.BytesPerDoc(), s.Mapping, rel)
		}
		p("\nEach store is one segment (`_forcemerge?max_num_segments=1`); sizes are primaries only. ")
		p("The comparison indices hold the same rows, read back from the data stream with a point in time. ")
		p("Telegraf-style rows are `{\"@timestamp\", \"measurement_name\": \"burrow_partition\", \"tag\": {cluster, group, topic, partition, host}, \"burrow_partition\": {lag, offset, status, status_code, timestamp}}` ")
		p("with Elasticsearch's automatic ids, as Telegraf's Elasticsearch output writes them by default (`owner` is absent: these groups have no members).\n\n")

		p("Where the bytes go, per document (Elasticsearch's `_disk_usage` API):\n\n| part |")
		for _, s := range r.storage {
			p(" %s |", s.Label)
		}
		p("\n|---|")
		for range r.storage {
			p("---|")
		}
		p("\n")
		for _, part := range usageParts {
			p("| %s |", part)
			for _, s := range r.storage {
				if s.Usage == nil || s.Docs == 0 {
					p(" ? |")
					continue
				}
				p(" %.1f |", float64(s.Usage[part])/float64(s.Docs))
			}
			p("\n")
		}
		p("\n")
	}

	p("### Targets\n\n| target | measured | result |\n|---|---|---|\n")
	mw := median(walls)
	p("| one tick within %s | median process wall %s (tick %s) | %s |\n", secs(targetTick), secs(mw), secs(median(durs)), met(len(walls) > 0 && mw <= targetTick))
	var maxRSS int64
	for _, x := range rss {
		maxRSS = max(maxRSS, x)
	}
	p("| peak RSS within 150 MB | highest of the runs %s (%.0f MB) | %s |\n", mib(maxRSS), float64(maxRSS)/1e6, met(len(rss) > 0 && maxRSS <= targetRSS))
	if toolWall > 0 && mw > 0 {
		sp := toolWall.Seconds() / mw.Seconds()
		p("| at least %.0f× faster than `kafka-consumer-groups --describe --all-groups` | %.1f× | %s |\n", targetSpeedup, sp, met(sp >= targetSpeedup))
	}
	if ratio > 0 {
		p("| offsets documents at least %.0f× smaller than Telegraf-style rows (dynamic mapping) | Telegraf-style ÷ lagwatch = %.2f | %s |\n", targetSmallerBy, ratio, met(ratio >= targetSmallerBy))
	}
	return b.String()
}

func toolStatus(t toolResult) string {
	if t.Err == nil && t.Rows > 0 {
		return "exit 0"
	}
	s := fmt.Sprintf("exit 0, incomplete: %d lines of output; stderr: %q", t.Lines, t.Stderr)
	if t.Err != nil {
		s = t.Err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

// relSize words a size ratio other/ours.
func relSize(x float64) string {
	switch {
	case x >= 1:
		return fmt.Sprintf("%.2f× larger", x)
	case x > 0:
		return fmt.Sprintf("%.2f× smaller", 1/x)
	}
	return "—"
}

// loadAverage is the first three fields of /proc/loadavg, "" when unknown.
func loadAverage() string { return benchenv.LoadAverage(", ") }
