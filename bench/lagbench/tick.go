package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/lagwatch/lagwatch/bench/internal/benchenv"
	"github.com/lagwatch/lagwatch/bench/internal/brokerstats"
	"github.com/lagwatch/lagwatch/internal/peakrss"
)

// tickResult is one `collector --once` run.
type tickResult struct {
	Run int
	// Wall is the process's wall time, start-up and exit included; Duration
	// and ReadDuration are the tick's own, from its log line.
	Wall, Duration, ReadDuration time.Duration
	// BulkTook is Elasticsearch's own time for the tick's bulk requests
	// (their "took", summed), from the tick line; 0 when it lacks it.
	BulkTook                    time.Duration
	KafkaRequests               int64
	Groups, Partitions          int
	Written, Duplicates, Failed int
	Spooled                     int
	// MaxRSS is the process's peak resident set, in bytes.
	MaxRSS int64
	// CPU is user plus system time.
	CPU time.Duration
	// Err is set when the tick failed or its log line was not found.
	Err error

	// OwnByType is the tick's requests by type as the collector counted
	// them on the wire (its tick line's kafka_requests_by_type).
	OwnByType brokerstats.Counts
	// Broker is what the broker counted while the process ran, nil when
	// the broker's counts are not available; BrokerErr says why a
	// snapshot failed.
	Broker    brokerstats.Counts
	BrokerErr error
}

// DocsPerSecond is the documents written per second of the tick.
func (r tickResult) DocsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Written) / r.Duration.Seconds()
}

// collectorBinary is the collector at path (the -collector flag), else
// ./cmd/collector built into dir; lagbench runs from the repository's top
// folder.
func collectorBinary(ctx context.Context, path, dir string) (string, error) {
	return benchenv.Program(ctx, path, dir, "./cmd/collector")
}

// tickEnv is what a collector run sees: the process environment without any
// variable the collector reads, plus the benchmark's settings.
type tickEnv struct {
	Brokers, ESURL, Namespace, GroupAllow, SpoolDir string
	TickTimeout                                     time.Duration
}

func (e tickEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KAFKA_") || strings.HasPrefix(name, "ELASTICSEARCH_") ||
			strings.HasPrefix(name, "COLLECTOR_") || strings.HasPrefix(name, "LOG_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"KAFKA_BROKERS="+e.Brokers,
		"KAFKA_CLUSTER_NAME=lagbench",
		"KAFKA_GROUP_ALLOW="+e.GroupAllow,
		"ELASTICSEARCH_URL="+e.ESURL,
		"ELASTICSEARCH_NAMESPACE="+e.Namespace,
		"COLLECTOR_SPOOL_DIR="+e.SpoolDir,
		"COLLECTOR_TICK_TIMEOUT="+e.TickTimeout.String(),
		"COLLECTOR_METRICS_ADDR=", // empty: no listener
		"LOG_FORMAT=json",
	)
}

// runTick runs `collector --once` and reads its tick line. logPath keeps
// the collector's log.
func runTick(ctx context.Context, bin string, env tickEnv, run int, logPath string) tickResult {
	r := tickResult{Run: run}
	cmd := exec.CommandContext(ctx, bin, "--once")
	cmd.Env = env.environ()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	var runErr error
	r.Wall, r.MaxRSS, runErr = runMeasured(cmd)
	if ps := cmd.ProcessState; ps != nil {
		r.CPU = ps.UserTime() + ps.SystemTime()
	}
	if logPath != "" {
		_ = os.WriteFile(logPath, stderr.Bytes(), 0o644)
	}
	line, err := parseTickLog(stderr.Bytes())
	if err == nil {
		err = line.fill(&r)
	}
	r.Err = errors.Join(runErrWithLog(runErr, stderr.Bytes()), err)
	return r
}

func runErrWithLog(err error, log []byte) error {
	if err == nil {
		return nil
	}
	tail := log
	if len(tail) > 2000 {
		tail = tail[len(tail)-2000:]
	}
	return fmt.Errorf("collector --once: %w; log tail:\n%s", err, tail)
}

// tickLine is the collector's summary line of a tick.
type tickLine struct {
	Msg             string `json:"msg"`
	Groups          int    `json:"groups"`
	Partitions      int    `json:"partitions"`
	KafkaRequests   int64  `json:"kafka_requests"`
	GroupErrors     int    `json:"group_errors"`
	PartitionErrors int    `json:"partition_errors"`
	ReadDuration    string `json:"read_duration"`
	Written         int    `json:"written"`
	Duplicates      int    `json:"duplicates"`
	Failed          int    `json:"failed"`
	Spooled         int    `json:"spooled"`
	Duration        string `json:"duration"`
	BulkTook        string `json:"es_bulk_took"`
	Err             string `json:"err"`
	TxnReads        int    `json:"txn_reads"`

	// KafkaRequestsByType is keyed by Kafka's request names.
	KafkaRequestsByType map[string]int64 `json:"kafka_requests_by_type"`
}

// tickMessages are the msg values of the collector's per-cluster tick line.
var tickMessages = map[string]bool{
	"tick":        true,
	"tick failed": true,
	"tick spooled: Elasticsearch unavailable or templates not installed": true,
	"tick failed: cluster not read":                                      true,
}

// parseTickLog finds the tick line in the collector's JSON log.
func parseTickLog(log []byte) (tickLine, error) {
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var l tickLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if tickMessages[l.Msg] {
			return l, nil
		}
	}
	return tickLine{}, errors.New("no tick line in the collector's log")
}

func (l tickLine) fill(r *tickResult) error {
	var errs []error
	var err error
	if r.Duration, err = time.ParseDuration(l.Duration); err != nil {
		errs = append(errs, fmt.Errorf("tick line: duration %q: %w", l.Duration, err))
	}
	if l.ReadDuration != "" {
		if r.ReadDuration, err = time.ParseDuration(l.ReadDuration); err != nil {
			errs = append(errs, fmt.Errorf("tick line: read_duration %q: %w", l.ReadDuration, err))
		}
	}
	if l.BulkTook != "" {
		if r.BulkTook, err = time.ParseDuration(l.BulkTook); err != nil {
			errs = append(errs, fmt.Errorf("tick line: es_bulk_took %q: %w", l.BulkTook, err))
		}
	}
	r.KafkaRequests, r.OwnByType, r.Groups, r.Partitions = l.KafkaRequests, l.KafkaRequestsByType, l.Groups, l.Partitions
	r.Written, r.Duplicates, r.Failed, r.Spooled = l.Written, l.Duplicates, l.Failed, l.Spooled
	if l.Msg != "tick" {
		errs = append(errs, fmt.Errorf("the tick did not succeed: %q %s", l.Msg, l.Err))
	}
	if l.GroupErrors > 0 || l.PartitionErrors > 0 {
		errs = append(errs, fmt.Errorf("the tick saw %d group and %d partition errors", l.GroupErrors, l.PartitionErrors))
	}
	return errors.Join(errs...)
}

// runMeasured runs cmd and returns its wall time and its peak resident set
// (VmHWM, polled every 2 ms: see package peakrss for why not its rusage).
func runMeasured(cmd *exec.Cmd) (wall time.Duration, peak int64, err error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	w := peakrss.Start(cmd.Process.Pid, 2*time.Millisecond)
	err = cmd.Wait()
	wall = time.Since(start)
	return wall, w.Stop(), err
}
