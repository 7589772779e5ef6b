// Package evaluator is the evaluator program's work: one evaluation run
// reads every group's window from the history, classifies it with
// pkg/evaluate, writes the verdicts, keeps the incidents and sends the
// alerts they call for, then logs one summary line and updates the
// metrics; a schedule repeats runs; a backtest replays the past; the status
// command prints verdicts.
//
// It talks to the history only through the small interfaces below (History,
// StatusWriter, notify.Store), which *esindex.Client, *esindex.StatusWriter
// and esindex.IncidentStore implement, so that a run can be tested with
// in-process fakes. cmd/evaluator turns the configuration into Settings and
// Parts; nothing here reads the environment.
package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// History is what a run reads from the history the collector keeps, and the
// templates it installs there. *esindex.Client implements it.
type History interface {
	// InstallEvaluator installs the status and incident templates, keeping
	// statuses for retention (0: forever).
	InstallEvaluator(ctx context.Context, retention time.Duration) error
	// Refresh makes the latest writes searchable.
	Refresh(ctx context.Context) error
	// ReadWindows calls fn with each group's window, in (cluster, group)
	// order.
	ReadWindows(ctx context.Context, q esindex.WindowQuery, fn func(evaluate.GroupWindow) error) (esindex.WindowStats, error)
	// WindowTicks reads the tick times a window read starts with, to be
	// handed to later reads as WindowQuery.Ticks.
	WindowTicks(ctx context.Context, q esindex.WindowQuery) (*esindex.WindowTicks, error)
	// WindowGroups lists the groups ReadWindows would read, without
	// reading them, and says how many requests that took.
	WindowGroups(ctx context.Context, q esindex.WindowQuery) ([]esindex.GroupKey, int, error)
	// KnownGroups lists the groups seen in [from, to] (of cluster, unless
	// empty) and says how many requests that took.
	KnownGroups(ctx context.Context, from, to time.Time, cluster string) ([]esindex.GroupKey, int, error)
	// HeadPassages answers, per lookup, when the history before its window
	// saw the log end pass its committed offset, and says how many
	// requests that took.
	HeadPassages(ctx context.Context, lookups []esindex.HeadLookup) ([]evaluate.HeadPassage, int, error)
	// KnownClusters lists the clusters seen in [from, to].
	KnownClusters(ctx context.Context, from, to time.Time) ([]string, error)
	// GroupSeen reports whether one group of a cluster was seen in [from,
	// to], in one request whatever the number of groups; OldestTick is when
	// the history's oldest group was seen (zero when none was). The API's.
	GroupSeen(ctx context.Context, from, to time.Time, cluster, group string) (bool, error)
	OldestTick(ctx context.Context) (time.Time, error)
	// CollectorTicks reads each cluster's collector ticks in (at-lookback,
	// at] (of cluster, unless empty), for the stale decision, and says how
	// many requests that took.
	CollectorTicks(ctx context.Context, at time.Time, lookback time.Duration, cluster string) (map[string]evaluate.TickHistory, int, error)
	// Topics, TopicOffsets and TopicGroups read a cluster's topics, a
	// topic's log-end offsets and its groups at the cluster's latest tick,
	// for the API.
	Topics(ctx context.Context, q esindex.TopicQuery) ([]string, time.Time, error)
	TopicOffsets(ctx context.Context, q esindex.TopicQuery) ([]int64, time.Time, error)
	TopicGroups(ctx context.Context, q esindex.TopicQuery) ([]string, time.Time, error)
}

// StatusWriter stores verdicts, each exactly once. *esindex.StatusWriter
// implements it.
type StatusWriter interface {
	// Write stores docs. Documents Elasticsearch does not take now (it
	// refuses writes, or is away) are kept and sent first by the next
	// Write; the result counts them in Spooled.
	Write(ctx context.Context, docs []esindex.StatusDoc) (esindex.WriteResult, error)
	// Backlog is the number of documents kept for the next Write, and
	// their size.
	Backlog() (docs int, bytes int64)
}

var (
	_ History      = (*esindex.Client)(nil)
	_ StatusWriter = (*esindex.StatusWriter)(nil)
	_ notify.Store = esindex.IncidentStore{}
)

// Settings are a run's tunables.
type Settings struct {
	// Rules are the evaluation's rules. Rules.WindowSize is also the number
	// of documents read per partition.
	Rules evaluate.Rules
	// MaxAge: observations older than this are left out of a window.
	MaxAge time.Duration
	// NotFoundLookback is how far back a group without observations within
	// MaxAge must have been seen to be reported NOTFOUND; and how far back
	// a cluster's collector ticks are looked for (a cluster without one is
	// never stale).
	NotFoundLookback time.Duration
	// StaleAfter is how old a cluster's newest tick that read may be before
	// the cluster is stale; 0: evaluate.StaleIntervals collector intervals
	// as the history shows them, at most MaxAge.
	StaleAfter time.Duration
	// PageSize is the number of documents per search request.
	PageSize int
	// Shard is the part of the groups that runs evaluate (statuses,
	// incidents, alerts); the status command, reports and the API answer
	// for every group.
	Shard esindex.Shard
	// Timeout bounds one run, or one backtest step.
	Timeout time.Duration
	// Retention is how long statuses are kept (0: forever).
	Retention time.Duration
	// Alert says when incidents open and how often they are re-sent.
	Alert notify.Policy
	// Namespace names the history in logs and messages.
	Namespace string
	// Schedule is the cron spec of Serve; MetricsAddr its /metrics and
	// /healthz listen address (empty: none).
	Schedule, MetricsAddr string
	// HTTPAddr is where Serve and ServeAPI answer the API, /metrics and
	// /healthz (empty: nowhere; ServeAPI then refuses to start).
	HTTPAddr string
	// APITimeout bounds the Elasticsearch reads of one API request.
	APITimeout time.Duration
	// StateFile keeps, across processes, the incidents whose alert was
	// sent while the store refused to save them ("": in memory only).
	StateFile string
	// HTTPServer and MetricsServer say how the listeners on HTTPAddr and
	// MetricsAddr let clients in (TLS, the credentials of /metrics) and
	// their time limits; the API checks its own credentials.
	HTTPServer, MetricsServer service.ServerOptions
}

// Parts are what a run talks to.
type Parts struct {
	History   History
	Statuses  StatusWriter
	Incidents notify.Store
	// Sinks receive the alerts, in this order.
	Sinks []notify.Sink
	Log   *slog.Logger
	// API makes the HTTP handler of the API over a Source; nil serves no
	// API, only /metrics and /healthz.
	API func(burrowapi.Source) http.Handler
}

// Evaluator runs evaluations. Its methods are not safe for concurrent use;
// Serve runs one evaluation at a time.
type Evaluator struct {
	cfg     Settings
	log     *slog.Logger
	history History
	status  StatusWriter
	store   notify.Store
	sinks   []notify.Sink
	metrics *metrics
	server  *service.Server // nil until Serve, and without a metrics address
	api     func(burrowapi.Source) http.Handler
	http    *service.Server // nil until Serve or ServeAPI, and without an HTTP address

	templatesOK bool
	heads       headCache // time lag lookups beyond the window (heads.go)
	// unsaved are incidents whose alert was sent while the store refused
	// to save them (unsaved.go).
	unsaved *unsaved

	last service.LastRun // the latest evaluation, for /healthz
}

// New is an Evaluator of p with settings cfg.
func New(cfg Settings, p Parts) *Evaluator {
	return &Evaluator{cfg: cfg, log: p.Log, history: p.History, status: p.Statuses, store: p.Incidents, sinks: p.Sinks,
		metrics: newMetrics(), last: service.LastRun{Noun: "evaluation"}, api: p.API, unsaved: newUnsaved(cfg.StateFile)}
}

// Close stops the listeners, if any.
func (e *Evaluator) Close() {
	e.server.Close()
	e.http.Close()
}

// ensureTemplates installs the status and incident templates once per
// process.
func (e *Evaluator) ensureTemplates(ctx context.Context) error {
	if e.templatesOK {
		return nil
	}
	if err := e.history.InstallEvaluator(ctx, e.cfg.Retention); err != nil {
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
	// fresh is each cluster's freshness at the instant; nil when it could
	// not be read (no cluster is then taken for stale).
	fresh map[string]evaluate.Freshness
	// headLookups counts the partitions whose time lag was looked up in
	// the history beyond the window, headFailed those whose lookup failed.
	headLookups, headFailed int
}

// The most groups, and the most lookups, an evaluation holds before asking
// the history about them.
const (
	headBatchGroups  = 1000
	headBatchLookups = 2000
)

// evaluate evaluates every group of shard at instant at (of cluster and
// group, when set), calling fn for each in (cluster, group) order, the
// groups of stale clusters after the others, groups without a window
// (NOTFOUND) last. Groups are NOTFOUND when the groups data stream saw them
// within NotFoundLookback but they have no document in the window. A stale
// cluster's groups are judged as of the instant it became stale
// (evaluate.Freshness.StaleWindow), never NOTFOUND for the silence, and
// marked stale (evaluate.GroupResult.MarkStale). The time lags beyond the
// windows are looked up in the history only with heads.
func (e *Evaluator) evaluate(ctx context.Context, at time.Time, cluster, group string, heads bool, shard esindex.Shard, fn func(evaluate.GroupResult) error) (runStats, error) {
	fresh, reqs := e.freshness(ctx, at, cluster)
	return e.evaluateFresh(ctx, at, cluster, group, heads, shard, fresh, reqs, fn)
}

// evaluateFresh is evaluate with each cluster's freshness read (reqs
// requests).
func (e *Evaluator) evaluateFresh(ctx context.Context, at time.Time, cluster, group string, heads bool, shard esindex.Shard,
	fresh map[string]evaluate.Freshness, reqs int, fn func(evaluate.GroupResult) error) (runStats, error) {
	st := runStats{byStatus: map[evaluate.Status]int{}, fresh: fresh, requests: reqs}
	stale := staleOnly(fresh)
	seen := map[esindex.GroupKey]bool{}
	emit := func(r evaluate.GroupResult) error {
		if f, ok := stale[r.Cluster]; ok {
			r.MarkStale(f, at)
		}
		st.groups++
		st.byStatus[r.Status]++
		return fn(r)
	}
	// Groups wait in pending until the history has said, in one batch, when
	// the log end passed the committed offsets the windows can only bound
	// (evaluate.HeadQueries): the time lag is then exact as far back as the
	// history goes. A failed lookup keeps the windows' bounds.
	var (
		pending []evaluate.GroupResult
		asks    []int // HeadQueries per pending group
		lookups []esindex.HeadLookup
		warned  bool
	)
	drain := func() error {
		if len(lookups) > 0 {
			hs, reqs, err := e.heads.lookup(ctx, e.history, lookups)
			st.requests += reqs
			st.headLookups += len(lookups)
			switch {
			case err != nil && ctx.Err() != nil:
				return err
			case err != nil:
				st.headFailed += len(lookups)
				if !warned {
					warned = true
					e.log.Warn("time lag beyond the window not looked up; the window's lower bounds stand", "err", err)
				}
			default:
				j := 0
				for i := range pending {
					if n := asks[i]; n > 0 {
						pending[i].ApplyHeadHistory(hs[j : j+n])
						j += n
					}
				}
			}
		}
		for _, r := range pending {
			if err := emit(r); err != nil {
				return err
			}
		}
		pending, asks, lookups = pending[:0], asks[:0], lookups[:0]
		return nil
	}
	judge := func(w evaluate.GroupWindow) error {
		seen[esindex.GroupKey{Cluster: w.Cluster, Group: w.Group}] = true
		now := at
		if f, ok := stale[w.Cluster]; ok {
			now = f.StaleAt
		}
		r := evaluate.EvaluateGroup(w, e.cfg.Rules, now)
		var qs []evaluate.HeadQuery
		if heads {
			qs = evaluate.HeadQueries(r)
		}
		for _, hq := range qs {
			lookups = append(lookups, esindex.HeadLookup{Cluster: w.Cluster, Group: w.Group, HeadQuery: hq})
		}
		pending, asks = append(pending, r), append(asks, len(qs))
		if len(pending) >= headBatchGroups || len(lookups) >= headBatchLookups {
			return drain()
		}
		return nil
	}
	q := esindex.WindowQuery{At: at, MaxAge: e.cfg.MaxAge, Size: e.cfg.Rules.WindowSize, PageSize: e.cfg.PageSize, Cluster: cluster, Group: group, Shard: shard}
	err := e.readWindows(ctx, q, stale, &st, judge)
	if err == nil {
		err = drain()
	}
	if err != nil {
		return st, err
	}
	known, reqs, err := e.history.KnownGroups(ctx, at.Add(-e.cfg.NotFoundLookback), at, cluster)
	st.requests += reqs
	if err != nil {
		return st, err
	}
	for _, k := range known {
		if seen[k] || (group != "" && k.Group != group) || !shard.Owns(k.Cluster, k.Group) {
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

// record evaluates at instant at and writes every verdict; with keep, it
// also hands each group's result to keep, for the alerting that follows.
// evalErr says the evaluation failed (a read): its results are not to be
// acted on. writeErr says verdicts were lost: rejected for their content,
// dropped from a full backlog, or not written because the status template
// could not be installed. Verdicts Elasticsearch does not take for now are
// kept by the StatusWriter, and are not an error.
func (e *Evaluator) record(ctx context.Context, at time.Time, keep func(evaluate.GroupResult)) (st runStats, total esindex.WriteResult, evalErr, writeErr error) {
	fail := func(err error) {
		if writeErr == nil {
			writeErr = err
		}
	}
	installed := true
	if err := e.ensureTemplates(ctx); err != nil {
		// Writing without the template would let Elasticsearch make the
		// data stream with mappings of its own. The verdicts still count
		// for the alerts.
		installed = false
		fail(fmt.Errorf("install status templates: %w", err))
	}
	var batch []esindex.StatusDoc
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if installed {
			res, err := e.status.Write(ctx, batch)
			total.Add(res)
			if err != nil {
				fail(err)
			}
		} else {
			total.Docs += len(batch)
			total.Dropped += len(batch)
		}
		batch = batch[:0]
	}
	st, evalErr = e.evaluate(ctx, at, "", "", true, e.cfg.Shard, func(r evaluate.GroupResult) error {
		batch = append(batch, statusDoc(r, at, e.cfg.Rules.WindowSize))
		if keep != nil {
			keep(r)
		}
		if len(batch) >= statusBatch {
			flush()
		}
		return nil
	})
	if evalErr == nil {
		flush()
	}
	return st, total, evalErr, writeErr
}

// Live is one scheduled (or --once) evaluation: statuses at the present,
// Burrow's gauges, then alerts. Alerts do not wait on the statuses: a
// verdict Elasticsearch would not store still alerts.
func (e *Evaluator) Live(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	at := start.UTC().Truncate(time.Millisecond)
	if planned, ok := service.PlannedAt(ctx); ok {
		// Evaluators on one schedule aligned to the clock evaluate the same
		// instant, and write the same status documents (stored once).
		at = planned.UTC().Truncate(time.Millisecond)
	}
	// Make the collector's latest tick searchable before reading it.
	// A failure shows in the read that follows.
	_ = e.history.Refresh(ctx)
	var results []evaluate.GroupResult
	burrow := newBurrowBuild()
	st, wr, evalErr, writeErr := e.record(ctx, at, func(r evaluate.GroupResult) {
		burrow.add(r)
		results = append(results, compact(r))
	})
	var alerts alertStats
	var alertErr error
	if evalErr == nil {
		// Every group was evaluated: Burrow's gauges show this
		// evaluation, whatever became of its statuses and alerts. A failed
		// evaluation leaves the previous one's.
		e.metrics.burrow.publish(burrow)
		alerts, alertErr = e.alert(ctx, at, results, st.fresh)
	}
	e.metrics.publishFreshness(st.fresh, at)
	err := errors.Join(evalErr, writeErr, alertErr)
	e.finish(start, at, st, wr, alerts, err)
	return err
}

// compact keeps what alerting needs of a result: the non-OK partitions,
// and a copy of MaxLag, which points into the whole Partitions otherwise
// (and would keep every partition of the group in memory).
func compact(r evaluate.GroupResult) evaluate.GroupResult {
	r.Partitions = r.NonOK()
	if r.MaxLag != nil {
		m := *r.MaxLag
		r.MaxLag = &m
	}
	return r
}

// Historical evaluates the past instant at and writes its statuses; no
// alerts are sent and no incident changes.
func (e *Evaluator) Historical(ctx context.Context, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	st, wr, evalErr, writeErr := e.record(ctx, at, nil)
	err := errors.Join(evalErr, writeErr)
	e.finish(start, at, st, wr, alertStats{}, err)
	return err
}

// Backtest evaluates every step from from to to and writes each step's
// statuses; no alerts are sent and no incident changes.
func (e *Evaluator) Backtest(ctx context.Context, from, to time.Time, step time.Duration) error {
	steps := 0
	var errs []error
	for at := from; !at.After(to); at = at.Add(step) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := e.Historical(ctx, at); err != nil {
			errs = append(errs, fmt.Errorf("at %s: %w", at.Format(time.RFC3339), err))
		}
		steps++
	}
	e.log.Info("backtest done", "from", from, "to", to, "step", step, "steps", steps, "failed_steps", len(errs))
	return errors.Join(errs...)
}

func (e *Evaluator) finish(start, at time.Time, st runStats, wr esindex.WriteResult, al alertStats, err error) {
	took := time.Since(start)
	kept, _ := e.status.Backlog()
	unsaved := e.unsaved.len()
	attrs := []any{"at", at, "groups", st.groups,
		"ok", st.byStatus[evaluate.OK], "warn", st.byStatus[evaluate.Warn], "err", st.byStatus[evaluate.Err], "notfound", st.byStatus[evaluate.NotFound],
		"documents_read", st.window.Docs, "pages", st.window.Pages, "es_requests", st.requests, "es_search_took", st.window.SearchTook,
		"time_lag_lookups", st.headLookups, "time_lag_lookups_failed", st.headFailed,
		"written", wr.Indexed, "duplicates", wr.Duplicates, "failed", wr.Failed + wr.Dropped,
		"statuses_kept", kept, "statuses_replayed", wr.Replayed,
		"alerts_sent", al.sent, "alerts_failed", al.failed, "alerts_unrecorded", al.unrecorded, "incidents_unsaved", unsaved,
		"stale_clusters", len(staleOnly(st.fresh)),
		"duration", took}
	if p, ok := wr.Refusal(); ok {
		attrs = append(attrs, "refusal", p.Reason)
	}
	e.metrics.observe(st, wr, al, took, err)
	e.metrics.unwritten(kept, unsaved)
	e.last.Record(start, err)
	switch {
	case err != nil:
		e.log.Error("evaluation failed", append(attrs, "err", err)...)
	case kept > 0 || unsaved > 0:
		// Nothing is lost yet, but Elasticsearch does not take writes:
		// what it refused waits in this process.
		e.log.Warn("evaluation", attrs...)
	default:
		e.log.Info("evaluation", attrs...)
	}
}

// Unwritten is what this process holds that Elasticsearch has not taken
// yet: status documents kept for the next write, and incidents whose alert
// was sent but which the store refused to save (kept in
// EVALUATOR_STATE_FILE as well, when it is set). A process that ends with
// status documents kept loses them: a run at the same instant (evaluator
// --at) writes them again.
func (e *Evaluator) Unwritten() (statuses, incidents int) {
	statuses, _ = e.status.Backlog()
	return statuses, e.unsaved.len()
}

// Serve evaluates on the schedule until ctx ends, then waits for the run in
// flight. It also answers the API (see ServeAPI).
func (e *Evaluator) Serve(ctx context.Context) error {
	sched, err := service.NewSchedule(e.cfg.Schedule, e.log)
	if err != nil {
		return envconf.UsageError{Err: fmt.Errorf("EVALUATOR_SCHEDULE: %w", err)}
	}
	if err := e.listen(ctx, false); err != nil {
		return err
	}
	sched.Start(ctx, func(ctx context.Context) { _ = e.Live(ctx) })
	e.log.Info("evaluator running", "schedule", e.cfg.Schedule, "namespace", e.cfg.Namespace)
	<-ctx.Done()
	sched.Stop()
	e.log.Info("evaluator stopped")
	return nil
}
