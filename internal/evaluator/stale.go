package evaluator

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// The monitor watches itself (pkg/evaluate's stale.go says the rules): a
// cluster whose collector is silent, or ticks but reads nothing, is stale.
// Its groups are judged as of the instant it became stale, never NOTFOUND
// for the silence, and shown stale everywhere (status documents, the status
// command, the API, /metrics); the cluster gets one incident of its own
// (alert.go), which closes when lag data comes again.

// judgeFreshness reads the collector ticks of every cluster before at (of
// cluster alone, when set) and judges each one's freshness under cfg.
func judgeFreshness(ctx context.Context, h History, cfg Settings, at time.Time, cluster string) (map[string]evaluate.Freshness, int, error) {
	ticks, reqs, err := h.CollectorTicks(ctx, at, cfg.NotFoundLookback, cluster)
	if err != nil {
		return nil, reqs, err
	}
	rules := evaluate.StaleRules{After: cfg.StaleAfter, MaxAge: cfg.MaxAge}
	out := make(map[string]evaluate.Freshness, len(ticks))
	for c, t := range ticks {
		out[c] = evaluate.JudgeFreshness(t, at, rules)
	}
	return out, reqs, nil
}

// freshness is judgeFreshness for an evaluation. A failure to read it is
// logged and leaves every cluster fresh (nil): the evaluation goes on as
// before there was a stale rule, and no cluster incident changes.
func (e *Evaluator) freshness(ctx context.Context, at time.Time, cluster string) (map[string]evaluate.Freshness, int) {
	fresh, reqs, err := judgeFreshness(ctx, e.history, e.cfg, at, cluster)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("collector ticks not read: no cluster is judged stale in this evaluation", "err", err)
		}
		return nil, reqs
	}
	return fresh, reqs
}

// staleOnly are the stale clusters of fresh.
func staleOnly(fresh map[string]evaluate.Freshness) map[string]evaluate.Freshness {
	out := map[string]evaluate.Freshness{}
	for c, f := range fresh {
		if f.Stale {
			out[c] = f
		}
	}
	return out
}

// readWindows reads q's windows into fn: those of the clusters that are not
// stale at q.At, then each stale cluster's (in name order) as the
// evaluation at the instant it became stale read them. A stale cluster
// none of whose ticks read has no window. st counts the reads.
func (e *Evaluator) readWindows(ctx context.Context, q esindex.WindowQuery, stale map[string]evaluate.Freshness, st *runStats,
	fn func(evaluate.GroupWindow) error) error {
	q.Skip = map[string]bool{}
	for c := range stale {
		q.Skip[c] = true
	}
	read := func(q esindex.WindowQuery) error {
		ws, err := e.history.ReadWindows(ctx, q, fn)
		st.window.Requests += ws.Requests
		st.window.Pages += ws.Pages
		st.window.Docs += ws.Docs
		st.window.Groups += ws.Groups
		st.window.SearchTook += ws.SearchTook
		st.requests += ws.Requests
		return err
	}
	if q.Cluster == "" || !q.Skip[q.Cluster] {
		if err := read(q); err != nil {
			return err
		}
	}
	for _, c := range slices.Sorted(maps.Keys(stale)) {
		if q.Cluster != "" && c != q.Cluster || stale[c].NewestTick.IsZero() {
			continue
		}
		if err := read(staleQuery(q, stale[c], e.cfg.MaxAge, c)); err != nil {
			return err
		}
	}
	return nil
}

// staleQuery is q for the groups of the stale cluster f of cluster: the
// window the evaluation at the instant it became stale read.
func staleQuery(q esindex.WindowQuery, f evaluate.Freshness, maxAge time.Duration, cluster string) esindex.WindowQuery {
	q.At, q.MaxAge = f.StaleWindow(maxAge)
	q.Cluster, q.Skip, q.Ticks = cluster, nil, nil
	return q
}

// printStale writes a line per stale cluster of fresh (in name order)
// before the status table: since when it sent no lag data, why, and what
// that makes of its groups' rows.
func printStale(w io.Writer, fresh map[string]evaluate.Freshness, at time.Time) {
	for _, c := range slices.Sorted(maps.Keys(staleOnly(fresh))) {
		f := fresh[c]
		since := "no lag data within the history kept"
		if !f.NewestTick.IsZero() {
			since = fmt.Sprintf("no lag data since %s (%s ago)", f.NewestTick.UTC().Format(time.RFC3339), f.Age(at).Round(time.Second))
		}
		fmt.Fprintf(w, "STALE cluster %s: %s: %s; its groups (stale) show the verdicts of %s, time lags as lower bounds\n",
			c, since, f.Reason, f.StaleAt.UTC().Format(time.RFC3339))
	}
}

// staleMark is the status column's mark of a stale cluster's group.
func staleMark(r evaluate.GroupResult) string {
	if r.Stale == nil {
		return r.Status.String()
	}
	return r.Status.String() + " (stale)"
}

// alertStale runs the cluster incidents' bookkeeping at at: each cluster of
// fresh that this shard owns opens, keeps or closes its own incident
// (notify.DecideStale), through launch as a group's transition goes. A
// cluster whose freshness could not be read, or without a collector tick
// within the lookback, changes nothing.
func (e *Evaluator) alertStale(ctx context.Context, at time.Time, fresh map[string]evaluate.Freshness,
	incidents map[notify.GroupKey]notify.Incident, launch func(next notify.Incident, kind notify.Kind, a notify.Alert)) {
	for _, c := range slices.Sorted(maps.Keys(fresh)) {
		if !e.cfg.Shard.Owns(c, "") {
			continue // another shard's: one evaluator decides each cluster
		}
		f := fresh[c]
		prev := incidents[notify.ClusterKey(c)]
		if notify.InFlight(prev, at, e.cfg.Timeout) {
			continue
		}
		next, kind := notify.DecideStale(prev, c, f, at, e.cfg.Alert.ResendEvery)
		if kind == notify.None && notify.Owed(prev) != notify.None {
			next, kind = prev, notify.Owed(prev)
			next.UpdatedAt = at
		}
		if kind == notify.None {
			if prev.Open && f.Stale && prev.Sends > 0 {
				e.refresh(ctx, notify.NewStaleAlert(notify.Resend, c, f, prev, prev, at))
			}
			continue
		}
		launch(next, kind, notify.NewStaleAlert(kind, c, f, prev, next, at))
	}
}

// freshCache is every cluster's freshness as a request for the present
// read it, serving the others for tickCacheTTL: a walk over every group
// costs one read of the collector ticks a second, not one per request.
type freshCache struct {
	mu    sync.Mutex // held while reading: one read at a time
	until time.Time
	fresh map[string]evaluate.Freshness // nil: the last read failed
}

// clusterFreshness is cluster's freshness at at: for a request for the
// present, from the cache (or read for every cluster); for an instant,
// read for cluster alone. ok is false when it is unknown: no collector
// tick within the lookback, or the read failed (the request then answers
// as for a fresh cluster).
func (s *Source) clusterFreshness(ctx context.Context, at time.Time, present bool, cluster string) (f evaluate.Freshness, ok bool) {
	if !present {
		fresh, _, err := judgeFreshness(ctx, s.history, s.cfg, at, cluster)
		if err != nil {
			return f, false
		}
		f, ok = fresh[cluster]
		return f, ok
	}
	c := &s.freshness
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); !now.Before(c.until) {
		c.fresh, _, _ = judgeFreshness(ctx, s.history, s.cfg, at, "")
		c.until = now.Add(tickCacheTTL)
	}
	f, ok = c.fresh[cluster]
	return f, ok
}

// ClusterFreshness is cluster's freshness at at (the present when zero),
// for the cluster's body; ok is false when it is unknown (see
// clusterFreshness).
func (s *Source) ClusterFreshness(ctx context.Context, at time.Time, cluster string) (evaluate.Freshness, bool) {
	present := at.IsZero()
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	return s.clusterFreshness(ctx, at, present, cluster)
}

// staleConsumers lists the groups of the stale cluster f with a window as
// of the instant it became stale.
func (s *Source) staleConsumers(ctx context.Context, f evaluate.Freshness, cluster string) ([]string, error) {
	groups := []string{}
	if f.NewestTick.IsZero() {
		return groups, nil
	}
	listed, _, err := s.history.WindowGroups(ctx, staleQuery(s.windowQuery(f.NewestTick, cluster, ""), f, s.cfg.MaxAge, cluster))
	for _, k := range listed {
		groups = append(groups, k.Group)
	}
	return groups, err
}

// staleConsumer is group of the stale cluster f at at, as a run judges it:
// its window and verdict as of the instant the cluster became stale, or
// NOTFOUND as then (withoutWindow), marked stale.
func (s *Source) staleConsumer(ctx context.Context, at time.Time, f evaluate.Freshness, cluster, group string) (burrowapi.Consumer, error) {
	var out burrowapi.Consumer
	found := false
	if !f.NewestTick.IsZero() && group != "" {
		q := staleQuery(s.windowQuery(f.NewestTick, cluster, group), f, s.cfg.MaxAge, cluster)
		_, err := s.history.ReadWindows(ctx, q, func(w evaluate.GroupWindow) error {
			if w.Cluster == cluster && w.Group == group {
				found, out.Window = true, w
				out.Result = evaluate.EvaluateGroup(w, s.cfg.Rules, f.StaleAt)
				s.withHeads(ctx, &out.Result)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	if !found {
		var err error
		if out, err = s.withoutWindow(ctx, at, false, cluster, group); err != nil {
			return out, err
		}
	}
	out.Result.MarkStale(f, at)
	return out, nil
}
