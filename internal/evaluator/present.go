package evaluator

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/prometheus/client_golang/prometheus"
)

// The present view answers the API's requests for the present from memory,
// as Burrow answers from its own: per cluster, the observations of the
// present window's ticks (and of the tick before them, for commit lag), kept
// current by a refresher that reads the cluster's tick times every
// tickCacheTTL and then only the ticks it does not hold yet, or holds with
// fewer documents than Elasticsearch counts now (a tick still being written,
// or a spooled one replayed). With one new tick per collection, a refresh
// reads one tick's documents, not the window's; a request reads nothing.
//
// A request's verdict is computed at its own instant over the window the
// view holds, which is the window a read of the history at that instant
// would find once the view has caught up: a new tick reaches the view
// within about a second of being searchable, plus the time to read it.
// Until a cluster's first read is done (presentWait), or when the refresher
// has not confirmed the view for presentStale (Elasticsearch failing), a
// request reads the history itself, as a request for an instant does.
const (
	// presentWait is how long after a cluster is first asked about its
	// requests wait for the view's first read before reading the history
	// themselves.
	presentWait = 2 * time.Second
	// presentStale: a view not confirmed current for this long is not used.
	presentStale = 10 * time.Second
	// presentIdle: a cluster nobody asked about for this long is dropped,
	// unless Burrow's gauges are served from the view: then every cluster
	// seen is listed again every presentList.
	presentIdle = 10 * time.Minute
	presentList = time.Minute
	// presentReadTimeout bounds one refresh (its tick lookup and reads)
	// when ten times Settings.APITimeout is shorter: the first read of a
	// large cluster reads its whole window.
	presentReadTimeout = time.Minute
)

// present holds the view of every cluster asked about, and refreshes them.
type present struct {
	s        *Source
	log      *slog.Logger
	mu       sync.Mutex
	clusters map[string]*presentCluster
	kick     chan struct{}
	// warm are the clusters known when the view started; Ready waits for
	// their first read.
	warm []*presentCluster
	// gauges: each new view evaluates every group for Burrow's gauges.
	gauges atomic.Bool
}

// presentCluster is one cluster's view and its refresher's state.
type presentCluster struct {
	name    string
	created time.Time
	view    atomic.Pointer[presentView]
	checked atomic.Int64 // UnixNano when the view was last confirmed current
	used    atomic.Int64 // UnixNano of the latest request
	loaded  chan struct{}
	once    sync.Once
	busy    atomic.Bool
	failing atomic.Bool
	// lastRead counts the latest refresh's read, for tests.
	lastRead atomic.Pointer[esindex.WindowStats]
	// gauges are Burrow's gauges of the view, when the present's gauges
	// were asked for: every group evaluated at the refresh that made it.
	gauges atomic.Pointer[burrowSet]
}

func (c *presentCluster) markLoaded() { c.once.Do(func() { close(c.loaded) }) }

// StartPresent makes requests for the present answer from memory (see
// present.go) until ctx ends: it reads the window of every cluster seen
// within NotFoundLookback, then keeps each cluster asked about current.
// Call it before serving. With gauges, each new view also evaluates every
// group for Burrow's gauges (PresentGauges), before it is ready.
func (s *Source) StartPresent(ctx context.Context, log *slog.Logger, gauges bool) {
	p := &present{s: s, log: log, clusters: map[string]*presentCluster{}, kick: make(chan struct{}, 1)}
	p.gauges.Store(gauges)
	p.warm = p.listClusters(ctx, time.Now())
	s.present = p
	go p.run(ctx)
}

// listClusters holds every cluster seen within the lookback before now.
func (p *present) listClusters(ctx context.Context, now time.Time) []*presentCluster {
	ctx, cancel := context.WithTimeout(ctx, p.s.apiTimeout())
	defer cancel()
	names, err := p.s.history.KnownClusters(ctx, p.s.since(now), now)
	if err != nil {
		p.log.Warn("present view: list clusters", "err", err)
	}
	var out []*presentCluster
	for _, name := range names {
		out = append(out, p.cluster(name, now))
	}
	return out
}

// Ready is false until the view of every cluster known at StartPresent has
// had its first read (successful or not); true without a view.
func (s *Source) Ready() bool {
	if s.present == nil {
		return true
	}
	for _, c := range s.present.warm {
		select {
		case <-c.loaded:
		default:
			return false
		}
	}
	return true
}

// cluster is cluster's entry, made (and the refresher woken) when new.
func (p *present) cluster(name string, now time.Time) *presentCluster {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clusters[name]
	if c == nil {
		c = &presentCluster{name: name, created: now, loaded: make(chan struct{})}
		p.clusters[name] = c
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	c.used.Store(now.UnixNano())
	return c
}

// view is cluster's view for a request for the present, nil when the
// request is to read the history: the view is not loaded within
// presentWait of the cluster's first request, not current, or the cluster
// has no tick in the window.
func (p *present) view(ctx context.Context, cluster string) *presentView {
	now := time.Now()
	c := p.cluster(cluster, now)
	select {
	case <-c.loaded:
	default:
		wait := time.NewTimer(c.created.Add(presentWait).Sub(now))
		select {
		case <-c.loaded:
		case <-wait.C:
		case <-ctx.Done():
		}
		wait.Stop()
	}
	v := c.view.Load()
	if v == nil || v.empty() || time.Since(time.Unix(0, c.checked.Load())) > presentStale {
		return nil
	}
	return v
}

// run refreshes every cluster every tickCacheTTL, or when one is added,
// until ctx ends. Each cluster refreshes in a goroutine of its own, one
// refresh at a time, so that a long first read does not hold up the
// others.
func (p *present) run(ctx context.Context) {
	t := time.NewTicker(tickCacheTTL)
	defer t.Stop()
	var listed time.Time
	for {
		now := time.Now()
		if p.gauges.Load() && now.Sub(listed) >= presentList {
			// Burrow's gauges cover every cluster, asked about or not.
			listed = now
			p.listClusters(ctx, now)
		}
		p.mu.Lock()
		for name, c := range p.clusters {
			if now.Sub(time.Unix(0, c.used.Load())) > presentIdle {
				delete(p.clusters, name)
				continue
			}
			if c.busy.CompareAndSwap(false, true) {
				go func() {
					defer c.busy.Store(false)
					p.refresh(ctx, c)
				}()
			}
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
		}
	}
}

// refresh brings c's view up to date with the history: it reads the
// cluster's ticks, and the documents of those it does not hold as they are
// now. A cluster without a tick in the window is dropped (its requests
// read the history), so that names asked for once are not polled.
func (p *present) refresh(ctx context.Context, c *presentCluster) {
	defer c.markLoaded()
	ctx, cancel := context.WithTimeout(ctx, max(10*p.s.apiTimeout(), presentReadTimeout))
	defer cancel()
	start := time.Now()
	at := start.UTC().Truncate(time.Millisecond)
	q := p.s.windowQuery(at, c.name, "")
	wt, err := p.s.history.WindowTicks(ctx, q)
	if err != nil {
		p.failed(ctx, c, err)
		return
	}
	ticks := wt.Of(c.name)
	if len(ticks) == 0 {
		c.view.Store(&presentView{})
		p.mu.Lock()
		if p.clusters[c.name] == c {
			delete(p.clusters, c.name)
		}
		p.mu.Unlock()
		return
	}
	old := c.view.Load()
	if old != nil && slices.EqualFunc(old.ticks, ticks, func(a, b esindex.Tick) bool { return a.Time.Equal(b.Time) && a.Docs == b.Docs }) {
		c.checked.Store(start.UnixNano())
		p.recovered(c)
		return
	}
	b := newViewBuilder(ticks, q.Size)
	stale := b.staleTicks(old)
	var read esindex.WindowStats
	if len(stale) > 0 {
		newest, oldest := stale[0], stale[len(stale)-1]
		rq := esindex.WindowQuery{At: newest, MaxAge: newest.Sub(oldest) + time.Millisecond,
			// Room for every tick in the span, and for ticks that appeared
			// since: only the stale ones are taken.
			Size:     2*len(ticks) + 1,
			PageSize: q.PageSize, Cluster: c.name, NoBefore: true}
		read, err = p.s.history.ReadWindows(ctx, rq, func(w evaluate.GroupWindow) error {
			b.addRead(w)
			return nil
		})
		if err != nil {
			p.failed(ctx, c, err)
			return
		}
	}
	v := b.into(old)
	c.view.Store(v)
	// Confirmed now: a long first read would otherwise leave the view
	// stale until the next check.
	c.checked.Store(time.Now().UnixNano())
	if p.gauges.Load() {
		c.gauges.Store(p.burrowSet(v, c.name, at))
	}
	c.lastRead.Store(&read)
	p.recovered(c)
	p.log.Debug("present view refreshed", "cluster", c.name, "ticks_read", len(stale), "documents_read", read.Docs,
		"groups", len(v.consumers()), "duration", time.Since(start))
}

// burrowSet evaluates every group of v at at for Burrow's gauges.
func (p *present) burrowSet(v *presentView, cluster string, at time.Time) *burrowSet {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := newBurrowBuild()
	for _, name := range v.names {
		b.add(evaluate.EvaluateGroup(v.window(cluster, v.groups[name]), p.s.cfg.Rules, at))
	}
	return b.finish()
}

// PresentGauges are Burrow's gauges (burrowmetrics.go) of the present view,
// for an evaluator that serves the API without evaluating on a schedule:
// each cluster's groups as evaluated when its view last changed (a new tick,
// or one aging out). Nil unless StartPresent was asked for gauges.
func (s *Source) PresentGauges() prometheus.Collector {
	if s.present == nil || !s.present.gauges.Load() {
		return nil
	}
	return presentGauges{s.present}
}

type presentGauges struct{ p *present }

func (g presentGauges) Describe(ch chan<- *prometheus.Desc) { describeBurrow(ch) }

// Collect sends the series of every cluster held, in name order.
func (g presentGauges) Collect(ch chan<- prometheus.Metric) {
	g.p.mu.Lock()
	var sets []*burrowSet
	names := slices.Sorted(maps.Keys(g.p.clusters))
	for _, name := range names {
		if s := g.p.clusters[name].gauges.Load(); s != nil {
			sets = append(sets, s)
		}
	}
	g.p.mu.Unlock()
	for _, s := range sets {
		s.collect(ch)
	}
}

// failed logs a refresh's failure once per run of failures.
func (p *present) failed(ctx context.Context, c *presentCluster, err error) {
	if ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
		return // shutting down
	}
	if !c.failing.Swap(true) {
		p.log.Warn("present view: refresh failed; requests for the present read the history until it recovers",
			"cluster", c.name, "err", err)
	}
}

func (p *present) recovered(c *presentCluster) {
	if c.failing.Swap(false) {
		p.log.Info("present view: refresh recovered", "cluster", c.name)
	}
}
