package evaluator

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// What the history knows, for requests for the present: the clusters seen
// within the lookback, each cluster's groups (asked for only when a group
// has no window), and the oldest tick (for ?at). Each is read at most once
// per knownTTL and shared by every request in the meantime, so that a
// request naming a cluster or group the history does not know is answered
// from memory: a loop over made-up names costs no search and holds no
// memory per name. Only clusters the history knows get a present view.
//
// The price is that a cluster new to the history is found up to knownTTL
// late by requests without ?at. A group with a window is found at once,
// through the present view, and one without (NOTFOUND) with the first tick
// of the view that holds it, or within knownTTL. Requests with ?at read the
// history as of their instant.
const (
	knownTTL = 30 * time.Second
	// knownRetry: a failed read answers the requests of the next second
	// with its error, rather than each of them reading again.
	knownRetry = time.Second
)

// cached is one value read from the history, shared until until. It is
// being read until ready is closed.
type cached[T any] struct {
	ready chan struct{}
	val   T
	err   error
	until time.Time // guarded by Source.mu
}

// load is *slot's value while fresh, or a new one from read (one read at a
// time: requests meanwhile wait for it). Source.mu guards *slot. The read
// has the API's time limit but not the request's cancellation: requests
// waiting for it do not fail when the one that started it gives up.
func load[T any](ctx context.Context, s *Source, slot **cached[T], read func(context.Context) (T, error)) (T, error) {
	now := time.Now()
	s.mu.Lock()
	e := *slot
	reading := e == nil || !now.Before(e.until)
	if reading {
		e = &cached[T]{ready: make(chan struct{}), until: now.Add(knownTTL)}
		*slot = e
	}
	s.mu.Unlock()
	if reading {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.apiTimeout())
		e.val, e.err = read(rctx)
		cancel()
		if e.err != nil {
			s.mu.Lock()
			e.until = time.Now().Add(knownRetry)
			s.mu.Unlock()
		}
		close(e.ready)
	}
	select {
	case <-e.ready:
		return e.val, e.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// knownSlot holds one cluster's groups, and the newest tick of the
// cluster's present view when they were asked for: a new tick, which may
// bring new groups, makes them be read again, so that a group is found
// with the tick that first holds it.
type knownSlot struct {
	groups *cached[[]string]
	head   esindex.Tick
}

// knownClusters are the clusters seen within the lookback before now, in
// name order. A new list forgets the groups of clusters no longer on it.
func (s *Source) knownClusters(ctx context.Context) ([]string, error) {
	return load(ctx, s, &s.clusters, func(ctx context.Context) ([]string, error) {
		now := time.Now()
		names, err := s.history.KnownClusters(ctx, s.since(now), now)
		if err != nil {
			return nil, err
		}
		names = slices.Sorted(slices.Values(names))
		s.mu.Lock()
		for c := range s.groupSets {
			if _, ok := slices.BinarySearch(names, c); !ok {
				delete(s.groupSets, c)
			}
		}
		s.mu.Unlock()
		return nonNil(names), nil
	})
}

// presentCluster is nil when the history knows cluster now (knownClusters),
// ErrClusterNotFound when not.
func (s *Source) presentCluster(ctx context.Context, cluster string) error {
	names, err := s.knownClusters(ctx)
	if err != nil {
		return err
	}
	if _, ok := slices.BinarySearch(names, cluster); !ok {
		return fmt.Errorf("cluster %q: %w", cluster, burrowapi.ErrClusterNotFound)
	}
	return nil
}

// presentGroup reports whether group of cluster, a cluster the history
// knows, was seen within the lookback before now.
func (s *Source) presentGroup(ctx context.Context, cluster, group string) (bool, error) {
	head := s.presentHead(cluster)
	s.mu.Lock()
	slot := s.groupSets[cluster]
	if slot == nil {
		slot = &knownSlot{head: head}
		s.groupSets[cluster] = slot
	}
	if slot.head != head {
		slot.head, slot.groups = head, nil
	}
	s.mu.Unlock()
	groups, err := load(ctx, s, &slot.groups, func(ctx context.Context) ([]string, error) {
		now := time.Now()
		keys, _, err := s.history.KnownGroups(ctx, s.since(now), now, cluster)
		names := make([]string, 0, len(keys))
		for _, k := range keys {
			names = append(names, k.Group)
		}
		slices.Sort(names)
		return names, err
	})
	if err != nil {
		return false, err
	}
	_, ok := slices.BinarySearch(groups, group)
	return ok, nil
}

// presentHead is the newest tick of cluster's present view; zero without
// one. It makes no view.
func (s *Source) presentHead(cluster string) esindex.Tick {
	if s.present == nil {
		return esindex.Tick{}
	}
	s.present.mu.Lock()
	c := s.present.clusters[cluster]
	s.present.mu.Unlock()
	if c == nil {
		return esindex.Tick{}
	}
	if v := c.view.Load(); v != nil {
		return v.head()
	}
	return esindex.Tick{}
}

// Earliest implements burrowapi.Horizon: the later of now less the
// retention (Settings.Retention, none when 0) and the history's oldest
// tick, read once per knownTTL. A failed read leaves the retention alone:
// the request's own reads report the failure.
func (s *Source) Earliest(ctx context.Context, now time.Time) (time.Time, string) {
	var first time.Time
	why := ""
	if r := s.cfg.Retention; r > 0 {
		first = now.Add(-r)
		why = "the history's retention (ELASTICSEARCH_RETENTION) of " + formatDays(r)
	}
	oldest, err := load(ctx, s, &s.oldest, s.history.OldestTick)
	if err == nil && oldest.After(first) {
		first, why = oldest, "the oldest tick of the history"
	}
	return first, why
}

// formatDays writes a whole number of days as ELASTICSEARCH_RETENTION
// does (30d), any other duration as Go does.
func formatDays(d time.Duration) string {
	const day = 24 * time.Hour
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}
