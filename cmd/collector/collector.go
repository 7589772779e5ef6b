package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/kafkasource"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// collector runs ticks: every cluster is read concurrently, then the
// snapshots are written one after the other (the writer's spool keeps them in
// order).
type collector struct {
	cfg     Config
	log     *slog.Logger
	readers []*kafkasource.Source
	closers []func()
	writer  *esindex.Writer
	metrics *metrics
	server  *service.Server // nil without COLLECTOR_METRICS_ADDR

	// spooled counts the documents spooled by the ticks since once reset it.
	spooled int

	last service.LastRun // the latest tick, for /healthz
}

func newCollector(ctx context.Context, cfg Config, log *slog.Logger) (*collector, error) {
	c := &collector{cfg: cfg, log: log, metrics: newMetrics(), last: service.LastRun{Noun: "tick", OKNamesRun: true}}
	for _, cl := range cfg.Clusters {
		src, err := kafkasource.New(cl.source(cfg.KafkaTimeout, cfg.FetchConcurrency))
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, src.Close)
		c.readers = append(c.readers, src)
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
		c.server, err = service.Listen(cfg.MetricsAddr, "COLLECTOR_METRICS_ADDR", c.metrics.reg, &c.last, log)
		if err != nil {
			return nil, err
		}
		log.Info("serving /metrics and /healthz", "addr", c.server.Addr().String())
	}
	return c, nil
}

func (c *collector) close() {
	c.server.Close()
	for _, f := range c.closers {
		f()
	}
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
	sched, err := service.NewSchedule(c.cfg.Schedule, c.log)
	if err != nil {
		return usageError{Err: fmt.Errorf("COLLECTOR_SCHEDULE: %w", err)}
	}
	sched.Start(ctx, func(ctx context.Context) { _ = c.tick(ctx) })
	c.log.Info("collector running", "schedule", c.cfg.Schedule, "clusters", len(c.readers))
	<-ctx.Done()
	c.log.Info("stopping: waiting for the tick in flight")
	sched.Stop()
	c.log.Info("collector stopped")
	return nil
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
	c.last.Record(start, err)
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
