package evaluator

import (
	"context"
	"sync"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// headKey names what a head lookup answers: when the log end of a
// partition passed an offset.
type headKey struct {
	cluster, topic string
	partition      int32
	committed      int64
}

// headCache keeps the answers of head lookups that later windows cannot
// change: a passage found on both sides (the log end only grows, so it
// stays where it is), or one older than the history (the oldest stored
// observation stays the oldest, retention aside). An answer with only the
// point below is not kept: the point above is still in the window, and
// the window moves on. A consumer stuck at one offset is looked up once,
// however many requests ask about it. Safe for concurrent use.
type headCache struct {
	mu sync.Mutex
	m  map[headKey]evaluate.HeadPassage
}

// headCacheMax bounds the cache: past it, it starts again empty.
const headCacheMax = 200_000

func (c *headCache) get(k headKey) (evaluate.HeadPassage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[k]
	return h, ok
}

func (c *headCache) put(k headKey, h evaluate.HeadPassage) {
	stable := h.Above != nil && (h.Below == nil || h.Above.Time.After(h.Below.Time))
	if !stable {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= headCacheMax {
		c.m = map[headKey]evaluate.HeadPassage{}
	}
	c.m[k] = h
}

// lookup answers lookups from the cache, and the others from one call to
// h (keeping the stable answers), in order; requests counts h's requests.
func (c *headCache) lookup(ctx context.Context, h History, lookups []esindex.HeadLookup) (hs []evaluate.HeadPassage, requests int, err error) {
	hs = make([]evaluate.HeadPassage, len(lookups))
	// Groups stuck at the same offset of a partition (or one group asked
	// about twice) share one question; the earliest window start asks
	// the most of the history, and its answer serves the others (the
	// passage is before all of them).
	var missing []esindex.HeadLookup
	ask := map[headKey]int{} // index in missing
	at := make([]int, len(lookups))
	for i, l := range lookups {
		k := headKey{l.Cluster, l.Topic, l.Partition, l.Committed}
		if p, ok := c.get(k); ok {
			hs[i], at[i] = p, -1
			continue
		}
		j, ok := ask[k]
		if !ok {
			j = len(missing)
			ask[k] = j
			missing = append(missing, l)
		} else if l.Before.Before(missing[j].Before) {
			missing[j].Before = l.Before
		}
		at[i] = j
	}
	if len(missing) == 0 {
		return hs, 0, nil
	}
	found, requests, err := h.HeadPassages(ctx, missing)
	if err != nil {
		return nil, requests, err
	}
	for k, j := range ask {
		c.put(k, found[j])
	}
	for i, j := range at {
		if j >= 0 {
			hs[i] = found[j]
		}
	}
	return hs, requests, nil
}

// withHeads makes r's time lags exact as far back as the history goes
// (evaluate.ApplyHeadHistory), from the cache or from one lookup of the
// partitions it does not hold. A failed lookup leaves the window's bounds:
// the answer is still right, only less precise.
func (s *Source) withHeads(ctx context.Context, r *evaluate.GroupResult) {
	qs := evaluate.HeadQueries(*r)
	if len(qs) == 0 {
		return
	}
	lookups := make([]esindex.HeadLookup, len(qs))
	for i, q := range qs {
		lookups[i] = esindex.HeadLookup{Cluster: r.Cluster, Group: r.Group, HeadQuery: q}
	}
	if hs, _, err := s.heads.lookup(ctx, s.history, lookups); err == nil {
		r.ApplyHeadHistory(hs)
	}
}
