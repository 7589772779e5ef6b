// Package evaluate owns the pure evaluation of consumer health: a window of
// recent observations of each partition of a consumer group goes in; the
// partition's and the group's Burrow-style status, lag, time lag, rates and
// catch-up estimate come out, plus a Burrow-compatible JSON view of a group.
//
// Everything here is a function of its arguments: the evaluation time is
// passed in, nothing is read from the clock, nothing is logged, no goroutine
// is started. It must not import Elasticsearch, Kafka, a logger or any other
// lagwatch package: data flows esindex (read) -> evaluate -> esindex (status
// write) + notify.
//
// The rules are Burrow's (core/internal/evaluator/caching.go), adapted from
// a history of commits to a history of polls; see EvaluatePartition.
package evaluate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultWindowSize is the number of observations a complete window holds,
// Burrow's default number of stored intervals.
const DefaultWindowSize = 10

// Observation is one offsets document: one group's position on one partition
// at one collection tick.
type Observation struct {
	// Time is the tick's time.
	Time time.Time
	// Committed is the group's committed offset (the next offset it will
	// read); HasCommitted is false when the group never committed here.
	Committed    int64
	HasCommitted bool
	// LogEnd (high watermark) and LogStart are the partition's offsets;
	// HasLogEnd is false when they could not be read at that tick.
	LogEnd, LogStart int64
	HasLogEnd        bool
	// Lag is the readable lag as the collector stored it: the records the
	// group would still receive, which leaves out transaction markers,
	// aborted records and records of transactions still open (see
	// snapshot.Partition.ReadableLag); LogEnd - Committed, Kafka's own lag
	// (KafkaLag), on a topic without transactions. Never negative. HasLag
	// is false when there is no commit or no log offsets.
	Lag    int64
	HasLag bool
	// GroupState is the group's state at that tick: "Stable", "Empty",
	// "PreparingRebalance", "CompletingRebalance", "Dead", or "" if unknown.
	GroupState string
	// Owner is the member id of the member the partition is assigned to, ""
	// when none. ClientID and Host describe that member; "" when unknown.
	Owner, ClientID, Host string
}

// KafkaLag is LogEnd - Committed clamped at 0, the lag Kafka's
// consumer-groups tool reports, which counts transaction markers and
// records not readable yet; ok is false without a commit or a log end.
func (o Observation) KafkaLag() (lag int64, ok bool) {
	if !o.HasCommitted || !o.HasLogEnd {
		return 0, false
	}
	return max(o.LogEnd-o.Committed, 0), true
}

// PartitionWindow is the recent history of one group on one partition.
type PartitionWindow struct {
	Topic     string
	Partition int32
	// Obs is oldest first, at most the window size long and none older than
	// the reader's maximum age. Should it be longer, only the newest
	// Rules.WindowSize observations are evaluated.
	Obs []Observation
	// Before is the partition's observation at the tick just before the
	// window, nil when there is none (a new group, or history shorter than
	// the window). Only its log-end offset is used: it gives the window's
	// first observation its commit lag (see CommitLag).
	Before *Observation
}

// GroupWindow is the recent history of every partition of one group.
type GroupWindow struct {
	Cluster, Group string
	// Partitions in any order; a partition without observations is ignored.
	Partitions []PartitionWindow
}

// Rules are the evaluation's tunables. The zero value means DefaultRules.
type Rules struct {
	// WindowSize is N, the number of observations of a complete window; 0
	// means DefaultWindowSize.
	WindowSize int
	// MinComplete is the share of a full window, 0 to 1, below which a
	// partition is OK without further checks (Burrow's default, 0, checks
	// every window, even a single observation).
	MinComplete float64
	// AllowedLag is the lag, in messages, that still counts as caught up
	// (Burrow's is 0).
	AllowedLag int64
}

// DefaultRules returns Burrow's settings: a window of 10, no minimum
// completeness, no allowed lag.
func DefaultRules() Rules {
	return Rules{WindowSize: DefaultWindowSize}
}

// RuleError is a setting of Rules that evaluation cannot use: Field is the
// name of the Rules field, so that a caller can say where the value came
// from.
type RuleError struct{ Field, Msg string }

func (e *RuleError) Error() string { return e.Field + ": " + e.Msg }

// Validate reports every setting that evaluation cannot use, each a
// *RuleError, joined by errors.Join; nil when Rules can be used.
func (r Rules) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &RuleError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if r.WindowSize < 0 {
		add("WindowSize", "must be 0 (the default, %d) or more, got %d", DefaultWindowSize, r.WindowSize)
	}
	if !(r.MinComplete >= 0 && r.MinComplete <= 1) { // also rejects NaN
		add("MinComplete", "must be between 0 and 1, got %v", r.MinComplete)
	}
	if r.AllowedLag < 0 {
		add("AllowedLag", "must not be negative, got %d", r.AllowedLag)
	}
	return errors.Join(errs...)
}

func (r Rules) windowSize() int {
	if r.WindowSize <= 0 {
		return DefaultWindowSize
	}
	return r.WindowSize
}

// PartitionResult is the evaluation of one partition.
type PartitionResult struct {
	Topic     string
	Partition int32
	Status    Status
	// Complete is the number of observations over the window size, capped at
	// 1: how much history the verdict rests on.
	Complete float64
	// Start and End are the window's first and last observations; both are
	// zero when the window is empty.
	Start, End Observation
	// LastCommit is when the current committed offset was first seen: the
	// time of the first observation of the newest run of observations with
	// End's committed offset. Zero when End has no commit.
	LastCommit time.Time
	// CurrentLag is End's lag, in messages: the readable lag at the newest
	// tick (Observation.Lag), what Kafka's consumer-groups tool shows but
	// for transaction markers, aborted records and open transactions
	// (End.KafkaLag is the tool's figure). HasLag is false, and CurrentLag
	// 0, when End has no lag (never committed).
	CurrentLag int64
	HasLag     bool
	// StartCommitLag and EndCommitLag are Start's and End's commit lags, the
	// lags the rules judge (see CommitLag).
	StartCommitLag, EndCommitLag CommitLag
	// TimeLag is how far behind the head the consumer is, in time.
	TimeLag TimeLag
	// ConsumeRate and ProduceRate are in messages per second over the
	// window, from the first to the last observation that has a committed
	// offset (respectively a log-end offset). Has* is false with fewer than
	// two such observations or when they share one time. A rewind makes
	// ConsumeRate negative.
	ConsumeRate, ProduceRate       float64
	HasConsumeRate, HasProduceRate bool
	// CatchUp estimates when the lag reaches 0 at the current rates.
	CatchUp CatchUp
	// Owner, ClientID and Host are End's: the member owning the partition,
	// "" when none.
	Owner, ClientID, Host string
}

// EvaluatePartition classifies one partition at time now. The rules are
// Burrow's (core/internal/evaluator/caching.go), in Burrow's order, over a
// window of polls instead of a window of commits; the first that applies
// decides:
//
//  1. incomplete: fewer observations than Rules.MinComplete of a window: OK.
//  2. caughtUp: the current lag is at most Rules.AllowedLag, or there is no
//     lag at all (never committed): OK. Burrow: current lag 0.
//  3. lagWasZero: some observation's commit lag is at most AllowedLag: OK.
//     Burrow: "if the lag is ever zero over the window, the period is OK".
//  4. rewound: the committed offset went down from one observation to the
//     next within the window: REWIND.
//  5. stopped: no commit for longer than the commits moved within the
//     window, and no live member owns the partition: STOP.
//  6. stalled: a live member owns the partition and the committed offset is
//     the same throughout: STALL.
//  7. fallingBehind: commits move but the commit lag never decreases: WARN.
//  8. OK.
//
// Two adaptations, both because we see positions, not commits. The lag the
// rules judge is the commit lag (see CommitLag), Burrow's lag-at-commit; the
// current lag of rule 2 and of every figure shown is the polled lag (the
// readable lag: Observation.Lag). And a
// commit's time is the time of the first observation showing the committed
// offset (LastCommit). "Alive" means that the newest observation shows an
// owner and a group state other than Empty or Dead: Burrow tells a stall
// from a stop by whether commits of the same offset keep arriving, which
// polling cannot see. An empty window is OK with Complete 0, as in Burrow.
func EvaluatePartition(w PartitionWindow, r Rules, now time.Time) PartitionResult {
	n := r.windowSize()
	obs := w.Obs
	if len(obs) > n {
		obs = obs[len(obs)-n:]
	}
	res := PartitionResult{
		Topic:     w.Topic,
		Partition: w.Partition,
		Status:    OK,
		Complete:  min(float64(len(obs))/float64(n), 1),
	}
	if len(obs) == 0 {
		return res
	}
	first, last := obs[0], obs[len(obs)-1]
	res.Start, res.End = first, last
	res.Owner, res.ClientID, res.Host = last.Owner, last.ClientID, last.Host
	if last.HasLag {
		res.CurrentLag, res.HasLag = last.Lag, true
	}
	if last.HasCommitted {
		res.LastCommit = lastCommitTime(obs)
	}
	res.ConsumeRate, res.HasConsumeRate = rate(obs, committedOf)
	res.ProduceRate, res.HasProduceRate = rate(obs, logEndOf)
	res.TimeLag = timeLag(obs)
	res.CatchUp = catchUp(res)
	before := w.Before
	if len(w.Obs) > n {
		before = &w.Obs[len(w.Obs)-n-1]
	}
	lags := commitLags(obs, before)
	res.StartCommitLag, res.EndCommitLag = lags[0], lags[len(lags)-1]
	res.Status = classify(obs, lags, res.Complete, r, now)
	return res
}

// CommitLag is the polled equivalent of the lag Burrow stores with each
// commit: the observation's committed offset against the log-end offset of
// the tick before it, clamped at 0 (and never above the observation's own
// lag).
//
// Burrow computes a commit's lag against the log-end offset it last
// fetched, which is up to one refresh old; a consumer that keeps up commits
// at or past it, so its commits have lag 0, and that zero is what tells
// Burrow's rules a healthy consumer from a slow one. The lag polled at a
// tick is never 0 on a busy topic: the producer always wrote something
// since the consumer's last commit. The log end of the previous tick plays
// the part of Burrow's stale log end: a consumer that consumed everything
// that existed one tick ago has commit lag 0; one that falls behind has a
// commit lag that grows.
//
// The window's first observation uses PartitionWindow.Before. Without it (a
// new group, or history shorter than the window) that observation has no
// commit lag: its own polled lag is larger by a tick of production, and
// would read as a lag that decreased at the next observation. Known is false
// when the observation has no committed offset or no earlier log-end offset
// is known.
type CommitLag struct {
	Lag   int64
	Known bool
}

// commitLags returns the commit lag of each observation of obs (not empty).
// An observation whose previous log end is unknown (unreadable at that
// tick) uses the nearest earlier one.
func commitLags(obs []Observation, before *Observation) []CommitLag {
	out := make([]CommitLag, len(obs))
	var prevEnd int64
	hasPrev := false
	if before != nil && before.HasLogEnd {
		prevEnd, hasPrev = before.LogEnd, true
	}
	for i, o := range obs {
		switch {
		case !o.HasCommitted:
		case hasPrev && o.HasLag:
			out[i] = CommitLag{Lag: min(max(prevEnd-o.Committed, 0), o.Lag), Known: true}
		case hasPrev:
			out[i] = CommitLag{Lag: max(prevEnd-o.Committed, 0), Known: true}
		}
		if o.HasLogEnd {
			prevEnd, hasPrev = o.LogEnd, true
		}
	}
	return out
}

// CommitLags returns the commit lag of each observation of w.Obs, in order
// (see CommitLag): what Burrow shows as the lag stored with each commit.
// Before gives the first observation its previous log end.
func (w PartitionWindow) CommitLags() []CommitLag { return commitLags(w.Obs, w.Before) }

// classify combines the rules in their order; obs is not empty and lags
// holds its commit lags.
func classify(obs []Observation, lags []CommitLag, complete float64, r Rules, now time.Time) Status {
	switch {
	case incomplete(complete, r):
		return OK
	case caughtUp(obs, r):
		return OK
	case lagWasZero(lags, r):
		return OK
	case rewound(obs):
		return Rewind
	case stopped(obs, now):
		return Stop
	case stalled(obs):
		return Stall
	case fallingBehind(obs, lags):
		return Warn
	}
	return OK
}

// Rule 1, incomplete: the window holds less history than Rules.MinComplete
// asks for, so there is not enough to judge (Burrow's "complete").
func incomplete(complete float64, r Rules) bool {
	return complete < r.MinComplete
}

// Rule 2, caughtUp: the newest polled lag is within the allowed lag (Burrow
// checks its current lag, the newest commit against the newest log end it
// fetched). A partition with no lag at all has nothing to judge and counts
// as caught up too: it was never committed to. This also keeps an idle
// topic whose consumer caught up and left OK.
//
// Unknown is not "no lag": a tick at which the committed offset or the log
// offsets could not be read is no observation at all. The readers leave it
// out (esindex.ReadWindows), so the window holds the other ticks and a read
// failure neither makes a partition OK nor closes an incident. Only a
// caller that passes such a tick (no log end) would have it judged here,
// as no lag.
func caughtUp(obs []Observation, r Rules) bool {
	last := obs[len(obs)-1]
	return !last.HasLag || last.Lag <= r.AllowedLag
}

// Rule 3, lagWasZero: some observation in the window has a commit lag
// within the allowed lag, so the consumer kept up at some point of the
// window (Burrow's isLagAlwaysNotZero, negated). Every later rule may
// therefore assume lag throughout the window.
func lagWasZero(lags []CommitLag, r Rules) bool {
	for _, l := range lags {
		if l.Known && l.Lag <= r.AllowedLag {
			return true
		}
	}
	return false
}

// Rule 4, rewound: the committed offset is lower than at the previous
// observation with a commit, anywhere in the window (Burrow's
// checkIfOffsetsRewind). The verdict lasts as long as the observation
// before the rewind is in the window, even if the consumer has since
// passed its earlier position.
func rewound(obs []Observation) bool {
	prev := int64(-1)
	for _, o := range obs {
		if !o.HasCommitted {
			continue
		}
		if prev >= 0 && o.Committed < prev {
			return true
		}
		prev = o.Committed
	}
	return false
}

// Rule 5, stopped: the committed offset has not moved for longer than the
// span from the window's first observation to the time the current offset
// first appeared (Burrow: now - last commit > last commit - first commit),
// and no live member owns the partition. A committed offset that never
// moved within the window has a span of 0, so any time since is enough. A
// single observation suffices, as in Burrow; MinComplete is the way to wait
// for more.
func stopped(obs []Observation, now time.Time) bool {
	last := obs[len(obs)-1]
	if !last.HasCommitted || alive(last) {
		return false
	}
	lc := lastCommitTime(obs)
	return now.Sub(lc) > lc.Sub(obs[0].Time)
}

// Rule 6, stalled: at least two observations, all with the same committed
// offset, and a live member owns the partition: the consumer is there but
// makes no progress (Burrow's checkIfOffsetsStalled, for a consumer that
// keeps committing the same offset). An observation without a commit breaks
// a stall, since a first commit is progress.
func stalled(obs []Observation) bool {
	if len(obs) < 2 || !alive(obs[len(obs)-1]) {
		return false
	}
	for _, o := range obs {
		if !o.HasCommitted || o.Committed != obs[0].Committed {
			return false
		}
	}
	return true
}

// Rule 7, fallingBehind: the committed offset moves within the window but
// the commit lag never decreases from one observation with a commit lag to
// the next (Burrow's checkIfLagNotDecreasing: equal lags count as not
// decreasing). Needs at least two observations with a commit lag.
func fallingBehind(obs []Observation, lags []CommitLag) bool {
	moved, n := false, 0
	var prevLag, prevCommitted int64
	for i, l := range lags {
		if !l.Known {
			continue
		}
		if n > 0 {
			if l.Lag < prevLag {
				return false
			}
			moved = moved || obs[i].Committed != prevCommitted
		}
		prevLag, prevCommitted = l.Lag, obs[i].Committed
		n++
	}
	return moved && n >= 2
}

// alive reports whether o shows a live member owning the partition: an
// owner, and a group state other than Empty or Dead.
func alive(o Observation) bool {
	return o.Owner != "" && !strings.EqualFold(o.GroupState, "Empty") && !strings.EqualFold(o.GroupState, "Dead")
}

// lastCommitTime returns the time the newest committed offset first
// appeared: the first observation of the newest run of consecutive
// observations carrying that offset. obs is not empty and its last
// observation has a commit.
func lastCommitTime(obs []Observation) time.Time {
	c := obs[len(obs)-1].Committed
	i := len(obs) - 1
	for i > 0 && obs[i-1].HasCommitted && obs[i-1].Committed == c {
		i--
	}
	return obs[i].Time
}

// GroupResult is the evaluation of one group.
type GroupResult struct {
	Cluster, Group string
	// Status is the worst partition status mapped to the group level (STOP,
	// STALL, REWIND -> ERR); NOTFOUND when no partition has an observation.
	Status Status
	// Complete is the share of partitions whose window is full (Complete ==
	// 1). With no partition it is 1, as in Burrow's NOTFOUND answer.
	Complete float64
	// TotalLag sums the partitions' CurrentLag.
	TotalLag int64
	// MaxLag is the partition with the greatest CurrentLag, the first in
	// (topic, partition) order on a tie; nil with no partition. It points at
	// that partition's entry in Partitions, not at a copy, so that what is
	// set there later (ApplyHeadHistory's time lags) is what MaxLag says:
	// one figure, wherever it is shown.
	MaxLag *PartitionResult
	// PartitionCount is len(Partitions).
	PartitionCount int
	// Partitions are every partition with at least one observation, in
	// (topic, partition) order.
	Partitions []PartitionResult
	// TimeLag is the greatest known partition time lag. It is a lower bound
	// when any partition's is (that partition may be further behind), and
	// unknown when no partition's is known.
	TimeLag TimeLag
	// ConsumeRate and ProduceRate sum the partitions' known rates, in
	// messages per second.
	ConsumeRate, ProduceRate float64
	// Stale is set when the group's cluster is stale (MarkStale): its lag
	// data is that old, and the verdict is the one of the instant it
	// became stale. Nil for a fresh cluster.
	Stale *Freshness
}

// EvaluateGroup evaluates every partition of g at time now and aggregates
// them the way Burrow does. A group without any observation is NOTFOUND.
func EvaluateGroup(g GroupWindow, r Rules, now time.Time) GroupResult {
	res := GroupResult{Cluster: g.Cluster, Group: g.Group, Status: NotFound, Complete: 1}
	for _, w := range g.Partitions {
		if len(w.Obs) > 0 {
			res.Partitions = append(res.Partitions, EvaluatePartition(w, r, now))
		}
	}
	res.PartitionCount = len(res.Partitions)
	if res.PartitionCount == 0 {
		return res
	}
	slices.SortStableFunc(res.Partitions, func(a, b PartitionResult) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	res.Status = OK
	complete := 0
	maxIdx := 0
	for i, p := range res.Partitions {
		res.Status = max(res.Status, p.Status.Group())
		if p.Complete == 1 {
			complete++
		}
		res.TotalLag += p.CurrentLag
		if p.CurrentLag > res.Partitions[maxIdx].CurrentLag {
			maxIdx = i
		}
		if p.HasConsumeRate {
			res.ConsumeRate += p.ConsumeRate
		}
		if p.HasProduceRate {
			res.ProduceRate += p.ProduceRate
		}
	}
	res.TimeLag = groupTimeLag(res.Partitions)
	res.Complete = float64(complete) / float64(res.PartitionCount)
	res.MaxLag = &res.Partitions[maxIdx]
	return res
}

// NonOK returns the partitions whose status is worse than OK, in order: the
// ones Burrow lists by default.
func (g GroupResult) NonOK() []PartitionResult {
	var out []PartitionResult
	for _, p := range g.Partitions {
		if p.Status > OK {
			out = append(out, p)
		}
	}
	return out
}
