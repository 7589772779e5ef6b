package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// boundedHistory fails a test for every read whose context has no
// deadline, or one further away than limit.
type boundedHistory struct {
	History
	t     *testing.T
	limit time.Duration
}

func (b boundedHistory) check(ctx context.Context, what string) {
	d, ok := ctx.Deadline()
	if !ok || time.Until(d) > b.limit {
		b.t.Errorf("%s without a deadline within %s (deadline %v, set %v)", what, b.limit, d, ok)
	}
}

func (b boundedHistory) ReadWindows(ctx context.Context, q esindex.WindowQuery, fn func(evaluate.GroupWindow) error) (esindex.WindowStats, error) {
	b.check(ctx, "ReadWindows")
	return b.History.ReadWindows(ctx, q, fn)
}

func (b boundedHistory) WindowTicks(ctx context.Context, q esindex.WindowQuery) (*esindex.WindowTicks, error) {
	b.check(ctx, "WindowTicks")
	return b.History.WindowTicks(ctx, q)
}

func (b boundedHistory) WindowGroups(ctx context.Context, q esindex.WindowQuery) ([]esindex.GroupKey, int, error) {
	b.check(ctx, "WindowGroups")
	return b.History.WindowGroups(ctx, q)
}

func (b boundedHistory) KnownGroups(ctx context.Context, from, to time.Time, cluster string) ([]esindex.GroupKey, int, error) {
	b.check(ctx, "KnownGroups")
	return b.History.KnownGroups(ctx, from, to, cluster)
}

func (b boundedHistory) KnownClusters(ctx context.Context, from, to time.Time) ([]string, error) {
	b.check(ctx, "KnownClusters")
	return b.History.KnownClusters(ctx, from, to)
}

func (b boundedHistory) Topics(ctx context.Context, q esindex.TopicQuery) ([]string, time.Time, error) {
	b.check(ctx, "Topics")
	return b.History.Topics(ctx, q)
}

func (b boundedHistory) TopicOffsets(ctx context.Context, q esindex.TopicQuery) ([]int64, time.Time, error) {
	b.check(ctx, "TopicOffsets")
	return b.History.TopicOffsets(ctx, q)
}

func (b boundedHistory) TopicGroups(ctx context.Context, q esindex.TopicQuery) ([]string, time.Time, error) {
	b.check(ctx, "TopicGroups")
	return b.History.TopicGroups(ctx, q)
}

// apiHarness is a Source over a fake history of cluster c: groups a-ok
// (OK), b-stopped (ERR), c-gone (known, no window); topics orders (read by
// a-ok and b-stopped) and payments; cluster d known without topics.
func apiHarness(t *testing.T) (*harness, *Source) {
	h := newHarness(t)
	h.history.windows = []evaluate.GroupWindow{window("a-ok", false, at0), window("b-stopped", true, at0)}
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "a-ok"}, {Cluster: "c", Group: "b-stopped"}, {Cluster: "c", Group: "c-gone"}, {Cluster: "d", Group: "x"}}
	h.history.topics = []fakeTopic{
		{cluster: "c", topic: "orders", logEnd: []int64{22, -1}, groups: []string{"a-ok", "b-stopped"}},
		{cluster: "c", topic: "payments", logEnd: []int64{7}, groups: []string{"a-ok"}},
	}
	h.history.topicTick = at0.Add(-time.Second)
	cfg := h.cfg
	cfg.APITimeout = 3 * time.Second
	return h, NewSource(cfg, boundedHistory{History: h.history, t: t, limit: 3 * time.Second})
}

// TestSourceConsumer: a group's answer is what a run at the same instant
// writes, with its window; a known group without a window is NOTFOUND; an
// unseen group or cluster is an error the API maps to 404.
func TestSourceConsumer(t *testing.T) {
	h, src := apiHarness(t)
	if err := h.Historical(context.Background(), at0); err != nil {
		t.Fatal(err)
	}
	written := map[string]esindex.StatusDoc{}
	for _, d := range h.statuses.docs() {
		written[d.Group] = d
	}
	cases := []struct {
		name, cluster, group string
		reason               string
		status               evaluate.Status
		partitions           int // of the window
		err                  error
	}{
		{"ok", "c", "a-ok", "keeps up", evaluate.OK, 1, nil},
		{"stopped", "c", "b-stopped", "no member, growing lag", evaluate.Err, 1, nil},
		{"known without a window", "c", "c-gone", "seen within the lookback, not in the window", evaluate.NotFound, 0, nil},
		{"never seen", "c", "nope", "not in the lookback", 0, 0, burrowapi.ErrGroupNotFound},
		{"another cluster's group", "d", "a-ok", "a-ok is c's", 0, 0, burrowapi.ErrGroupNotFound},
		{"unknown cluster", "zz", "a-ok", "no group of zz was seen", 0, 0, burrowapi.ErrClusterNotFound},
		{"no cluster", "", "a-ok", "the API always names one", 0, 0, burrowapi.ErrClusterNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := src.Consumer(context.Background(), at0, tc.cluster, tc.group)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v: %s", err, tc.err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := got.Result
			if r.Cluster != tc.cluster || r.Group != tc.group || r.Status != tc.status || len(got.Window.Partitions) != tc.partitions ||
				got.Window.Cluster != tc.cluster || got.Window.Group != tc.group {
				t.Fatalf("%s/%s %s with %d window partitions, want %s with %d: %s", r.Cluster, r.Group, r.Status, len(got.Window.Partitions), tc.status, tc.partitions, tc.reason)
			}
			if w := written[tc.group]; statusDoc(r, at0, h.cfg.Rules.WindowSize).Status != w.Status || r.Complete != w.Complete || r.TotalLag != w.TotalLag {
				t.Errorf("answer %s complete %v lag %d, the run wrote %s complete %v lag %d", r.Status, r.Complete, r.TotalLag, w.Status, w.Complete, w.TotalLag)
			}
		})
	}

	// A group with a window is answered from its window alone: the groups
	// seen within the lookback are listed only for NOTFOUND.
	h.history.knownErr = errors.New("known groups listed")
	if got, err := src.Consumer(context.Background(), at0, "c", "a-ok"); err != nil || got.Result.Status != evaluate.OK {
		t.Errorf("with a window: %s, %v; want OK without listing the known groups", got.Result.Status, err)
	}
	if _, err := src.Consumer(context.Background(), at0, "c", "c-gone"); !errors.Is(err, h.history.knownErr) {
		t.Errorf("without a window: %v, want the known groups' error", err)
	}
}

// TestSourceLists: clusters, a cluster's groups, its topics, a topic's
// offsets and readers, and the errors of each.
func TestSourceLists(t *testing.T) {
	h, src := apiHarness(t)
	ctx := context.Background()
	check := func(t *testing.T, what string, got any, err, wantErr error, want any) {
		t.Helper()
		switch {
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("%s: err %v, want %v", what, err, wantErr)
		case wantErr == nil && err != nil:
			t.Errorf("%s: %v", what, err)
		case wantErr == nil:
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Errorf("%s: %s, want %s", what, g, w)
			}
		}
	}
	t.Run("clusters", func(t *testing.T) {
		got, err := src.Clusters(ctx, at0)
		check(t, "Clusters", got, err, nil, []string{"c", "d"})
	})
	t.Run("consumers", func(t *testing.T) {
		cases := []struct {
			name, cluster string
			reason        string
			want          []string
			err           error
		}{
			{"groups with a window", "c", "c-gone is known but NOTFOUND: its /lag is a 404, so it is not listed", []string{"a-ok", "b-stopped"}, nil},
			{"known cluster without a window", "d", "x is known, without a window", []string{}, nil},
			{"unknown cluster", "zz", "no group of zz was seen", nil, burrowapi.ErrClusterNotFound},
			{"no cluster", "", "the API always names one", nil, burrowapi.ErrClusterNotFound},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := src.Consumers(ctx, at0, tc.cluster)
				check(t, "Consumers("+tc.cluster+"): "+tc.reason, got, err, tc.err, tc.want)
			})
		}
	})
	t.Run("listed exactly when not NOTFOUND", func(t *testing.T) {
		listed, err := src.Consumers(ctx, at0, "c")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range h.history.known {
			if k.Cluster != "c" {
				continue
			}
			c, err := src.Consumer(ctx, at0, k.Cluster, k.Group)
			if err != nil {
				t.Fatal(err)
			}
			if isListed, notFound := slices.Contains(listed, k.Group), c.Result.Status == evaluate.NotFound; isListed == notFound {
				t.Errorf("group %s: listed %v, status %s", k.Group, isListed, c.Result.Status)
			}
		}
	})
	t.Run("topics", func(t *testing.T) {
		got, err := src.Topics(ctx, at0, "c")
		check(t, "Topics(c)", got, err, nil, []string{"orders", "payments"})
		if q := h.history.topicQuery; !q.At.Equal(at0) || q.Lookback != h.cfg.NotFoundLookback || q.Cluster != "c" {
			t.Errorf("topic query %+v: want the instant, the NOTFOUND lookback and the cluster", q)
		}
		got, err = src.Topics(ctx, at0, "d")
		check(t, "Topics(d), a cluster known without topics", got, err, nil, []string{})
		_, err = src.Topics(ctx, at0, "zz")
		check(t, "Topics(zz)", nil, err, burrowapi.ErrClusterNotFound, nil)
	})
	t.Run("topic", func(t *testing.T) {
		got, err := src.Topic(ctx, at0, "c", "orders")
		check(t, "Topic(c, orders)", got, err, nil, []int64{22, -1})
		_, err = src.Topic(ctx, at0, "c", "nope")
		check(t, "Topic(c, nope)", nil, err, burrowapi.ErrTopicNotFound, nil)
		_, err = src.Topic(ctx, at0, "d", "orders")
		check(t, "Topic(d, orders), known cluster without it", nil, err, burrowapi.ErrTopicNotFound, nil)
		_, err = src.Topic(ctx, at0, "zz", "orders")
		check(t, "Topic(zz, orders)", nil, err, burrowapi.ErrClusterNotFound, nil)
	})
	t.Run("topic consumers", func(t *testing.T) {
		got, err := src.TopicConsumers(ctx, at0, "c", "payments")
		check(t, "TopicConsumers(c, payments)", got, err, nil, []string{"a-ok"})
		_, err = src.TopicConsumers(ctx, at0, "c", "nope")
		check(t, "TopicConsumers(c, nope)", nil, err, burrowapi.ErrTopicNotFound, nil)
		_, err = src.TopicConsumers(ctx, at0, "zz", "orders")
		check(t, "TopicConsumers(zz, orders)", nil, err, burrowapi.ErrClusterNotFound, nil)
	})
	t.Run("zero instant is now", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		if _, err := src.Topics(ctx, time.Time{}, "c"); err != nil {
			t.Fatal(err)
		}
		if q := h.history.topicQuery; q.At.Before(before) || q.At.After(time.Now()) || q.At.Location() != time.UTC {
			t.Errorf("a zero instant asked at %s, want the present in UTC", q.At)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServeAPI: serve mode answers the API handler's paths, /healthz and
// /metrics on the HTTP address until its context ends, and runs no
// evaluation; without an address it refuses to start.
func TestServeAPI(t *testing.T) {
	h, _ := apiHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	h.cfg.HTTPAddr = addr
	h.api = func(src burrowapi.Source) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			clusters, err := src.Clusters(r.Context(), at0)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			_ = json.NewEncoder(w).Encode(clusters)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeAPI(ctx) }()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve mode never answered /healthz")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := testenv.Get(t, base+"/v3/kafka"); code != 200 || body != "[\"c\",\"d\"]\n" {
		t.Errorf("/v3/kafka: %d %q", code, body)
	}
	if code, body := testenv.Get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := testenv.Get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeAPI: %v", err)
	}
	h.Close()
	if len(h.statuses.docs()) != 0 || h.history.installs != 0 {
		t.Errorf("serve mode wrote %d statuses, installed templates %d times; want nothing", len(h.statuses.docs()), h.history.installs)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still listening after ServeAPI returned")
	}

	h.cfg.HTTPAddr = ""
	err = h.ServeAPI(context.Background())
	var ue envconf.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "EVALUATOR_HTTP_ADDR") {
		t.Errorf("without an address: %v, want a usage error naming EVALUATOR_HTTP_ADDR", err)
	}
}

// TestSourceTickCache: requests for the present share their cluster's tick
// times for tickCacheTTL, one read at a time; a request for an instant reads
// its own, through the window read.
func TestSourceTickCache(t *testing.T) {
	h, src := apiHarness(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := src.Consumer(ctx, time.Time{}, "c", "a-ok"); err != nil || len(c.Window.Partitions) != 1 {
				t.Errorf("a-ok now: %+v, %v", c, err)
			}
		}()
	}
	wg.Wait()
	if _, err := src.Consumers(ctx, time.Time{}, "c"); err != nil {
		t.Fatal(err)
	}
	if h.history.tickReads != 1 {
		t.Errorf("%d tick reads for 21 requests for the present within %s, want 1", h.history.tickReads, tickCacheTTL)
	}
	if _, err := src.Consumer(ctx, at0, "c", "a-ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Consumer(ctx, time.Time{}, "d", "x"); err != nil {
		t.Fatal(err)
	}
	if h.history.tickReads != 2 {
		t.Errorf("%d tick reads, want 2: one more for cluster d, none for an instant", h.history.tickReads)
	}
	// Entries expire and go when another is made: a cluster asked about
	// once is not kept. A name the history does not know makes none, and
	// reads nothing.
	src.mu.Lock()
	for _, e := range src.ticks {
		e.until = time.Now().Add(-time.Second)
	}
	src.mu.Unlock()
	if _, err := src.Consumers(ctx, time.Time{}, "zz"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Fatalf("Consumers(zz): %v", err)
	}
	if n := len(src.ticks); n != 2 || h.history.tickReads != 2 {
		t.Errorf("%d entries after %d reads, want the 2 expired ones after 2", n, h.history.tickReads)
	}
	if _, err := src.Consumers(ctx, time.Time{}, "d"); err != nil {
		t.Fatalf("Consumers(d): %v", err)
	}
	if n := len(src.ticks); n != 1 || h.history.tickReads != 3 {
		t.Errorf("%d entries after %d reads, want the one of d after 3", n, h.history.tickReads)
	}
}

// TestSourceOnElasticsearch writes four collector ticks with the esindex
// Writer (g-ok keeps up, g-stop is stopped behind, g-gone is in the first
// tick only) and asks the Source about them, now and at the first tick.
func TestSourceOnElasticsearch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "evalapi")
	c, w := h.Client, h.Writer
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	tick := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }
	const ticks = 4
	for i := range ticks {
		head := int64(100 + 10*i)
		parts := func(committed int64, owner *snapshot.Member) []snapshot.Partition {
			var ps []snapshot.Partition
			for p := range int32(2) {
				ps = append(ps, snapshot.Partition{Topic: "orders", Partition: p, Committed: committed + int64(p), HasCommitted: true,
					LogEnd: head + int64(p), LogStart: 0, HasOffsets: true, Owner: owner})
			}
			return ps
		}
		ok := snapshot.Group{ID: "g-ok", State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{{MemberID: "m-1", ClientID: "c", Host: "/10.0.0.1"}}}
		ok.Partitions = parts(head, &ok.Members[0])
		s := snapshot.Snapshot{Cluster: "api", Time: tick(i), Groups: []snapshot.Group{ok,
			{ID: "g-stop", State: "Empty", ProtocolType: "consumer", Partitions: parts(5, nil)}}}
		if i == 0 {
			s.Groups = append(s.Groups, snapshot.Group{ID: "g-gone", State: "Empty", ProtocolType: "consumer", Partitions: parts(90, nil)})
		}
		if _, err := w.Write(ctx, s); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 1000, APITimeout: 30 * time.Second}
	// The same answers, whether the present is read from the history or
	// from the present view.
	t.Run("history", func(t *testing.T) { checkSourceAnswers(ctx, t, NewSource(cfg, c), tick) })
	t.Run("present view", func(t *testing.T) {
		src := presentSource(ctx, t, cfg, c)
		checkSourceAnswers(ctx, t, src, tick)
		if v := src.present.view(ctx, "api"); v == nil || !v.newest().Equal(tick(ticks-1)) {
			t.Errorf("the present view of cluster api is %+v, want one at the last tick", v)
		}
	})
}

// waitReady waits for src's present view to have read every cluster.
func waitReady(t *testing.T, src *Source) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !src.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the present view was not ready within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// presentSource is a Source over h with its present view started and
// read; the view stops when the test ends.
func presentSource(ctx context.Context, t *testing.T, cfg Settings, h History) *Source {
	t.Helper()
	pctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	src := NewSource(cfg, h)
	src.StartPresent(pctx, slog.New(slog.DiscardHandler), false)
	waitReady(t, src)
	return src
}

// checkSourceAnswers asks src about the four ticks TestSourceOnElasticsearch
// writes.
func checkSourceAnswers(ctx context.Context, t *testing.T, src *Source, tick func(int) time.Time) {
	if got, err := src.Clusters(ctx, time.Time{}); err != nil || !slices.Equal(got, []string{"api"}) {
		t.Errorf("Clusters: %v, %v; want [api]", got, err)
	}
	// The list is the groups with a window: g-gone is in it while the last
	// 3 ticks include its own, not after (its /lag is NOTFOUND then).
	lists := []struct {
		name   string
		at     time.Time
		want   []string
		reason string
	}{
		{"now", time.Time{}, []string{"g-ok", "g-stop"}, "g-gone is not in the last 3 ticks"},
		{"at g-gone's tick", tick(0), []string{"g-gone", "g-ok", "g-stop"}, "g-gone was there"},
		{"window's last tick with g-gone", tick(2), []string{"g-gone", "g-ok", "g-stop"}, "ticks 0 to 2 are the window"},
		{"window past g-gone", tick(3), []string{"g-ok", "g-stop"}, "ticks 1 to 3 are the window"},
	}
	for _, tc := range lists {
		if got, err := src.Consumers(ctx, tc.at, "api"); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Consumers %s: %v, %v; want %v: %s", tc.name, got, err, tc.want, tc.reason)
		}
	}
	if _, err := src.Consumers(ctx, time.Time{}, "nope"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("Consumers of an unknown cluster: %v", err)
	}

	consumers := []struct {
		name, group string
		at          time.Time
		want        evaluate.Status
		obs         int // observations per partition in the window
		reason      string
	}{
		{"keeping up", "g-ok", time.Time{}, evaluate.OK, 3, "commits the head"},
		{"stopped", "g-stop", time.Time{}, evaluate.Err, 3, "no member, lag growing"},
		{"deleted", "g-gone", time.Time{}, evaluate.NotFound, 0, "not in the cluster's last 3 ticks"},
		{"deleted, asked at its tick", "g-gone", tick(0), evaluate.OK, 1, "then it was there, one observation"},
	}
	for _, tc := range consumers {
		t.Run(tc.name, func(t *testing.T) {
			got, err := src.Consumer(ctx, tc.at, "api", tc.group)
			if err != nil {
				t.Fatal(err)
			}
			if got.Result.Status != tc.want || got.Result.Group != tc.group {
				t.Errorf("%s: %s, want %s: %s", tc.group, got.Result.Status, tc.want, tc.reason)
			}
			for _, p := range got.Window.Partitions {
				if len(p.Obs) != tc.obs {
					t.Errorf("%s %s/%d: %d observations, want %d", tc.group, p.Topic, p.Partition, len(p.Obs), tc.obs)
				}
			}
			if tc.obs > 0 && len(got.Window.Partitions) != 2 {
				t.Errorf("%s: window of %d partitions, want 2", tc.group, len(got.Window.Partitions))
			}
		})
	}
	if _, err := src.Consumer(ctx, time.Time{}, "api", "never"); !errors.Is(err, burrowapi.ErrGroupNotFound) {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := src.Consumer(ctx, time.Time{}, "nope", "g-ok"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("unknown cluster: %v", err)
	}

	if got, err := src.Topics(ctx, time.Time{}, "api"); err != nil || !slices.Equal(got, []string{"orders"}) {
		t.Errorf("Topics: %v, %v", got, err)
	}
	if got, err := src.Topic(ctx, time.Time{}, "api", "orders"); err != nil || !slices.Equal(got, []int64{130, 131}) {
		t.Errorf("Topic now: %v, %v; want the last tick's [130 131]", got, err)
	}
	if got, err := src.Topic(ctx, tick(1), "api", "orders"); err != nil || !slices.Equal(got, []int64{110, 111}) {
		t.Errorf("Topic at tick 1: %v, %v; want [110 111]", got, err)
	}
	if got, err := src.TopicConsumers(ctx, time.Time{}, "api", "orders"); err != nil || !slices.Equal(got, []string{"g-ok", "g-stop"}) {
		t.Errorf("TopicConsumers now: %v, %v", got, err)
	}
	if got, err := src.TopicConsumers(ctx, tick(0), "api", "orders"); err != nil || !slices.Equal(got, []string{"g-gone", "g-ok", "g-stop"}) {
		t.Errorf("TopicConsumers at tick 0: %v, %v", got, err)
	}
	if _, err := src.Topic(ctx, time.Time{}, "api", "nope"); !errors.Is(err, burrowapi.ErrTopicNotFound) {
		t.Errorf("unknown topic: %v", err)
	}
	if _, err := src.Topics(ctx, time.Time{}, "nope"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("topics of an unknown cluster: %v", err)
	}
	if _, err := src.Topic(ctx, tick(0).Add(-time.Second), "api", "orders"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("before the first tick: %v, want the cluster unknown then", err)
	}
}
