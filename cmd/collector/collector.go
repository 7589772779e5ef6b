package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
	"github.com/segmentio/kafka-go"
)

// collector runs ticks: every cluster is read concurrently, then the
// snapshots are written one after the other (the writer's spool keeps them in
// order).
type collector struct {
	cfg     Config
	log     *slog.Logger
	readers []*snapshot.Reader
	closers []func()
	writer  *esindex.Writer
	metrics *metrics
	server  *http.Server

	// spooled counts the documents spooled by the ticks since once reset it.
	spooled int

	mu       sync.Mutex
	lastTick time.Time
	lastErr  error
}

// dialTLS dials the plain connection and does the TLS handshake on it.
func dialTLS(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), cfg *tls.Config, network, addr string) (net.Conn, error) {
	raw, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := cfg.Clone()
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		tc.ServerName = host
	}
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return conn, nil
}

func newCollector(ctx context.Context, cfg Config, log *slog.Logger) (*collector, error) {
	c := &collector{cfg: cfg, log: log, metrics: newMetrics()}
	for _, cl := range cfg.Clusters {
		tr, err := cl.Transport(cfg.KafkaTimeout)
		if err != nil {
			return nil, err
		}
		counter := &snapshot.RequestCounter{}
		countRequests(tr, counter)
		c.closers = append(c.closers, tr.CloseIdleConnections)
		c.readers = append(c.readers, &snapshot.Reader{
			Cluster: cl.Name, Addr: kafka.TCP(cl.Brokers...), Transport: tr,
			Filter: cl.GroupFilter(), Concurrency: cfg.FetchConcurrency, Counter: counter,
		})
	}

	es, err := esindex.New(cfg.Elasticsearch.ConnConfig(), cfg.Elasticsearch.Namespace)
	if err != nil {
		return nil, err
	}
	names := es.Names()
	// Templates go in before the first write; when Elasticsearch is down at
	// start-up, ticks spool and the templates are installed on the first
	// tick that reaches it. Each attempt is bounded by a fifth of the tick
	// timeout, so that a hanging Elasticsearch leaves the tick the time to
	// write or spool what it read.
	c.writer, err = es.NewWriter(esindex.WriterOptions{
		SpoolDir: cfg.SpoolDir, SpoolMaxBytes: cfg.SpoolMaxBytes,
		Retention: cfg.Elasticsearch.Retention, InstallTimeout: cfg.TickTimeout / 5,
		OnInstall: func(f esindex.Features) {
			for _, w := range f.Warnings {
				log.Warn(w)
			}
			log.Info("index templates installed", "offsets", names.Offsets, "groups", names.Groups,
				"retention", f.Retention, "lifecycle", f.Lifecycle, "ilm", f.ILM)
		},
	})
	if err != nil {
		return nil, err
	}
	// In the background: the first tick's Kafka read need not wait for it,
	// and an Elasticsearch that hangs does not hold up the start.
	c.writer.StartInstall()

	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("COLLECTOR_METRICS_ADDR: listen on %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(c.metrics.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", c.healthz)
		c.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := c.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
		log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	}
	return c, nil
}

// countRequests makes the transport's connections count the requests they
// carry. TLS moves into the dial function so that the counter reads the
// plain protocol bytes.
func countRequests(tr *kafka.Transport, counter *snapshot.RequestCounter) {
	dial := tr.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: tr.DialTimeout}
		dial = d.DialContext
	}
	if tlsCfg := tr.TLS; tlsCfg != nil {
		tr.TLS = nil
		plain := dial
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialTLS(ctx, plain, tlsCfg, network, addr)
		}
	}
	tr.Dial = counter.Dial(dial)
}

func (c *collector) close() {
	if c.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.server.Shutdown(ctx)
	}
	for _, f := range c.closers {
		f()
	}
}

func (c *collector) healthz(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	last, err := c.lastTick, c.lastErr
	c.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "last tick at %s failed: %v\n", last.Format(time.RFC3339), err)
		return
	}
	if last.IsZero() {
		fmt.Fprintln(w, "ok: no tick yet")
		return
	}
	fmt.Fprintf(w, "ok: last tick at %s\n", last.Format(time.RFC3339))
}

// once runs a single tick.
//
// A tick whose documents went to the spool lost nothing, but it did not do
// its job either: --once then exits non-zero, so that a batch scheduler
// shows that Elasticsearch is away or refusing (the next run replays the
// spool).
func (c *collector) once(ctx context.Context) error {
	// A signal during the tick lets it finish (or spool) within its timeout.
	c.spooled = 0
	if err := c.tick(context.WithoutCancel(ctx)); err != nil {
		return envconf.Logged{Err: err} // the tick's summary line carries it
	}
	if c.spooled > 0 {
		return fmt.Errorf("%d documents went to the spool instead of Elasticsearch; the next run replays them", c.spooled)
	}
	return nil
}

// serve runs ticks on the schedule until ctx ends, then waits for the tick
// in flight.
func (c *collector) serve(ctx context.Context) error {
	sched, err := scheduleParser.Parse(c.cfg.Schedule)
	if err != nil {
		return usageError{Err: fmt.Errorf("COLLECTOR_SCHEDULE: %w", err)}
	}
	logger := cron.VerbosePrintfLogger(slogPrintf{c.log})
	cr := cron.New(cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	tickCtx := context.WithoutCancel(ctx)
	cr.Schedule(sched, cron.FuncJob(func() { _ = c.tick(tickCtx) }))
	cr.Start()
	c.log.Info("collector running", "schedule", c.cfg.Schedule, "clusters", len(c.readers))
	<-ctx.Done()
	c.log.Info("stopping: waiting for the tick in flight")
	<-cr.Stop().Done()
	c.log.Info("collector stopped")
	return nil
}

type slogPrintf struct{ log *slog.Logger }

func (s slogPrintf) Printf(format string, args ...any) {
	s.log.Debug(fmt.Sprintf(format, args...))
}

// tick reads every cluster and writes every snapshot. It fails when a
// cluster could not be read or a snapshot could be neither written nor
// spooled; group and partition errors are counted and logged but are part of
// a successful tick.
func (c *collector) tick(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.TickTimeout)
	defer cancel()
	start := time.Now()

	// Kafka first, with the templates (while they are not in) installing
	// alongside: an Elasticsearch that hangs must not eat the time the reads
	// need (what was read can always be spooled).
	c.writer.StartInstall()
	snaps := make([]snapshot.Snapshot, len(c.readers))
	readDone := make([]time.Duration, len(c.readers))
	var wg sync.WaitGroup
	for i, r := range c.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i] = r.Take(ctx, start)
			readDone[i] = time.Since(start)
		}()
	}
	wg.Wait()

	if err := c.writer.AwaitInstall(ctx); err != nil {
		c.log.Warn("index templates not installed yet; snapshots spool until Elasticsearch answers", "err", err)
	}

	var errs []error
	for i, s := range snaps {
		if err := c.write(ctx, s, readDone[i], start); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	c.mu.Lock()
	c.lastTick, c.lastErr = start, err
	c.mu.Unlock()
	segments, bytes := c.writer.SpoolDepth()
	c.metrics.spoolSegments.Set(float64(segments))
	c.metrics.spoolBytes.Set(float64(bytes))
	return err
}

func (c *collector) write(ctx context.Context, s snapshot.Snapshot, readTook time.Duration, start time.Time) error {
	m := c.metrics
	cl := s.Cluster
	m.kafkaRequests.WithLabelValues(cl).Add(float64(s.Stats.Requests))
	m.negativeLags.WithLabelValues(cl).Add(float64(s.Stats.NegativeLags))
	var partitions, partErrs int
	for _, g := range s.Groups {
		partitions += len(g.Partitions)
		for _, p := range g.Partitions {
			if p.Err != nil {
				partErrs++
			}
		}
	}
	m.kafkaErrors.WithLabelValues(cl, "group").Add(float64(s.Stats.GroupErrors))
	m.kafkaErrors.WithLabelValues(cl, "partition").Add(float64(partErrs))

	attrs := []any{"cluster", cl, "groups", len(s.Groups), "partitions", partitions,
		"kafka_requests", s.Stats.Requests, "group_errors", s.Stats.GroupErrors, "partition_errors", partErrs,
		"negative_lags", s.Stats.NegativeLags, "read_duration", readTook}

	// How the tick went, for the collector health dashboard.
	td := esindex.TickDoc{Time: s.Time, Cluster: cl, Result: "ok", ReadDuration: readTook,
		Groups: len(s.Groups), Partitions: partitions, KafkaRequests: s.Stats.Requests, GroupErrors: s.Stats.GroupErrors,
		PartitionErrors: partErrs, NegativeLags: s.Stats.NegativeLags}
	defer func() {
		td.TickDuration = time.Since(start)
		td.SpoolSegments, td.SpoolBytes = c.writer.SpoolDepth()
		if _, err := c.writer.WriteTick(ctx, td); err != nil {
			c.log.Warn("tick document not stored", "cluster", cl, "err", err)
		}
	}()

	if s.Err != nil {
		td.Result, td.Error = "error", s.Err.Error()
		m.kafkaErrors.WithLabelValues(cl, "cluster").Inc()
		m.ticks.WithLabelValues(cl, "error").Inc()
		m.tickDuration.WithLabelValues(cl).Observe(time.Since(start).Seconds())
		c.log.Error("tick failed: cluster not read", append(attrs, "duration", time.Since(start), "err", s.Err)...)
		return fmt.Errorf("cluster %q: %w", cl, s.Err)
	}
	m.groups.WithLabelValues(cl).Set(float64(len(s.Groups)))
	m.partitions.WithLabelValues(cl).Set(float64(partitions))

	res, err := c.writer.Write(ctx, s)
	td.Written, td.Duplicates, td.Failed = res.Indexed, res.Duplicates, res.Failed
	td.Spooled, td.Replayed, td.Dropped = res.Spooled, res.Replayed, res.Dropped
	switch {
	case err != nil || res.Failed > 0:
		td.Result = "error"
		if err != nil {
			td.Error = err.Error()
		}
	case res.Spooled > 0:
		td.Result = "spooled"
	}
	m.docs.WithLabelValues(cl, "written").Add(float64(res.Indexed))
	m.docs.WithLabelValues(cl, "duplicate").Add(float64(res.Duplicates))
	m.docs.WithLabelValues(cl, "failed").Add(float64(res.Failed))
	m.docs.WithLabelValues(cl, "spooled").Add(float64(res.Spooled))
	m.docs.WithLabelValues(cl, "replayed").Add(float64(res.Replayed))
	m.docs.WithLabelValues(cl, "dropped").Add(float64(res.Dropped))
	took := time.Since(start)
	m.tickDuration.WithLabelValues(cl).Observe(took.Seconds())
	attrs = append(attrs, "written", res.Indexed, "duplicates", res.Duplicates, "failed", res.Failed,
		"retried", res.Retried, "spooled", res.Spooled, "replayed", res.Replayed, "dropped", res.Dropped, "duration", took)
	if res.Dropped > 0 {
		c.log.Error("documents lost: neither written nor kept in the spool", "cluster", cl, "dropped", res.Dropped, "problems", res.Problems)
	}
	if len(res.Problems) > 0 {
		attrs = append(attrs, "problems", res.Problems)
	}
	if err != nil || res.Failed > 0 {
		if err == nil {
			err = fmt.Errorf("%d documents rejected by Elasticsearch", res.Failed)
		}
		m.ticks.WithLabelValues(cl, "error").Inc()
		c.log.Error("tick failed", append(attrs, "err", err)...)
		return fmt.Errorf("cluster %q: %w", cl, err)
	}
	m.ticks.WithLabelValues(cl, "ok").Inc()
	m.lastSuccess.WithLabelValues(cl).SetToCurrentTime()
	if res.Spooled > 0 {
		c.spooled += res.Spooled
		c.log.Warn("tick spooled: Elasticsearch unavailable or templates not installed", attrs...)
		return nil
	}
	c.log.Info("tick", attrs...)
	return nil
}
