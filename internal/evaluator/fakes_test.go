package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// fakeHistory is an in-process History: the windows and known groups it is
// given, whatever the instant.
type fakeHistory struct {
	mu        sync.Mutex
	windows   []evaluate.GroupWindow
	known     []esindex.GroupKey
	readErr   error
	knownErr  error // fails KnownGroups, after every window went by
	tickReads int   // WindowTicks calls
	installs  int
	// topics are what the topic reads find at each cluster's latest tick,
	// topicTick.
	topics     []fakeTopic
	topicTick  time.Time
	topicQuery esindex.TopicQuery // the last one asked
	// ticks are the collector ticks of each cluster, whatever the instant
	// (none: no cluster is ever stale); ticksErr fails their read.
	ticks    map[string]evaluate.TickHistory
	ticksErr error
	// windowsAt are the instants ReadWindows was asked for, per cluster
	// ("" for every cluster).
	windowsAt map[string][]time.Time
}

func (h *fakeHistory) CollectorTicks(_ context.Context, _ time.Time, _ time.Duration, cluster string) (map[string]evaluate.TickHistory, int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ticksErr != nil {
		return nil, 1, h.ticksErr
	}
	out := map[string]evaluate.TickHistory{}
	for c, t := range h.ticks {
		if cluster == "" || c == cluster {
			out[c] = t
		}
	}
	return out, 1, nil
}

// fakeTopic is a topic of a cluster at its latest tick.
type fakeTopic struct {
	cluster, topic string
	logEnd         []int64
	groups         []string
}

func (h *fakeHistory) InstallEvaluator(context.Context, time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.installs++
	return nil
}

func (h *fakeHistory) Refresh(context.Context) error { return nil }

func (h *fakeHistory) ReadWindows(_ context.Context, q esindex.WindowQuery, fn func(evaluate.GroupWindow) error) (esindex.WindowStats, error) {
	st := esindex.WindowStats{Requests: 1, Pages: 1}
	if h.readErr != nil {
		return st, h.readErr
	}
	h.mu.Lock()
	if h.windowsAt == nil {
		h.windowsAt = map[string][]time.Time{}
	}
	h.windowsAt[q.Cluster] = append(h.windowsAt[q.Cluster], q.At)
	h.mu.Unlock()
	for _, w := range h.windows {
		if q.Cluster != "" && w.Cluster != q.Cluster || q.Group != "" && w.Group != q.Group || q.Skip[w.Cluster] {
			continue
		}
		for _, p := range w.Partitions {
			st.Docs += len(p.Obs)
		}
		st.Groups++
		if err := fn(w); err != nil {
			return st, err
		}
	}
	return st, nil
}

// WindowTicks counts its calls; the fake's windows need no tick times.
func (h *fakeHistory) WindowTicks(_ context.Context, q esindex.WindowQuery) (*esindex.WindowTicks, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tickReads++
	if h.readErr != nil {
		return nil, h.readErr
	}
	return &esindex.WindowTicks{}, nil
}

// WindowGroups lists the groups ReadWindows yields for q, sorted.
func (h *fakeHistory) WindowGroups(ctx context.Context, q esindex.WindowQuery) ([]esindex.GroupKey, int, error) {
	var out []esindex.GroupKey
	_, err := h.ReadWindows(ctx, q, func(w evaluate.GroupWindow) error {
		out = append(out, esindex.GroupKey{Cluster: w.Cluster, Group: w.Group})
		return nil
	})
	slices.SortFunc(out, func(a, b esindex.GroupKey) int {
		return strings.Compare(a.Cluster+"\x00"+a.Group, b.Cluster+"\x00"+b.Group)
	})
	return out, 2, err
}

func (h *fakeHistory) KnownGroups(_ context.Context, _, _ time.Time, cluster string) ([]esindex.GroupKey, int, error) {
	if h.knownErr != nil {
		return nil, 1, h.knownErr
	}
	var out []esindex.GroupKey
	for _, k := range h.known {
		if cluster == "" || k.Cluster == cluster {
			out = append(out, k)
		}
	}
	return out, 1, nil
}

// HeadPassages finds nothing beyond the windows: their bounds stand.
func (h *fakeHistory) HeadPassages(_ context.Context, lookups []esindex.HeadLookup) ([]evaluate.HeadPassage, int, error) {
	return make([]evaluate.HeadPassage, len(lookups)), 1, nil
}

func (h *fakeHistory) KnownClusters(context.Context, time.Time, time.Time) ([]string, error) {
	var out []string
	for _, k := range h.known {
		if !slices.Contains(out, k.Cluster) {
			out = append(out, k.Cluster)
		}
	}
	return out, nil
}

// GroupSeen is KnownGroups of one group, whatever the instants.
func (h *fakeHistory) GroupSeen(_ context.Context, _, _ time.Time, cluster, group string) (bool, error) {
	if h.knownErr != nil {
		return false, h.knownErr
	}
	return slices.Contains(h.known, esindex.GroupKey{Cluster: cluster, Group: group}), nil
}

// OldestTick: the fake's history has no beginning.
func (h *fakeHistory) OldestTick(context.Context) (time.Time, error) { return time.Time{}, nil }

// topicsOf are the topics of q.Cluster (only q.Topic, when set), and the
// tick: topicTick when the cluster has a topic, zero otherwise.
func (h *fakeHistory) topicsOf(q esindex.TopicQuery) ([]fakeTopic, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.topicQuery = q
	var out []fakeTopic
	var tick time.Time
	for _, t := range h.topics {
		if t.cluster == q.Cluster {
			tick = h.topicTick
			if q.Topic == "" || t.topic == q.Topic {
				out = append(out, t)
			}
		}
	}
	return out, tick
}

func (h *fakeHistory) Topics(_ context.Context, q esindex.TopicQuery) ([]string, time.Time, error) {
	ts, tick := h.topicsOf(esindex.TopicQuery{At: q.At, Lookback: q.Lookback, Cluster: q.Cluster})
	var out []string
	for _, t := range ts {
		out = append(out, t.topic)
	}
	return out, tick, nil
}

func (h *fakeHistory) TopicOffsets(_ context.Context, q esindex.TopicQuery) ([]int64, time.Time, error) {
	ts, tick := h.topicsOf(q)
	if len(ts) == 0 {
		return nil, tick, nil
	}
	return ts[0].logEnd, tick, nil
}

func (h *fakeHistory) TopicGroups(_ context.Context, q esindex.TopicQuery) ([]string, time.Time, error) {
	ts, tick := h.topicsOf(q)
	if len(ts) == 0 {
		return nil, tick, nil
	}
	return ts[0].groups, tick, nil
}

// fakeStatuses records every batch written; each document is new. While
// refuse is set it writes nothing and keeps the documents, as the real one
// does when Elasticsearch refuses them, and writes them first afterwards.
type fakeStatuses struct {
	batches [][]esindex.StatusDoc
	refuse  bool
	kept    []esindex.StatusDoc
}

func (s *fakeStatuses) Write(_ context.Context, docs []esindex.StatusDoc) (esindex.WriteResult, error) {
	if s.refuse {
		s.kept = append(s.kept, docs...)
		return esindex.WriteResult{Docs: len(docs), Spooled: len(docs), Refused: len(docs),
			Problems: []esindex.Problem{{Kind: esindex.Refused, Status: 403, Cause: "cluster_block_exception",
				Reason: "cluster_block_exception: blocked by: [FORBIDDEN/8/index write (api)];", Count: len(docs)}}}, nil
	}
	replayed := len(s.kept)
	if replayed > 0 {
		s.batches = append(s.batches, s.kept)
		s.kept = nil
	}
	s.batches = append(s.batches, slices.Clone(docs))
	return esindex.WriteResult{Docs: len(docs), Indexed: len(docs) + replayed, Replayed: replayed}, nil
}

func (s *fakeStatuses) Backlog() (int, int64) { return len(s.kept), int64(len(s.kept)) * 100 }

func (s *fakeStatuses) docs() []esindex.StatusDoc { return slices.Concat(s.batches...) }

// fakeStore keeps incidents with a version each, saved only over the
// version they were loaded at, as esindex.IncidentStore does; conflict makes
// every save fail as if another evaluator had been first, refuse with that
// error (a write block, say), once okSaves saves have succeeded.
type fakeStore struct {
	mu        sync.Mutex
	incidents map[notify.GroupKey]notify.Incident
	version   int
	conflict  bool
	refuse    error
	okSaves   int
	loads     int
	saves     int
}

func (s *fakeStore) Load(context.Context) (map[notify.GroupKey]notify.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	out := map[notify.GroupKey]notify.Incident{}
	for k, v := range s.incidents {
		out[k] = v
	}
	return out, nil
}

func (s *fakeStore) Save(_ context.Context, inc notify.Incident) (notify.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if s.refuse != nil && s.saves > s.okSaves {
		return inc, s.refuse
	}
	key := inc.Key()
	if s.conflict || s.incidents[key].Version != inc.Version {
		return inc, fmt.Errorf("save incident of group %q: %w", inc.Group, notify.ErrConflict)
	}
	s.version++
	inc.Version = fmt.Sprint(s.version)
	if s.incidents == nil {
		s.incidents = map[notify.GroupKey]notify.Incident{}
	}
	s.incidents[key] = inc
	return inc, nil
}

// sink is a local webhook that records "kind:status" of each alert and
// answers status (200 when 0).
type sink struct {
	mu     sync.Mutex
	got    []string
	status int
}

func (s *sink) webhook(t *testing.T) *notify.Webhook {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Kind, Status string }
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("alert body is not JSON: %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got = append(s.got, a.Kind+":"+a.Status)
		if s.status != 0 {
			w.WriteHeader(s.status)
		}
	}))
	t.Cleanup(srv.Close)
	body, err := notify.ParseTemplate("webhook", notify.GenericTemplate)
	if err != nil {
		t.Fatal(err)
	}
	return &notify.Webhook{Name: "webhook", URL: srv.URL, Body: body, Timeout: 5 * time.Second}
}

func (s *sink) alerts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

var at0 = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)

// window is three ticks of a one-partition group before at: keeping up
// (OK), or stopped with a growing lag and no member (ERR).
func window(group string, stopped bool, at time.Time) evaluate.GroupWindow {
	var obs []evaluate.Observation
	for i := int64(0); i < 3; i++ {
		o := evaluate.Observation{Time: at.Add(time.Duration(i-3) * time.Second), LogEnd: 20 + i, HasLogEnd: true,
			Committed: 20 + i, HasCommitted: true, HasLag: true, GroupState: "Stable", Owner: "member-1"}
		if stopped {
			o.Committed, o.Lag, o.GroupState, o.Owner = 5, 15+i, "Empty", ""
		}
		obs = append(obs, o)
	}
	return evaluate.GroupWindow{Cluster: "c", Group: group, Partitions: []evaluate.PartitionWindow{{Topic: "orders", Obs: obs}}}
}

// ticks are observations of one partition one second apart, the newest a
// second before at, from (committed, log end) pairs; owned says a live
// member owns the partition. A negative committed offset means no commit.
func ticks(at time.Time, owned bool, pairs ...[2]int64) []evaluate.Observation {
	var obs []evaluate.Observation
	for i, p := range pairs {
		o := evaluate.Observation{Time: at.Add(time.Duration(i-len(pairs)) * time.Second), LogEnd: p[1], HasLogEnd: true,
			GroupState: "Empty"}
		if p[0] >= 0 {
			o.Committed, o.HasCommitted, o.Lag, o.HasLag = p[0], true, max(p[1]-p[0], 0), true
		}
		if owned {
			o.GroupState, o.Owner = "Stable", "member-1"
		}
		obs = append(obs, o)
	}
	return obs
}

// harness is an Evaluator over fakes, with its log lines.
type harness struct {
	*Evaluator
	history  *fakeHistory
	statuses *fakeStatuses
	store    *fakeStore
	log      bytes.Buffer
}

func newHarness(t *testing.T, sinks ...notify.Sink) *harness {
	h := &harness{history: &fakeHistory{}, statuses: &fakeStatuses{}, store: &fakeStore{}}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 100,
		Timeout: 10 * time.Second, Alert: notify.Policy{Threshold: evaluate.Warn, ResendEvery: time.Hour}, Namespace: "test"}
	h.Evaluator = New(cfg, Parts{History: h.history, Statuses: h.statuses, Incidents: h.store, Sinks: sinks,
		Log: slog.New(slog.NewJSONHandler(&h.log, nil))})
	return h
}

// lines are the log lines with message msg, decoded.
func (h *harness) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// counter is the value of the evaluator's counter (or gauge)
// lagwatch_evaluator_NAME with exactly the given labels (name, value pairs
// in name order), read as /metrics would; 0 when there is no such series.
func (h *harness) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := h.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "lagwatch_evaluator_"+name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName(), l.GetValue())
			}
			if slices.Equal(got, labels) && m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			if slices.Equal(got, labels) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
