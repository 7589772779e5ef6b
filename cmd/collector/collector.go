package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/lagwatch/lagwatch/internal/collector"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/kafkasource"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// program is the collector's parts as the configuration made them: the tick
// (internal/collector) over a Kafka source per cluster and the
// Elasticsearch writer, and the /metrics and /healthz listener.
type program struct {
	cfg     Config
	log     *slog.Logger
	core    *collector.Collector
	writer  *esindex.Writer
	server  *service.Server // nil without COLLECTOR_METRICS_ADDR
	closers []func()
}

func newCollector(ctx context.Context, cfg Config, log *slog.Logger) (*program, error) {
	p := &program{cfg: cfg, log: log}
	p.core = &collector.Collector{Timeout: cfg.TickTimeout, Metrics: collector.NewMetrics(), Log: log,
		LastRun: &service.LastRun{Noun: "tick", OKNamesRun: true}}
	for _, cl := range cfg.Clusters {
		src, err := kafkasource.New(cl.source(cfg.KafkaTimeout, cfg.KafkaRequestTimeout, cfg.FetchConcurrency))
		if err != nil {
			return nil, err
		}
		p.closers = append(p.closers, src.Close)
		p.core.Sources = append(p.core.Sources, src)
	}

	es, err := esindex.New(esindex.ConnConfig(cfg.Elasticsearch.Conn()), cfg.Elasticsearch.Namespace)
	if err != nil {
		return nil, err
	}
	names := es.Names()
	// Templates go in before the first write; when Elasticsearch is down at
	// start-up, ticks spool and the templates are installed on the first
	// tick that reaches it. Each attempt is bounded by a fifth of the tick
	// timeout, so that a hanging Elasticsearch leaves the tick the time to
	// write or spool what it read.
	p.writer, err = es.NewWriter(esindex.WriterOptions{
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
	p.core.Sink = p.writer
	// In the background: the first tick's Kafka read need not wait for it,
	// and an Elasticsearch that hangs does not hold up the start.
	p.writer.StartInstall()

	if cfg.MetricsAddr != "" {
		p.server, err = service.Listen(cfg.MetricsAddr, "COLLECTOR_METRICS_ADDR", p.core.Metrics.Registry(), p.core.LastRun, log)
		if err != nil {
			return nil, err
		}
		log.Info("serving /metrics and /healthz", "addr", p.server.Addr().String())
	}
	return p, nil
}

func (p *program) close() {
	p.server.Close()
	for _, f := range p.closers {
		f()
	}
}

// once runs a single tick.
//
// A tick whose documents went to the spool lost nothing, but it did not do
// its job either: --once then exits non-zero, so that a batch scheduler
// shows that Elasticsearch is away or refusing (the next run replays the
// spool).
func (p *program) once(ctx context.Context) error {
	// A signal during the tick lets it finish (or spool) within its timeout.
	res, err := p.core.Tick(context.WithoutCancel(ctx))
	if err != nil {
		return envconf.Logged{Err: err} // the tick's summary line carries it
	}
	if res.Spooled > 0 {
		why := ""
		if res.Refusal != "" {
			why = " (" + res.Refusal + ")"
		}
		return fmt.Errorf("%d documents went to the spool instead of Elasticsearch%s; the next run replays them", res.Spooled, why)
	}
	return nil
}

// serve runs ticks on the schedule until ctx ends, then waits for the tick
// in flight.
func (p *program) serve(ctx context.Context) error {
	sched, err := service.NewSchedule(p.cfg.Schedule, p.log)
	if err != nil {
		return usageError{Err: fmt.Errorf("COLLECTOR_SCHEDULE: %w", err)}
	}
	sched.Start(ctx, func(ctx context.Context) {
		at, ok := service.PlannedAt(ctx)
		if !ok {
			at = time.Now()
		}
		_, _ = p.core.TickAt(ctx, at)
	})
	p.log.Info("collector running", "schedule", p.cfg.Schedule, "clusters", len(p.core.Sources))
	<-ctx.Done()
	p.log.Info("stopping: waiting for the tick in flight")
	sched.Stop()
	p.log.Info("collector stopped")
	return nil
}
