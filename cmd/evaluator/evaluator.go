package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

type evaluator struct {
	cfg     Config
	log     *slog.Logger
	es      *esindex.Client
	names   esindex.Names
	status  *esindex.StatusWriter
	sinks   []*notify.Webhook
	metrics *metrics
	server  *service.Server // nil until serve, and without EVALUATOR_METRICS_ADDR

	templatesOK bool

	last service.LastRun // the latest evaluation, for /healthz
}

func newEvaluator(cfg Config, log *slog.Logger) (*evaluator, error) {
	es, err := esindex.New(cfg.Elasticsearch.ConnConfig(), cfg.Elasticsearch.Namespace)
	if err != nil {
		return nil, err
	}
	return &evaluator{cfg: cfg, log: log, es: es, names: es.Names(), status: es.NewStatusWriter(), sinks: cfg.Sinks(), metrics: newMetrics(),
		last: service.LastRun{Noun: "evaluation"}}, nil
}

func (e *evaluator) close() { e.server.Close() }

// ensureTemplates installs the status and incident templates once per
// process.
func (e *evaluator) ensureTemplates(ctx context.Context) error {
	if e.templatesOK {
		return nil
	}
	if err := e.es.InstallEvaluator(ctx, e.cfg.Elasticsearch.Retention); err != nil {
		return err
	}
	e.templatesOK = true
	return nil
}

// runStats summarise one evaluation.
type runStats struct {
	window   esindex.WindowStats
	requests int
	byStatus map[evaluate.Status]int
	groups   int
}

// evaluateAt evaluates every group at instant at, calling fn for each in
// (cluster, group) order, groups without a window (NOTFOUND) after the
// others. Groups are NOTFOUND when the groups data stream saw them within
// EVALUATOR_NOTFOUND_LOOKBACK but they have no document in the window.
func (e *evaluator) evaluateAt(ctx context.Context, at time.Time, cluster, group string, fn func(evaluate.GroupResult) error) (runStats, error) {
	st := runStats{byStatus: map[evaluate.Status]int{}}
	seen := map[esindex.GroupKey]bool{}
	emit := func(r evaluate.GroupResult) error {
		st.groups++
		st.byStatus[r.Status]++
		return fn(r)
	}
	q := esindex.WindowQuery{At: at, MaxAge: e.cfg.MaxAge, Size: e.cfg.Rules.WindowSize, PageSize: e.cfg.PageSize, Cluster: cluster, Group: group}
	ws, err := e.es.ReadWindows(ctx, q, func(w evaluate.GroupWindow) error {
		seen[esindex.GroupKey{Cluster: w.Cluster, Group: w.Group}] = true
		return emit(evaluate.EvaluateGroup(w, e.cfg.Rules, at))
	})
	st.window = ws
	st.requests += ws.Requests
	if err != nil {
		return st, err
	}
	known, reqs, err := e.es.KnownGroups(ctx, at.Add(-e.cfg.NotFoundLookback), at, cluster)
	st.requests += reqs
	if err != nil {
		return st, err
	}
	for _, k := range known {
		if seen[k] || (group != "" && k.Group != group) {
			continue
		}
		if err := emit(evaluate.GroupResult{Cluster: k.Cluster, Group: k.Group, Status: evaluate.NotFound, Complete: 1}); err != nil {
			return st, err
		}
	}
	return st, nil
}

// statusBatch is how many status documents are written per bulk call.
const statusBatch = 1000

// record evaluates at instant at and writes every verdict; with alerts, it
// also returns each group's result for the alerting that follows.
func (e *evaluator) record(ctx context.Context, at time.Time, keep func(evaluate.GroupResult)) (runStats, esindex.WriteResult, error) {
	var total esindex.WriteResult
	if err := e.ensureTemplates(ctx); err != nil {
		return runStats{}, total, fmt.Errorf("install status templates: %w", err)
	}
	var batch []esindex.StatusDoc
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := e.status.Write(ctx, batch)
		total.Add(res)
		batch = batch[:0]
		return err
	}
	st, err := e.evaluateAt(ctx, at, "", "", func(r evaluate.GroupResult) error {
		batch = append(batch, statusDoc(r, at, e.cfg.Rules.WindowSize))
		if keep != nil {
			keep(r)
		}
		if len(batch) >= statusBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return st, total, err
}

// live is one scheduled (or --once) evaluation: statuses at the present,
// then alerts.
func (e *evaluator) live(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	at := start.UTC().Truncate(time.Millisecond)
	// Make the collector's latest tick searchable before reading it.
	// A failure shows in the read that follows.
	_ = e.es.Refresh(ctx)
	var results []evaluate.GroupResult
	st, wr, err := e.record(ctx, at, func(r evaluate.GroupResult) {
		results = append(results, compact(r))
	})
	var alerts alertStats
	if err == nil {
		alerts, err = e.alert(ctx, at, results)
	}
	e.finish(start, at, st, wr, alerts, err)
	return err
}

// compact keeps what alerting needs of a result: the non-OK partitions.
func compact(r evaluate.GroupResult) evaluate.GroupResult {
	r.Partitions = r.NonOK()
	return r
}

func (e *evaluator) historical(ctx context.Context, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	st, wr, err := e.record(ctx, at, nil)
	e.finish(start, at, st, wr, alertStats{}, err)
	return err
}

// backtest evaluates every step from from to to and writes each step's
// statuses; no alerts are sent and no incident changes.
func (e *evaluator) backtest(ctx context.Context, from, to time.Time, step time.Duration) error {
	steps := 0
	var errs []error
	for at := from; !at.After(to); at = at.Add(step) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := e.historical(ctx, at); err != nil {
			errs = append(errs, fmt.Errorf("at %s: %w", at.Format(time.RFC3339), err))
		}
		steps++
	}
	e.log.Info("backtest done", "from", from, "to", to, "step", step, "steps", steps, "failed_steps", len(errs))
	return errors.Join(errs...)
}

func (e *evaluator) finish(start, at time.Time, st runStats, wr esindex.WriteResult, al alertStats, err error) {
	took := time.Since(start)
	attrs := []any{"at", at, "groups", st.groups,
		"ok", st.byStatus[evaluate.OK], "warn", st.byStatus[evaluate.Warn], "err", st.byStatus[evaluate.Err], "notfound", st.byStatus[evaluate.NotFound],
		"documents_read", st.window.Docs, "pages", st.window.Pages, "es_requests", st.requests,
		"written", wr.Indexed, "duplicates", wr.Duplicates, "failed", wr.Failed,
		"alerts_sent", al.sent, "alerts_failed", al.failed, "duration", took}
	e.metrics.observe(st, wr, al, took, err)
	e.last.Record(start, err)
	if err != nil {
		e.log.Error("evaluation failed", append(attrs, "err", err)...)
		return
	}
	e.log.Info("evaluation", attrs...)
}

// serve evaluates on the schedule until ctx ends, then waits for the run in
// flight.
func (e *evaluator) serve(ctx context.Context) error {
	sched, err := service.NewSchedule(e.cfg.Schedule, e.log)
	if err != nil {
		return usageError{Err: fmt.Errorf("EVALUATOR_SCHEDULE: %w", err)}
	}
	if e.cfg.MetricsAddr != "" {
		e.server, err = service.Listen(e.cfg.MetricsAddr, "EVALUATOR_METRICS_ADDR", e.metrics.reg, &e.last, e.log)
		if err != nil {
			return err
		}
	}
	sched.Start(ctx, func(ctx context.Context) { _ = e.live(ctx) })
	e.log.Info("evaluator running", "schedule", e.cfg.Schedule, "namespace", e.names.Namespace)
	<-ctx.Done()
	sched.Stop()
	e.log.Info("evaluator stopped")
	return nil
}
