package burrowapi

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// t0 is the newest tick of the fake history.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fake is an in-memory Source: cluster -> group -> window, cluster ->
// topic -> log-end offsets. It records the instant of every call, can fail
// every call with err, and makes Consumer of group "slow" wait.
type fake struct {
	groups map[string]map[string]evaluate.GroupWindow
	topics map[string]map[string][]int64
	err    error

	// entered is closed when a call for group "slow" starts; that call then
	// waits for release to be closed or its context to end.
	entered, release chan struct{}

	mu  sync.Mutex
	ats []time.Time
}

func newFake() *fake {
	return &fake{
		groups: map[string]map[string]evaluate.GroupWindow{
			"prod-eu": {"billing v2/eu": billingWindow(), "idle": {Cluster: "prod-eu", Group: "idle"}},
			"prod-us": {},
		},
		topics: map[string]map[string][]int64{
			"prod-eu": {"payments": {260, 1200}, "invoices": {0, 0, 480}},
			"prod-us": {},
		},
		entered: make(chan struct{}),
		release: make(chan struct{}),
	}
}

// billingWindow has two partitions of payments (one keeping up, one
// falling behind with a member that has a host) and the third partition of
// invoices only (partitions 0 and 1 are null in the detail), which starts
// without a commit.
func billingWindow() evaluate.GroupWindow {
	tick := func(i int) time.Time { return t0.Add(time.Duration(i-3) * time.Minute) }
	obs := func(committed, logEnd []int64, owner, host, client string) []evaluate.Observation {
		out := make([]evaluate.Observation, len(committed))
		for i := range committed {
			o := evaluate.Observation{Time: tick(i), LogEnd: logEnd[i], HasLogEnd: true, GroupState: "Stable", Owner: owner, Host: host, ClientID: client}
			if committed[i] >= 0 {
				o.Committed, o.HasCommitted = committed[i], true
				o.Lag, o.HasLag = max(logEnd[i]-committed[i], 0), true
			}
			out[i] = o
		}
		return out
	}
	return evaluate.GroupWindow{
		Cluster: "prod-eu",
		Group:   "billing v2/eu",
		Partitions: []evaluate.PartitionWindow{
			{Topic: "payments", Partition: 0, Obs: obs([]int64{100, 140, 200, 260}, []int64{140, 200, 260, 260}, "consumer-1-a", "", "billing")},
			{Topic: "payments", Partition: 1, Obs: obs([]int64{500, 500, 600, 650}, []int64{700, 850, 1000, 1200}, "consumer-2-b", "/10.0.0.7", "billing"),
				Before: &evaluate.Observation{Time: tick(-1), LogEnd: 600, HasLogEnd: true}},
			{Topic: "invoices", Partition: 2, Obs: obs([]int64{-1, 300, 300, 300}, []int64{300, 400, 450, 480}, "", "", "")},
		},
	}
}

func (f *fake) record(at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ats = append(f.ats, at)
	return f.err
}

// lastAt is the instant of the latest call.
func (f *fake) lastAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ats) == 0 {
		return time.Time{}
	}
	return f.ats[len(f.ats)-1]
}

func (f *fake) Clusters(_ context.Context, at time.Time) ([]string, error) {
	if err := f.record(at); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(f.groups)), nil
}

// lookup records at and returns m[key], or notFound.
func lookup[V any](f *fake, at time.Time, m map[string]V, key string, notFound error) (V, error) {
	var zero V
	if err := f.record(at); err != nil {
		return zero, err
	}
	v, ok := m[key]
	if !ok {
		return zero, notFound
	}
	return v, nil
}

func (f *fake) Consumers(_ context.Context, at time.Time, cluster string) ([]string, error) {
	groups, err := lookup(f, at, f.groups, cluster, ErrClusterNotFound)
	if err != nil {
		return nil, err
	}
	// nil for a cluster without groups: the handler must answer [].
	return slices.Sorted(maps.Keys(groups)), nil
}

func (f *fake) Consumer(ctx context.Context, at time.Time, cluster, group string) (Consumer, error) {
	if err := f.record(at); err != nil {
		return Consumer{}, err
	}
	if group == "slow" {
		close(f.entered)
		select {
		case <-f.release:
		case <-ctx.Done():
			return Consumer{}, ctx.Err()
		}
	}
	groups, ok := f.groups[cluster]
	if !ok {
		return Consumer{}, ErrClusterNotFound
	}
	w, ok := groups[group]
	if !ok {
		return Consumer{}, ErrGroupNotFound
	}
	return Consumer{Window: w, Result: evaluate.EvaluateGroup(w, evaluate.Rules{}, t0)}, nil
}

func (f *fake) Topics(_ context.Context, at time.Time, cluster string) ([]string, error) {
	topics, err := lookup(f, at, f.topics, cluster, ErrClusterNotFound)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(topics)), nil
}

// topic records at and looks the topic up: its offsets, or the Source's
// not-found errors.
func (f *fake) topic(at time.Time, cluster, topic string) ([]int64, error) {
	topics, err := lookup(f, at, f.topics, cluster, ErrClusterNotFound)
	if err != nil {
		return nil, err
	}
	offsets, ok := topics[topic]
	if !ok {
		return nil, ErrTopicNotFound
	}
	return offsets, nil
}

func (f *fake) Topic(_ context.Context, at time.Time, cluster, topic string) ([]int64, error) {
	return f.topic(at, cluster, topic)
}

func (f *fake) TopicConsumers(_ context.Context, at time.Time, cluster, topic string) ([]string, error) {
	if _, err := f.topic(at, cluster, topic); err != nil {
		return nil, err
	}
	var out []string
	for g, w := range f.groups[cluster] {
		if slices.ContainsFunc(w.Partitions, func(p evaluate.PartitionWindow) bool { return p.Topic == topic }) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out, nil
}
