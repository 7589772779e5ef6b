package evaluator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// defaultAPITimeout bounds one API request's reads when Settings.APITimeout
// is not set.
const defaultAPITimeout = 10 * time.Second

// Source answers the API from the history, as the evaluator sees it: a
// group's status is what a run at the same instant would write. It only
// reads, and is safe for concurrent use (as far as its History is).
//
// Every method bounds its reads with Settings.APITimeout. An instant is
// answered from what the history held then: the clusters seen within
// Settings.NotFoundLookback before it, the groups with a window then (and,
// for NOTFOUND, those seen within the lookback), windows of the ticks up to it,
// the topics of the cluster's latest tick at or before it (within the same
// lookback).
//
// A request for the present (no instant given) reuses the cluster's tick
// times read by another such request within tickCacheTTL, so that a walk
// over every group costs one search per group rather than two; it misses a
// tick written within that time, as it would one written but not yet
// searchable. A request for an instant reads its own. A request for the
// present about a cluster or group the history does not know is answered
// from what it knows (known.go), without a search.
type Source struct {
	cfg     Settings
	history History

	mu    sync.Mutex
	ticks map[string]*tickEntry // by cluster
	// clusters, groupSets and oldest are what the history knows, for
	// requests for the present and the bounds of ?at (known.go).
	clusters  *cached[[]string]
	groupSets map[string]*knownSlot // by cluster
	oldest    *cached[time.Time]

	// present, when StartPresent was called, answers requests for the
	// present from memory (present.go).
	present *present
	// heads are time lag lookups beyond the window that cannot change,
	// shared with the evaluator's runs.
	heads *headCache
	// freshness is every cluster's, for requests for the present (stale.go).
	freshness freshCache
}

// tickCacheTTL is how long the tick times of a cluster read for the present
// serve later requests for the present: about Elasticsearch's default
// refresh interval, within which a new tick may be missed anyway.
const tickCacheTTL = time.Second

// tickEntry is a cluster's tick times, being read until ready is closed;
// ticks is nil if the read failed.
type tickEntry struct {
	ready chan struct{}
	ticks *esindex.WindowTicks
	until time.Time
}

var (
	_ burrowapi.Source  = (*Source)(nil)
	_ burrowapi.Horizon = (*Source)(nil)
)

// NewSource is a Source over h with the rules and spans of cfg.
func NewSource(cfg Settings, h History) *Source {
	return &Source{cfg: cfg, history: h, ticks: map[string]*tickEntry{}, groupSets: map[string]*knownSlot{}, heads: &headCache{}}
}

// cachedTicks are the tick times of cluster's window for a request for the
// present at at: read within tickCacheTTL by another request (one read at a
// time per cluster), or read now. Nil, for the window read to search, when
// the request names an instant (present false), or when the read fails or
// was made for a later instant.
func (s *Source) cachedTicks(ctx context.Context, at time.Time, present bool, cluster string) *esindex.WindowTicks {
	if !present {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	e := s.ticks[cluster]
	if e != nil && now.Before(e.until) {
		s.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil
		}
		if e.ticks == nil || e.ticks.At().After(at) {
			return nil
		}
		return e.ticks
	}
	// Expired entries go, so that names of clusters asked for once (or
	// that do not exist) do not pile up.
	for c, old := range s.ticks {
		if !now.Before(old.until) {
			delete(s.ticks, c)
		}
	}
	e = &tickEntry{ready: make(chan struct{}), until: now.Add(tickCacheTTL)}
	s.ticks[cluster] = e
	s.mu.Unlock()

	ticks, err := s.history.WindowTicks(ctx, s.windowQuery(at, cluster, ""))
	if err != nil {
		// No cache of a failure: the next request tries again, and this
		// one's window read reports it.
		s.mu.Lock()
		if s.ticks[cluster] == e {
			delete(s.ticks, cluster)
		}
		s.mu.Unlock()
		ticks = nil
	}
	e.ticks = ticks
	close(e.ready)
	return ticks
}

// Source is the evaluator's API source: its settings and its history.
func (e *Evaluator) Source() *Source {
	s := NewSource(e.cfg, e.history)
	s.heads = &e.heads
	return s
}

// bound is ctx with the per-request time limit, and the instant asked for:
// at, or the present when at is zero.
func (s *Source) bound(ctx context.Context, at time.Time) (context.Context, context.CancelFunc, time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, s.apiTimeout())
	return ctx, cancel, at.UTC().Truncate(time.Millisecond)
}

func (s *Source) apiTimeout() time.Duration {
	if s.cfg.APITimeout <= 0 {
		return defaultAPITimeout
	}
	return s.cfg.APITimeout
}

// view is cluster's present view for a request for the present (present
// true), nil when the request is to read the history.
func (s *Source) view(ctx context.Context, present bool, cluster string) *presentView {
	if !present || s.present == nil || cluster == "" {
		return nil
	}
	return s.present.view(ctx, cluster)
}

func (s *Source) since(at time.Time) time.Time { return at.Add(-s.cfg.NotFoundLookback) }

// Clusters lists the clusters seen within the lookback before at, in name
// order.
func (s *Source) Clusters(ctx context.Context, at time.Time) ([]string, error) {
	present := at.IsZero()
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if present {
		return s.knownClusters(ctx)
	}
	clusters, err := s.history.KnownClusters(ctx, s.since(at), at)
	if err != nil {
		return nil, err
	}
	return nonNil(clusters), nil
}

// Consumers lists the groups of cluster that have a window at at, in name
// order: exactly those whose Consumer is not NOTFOUND (for a stale
// cluster, a window as of the instant it became stale). A group deleted from
// Kafka leaves the list once the window has passed its last tick, as
// Consumer starts to answer NOTFOUND for it. A cluster seen within the
// lookback without such a group has an empty list; one not seen is
// ErrClusterNotFound (a cluster is known by its groups' documents, as in
// Clusters).
func (s *Source) Consumers(ctx context.Context, at time.Time, cluster string) ([]string, error) {
	present := at.IsZero()
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if cluster == "" {
		return nil, burrowapi.ErrClusterNotFound
	}
	if err := s.knownIfPresent(ctx, present, cluster); err != nil {
		return nil, err
	}
	if f, ok := s.clusterFreshness(ctx, at, present, cluster); ok && f.Stale {
		return s.staleConsumers(ctx, f, cluster)
	}
	if v := s.view(ctx, present, cluster); v != nil {
		return v.consumers(), nil
	}
	q := s.windowQuery(at, cluster, "")
	q.Ticks = s.cachedTicks(ctx, at, present, cluster)
	listed, _, err := s.history.WindowGroups(ctx, q)
	if err != nil {
		return nil, err
	}
	groups := []string{}
	for _, k := range listed {
		if k.Cluster == cluster {
			groups = append(groups, k.Group)
		}
	}
	if len(groups) == 0 && !present { // for the present, known above
		if err := s.clusterKnown(ctx, at, false, cluster); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// windowQuery asks for the window of cluster (of group alone, when set) at
// at, as a run reads it.
func (s *Source) windowQuery(at time.Time, cluster, group string) esindex.WindowQuery {
	return esindex.WindowQuery{At: at, MaxAge: s.cfg.MaxAge, Size: s.cfg.Rules.WindowSize, PageSize: s.cfg.PageSize, Cluster: cluster, Group: group}
}

// Consumer evaluates group of cluster at at exactly as a run does: its
// window and the verdict on it, or NOTFOUND with an empty window for a group
// seen within the lookback that has no observation in the window; for a
// stale cluster, as of the instant it became stale, marked stale.
// ErrGroupNotFound when the group was not seen within the lookback,
// ErrClusterNotFound when the cluster was not either.
//
// The window is read alone: one search of its documents, after one of the
// cluster's tick times unless a request for the present read them within
// tickCacheTTL. The groups seen within the lookback are listed only for a
// group without a window, as a run lists them for NOTFOUND.
func (s *Source) Consumer(ctx context.Context, at time.Time, cluster, group string) (burrowapi.Consumer, error) {
	present := at.IsZero()
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if cluster == "" {
		return burrowapi.Consumer{}, burrowapi.ErrClusterNotFound
	}
	if err := s.knownIfPresent(ctx, present, cluster); err != nil {
		return burrowapi.Consumer{}, err
	}
	if f, ok := s.clusterFreshness(ctx, at, present, cluster); ok && f.Stale {
		return s.staleConsumer(ctx, at, f, cluster, group)
	}
	if v := s.view(ctx, present, cluster); v != nil && group != "" {
		if w, ok := v.groupWindow(cluster, group); ok {
			r := evaluate.EvaluateGroup(w, s.cfg.Rules, at)
			s.withHeads(ctx, &r)
			return burrowapi.Consumer{Window: w, Result: r}, nil
		}
		return s.withoutWindow(ctx, at, present, cluster, group)
	}
	if group != "" {
		var out burrowapi.Consumer
		found := false
		q := s.windowQuery(at, cluster, group)
		q.Ticks = s.cachedTicks(ctx, at, present, cluster)
		_, err := s.history.ReadWindows(ctx, q, func(w evaluate.GroupWindow) error {
			if w.Cluster == cluster && w.Group == group {
				found, out.Window = true, w
				out.Result = evaluate.EvaluateGroup(w, s.cfg.Rules, at)
				s.withHeads(ctx, &out.Result)
			}
			return nil
		})
		if err != nil {
			return burrowapi.Consumer{}, err
		}
		if found {
			return out, nil
		}
	}
	return s.withoutWindow(ctx, at, present, cluster, group)
}

// withoutWindow answers for a group without a window at at: NOTFOUND when
// it was seen within the lookback, as a run lists it, else the group's (or
// the cluster's) not-found error. For the present, what the history knows
// is known.go's; for an instant, one search asks about the group alone.
func (s *Source) withoutWindow(ctx context.Context, at time.Time, present bool, cluster, group string) (burrowapi.Consumer, error) {
	if group != "" {
		var seen bool
		var err error
		if present {
			seen, err = s.presentGroup(ctx, cluster, group)
		} else {
			seen, err = s.history.GroupSeen(ctx, s.since(at), at, cluster, group)
		}
		if err != nil {
			return burrowapi.Consumer{}, err
		}
		if seen {
			return burrowapi.Consumer{
				Window: evaluate.GroupWindow{Cluster: cluster, Group: group},
				Result: evaluate.GroupResult{Cluster: cluster, Group: group, Status: evaluate.NotFound, Complete: 1},
			}, nil
		}
	}
	if err := s.clusterKnown(ctx, at, present, cluster); err != nil {
		return burrowapi.Consumer{}, err
	}
	return burrowapi.Consumer{}, fmt.Errorf("group %q of cluster %q: %w", group, cluster, burrowapi.ErrGroupNotFound)
}

// Topics lists the topics of cluster's latest tick at or before at, in
// name order: those some group had committed offsets of. A cluster known
// without topics has an empty list; an unknown one is ErrClusterNotFound.
func (s *Source) Topics(ctx context.Context, at time.Time, cluster string) ([]string, error) {
	present := at.IsZero()
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if err := s.knownIfPresent(ctx, present, cluster); err != nil {
		return nil, err
	}
	if v := s.topicView(ctx, present, at, cluster); v != nil {
		return v.topicList(), nil
	}
	topics, tick, err := s.history.Topics(ctx, s.topicQuery(at, cluster, ""))
	if err != nil {
		return nil, err
	}
	if tick.IsZero() {
		if err := s.clusterKnown(ctx, at, present, cluster); err != nil {
			return nil, err
		}
	}
	return nonNil(topics), nil
}

// Topic is the log-end offset of each partition of topic at cluster's
// latest tick at or before at, indexed by partition; -1 for a partition
// whose log-end offset is unknown, or that no group reads.
// ErrTopicNotFound when the tick has no document of the topic.
func (s *Source) Topic(ctx context.Context, at time.Time, cluster, topic string) ([]int64, error) {
	return readTopic(ctx, s, at, cluster, topic, s.history.TopicOffsets, (*presentView).topicOffsets)
}

// TopicConsumers lists the groups that read topic at cluster's latest tick
// at or before at, in name order; ErrTopicNotFound when there is none.
func (s *Source) TopicConsumers(ctx context.Context, at time.Time, cluster, topic string) ([]string, error) {
	return readTopic(ctx, s, at, cluster, topic, s.history.TopicGroups, (*presentView).topicGroups)
}

// readTopic reads what read says of topic at cluster's latest tick at or
// before at, within the API's time bound, or takes it from the present view
// with held; an empty answer is the topic's (or the cluster's) not-found
// error.
func readTopic[T any](ctx context.Context, s *Source, at time.Time, cluster, topic string,
	read func(context.Context, esindex.TopicQuery) ([]T, time.Time, error), held func(*presentView, string) []T) ([]T, error) {
	present := at.IsZero()
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if err := s.knownIfPresent(ctx, present, cluster); err != nil {
		return nil, err
	}
	if v := s.topicView(ctx, present, at, cluster); v != nil {
		if items := held(v, topic); len(items) > 0 {
			return items, nil
		}
		return nil, s.topicNotFound(ctx, at, present, cluster, topic, v.newest())
	}
	items, tick, err := read(ctx, s.topicQuery(at, cluster, topic))
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, s.topicNotFound(ctx, at, present, cluster, topic, tick)
	}
	return items, nil
}

// topicView is the present view for a topic request: the view's newest
// tick is the cluster's latest, as the topic reads find it, when it lies
// within the lookback they search.
func (s *Source) topicView(ctx context.Context, present bool, at time.Time, cluster string) *presentView {
	v := s.view(ctx, present, cluster)
	if v == nil || !v.newest().After(s.since(at)) {
		return nil
	}
	return v
}

func (s *Source) topicQuery(at time.Time, cluster, topic string) esindex.TopicQuery {
	return esindex.TopicQuery{At: at, Lookback: s.cfg.NotFoundLookback, Cluster: cluster, Topic: topic}
}

// topicNotFound is ErrTopicNotFound, or ErrClusterNotFound when the cluster
// had no tick and is unknown.
func (s *Source) topicNotFound(ctx context.Context, at time.Time, present bool, cluster, topic string, tick time.Time) error {
	if tick.IsZero() {
		if err := s.clusterKnown(ctx, at, present, cluster); err != nil {
			return err
		}
	}
	return fmt.Errorf("topic %q of cluster %q: %w", topic, cluster, burrowapi.ErrTopicNotFound)
}

// knownIfPresent is, for a request for the present, ErrClusterNotFound
// when the history does not know cluster (known.go): such a cluster gets no
// present view and costs no search. Nil for a request for an instant.
func (s *Source) knownIfPresent(ctx context.Context, present bool, cluster string) error {
	if !present {
		return nil
	}
	return s.clusterKnown(ctx, time.Time{}, true, cluster)
}

// clusterKnown is nil when cluster was seen within the lookback before at,
// ErrClusterNotFound when not. For the present (present true) it asks what
// the history knows (known.go) rather than the history.
func (s *Source) clusterKnown(ctx context.Context, at time.Time, present bool, cluster string) error {
	if cluster == "" {
		return burrowapi.ErrClusterNotFound
	}
	if present {
		return s.presentCluster(ctx, cluster)
	}
	clusters, err := s.history.KnownClusters(ctx, s.since(at), at)
	if err != nil {
		return err
	}
	if !slices.Contains(clusters, cluster) {
		return fmt.Errorf("cluster %q: %w", cluster, burrowapi.ErrClusterNotFound)
	}
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// listen starts the listeners Settings ask for: the API with /metrics and
// /healthz on HTTPAddr, and /metrics and /healthz alone on MetricsAddr
// when it is another address. The API answers the present from its present
// view until ctx ends. Without a schedule (serveOnly), Burrow's gauges come
// from that view, there being no run to publish them.
func (e *Evaluator) listen(ctx context.Context, serveOnly bool) error {
	var err error
	if e.cfg.HTTPAddr != "" {
		var api http.Handler // nil: no API routes
		if e.api != nil || serveOnly {
			src := e.Source()
			src.StartPresent(ctx, e.log, serveOnly)
			if e.api != nil {
				api = e.api(src)
			}
			if serveOnly {
				e.metrics.reg.Unregister(e.metrics.burrow)
				e.metrics.reg.MustRegister(src.PresentGauges())
			}
		}
		if e.http, err = service.ListenWith(e.cfg.HTTPAddr, "EVALUATOR_HTTP_ADDR", e.metrics.reg, &e.last, api, e.cfg.HTTPServer, e.log); err != nil {
			return err
		}
	}
	if e.cfg.MetricsAddr != "" && e.cfg.MetricsAddr != e.cfg.HTTPAddr {
		if e.server, err = service.ListenWith(e.cfg.MetricsAddr, "EVALUATOR_METRICS_ADDR", e.metrics.reg, &e.last, nil, e.cfg.MetricsServer, e.log); err != nil {
			e.http.Close()
			e.http = nil
			return err
		}
	}
	return nil
}

// ServeAPI answers the API, /metrics and /healthz until ctx ends: no
// schedule, no alerts, nothing written, so that any number of evaluators can
// stand behind a load balancer. /metrics and /healthz are also served on
// MetricsAddr, when set. HTTPAddr must be set.
func (e *Evaluator) ServeAPI(ctx context.Context) error {
	if e.cfg.HTTPAddr == "" {
		return envconf.UsageError{Err: errors.New("EVALUATOR_HTTP_ADDR is empty: serve needs an address to listen on")}
	}
	if err := e.listen(ctx, true); err != nil {
		return err
	}
	e.log.Info("evaluator serving", "addr", e.http.Addr().String(), "api", e.api != nil, "namespace", e.cfg.Namespace)
	<-ctx.Done()
	e.http.Close()
	e.log.Info("evaluator stopped")
	return nil
}
