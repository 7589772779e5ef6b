// Command lagbench measures the collector at scale against the real Kafka
// broker and Elasticsearch node that scripts/testenv starts.
//
// It seeds G consumer groups committing to P group-partitions (topics with
// a few messages in every partition; groups commit without joining), runs
// the real collector binary with --once several times, times Kafka's own
// consumer-groups tool on the same cluster, counts the Kafka requests of
// each run by type (at the broker, over its JMX server at TESTENV_KAFKA_JMX,
// and from the collector's own tick line), and compares the offsets data
// stream's size on disk with the same rows stored the way Telegraf's Burrow
// plugin and Elasticsearch output store them. It prints a Markdown report.
//
// Run it from the repository's top folder:
//
//	scripts/testenv up && go run ./bench/lagbench -runs 3
//
// Topics and groups it creates are deleted at the end unless -keep is given;
// with -keep and the same -prefix a later run reuses them (seeding is
// idempotent). Data streams cannot be deleted on every Elasticsearch, so each
// run writes to a namespace of its own.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/segmentio/kafka-go"
)

func main() {
	envconf.Main(func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) }, exitCode)
}

// exitCode is 1, said on stderr, for any error.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "lagbench:", err)
	return 1
}

type config struct {
	layout       layout
	namespace    string
	runs         int
	scheduled    int
	every        time.Duration
	pause        time.Duration
	collector    string
	kafkaTool    string
	toolRuns     int
	toolGroups   bool
	skipTool     bool
	skipStorage  bool
	keep         bool
	concurrency  int
	tickTimeout  time.Duration
	cpuProfile   string
	memProfile   string
	out          string
	brokers      []string
	esURL        string
	keepTickLogs string
	floorRuns    int
	// jmxAddr is the broker's JMX server (TESTENV_KAFKA_JMX), empty when
	// unknown; kafkaClasspath the jars JmxTool runs from.
	jmxAddr        string
	kafkaClasspath string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	id := randomID()
	var c config
	fs := flag.NewFlagSet("lagbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.layout.Groups, "groups", 2000, "consumer groups to seed")
	fs.IntVar(&c.layout.GroupPartitions, "group-partitions", 50000, "group-partitions in all (offsets documents per tick), spread evenly over the groups")
	fs.IntVar(&c.layout.Topics, "topics", 20, "topics to create")
	fs.IntVar(&c.layout.PartitionsPerTopic, "partitions-per-topic", 125, "partitions of each topic")
	fs.Int64Var(&c.layout.Messages, "messages", 20, "messages in every partition; lags range from 0 to this")
	fs.StringVar(&c.layout.Prefix, "prefix", "lagbench-"+id, "prefix of topic and group names; reuse it with -keep to skip most seeding")
	fs.StringVar(&c.namespace, "namespace", "lagbench"+id, "Elasticsearch data stream namespace (its data streams stay)")
	fs.IntVar(&c.runs, "runs", 3, "collector ticks, each a fresh process running the collector with --once, all writing to the same namespace")
	fs.IntVar(&c.scheduled, "scheduled", 0, "then ticks of one collector process on a schedule (the transaction reads need a previous tick of the same process); 0: none")
	fs.DurationVar(&c.every, "every", 10*time.Second, "the scheduled collector's interval")
	fs.DurationVar(&c.pause, "pause", 5*time.Second, "pause between ticks, so that one tick's indexing settles before the next")
	fs.StringVar(&c.collector, "collector", "", "collector binary; empty: go build ./cmd/collector into a temporary folder")
	fs.StringVar(&c.kafkaTool, "kafka-tool", "scripts/kafka-consumer-groups", "Kafka's consumer-groups tool")
	fs.IntVar(&c.toolRuns, "tool-runs", 3, "runs of the tool with --describe --all-groups")
	fs.BoolVar(&c.toolGroups, "tool-groups", true, "also time the tool with one --group per benchmark group")
	fs.BoolVar(&c.skipTool, "skip-tool", false, "do not run Kafka's tool")
	fs.BoolVar(&c.skipStorage, "skip-storage", false, "do not measure storage")
	fs.IntVar(&c.floorRuns, "floor-runs", 3, "runs of Elasticsearch alone indexing the last tick's documents from ready-made bulk requests (0: none)")
	fs.BoolVar(&c.keep, "keep", false, "keep the topics and groups")
	fs.IntVar(&c.concurrency, "seed-concurrency", 32, "Kafka requests in flight while seeding")
	fs.DurationVar(&c.tickTimeout, "tick-timeout", 2*time.Minute, "COLLECTOR_TICK_TIMEOUT, long enough to measure a slow tick rather than fail it")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "take one more tick inside lagbench and write its CPU profile here")
	fs.StringVar(&c.memProfile, "memprofile", "", "take one more tick inside lagbench and write its allocation profile here")
	fs.StringVar(&c.out, "o", "", "also write the report to this file")
	fs.StringVar(&c.keepTickLogs, "tick-logs", "", "keep each collector run's log in this folder")
	fs.StringVar(&c.kafkaClasspath, "kafka-classpath", "", "classpath of Kafka's jars, for JmxTool to read the broker's request counts; empty: what `scripts/testenv classpath` prints")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var errs []error
	if err := c.layout.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.runs < 1 {
		errs = append(errs, errors.New("-runs must be at least 1"))
	}
	if c.floorRuns < 0 {
		errs = append(errs, errors.New("-floor-runs must not be negative"))
	}
	if c.namespace == "" || c.namespace != strings.ToLower(c.namespace) || strings.ContainsAny(c.namespace, "-\\/*?\"<>|,# :") {
		errs = append(errs, fmt.Errorf("-namespace %q: lower case, no '-' and none of \\ / * ? \" < > | , # : or space", c.namespace))
	}
	c.brokers = strings.Split(envOr("KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	c.esURL = envOr("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
	c.jmxAddr = os.Getenv("TESTENV_KAFKA_JMX")
	return c, errors.Join(errs...)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.keepTickLogs != "" {
		if err := os.MkdirAll(cfg.keepTickLogs, 0o755); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := checkServers(ctx, cfg); err != nil {
		return err
	}
	es := newESHTTP(cfg.esURL)
	rep := &report{layout: cfg.layout, namespace: cfg.namespace, pause: cfg.pause, loadBefore: loadAverage()}
	rep.machine = readMachine(ctx, cfg.kafkaTool, es)

	tmp, err := os.MkdirTemp("", "lagbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if cfg.collector == "" {
		log.Info("building the collector")
	}
	bin, err := collectorBinary(ctx, cfg.collector, tmp)
	if err != nil {
		return err
	}

	// A transport of its own, to close before each measured run: kafka-go
	// refreshes its metadata in the background while connections are open.
	transport := &kafka.Transport{}
	kc := &kafka.Client{Addr: kafka.TCP(cfg.brokers...), Timeout: time.Minute, Transport: transport}
	if !cfg.keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := cleanup(cctx, kc, cfg.layout, log); err != nil {
				log.Error("cleanup incomplete", "err", err)
			}
		}()
	}
	log.Info("seeding", "prefix", cfg.layout.Prefix, "topics", cfg.layout.Topics, "partitions", cfg.layout.Partitions(),
		"groups", cfg.layout.Groups, "group_partitions", cfg.layout.GroupPartitions)
	if rep.seed, err = seed(ctx, kc, cfg.layout, cfg.concurrency, log); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	counter, cerr := newBrokerCounter(ctx, cfg.jmxAddr, cfg.kafkaClasspath, transport.CloseIdleConnections)
	if cerr != nil {
		rep.brokerCountsErr = cerr
		log.Warn("the broker's request counts are not available; reporting the collector's own counts only", "err", cerr)
	}

	var errs []error
	env := tickEnv{Brokers: strings.Join(cfg.brokers, ","), ESURL: cfg.esURL, Namespace: cfg.namespace,
		GroupAllow: cfg.layout.groupPattern(), TickTimeout: cfg.tickTimeout}
	for i := 1; i <= cfg.runs; i++ {
		if i > 1 {
			sleep(ctx, cfg.pause)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		env.SpoolDir = filepath.Join(tmp, fmt.Sprintf("spool-%d", i))
		logPath := ""
		if cfg.keepTickLogs != "" {
			logPath = filepath.Join(cfg.keepTickLogs, fmt.Sprintf("tick-%d.log", i))
		}
		var r tickResult
		broker, berr := counter.around(ctx, func() { r = runTick(ctx, bin, env, i, logPath) })
		r.Broker, r.BrokerErr = broker, berr
		log.Info("tick", "run", i, "wall", r.Wall.Round(time.Millisecond), "duration", r.Duration, "read_duration", r.ReadDuration,
			"kafka_requests", r.KafkaRequests, "kafka_requests_by_type", r.OwnByType, "broker_requests_by_type", r.Broker,
			"broker_err", r.BrokerErr, "written", r.Written, "max_rss", mib(r.MaxRSS), "err", r.Err)
		if r.Err == nil && r.Partitions != cfg.layout.GroupPartitions {
			r.Err = fmt.Errorf("the tick saw %d group-partitions, the layout has %d", r.Partitions, cfg.layout.GroupPartitions)
		}
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("run %d: %w", i, r.Err))
		}
		rep.ticks = append(rep.ticks, r)
	}

	if cfg.scheduled > 0 {
		sleep(ctx, cfg.pause)
		env.SpoolDir = filepath.Join(tmp, "spool-scheduled")
		ticks, err := runScheduled(ctx, bin, env, cfg.scheduled, cfg.every)
		for _, t := range ticks {
			log.Info("scheduled tick", "tick", t.Tick, "duration", t.Duration, "kafka_requests", t.Requests,
				"kafka_requests_by_type", t.ByType, "txn_reads", t.TxnReads, "err", t.Err)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("scheduled ticks: %w", err))
		}
		rep.scheduled, rep.every = ticks, cfg.every
	}

	if cfg.floorRuns > 0 && len(rep.okTicks()) > 0 {
		sleep(ctx, cfg.pause)
		fr, err := measureFloor(ctx, es, cfg.namespace, cfg.layout.Prefix, cfg.floorRuns, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("floor (Elasticsearch alone): %w", err))
		} else {
			rep.floor = &fr
		}
	}

	if cfg.cpuProfile != "" || cfg.memProfile != "" {
		sleep(ctx, cfg.pause)
		pt, err := runProfiledTick(ctx, cfg.brokers, cfg.esURL, cfg.namespace+"profile", cfg.layout.groupPattern(), cfg.cpuProfile, cfg.memProfile)
		if err != nil {
			errs = append(errs, fmt.Errorf("profiled tick: %w", err))
		} else {
			rep.profiled = &pt
			log.Info("profiled tick", "read", pt.Read, "write", pt.Write, "docs", pt.Docs, "heap_inuse", mib(int64(pt.HeapInUse)),
				"allocated", mib(int64(pt.TotalAlloc)))
		}
	}

	if !cfg.skipTool {
		if lg, err := kc.ListGroups(ctx, &kafka.ListGroupsRequest{}); err == nil && lg.Error == nil {
			rep.brokerGroups = len(lg.Groups)
		}
		brokers := strings.Join(cfg.brokers, ",")
		prefix := cfg.layout.Prefix + "-g"
		for i := 0; i < cfg.toolRuns; i++ {
			var r toolResult
			broker, berr := counter.around(ctx, func() {
				r = runKafkaTool(ctx, cfg.kafkaTool, brokers, prefix, "`--describe --all-groups`", []string{"--describe", "--all-groups"})
			})
			r.Broker, r.BrokerErr = broker, berr
			attrs := []any{"args", "--describe --all-groups", "wall", r.Wall.Round(time.Millisecond), "rows", r.Rows, "lines", r.Lines,
				"broker_requests_by_type", r.Broker, "broker_err", r.BrokerErr}
			if r.Rows != cfg.layout.GroupPartitions {
				// The tool says on stderr why it described less.
				attrs = append(attrs, "stderr", r.Stderr)
			}
			log.Info("kafka tool", append(attrs, "err", r.Err)...)
			rep.toolAll = append(rep.toolAll, r)
		}
		if cfg.toolGroups {
			args := []string{"--describe"}
			for _, g := range cfg.layout.groupNames() {
				args = append(args, "--group", g)
			}
			var r toolResult
			broker, berr := counter.around(ctx, func() {
				r = runKafkaTool(ctx, cfg.kafkaTool, brokers, prefix,
					fmt.Sprintf("`--describe` with %s `--group` (benchmark groups only)", thousands(int64(cfg.layout.Groups))), args)
			})
			r.Broker, r.BrokerErr = broker, berr
			log.Info("kafka tool", "args", "--describe --group ...", "wall", r.Wall.Round(time.Millisecond), "rows", r.Rows,
				"broker_requests_by_type", r.Broker, "broker_err", r.BrokerErr, "err", r.Err)
			rep.toolGroups = &r
		}
	}

	if !cfg.skipStorage {
		if err := measureStorage(ctx, es, cfg, rep, log); err != nil {
			errs = append(errs, fmt.Errorf("storage: %w", err))
		}
	}

	rep.loadAfter = loadAverage()
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func measureStorage(ctx context.Context, es *esHTTP, cfg config, rep *report, log *slog.Logger) error {
	stream := "metrics-lagwatch.offsets-" + cfg.namespace
	log.Info("force-merging", "data_stream", stream)
	ours, err := es.compact(ctx, stream)
	if err != nil {
		return err
	}
	ours.Label = "lagwatch offsets data stream"
	ours.Mapping = "lagwatch's template: keyword strings, long/integer numbers, `best_compression`"
	if ours.Usage, err = es.diskUsage(ctx, stream); err != nil {
		return err
	}
	rep.storage = append(rep.storage, ours)
	log.Info("offsets data stream measured", "docs", ours.Docs, "bytes", ours.Bytes, "segments", ours.Segments)

	installed, err := es.templateOf(ctx, stream)
	if err != nil {
		return err
	}
	// Elasticsearch's default distribution ignores synthetic _source
	// without an Enterprise licence (from 8.17) and stores _source instead.
	storedSource, err := withSetting(installed, "mapping", map[string]any{"source": map[string]any{"mode": "stored"}})
	if err != nil {
		return err
	}
	base := strings.ToLower(cfg.layout.Prefix)
	for _, c := range []comparison{
		{Label: "Telegraf-style rows, no template", Index: base + "-telegraf-dynamic", Row: appendTelegrafDoc},
		{Label: "Telegraf-style rows, Telegraf's own template", Index: base + "-telegraf-template", Row: appendTelegrafDoc,
			Template: fmt.Sprintf(telegrafTemplate, base+"-telegraf-template")},
		{Label: "what-if: the same lagwatch documents and template, automatic ids", Index: base + "-lagwatch-autoid", Row: appendSameDoc,
			Create: installed},
		{Label: "what-if: the same lagwatch documents, ids and template, stored `_source`", Index: base + "-lagwatch-stored",
			Create: storedSource},
	} {
		st, err := es.writeComparison(ctx, stream, c, log)
		if err != nil {
			return err
		}
		if c.Create != nil {
			st.Mapping = ours.Mapping
		}
		rep.storage = append(rep.storage, st)
	}
	return nil
}

func checkServers(ctx context.Context, cfg config) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cfg.brokers[0])
	if err != nil {
		return fmt.Errorf("kafka broker %s unreachable (start it with `scripts/testenv up`): %w", cfg.brokers[0], err)
	}
	_ = conn.Close()
	hc := http.Client{Timeout: 10 * time.Second}
	res, err := hc.Get(strings.TrimRight(cfg.esURL, "/") + "/_cluster/health")
	if err != nil {
		return fmt.Errorf("elasticsearch at %s unreachable (start it with `scripts/testenv up`): %w", cfg.esURL, err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("elasticsearch at %s: cluster health answered %s", cfg.esURL, res.Status)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
