package evaluator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
type Source struct {
	cfg     Settings
	history History
}

var _ burrowapi.Source = (*Source)(nil)

// NewSource is a Source over h with the rules and spans of cfg.
func NewSource(cfg Settings, h History) *Source { return &Source{cfg: cfg, history: h} }

// Source is the evaluator's API source: its settings and its history.
func (e *Evaluator) Source() *Source { return NewSource(e.cfg, e.history) }

// bound is ctx with the per-request time limit, and the instant asked for:
// at, or the present when at is zero.
func (s *Source) bound(ctx context.Context, at time.Time) (context.Context, context.CancelFunc, time.Time) {
	timeout := s.cfg.APITimeout
	if timeout <= 0 {
		timeout = defaultAPITimeout
	}
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, cancel, at.UTC().Truncate(time.Millisecond)
}

func (s *Source) since(at time.Time) time.Time { return at.Add(-s.cfg.NotFoundLookback) }

// Clusters lists the clusters seen within the lookback before at, in name
// order.
func (s *Source) Clusters(ctx context.Context, at time.Time) ([]string, error) {
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	clusters, err := s.history.KnownClusters(ctx, s.since(at), at)
	if err != nil {
		return nil, err
	}
	return nonNil(clusters), nil
}

// Consumers lists the groups of cluster that have a window at at, in name
// order: exactly those whose Consumer is not NOTFOUND. A group deleted from
// Kafka leaves the list once the window has passed its last tick, as
// Consumer starts to answer NOTFOUND for it. A cluster seen within the
// lookback without such a group has an empty list; one not seen is
// ErrClusterNotFound (a cluster is known by its groups' documents, as in
// Clusters).
func (s *Source) Consumers(ctx context.Context, at time.Time, cluster string) ([]string, error) {
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if cluster == "" {
		return nil, burrowapi.ErrClusterNotFound
	}
	listed, _, err := s.history.WindowGroups(ctx, s.windowQuery(at, cluster, ""))
	if err != nil {
		return nil, err
	}
	groups := []string{}
	for _, k := range listed {
		if k.Cluster == cluster {
			groups = append(groups, k.Group)
		}
	}
	if len(groups) == 0 {
		if err := s.clusterKnown(ctx, at, cluster); err != nil {
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
// seen within the lookback that has no observation in the window.
// ErrGroupNotFound when the group was not seen within the lookback,
// ErrClusterNotFound when the cluster was not either.
//
// The window is read alone (three requests: the cluster's tick times, the
// group's entry in the groups data stream, its documents); the groups seen
// within the lookback are listed only for a group without a window, as a
// run lists them for NOTFOUND.
func (s *Source) Consumer(ctx context.Context, at time.Time, cluster, group string) (burrowapi.Consumer, error) {
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	if cluster == "" {
		return burrowapi.Consumer{}, burrowapi.ErrClusterNotFound
	}
	if group != "" {
		var out burrowapi.Consumer
		found := false
		_, err := s.history.ReadWindows(ctx, s.windowQuery(at, cluster, group), func(w evaluate.GroupWindow) error {
			if w.Cluster == cluster && w.Group == group {
				found, out.Window = true, w
				out.Result = evaluate.EvaluateGroup(w, s.cfg.Rules, at)
			}
			return nil
		})
		if err != nil {
			return burrowapi.Consumer{}, err
		}
		if found {
			return out, nil
		}
		known, _, err := s.history.KnownGroups(ctx, s.since(at), at, cluster)
		if err != nil {
			return burrowapi.Consumer{}, err
		}
		if slices.Contains(known, esindex.GroupKey{Cluster: cluster, Group: group}) {
			return burrowapi.Consumer{
				Window: evaluate.GroupWindow{Cluster: cluster, Group: group},
				Result: evaluate.GroupResult{Cluster: cluster, Group: group, Status: evaluate.NotFound, Complete: 1},
			}, nil
		}
	}
	if err := s.clusterKnown(ctx, at, cluster); err != nil {
		return burrowapi.Consumer{}, err
	}
	return burrowapi.Consumer{}, fmt.Errorf("group %q of cluster %q: %w", group, cluster, burrowapi.ErrGroupNotFound)
}

// Topics lists the topics of cluster's latest tick at or before at, in
// name order: those some group had committed offsets of. A cluster known
// without topics has an empty list; an unknown one is ErrClusterNotFound.
func (s *Source) Topics(ctx context.Context, at time.Time, cluster string) ([]string, error) {
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	topics, tick, err := s.history.Topics(ctx, s.topicQuery(at, cluster, ""))
	if err != nil {
		return nil, err
	}
	if tick.IsZero() {
		if err := s.clusterKnown(ctx, at, cluster); err != nil {
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
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	offsets, tick, err := s.history.TopicOffsets(ctx, s.topicQuery(at, cluster, topic))
	if err != nil {
		return nil, err
	}
	if len(offsets) == 0 {
		return nil, s.topicNotFound(ctx, at, cluster, topic, tick)
	}
	return offsets, nil
}

// TopicConsumers lists the groups that read topic at cluster's latest tick
// at or before at, in name order; ErrTopicNotFound when there is none.
func (s *Source) TopicConsumers(ctx context.Context, at time.Time, cluster, topic string) ([]string, error) {
	ctx, cancel, at := s.bound(ctx, at)
	defer cancel()
	groups, tick, err := s.history.TopicGroups(ctx, s.topicQuery(at, cluster, topic))
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, s.topicNotFound(ctx, at, cluster, topic, tick)
	}
	return groups, nil
}

func (s *Source) topicQuery(at time.Time, cluster, topic string) esindex.TopicQuery {
	return esindex.TopicQuery{At: at, Lookback: s.cfg.NotFoundLookback, Cluster: cluster, Topic: topic}
}

// topicNotFound is ErrTopicNotFound, or ErrClusterNotFound when the cluster
// had no tick and is unknown.
func (s *Source) topicNotFound(ctx context.Context, at time.Time, cluster, topic string, tick time.Time) error {
	if tick.IsZero() {
		if err := s.clusterKnown(ctx, at, cluster); err != nil {
			return err
		}
	}
	return fmt.Errorf("topic %q of cluster %q: %w", topic, cluster, burrowapi.ErrTopicNotFound)
}

// clusterKnown is nil when cluster was seen within the lookback before at,
// ErrClusterNotFound when not.
func (s *Source) clusterKnown(ctx context.Context, at time.Time, cluster string) error {
	if cluster == "" {
		return burrowapi.ErrClusterNotFound
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
// when it is another address.
func (e *Evaluator) listen() error {
	var err error
	if e.cfg.HTTPAddr != "" {
		var api http.Handler // nil: no API routes
		if e.api != nil {
			api = e.api(e.Source())
		}
		if e.http, err = service.ListenWith(e.cfg.HTTPAddr, "EVALUATOR_HTTP_ADDR", e.metrics.reg, &e.last, api, e.log); err != nil {
			return err
		}
	}
	if e.cfg.MetricsAddr != "" && e.cfg.MetricsAddr != e.cfg.HTTPAddr {
		if e.server, err = service.Listen(e.cfg.MetricsAddr, "EVALUATOR_METRICS_ADDR", e.metrics.reg, &e.last, e.log); err != nil {
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
	if err := e.listen(); err != nil {
		return err
	}
	e.log.Info("evaluator serving", "addr", e.http.Addr().String(), "api", e.api != nil, "namespace", e.cfg.Namespace)
	<-ctx.Done()
	e.http.Close()
	e.log.Info("evaluator stopped")
	return nil
}
