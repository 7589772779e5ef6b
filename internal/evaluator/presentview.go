package evaluator

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// presentView is one cluster's window. A cluster's first read builds it;
// each later refresh updates it in place (apply) under mu, so that an update
// costs the ticks read rather than a second copy of the window held while
// requests still use the first. Requests read it under mu's read lock, one
// group or one list at a time.
type presentView struct {
	mu sync.RWMutex
	// ticks are the cluster's ticks, newest first, as read: the window's,
	// then the one before it when there is one (hasBefore).
	ticks     []esindex.Tick
	hasBefore bool
	groups    map[string]*viewGroup
	// names are the groups with an observation in the window, sorted.
	names []string
	tab   internTable
	// topics are those with an observation at the newest tick.
	topics     map[string]*viewTopic
	topicNames []string
}

type viewGroup struct {
	name  string
	parts []viewPart // (topic, partition) order
}

type viewPart struct {
	topic     string
	partition int32
	obs       []viewObs // oldest first, only at the view's ticks
}

// viewObs is an evaluate.Observation in 48 bytes: the member and the group
// state are indexes into an internTable.
type viewObs struct {
	ms                               int64 // the tick's time, Unix milliseconds
	committed, logEnd, logStart, lag int64
	member                           uint32
	state                            uint16
	flags                            uint8
}

const (
	obsCommitted uint8 = 1 << iota
	obsLogEnd
	obsLag
)

type viewMember struct{ owner, client, host string }

type viewTopic struct {
	logEnd []int64 // by partition; -1 unknown
	groups []string
}

// internTable holds the strings of a view's observations once.
type internTable struct {
	members  []viewMember // [0] is none
	states   []string     // [0] is ""
	memberIx map[viewMember]uint32
	stateIx  map[string]uint16
	strs     map[string]string
}

func newInternTable() internTable {
	return internTable{members: []viewMember{{}}, states: []string{""},
		memberIx: map[viewMember]uint32{{}: 0}, stateIx: map[string]uint16{"": 0}, strs: map[string]string{}}
}

func (t *internTable) intern(s string) string {
	if v, ok := t.strs[s]; ok {
		return v
	}
	t.strs[s] = s
	return s
}

func (t *internTable) member(m viewMember) uint32 {
	if i, ok := t.memberIx[m]; ok {
		return i
	}
	i := uint32(len(t.members))
	m = viewMember{owner: t.intern(m.owner), client: t.intern(m.client), host: t.intern(m.host)}
	t.members = append(t.members, m)
	t.memberIx[m] = i
	return i
}

func (t *internTable) state(s string) uint16 {
	if i, ok := t.stateIx[s]; ok {
		return i
	}
	if len(t.states) > 1<<16-1 {
		return 0 // more states than Kafka has: unknown
	}
	i := uint16(len(t.states))
	t.states = append(t.states, t.intern(s))
	t.stateIx[s] = i
	return i
}

// empty is true for the view of a cluster without a tick in the window.
func (v *presentView) empty() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.ticks) == 0
}

// newest is the view's newest tick; the view must not be empty.
func (v *presentView) newest() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.ticks[0].Time
}

// head is the view's newest tick with its document count; zero for an
// empty view.
func (v *presentView) head() esindex.Tick {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(v.ticks) == 0 {
		return esindex.Tick{}
	}
	return v.ticks[0]
}

// consumers are the groups with a window, sorted.
func (v *presentView) consumers() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return slices.Clone(v.names)
}

// groupWindow is group's window; false when it has none.
func (v *presentView) groupWindow(cluster, group string) (evaluate.GroupWindow, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	g := v.groups[group]
	if _, ok := slices.BinarySearch(v.names, group); !ok || g == nil {
		return evaluate.GroupWindow{}, false
	}
	return v.window(cluster, g), true
}

// topicList is the topics at the newest tick, sorted.
func (v *presentView) topicList() []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return slices.Clone(v.topicNames)
}

// topicOffsets and topicGroups are topic's log-end offsets and groups at
// the newest tick; nil for a topic without either.
func (v *presentView) topicOffsets(topic string) []int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if t := v.topics[topic]; t != nil {
		return slices.Clone(t.logEnd)
	}
	return nil
}

func (v *presentView) topicGroups(topic string) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if t := v.topics[topic]; t != nil {
		return slices.Clone(t.groups)
	}
	return nil
}

// window is g's window as a read of the history returns it: each
// partition's observations in the window, oldest first, the one at the
// tick before as Before, partitions without one in the window left out.
// The caller holds mu.
func (v *presentView) window(cluster string, g *viewGroup) evaluate.GroupWindow {
	w := evaluate.GroupWindow{Cluster: cluster, Group: g.name, Partitions: make([]evaluate.PartitionWindow, 0, len(g.parts))}
	var before int64
	if v.hasBefore {
		before = v.ticks[len(v.ticks)-1].Time.UnixMilli()
	}
	for _, p := range g.parts {
		pw := evaluate.PartitionWindow{Topic: p.topic, Partition: p.partition, Obs: make([]evaluate.Observation, 0, len(p.obs))}
		for _, o := range p.obs {
			ob := v.observation(o)
			if v.hasBefore && o.ms == before {
				pw.Before = &ob
				continue
			}
			pw.Obs = append(pw.Obs, ob)
		}
		if len(pw.Obs) > 0 {
			w.Partitions = append(w.Partitions, pw)
		}
	}
	return w
}

func (v *presentView) observation(o viewObs) evaluate.Observation {
	m := v.tab.members[o.member]
	return evaluate.Observation{
		Time:      time.UnixMilli(o.ms).UTC(),
		Committed: o.committed, HasCommitted: o.flags&obsCommitted != 0,
		LogEnd: o.logEnd, LogStart: o.logStart, HasLogEnd: o.flags&obsLogEnd != 0,
		Lag: o.lag, HasLag: o.flags&obsLag != 0,
		GroupState: v.tab.states[o.state],
		Owner:      m.owner, ClientID: m.client, Host: m.host,
	}
}

// viewBuilder stages a refresh: the ticks it brings the view to, and the
// documents read again, with strings of its own (the view's are being read
// meanwhile).
type viewBuilder struct {
	ticks []esindex.Tick
	size  int
	fresh map[int64]bool // ticks (Unix ms) whose documents come from the read
	keep  map[int64]bool // ticks kept from the older view
	read  map[string][]viewPart
	tab   internTable
}

// newViewBuilder stages the view of ticks (newest first, the window's size
// newest and then the one before them).
func newViewBuilder(ticks []esindex.Tick, size int) *viewBuilder {
	return &viewBuilder{ticks: slices.Clone(ticks), size: size, fresh: map[int64]bool{}, keep: map[int64]bool{},
		read: map[string][]viewPart{}, tab: newInternTable()}
}

// staleTicks are the ticks to read, newest first: those old does not hold
// with the document count Elasticsearch has now. The others are kept. Only
// the refresher, the view's one writer, calls it.
func (b *viewBuilder) staleTicks(old *presentView) []time.Time {
	held := map[int64]int64{}
	if old != nil {
		for _, t := range old.ticks {
			held[t.Time.UnixMilli()] = t.Docs
		}
	}
	var stale []time.Time
	for _, t := range b.ticks {
		ms := t.Time.UnixMilli()
		if docs, ok := held[ms]; ok && docs == t.Docs {
			b.keep[ms] = true
			continue
		}
		b.fresh[ms] = true
		stale = append(stale, t.Time)
	}
	return stale
}

// addRead takes w's observations at the fresh ticks.
func (b *viewBuilder) addRead(w evaluate.GroupWindow) {
	var parts []viewPart
	for _, p := range w.Partitions {
		vp := viewPart{topic: b.tab.intern(p.Topic), partition: p.Partition, obs: make([]viewObs, 0, len(p.Obs))}
		for _, o := range p.Obs {
			if !b.fresh[o.Time.UnixMilli()] {
				continue
			}
			vo := viewObs{ms: o.Time.UnixMilli(), committed: o.Committed, logEnd: o.LogEnd, logStart: o.LogStart, lag: o.Lag,
				member: b.tab.member(viewMember{owner: o.Owner, client: o.ClientID, host: o.Host}), state: b.tab.state(o.GroupState)}
			if o.HasCommitted {
				vo.flags |= obsCommitted
			}
			if o.HasLogEnd {
				vo.flags |= obsLogEnd
			}
			if o.HasLag {
				vo.flags |= obsLag
			}
			vp.obs = append(vp.obs, vo)
		}
		if len(vp.obs) > 0 {
			parts = append(parts, vp)
		}
	}
	if len(parts) > 0 {
		b.read[w.Group] = append(b.read[w.Group], parts...)
	}
}

func comparePart(a, b viewPart) int {
	return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
}

func compareObs(x, y viewObs) int { return cmp.Compare(x.ms, y.ms) }

// into brings old up to the staged ticks, in place, and returns it; or
// builds the view anew when there is no old one (or it is empty).
func (b *viewBuilder) into(old *presentView) *presentView {
	if old == nil || old.groups == nil {
		return b.build()
	}
	old.apply(b)
	return old
}

// build makes the view of the documents read alone.
func (b *viewBuilder) build() *presentView {
	v := &presentView{ticks: b.ticks, hasBefore: len(b.ticks) > b.size, groups: map[string]*viewGroup{}, tab: b.tab}
	for name, parts := range b.read {
		slices.SortStableFunc(parts, comparePart)
		// Join the pieces of one partition, should a group come in more
		// than one piece.
		merged := parts[:1]
		for _, p := range parts[1:] {
			if last := &merged[len(merged)-1]; comparePart(*last, p) == 0 {
				last.obs = append(last.obs, p.obs...)
				continue
			}
			merged = append(merged, p)
		}
		for i := range merged {
			merged[i].obs = sortedObs(merged[i].obs)
		}
		v.groups[name] = &viewGroup{name: name, parts: slices.Clip(merged)}
	}
	v.derive(b.size)
	return v
}

// sortedObs is obs oldest first, one per tick.
func sortedObs(obs []viewObs) []viewObs {
	if !slices.IsSortedFunc(obs, compareObs) {
		slices.SortStableFunc(obs, compareObs)
	}
	return slices.CompactFunc(obs, func(x, y viewObs) bool { return x.ms == y.ms })
}

// apply updates v to b's ticks in place: observations at ticks neither kept
// nor read again are dropped, those read are added in v's strings, groups
// and partitions left without any go. Requests wait for it (a few tens of
// milliseconds for 50,000 partitions).
func (v *presentView) apply(b *viewBuilder) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ticks, v.hasBefore = b.ticks, len(b.ticks) > b.size
	for name, g := range v.groups {
		parts := g.parts[:0]
		for _, p := range g.parts {
			obs := p.obs[:0]
			for _, o := range p.obs {
				if b.keep[o.ms] {
					obs = append(obs, o)
				}
			}
			if len(obs) > 0 {
				p.obs = obs
				parts = append(parts, p)
			}
		}
		clear(g.parts[len(parts):])
		g.parts = parts
		if len(parts) == 0 && len(b.read[name]) == 0 {
			delete(v.groups, name)
		}
	}
	for name, read := range b.read {
		g := v.groups[name]
		if g == nil {
			g = &viewGroup{name: name}
			v.groups[name] = g
		}
		for _, rp := range read {
			i, found := slices.BinarySearchFunc(g.parts, rp, comparePart)
			if !found {
				g.parts = slices.Insert(g.parts, i, viewPart{topic: v.tab.intern(rp.topic), partition: rp.partition,
					obs: make([]viewObs, 0, b.size+1)})
			}
			p := &g.parts[i]
			for _, o := range rp.obs {
				o.member = v.tab.member(b.tab.members[o.member])
				o.state = v.tab.state(b.tab.states[o.state])
				p.obs = append(p.obs, o)
			}
			p.obs = sortedObs(p.obs)
		}
	}
	v.compactMembers()
	v.derive(b.size)
}

// compactMembers drops the members no observation refers to any more
// (consumers come and go with rebalances) once they are the majority.
func (v *presentView) compactMembers() {
	used := make([]bool, len(v.tab.members))
	n := 1
	used[0] = true
	for _, g := range v.groups {
		for _, p := range g.parts {
			for _, o := range p.obs {
				if !used[o.member] {
					used[o.member] = true
					n++
				}
			}
		}
	}
	if 2*n+64 > len(v.tab.members) {
		return
	}
	remap := make([]uint32, len(v.tab.members))
	members := make([]viewMember, 0, n)
	index := make(map[viewMember]uint32, n)
	for i, m := range v.tab.members {
		if used[i] {
			remap[i] = uint32(len(members))
			index[m] = uint32(len(members))
			members = append(members, m)
		}
	}
	for _, g := range v.groups {
		for _, p := range g.parts {
			for i := range p.obs {
				p.obs[i].member = remap[p.obs[i].member]
			}
		}
	}
	v.tab.members, v.tab.memberIx = members, index
}

// derive makes the group and topic lists: the groups with an observation
// in the window (the size newest ticks), sorted; from the observations at
// the newest tick, each topic's log-end offset per partition (the greatest
// known, -1 when none is) and its groups, as the history's topic reads
// answer them.
func (v *presentView) derive(size int) {
	window := map[int64]bool{}
	for i, t := range v.ticks {
		if i < size {
			window[t.Time.UnixMilli()] = true
		}
	}
	v.names = v.names[:0]
	for name, g := range v.groups {
		in := false
		for _, p := range g.parts {
			for _, o := range p.obs {
				in = in || window[o.ms]
			}
		}
		if in {
			v.names = append(v.names, name)
		}
	}
	slices.Sort(v.names)
	v.topics, v.topicNames = map[string]*viewTopic{}, nil
	newest := v.ticks[0].Time.UnixMilli()
	for _, name := range v.names {
		for _, p := range v.groups[name].parts {
			i, ok := slices.BinarySearchFunc(p.obs, newest, func(o viewObs, ms int64) int { return cmp.Compare(o.ms, ms) })
			if !ok {
				continue
			}
			o := p.obs[i]
			t := v.topics[p.topic]
			if t == nil {
				t = &viewTopic{}
				v.topics[p.topic] = t
				v.topicNames = append(v.topicNames, p.topic)
			}
			if n := len(t.groups); n == 0 || t.groups[n-1] != name {
				t.groups = append(t.groups, name)
			}
			if p.partition < 0 {
				continue
			}
			for int(p.partition) >= len(t.logEnd) {
				t.logEnd = append(t.logEnd, -1)
			}
			if o.flags&obsLogEnd != 0 && o.logEnd > t.logEnd[p.partition] {
				t.logEnd[p.partition] = o.logEnd
			}
		}
	}
	slices.Sort(v.topicNames)
}
