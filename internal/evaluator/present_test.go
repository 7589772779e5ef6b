package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestViewBuilder follows one cluster through the refreshes of its present
// view: the first read, a new tick, a tick read again because it gained
// documents, and a tick that ages out. At each step the view must give
// every group the window a read of the history gives (Before at the tick
// before the window, observations oldest first), keep what it holds
// rather than what a read returns for a tick it kept, and read only the
// ticks it does not hold as they are.
func TestViewBuilder(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	ob := func(i int, committed int64, owner string) evaluate.Observation {
		o := evaluate.Observation{Time: at(i), Committed: committed, HasCommitted: true, LogEnd: 100 + int64(i), LogStart: 3,
			HasLogEnd: true, Lag: 100 + int64(i) - committed, HasLag: true, GroupState: "Stable", Owner: owner, ClientID: "c-" + owner, Host: "/10.0.0.1"}
		if owner == "" {
			o.GroupState, o.ClientID, o.Host = "Empty", "", ""
		}
		return o
	}
	part := func(topic string, p int32, obs ...evaluate.Observation) evaluate.PartitionWindow {
		return evaluate.PartitionWindow{Topic: topic, Partition: p, Obs: obs}
	}
	ticks := func(docs map[int]int64, idx ...int) []esindex.Tick {
		var out []esindex.Tick
		for _, i := range idx {
			out = append(out, esindex.Tick{Time: at(i), Docs: docs[i]})
		}
		return out
	}
	const size = 3
	type step struct {
		name   string
		ticks  []esindex.Tick
		read   []evaluate.GroupWindow // what the history returns for the read
		stale  []time.Time            // the ticks the refresh must read
		want   []evaluate.GroupWindow // every group with a window
		topics map[string][]int64
		reason string
	}
	docs := map[int]int64{1: 3, 2: 3, 3: 3, 4: 3, 5: 2}
	// afterTick5 are a's and c's windows once tick 5 is in and tick 1 out.
	afterTick5 := func() []evaluate.GroupWindow {
		return []evaluate.GroupWindow{
			{Cluster: "k", Group: "a", Partitions: []evaluate.PartitionWindow{{Topic: "orders", Partition: 0,
				Obs: []evaluate.Observation{ob(3, 92, "m1"), ob(4, 93, "m2"), ob(5, 94, "m2")}, Before: ptr(ob(2, 91, "m1"))}}},
			{Cluster: "k", Group: "c", Partitions: []evaluate.PartitionWindow{{Topic: "orders", Partition: 1,
				Obs: []evaluate.Observation{ob(3, 10, ""), ob(4, 10, ""), ob(5, 11, "")}, Before: ptr(ob(2, 10, ""))}}},
		}
	}
	steps := []step{
		{
			name:  "first read",
			ticks: ticks(docs, 4, 3, 2, 1),
			read: []evaluate.GroupWindow{
				{Group: "a", Partitions: []evaluate.PartitionWindow{part("orders", 0, ob(1, 90, "m1"), ob(2, 91, "m1"), ob(3, 92, "m1"), ob(4, 93, "m2"))}},
				{Group: "b", Partitions: []evaluate.PartitionWindow{part("orders", 0, ob(1, 50, ""))}},
				{Group: "c", Partitions: []evaluate.PartitionWindow{part("orders", 1, ob(2, 10, ""), ob(3, 10, ""), ob(4, 10, ""))}},
			},
			stale: []time.Time{at(4), at(3), at(2), at(1)},
			want: []evaluate.GroupWindow{
				{Cluster: "k", Group: "a", Partitions: []evaluate.PartitionWindow{{Topic: "orders", Partition: 0,
					Obs: []evaluate.Observation{ob(2, 91, "m1"), ob(3, 92, "m1"), ob(4, 93, "m2")}, Before: ptr(ob(1, 90, "m1"))}}},
				{Cluster: "k", Group: "c", Partitions: []evaluate.PartitionWindow{part("orders", 1, ob(2, 10, ""), ob(3, 10, ""), ob(4, 10, ""))}},
			},
			topics: map[string][]int64{"orders": {104, 104}},
			reason: "b has only the tick before the window: no window, as a read gives none",
		},
		{
			name:  "a new tick",
			ticks: ticks(docs, 5, 4, 3, 2),
			read: []evaluate.GroupWindow{
				// The read spans a kept tick too: the view keeps its own.
				{Group: "a", Partitions: []evaluate.PartitionWindow{part("orders", 0, ob(4, 7, "zz"), ob(5, 94, "m2"))}},
				{Group: "c", Partitions: []evaluate.PartitionWindow{part("orders", 1, ob(5, 11, ""))}},
			},
			stale:  []time.Time{at(5)},
			want:   afterTick5(),
			topics: map[string][]int64{"orders": {105, 105}},
			reason: "only tick 5 is read; b's observation at tick 1 is gone with the tick",
		},
		{
			name:  "the new tick gained documents",
			ticks: ticks(map[int]int64{2: 3, 3: 3, 4: 3, 5: 3}, 5, 4, 3, 2),
			read: []evaluate.GroupWindow{
				{Group: "a", Partitions: []evaluate.PartitionWindow{part("orders", 0, ob(5, 94, "m2"))}},
				{Group: "c", Partitions: []evaluate.PartitionWindow{part("orders", 1, ob(5, 11, ""))}},
				{Group: "d", Partitions: []evaluate.PartitionWindow{part("payments", 2, ob(5, 1, "m9"))}},
			},
			stale: []time.Time{at(5)},
			want: append(afterTick5(),
				evaluate.GroupWindow{Cluster: "k", Group: "d", Partitions: []evaluate.PartitionWindow{part("payments", 2, ob(5, 1, "m9"))}}),
			topics: map[string][]int64{"orders": {105, 105}, "payments": {-1, -1, 105}},
			reason: "tick 5 is read again and replaced, with d's document written late",
		},
		{
			name:  "the oldest tick ages out",
			ticks: ticks(map[int]int64{3: 3, 4: 3, 5: 3}, 5, 4, 3),
			want: []evaluate.GroupWindow{
				{Cluster: "k", Group: "a", Partitions: []evaluate.PartitionWindow{part("orders", 0, ob(3, 92, "m1"), ob(4, 93, "m2"), ob(5, 94, "m2"))}},
				{Cluster: "k", Group: "c", Partitions: []evaluate.PartitionWindow{part("orders", 1, ob(3, 10, ""), ob(4, 10, ""), ob(5, 11, ""))}},
				{Cluster: "k", Group: "d", Partitions: []evaluate.PartitionWindow{part("payments", 2, ob(5, 1, "m9"))}},
			},
			topics: map[string][]int64{"orders": {105, 105}, "payments": {-1, -1, 105}},
			reason: "nothing to read; no tick before the window any more",
		},
	}
	var v *presentView
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			b := newViewBuilder(st.ticks, size)
			if stale := b.staleTicks(v); !slices.EqualFunc(stale, st.stale, time.Time.Equal) {
				t.Errorf("stale ticks %v, want %v", stale, st.stale)
			}
			for _, w := range st.read {
				b.addRead(w)
			}
			v = b.into(v)
			var got []evaluate.GroupWindow
			for _, name := range v.consumers() {
				w, ok := v.groupWindow("k", name)
				if !ok {
					t.Errorf("%s listed without a window", name)
				}
				got = append(got, w)
			}
			if !reflect.DeepEqual(got, st.want) {
				t.Errorf("windows:\n got %s\nwant %s\n(%s)", fmtWindows(got), fmtWindows(st.want), st.reason)
			}
			topics := map[string][]int64{}
			for _, name := range v.topicList() {
				topics[name] = v.topicOffsets(name)
			}
			if !reflect.DeepEqual(topics, st.topics) {
				t.Errorf("topics %v, want %v", topics, st.topics)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func fmtWindows(ws []evaluate.GroupWindow) string {
	out := ""
	for _, w := range ws {
		out += fmt.Sprintf("\n  %s:", w.Group)
		for _, p := range w.Partitions {
			out += fmt.Sprintf(" %s/%d[", p.Topic, p.Partition)
			if p.Before != nil {
				out += fmt.Sprintf("before %s %d; ", p.Before.Time.Format("15:04"), p.Before.Committed)
			}
			for _, o := range p.Obs {
				out += fmt.Sprintf("%s %d %s %s, ", o.Time.Format("15:04"), o.Committed, o.Owner, o.GroupState)
			}
			out += "]"
		}
	}
	return out
}

// TestPresentFollowsTicks writes ticks while a present view is held and
// checks, after each, that the view answers what the history answers at
// the same instant (every group's window and status, the group and topic
// lists, every topic's offsets and groups), and that it read only what it
// did not hold: the new tick, or a tick that gained documents since it was
// read, not the window.
func TestPresentFollowsTicks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "evalpresent")
	c := h.Client
	t0 := time.Now().UTC().Truncate(time.Second).Add(-2 * time.Minute)
	tick := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }
	const partitions = 3
	// snap is tick i of groups: each commits i*k on every partition, with
	// a member named by the tick, so that the windows differ by tick.
	snap := func(i int, groups ...string) snapshot.Snapshot {
		s := snapshot.Snapshot{Cluster: "live", Time: tick(i)}
		for k, g := range groups {
			m := snapshot.Member{MemberID: fmt.Sprintf("m-%d", i%2), ClientID: "c", Host: "/10.0.0.1"}
			gr := snapshot.Group{ID: g, State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{m}}
			for p := range int32(partitions) {
				gr.Partitions = append(gr.Partitions, snapshot.Partition{Topic: "t-" + g[:1], Partition: p,
					Committed: int64(i * k), HasCommitted: true, LogEnd: int64(10 * i), HasOffsets: true, Owner: &gr.Members[0]})
			}
			s.Groups = append(s.Groups, gr)
		}
		return s
	}
	write := func(s snapshot.Snapshot) {
		t.Helper()
		h.Write(ctx, t, s)
	}
	for i := range 4 {
		write(snap(i, "alpha", "beta", "gamma"))
	}

	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 5, APITimeout: 30 * time.Second}
	plain := NewSource(cfg, c)
	src := NewSource(cfg, c)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	src.StartPresent(pctx, slog.New(slog.DiscardHandler), true)
	waitReady(t, src)

	// caughtUp waits until the view holds newest with docs documents.
	caughtUp := func(newest time.Time, docs int64) *presentCluster {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			src.present.mu.Lock()
			pc := src.present.clusters["live"]
			src.present.mu.Unlock()
			if pc != nil {
				if v := pc.view.Load(); v != nil && v.head().Time.Equal(newest) && v.head().Docs == docs {
					return pc
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the present view did not reach the tick at %s with %d documents within 30 s", newest, docs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	same := func(step string, groups ...string) {
		t.Helper()
		at := time.Now().UTC().Truncate(time.Millisecond)
		v := src.present.view(ctx, "live")
		if v == nil {
			t.Fatalf("%s: no present view", step)
		}
		want, err := plain.Consumers(ctx, at, "live")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := src.Consumers(ctx, time.Time{}, "live"); err != nil || !slices.Equal(got, want) || !slices.Equal(got, groups) {
			t.Errorf("%s: Consumers %v, %v; the history has %v, want %v", step, got, err, want, groups)
		}
		for _, g := range append(groups, "alpha", "epsilon", "never") {
			hist, herr := plain.Consumer(ctx, at, "live", g)
			got, gerr := src.Consumer(ctx, time.Time{}, "live", g)
			if fmt.Sprint(herr) != fmt.Sprint(gerr) {
				t.Errorf("%s: %s: error %v, the history's %v", step, g, gerr, herr)
				continue
			}
			if !reflect.DeepEqual(got.Window, hist.Window) || got.Result.Status != hist.Result.Status {
				t.Errorf("%s: %s: %s %s, the history has %s %s", step, g, got.Result.Status, fmtWindows([]evaluate.GroupWindow{got.Window}),
					hist.Result.Status, fmtWindows([]evaluate.GroupWindow{hist.Window}))
			}
		}
		topics, err := plain.Topics(ctx, at, "live")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := src.Topics(ctx, time.Time{}, "live"); err != nil || !slices.Equal(got, topics) {
			t.Errorf("%s: Topics %v, %v; the history has %v", step, got, err, topics)
		}
		for _, topic := range append(topics, "t-nope") {
			ho, herr := plain.Topic(ctx, at, "live", topic)
			if got, err := src.Topic(ctx, time.Time{}, "live", topic); fmt.Sprint(err) != fmt.Sprint(herr) || !slices.Equal(got, ho) {
				t.Errorf("%s: Topic %s: %v, %v; the history has %v, %v", step, topic, got, err, ho, herr)
			}
			hg, herr := plain.TopicConsumers(ctx, at, "live", topic)
			if got, err := src.TopicConsumers(ctx, time.Time{}, "live", topic); fmt.Sprint(err) != fmt.Sprint(herr) || !slices.Equal(got, hg) {
				t.Errorf("%s: TopicConsumers %s: %v, %v; the history has %v, %v", step, topic, got, err, hg, herr)
			}
		}
	}
	read := func(pc *presentCluster) int {
		if st := pc.lastRead.Load(); st != nil {
			return st.Docs
		}
		return -1
	}

	pc := caughtUp(tick(3), 3*partitions)
	same("first read", "alpha", "beta", "gamma")
	checkPresentGauges(ctx, t, src, plain, "alpha", "beta", "gamma")
	if n := read(pc); n != 4*3*partitions {
		t.Errorf("first read: %d documents, want the window and the tick before it, %d", n, 4*3*partitions)
	}

	write(snap(4, "alpha", "gamma"))
	pc = caughtUp(tick(4), 2*partitions)
	same("a new tick without beta", "alpha", "beta", "gamma")
	if n := read(pc); n != 2*partitions {
		t.Errorf("new tick: %d documents read, want only the tick's %d", n, 2*partitions)
	}

	// Tick 5 arrives in two writes: the view reads what is there, then the
	// whole tick again when its count grows.
	write(snap(5, "alpha"))
	caughtUp(tick(5), partitions)
	same("half a tick", "alpha", "beta", "gamma")
	s5 := snap(5, "alpha", "delta")
	s5.Groups = s5.Groups[1:]
	write(s5)
	pc = caughtUp(tick(5), 2*partitions)
	same("the rest of the tick", "alpha", "beta", "delta", "gamma")
	if n := read(pc); n != 2*partitions {
		t.Errorf("tick grown: %d documents read, want the tick's %d", n, 2*partitions)
	}

	write(snap(6, "alpha", "delta"))
	caughtUp(tick(6), 2*partitions)
	same("beta out of the window", "alpha", "delta", "gamma")

	// Documents that carry an error are no observation, by either route:
	// alpha's offsets could not be read at tick 7 (its window holds ticks
	// 5 and 6), epsilon's at any tick (it has no window, and its topic is
	// no topic).
	unreadable := func(i int) snapshot.Snapshot {
		s := snap(i, "alpha", "delta", "epsilon", "gamma")
		for gi := range s.Groups {
			g := &s.Groups[gi]
			if g.ID != "epsilon" && (g.ID != "alpha" || i != 7) {
				continue
			}
			g.Err = errors.New("fetch offsets: COORDINATOR_NOT_AVAILABLE")
			for k := range g.Partitions {
				p := &g.Partitions[k]
				p.Committed, p.HasCommitted, p.Err = 0, false, g.Err
			}
		}
		return s
	}
	write(unreadable(7))
	caughtUp(tick(7), 4*partitions)
	same("alpha unreadable at the newest tick, epsilon throughout", "alpha", "delta", "gamma")
	write(unreadable(8))
	write(unreadable(9))
	caughtUp(tick(9), 4*partitions)
	same("epsilon unreadable for a whole window", "alpha", "delta", "gamma")
}

// checkPresentGauges compares Burrow's gauges of src's present view, as
// served without a schedule, with the history's verdicts on groups.
func checkPresentGauges(ctx context.Context, t *testing.T, src, plain *Source, groups ...string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(src.PresentGauges())
	var fams []*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for len(fams) == 0 {
		var err error
		if fams, err = reg.Gather(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no Burrow gauges from the present view within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string]float64{} // "name group" -> value, per group
	parts := 0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cluster"] != "live" {
				t.Errorf("%s: cluster %q", f.GetName(), labels["cluster"])
			}
			switch f.GetName() {
			case "burrow_kafka_consumer_status", "burrow_kafka_consumer_lag_total":
				got[f.GetName()+" "+labels["consumer_group"]] = m.GetGauge().GetValue()
			case "burrow_kafka_consumer_partition_lag":
				parts++
			}
		}
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	want := map[string]float64{}
	wantParts := 0
	for _, g := range groups {
		c, err := plain.Consumer(ctx, at, "live", g)
		if err != nil {
			t.Fatal(err)
		}
		want["burrow_kafka_consumer_status "+g] = float64(c.Result.Status)
		want["burrow_kafka_consumer_lag_total "+g] = float64(c.Result.TotalLag)
		wantParts += len(c.Result.Partitions)
	}
	if !reflect.DeepEqual(got, want) || parts != wantParts {
		t.Errorf("present gauges %v with %d partition lags; the history's verdicts %v with %d", got, parts, want, wantParts)
	}
}

// TestViewForgetsMembers: members that no observation refers to any more
// (every rebalance names new ones) are dropped from the view's table once
// they are the majority, and the observations still name their own.
func TestViewForgetsMembers(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	const size, parts = 2, 100
	tickWindow := func(i int) evaluate.GroupWindow {
		w := evaluate.GroupWindow{Group: "g"}
		for p := range int32(parts) {
			w.Partitions = append(w.Partitions, evaluate.PartitionWindow{Topic: "t", Partition: p, Obs: []evaluate.Observation{{
				Time: at(i), Committed: int64(i), HasCommitted: true, Owner: fmt.Sprintf("m-%d-%d", i, p)}}})
		}
		return w
	}
	var v *presentView
	const steps = 10
	for i := range steps {
		var ticks []esindex.Tick
		for j := i; j >= 0 && j > i-size-1; j-- {
			ticks = append(ticks, esindex.Tick{Time: at(j), Docs: parts})
		}
		b := newViewBuilder(ticks, size)
		b.staleTicks(v)
		b.addRead(tickWindow(i))
		v = b.into(v)
	}
	// 301 in use (3 ticks of 100, and none); at most as many unused again
	// (and 64), where 1,001 were ever seen.
	if n, used := len(v.tab.members), (size+1)*parts+1; n > 2*used+64 {
		t.Errorf("%d members held, %d of them in use, after %d seen", n, used, steps*parts+1)
	}
	w, ok := v.groupWindow("k", "g")
	if !ok || len(w.Partitions) != parts {
		t.Fatalf("window of %d partitions, want %d", len(w.Partitions), parts)
	}
	for _, p := range w.Partitions {
		for _, o := range p.Obs {
			if want := fmt.Sprintf("m-%d-%d", o.Committed, p.Partition); o.Owner != want {
				t.Fatalf("%s/%d at %s: owner %q, want %q", p.Topic, p.Partition, o.Time, o.Owner, want)
			}
		}
	}
}
