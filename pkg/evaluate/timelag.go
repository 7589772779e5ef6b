package evaluate

import (
	"math"
	"time"
)

// TimeLag is how far behind the head of the log a consumer is, in time: the
// age, at the newest observation, of the oldest message it has not consumed.
type TimeLag struct {
	// Duration is never negative.
	Duration time.Duration
	// Known is false when the newest observation has no lag (no commit or
	// no log-end offset): there is nothing to measure. A readable lag of 0
	// is a known 0.
	Known bool
	// LowerBound is true when the oldest unconsumed message is older than
	// the window: Duration is then the window's span and the consumer is at
	// least that far behind.
	LowerBound bool
}

// CatchUp estimates how long the consumer needs to reach lag 0 if the
// consume and produce rates of the window hold.
type CatchUp struct {
	// Duration is 0 when the lag already is 0.
	Duration time.Duration
	// Known is false when there is no lag to catch up on (no commit) or,
	// with lag, when either rate is unknown.
	Known bool
	// Never is true when there is lag and the consumer does not gain on the
	// producer (consume rate <= produce rate), or would need longer than a
	// time.Duration can hold (about 292 years). Duration is then 0.
	Never bool
}

// timeLag computes the time lag at the newest observation of obs (not
// empty). Let C be its committed offset, the next offset the group will
// read, and (Time, LogEnd) the window's series of log-end offsets.
//
//   - C >= the newest LogEnd, or a readable lag of 0: 0. The consumer is
//     caught up; an idle topic whose consumer read everything is 0 however
//     old its last message is. What lies between C and the log end is then
//     nothing a consumer receives (a transaction's commit marker, aborted
//     records, a transaction still open): its age is no consumer's delay.
//   - Otherwise the message at offset C was appended when the log end first
//     went above C, i.e. reached C+1. That moment t* lies between the last
//     observation with LogEnd <= C and the next one, where it is linearly
//     interpolated; the time lag is newest.Time - t*. The backward search
//     tolerates a log end that shrank (truncation) earlier in the window.
//   - Every LogEnd in the window is above C (the head passed C before the
//     window began): nothing is extrapolated; the result is the span from
//     the first observation with a LogEnd to the newest, flagged LowerBound.
//
// A consumer steadily D behind a steady producer of R messages per second
// comes out at D - 1/R: interpolation is exact on a linear log end, and the
// C+1 convention costs one message.
func timeLag(obs []Observation) TimeLag {
	last := obs[len(obs)-1]
	if !last.HasLag || !last.HasCommitted || !last.HasLogEnd {
		return TimeLag{}
	}
	c := last.Committed
	if c >= last.LogEnd || last.Lag == 0 {
		return TimeLag{Known: true}
	}
	below := -1 // the last observation whose log end is at or below c
	for i := len(obs) - 1; i >= 0; i-- {
		if obs[i].HasLogEnd && obs[i].LogEnd <= c {
			below = i
			break
		}
	}
	if below < 0 {
		first := last
		for _, o := range obs {
			if o.HasLogEnd {
				first = o
				break
			}
		}
		return TimeLag{Duration: nonNegative(last.Time.Sub(first.Time)), Known: true, LowerBound: true}
	}
	a := obs[below]
	b := last // every observation after a with a log end has one above c
	for _, o := range obs[below+1:] {
		if o.HasLogEnd {
			b = o
			break
		}
	}
	frac := float64(c+1-a.LogEnd) / float64(b.LogEnd-a.LogEnd)
	produced := a.Time.Add(time.Duration(frac * float64(b.Time.Sub(a.Time))))
	return TimeLag{Duration: nonNegative(last.Time.Sub(produced)), Known: true}
}

func nonNegative(d time.Duration) time.Duration { return max(d, 0) }

// committedOf and logEndOf pick one offset series out of an observation.
func committedOf(o Observation) (int64, bool) { return o.Committed, o.HasCommitted }
func logEndOf(o Observation) (int64, bool)    { return o.LogEnd, o.HasLogEnd }

// rate returns the change per second of the series value picks out, from
// the first observation that has a value to the last. ok is false with fewer
// than two such observations or when they share one time.
func rate(obs []Observation, value func(Observation) (int64, bool)) (perSecond float64, ok bool) {
	first, last := -1, -1
	for i, o := range obs {
		if _, has := value(o); has {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || first == last {
		return 0, false
	}
	span := obs[last].Time.Sub(obs[first].Time)
	if span <= 0 {
		return 0, false
	}
	v0, _ := value(obs[first])
	v1, _ := value(obs[last])
	return float64(v1-v0) / span.Seconds(), true
}

// catchUp estimates the time to lag 0 from p's lag and rates.
func catchUp(p PartitionResult) CatchUp {
	switch {
	case !p.HasLag:
		return CatchUp{}
	case p.CurrentLag == 0:
		return CatchUp{Known: true}
	case !p.HasConsumeRate || !p.HasProduceRate:
		return CatchUp{}
	}
	gain := p.ConsumeRate - p.ProduceRate // messages per second
	if gain <= 0 {
		return CatchUp{Known: true, Never: true}
	}
	secs := float64(p.CurrentLag) / gain
	if secs >= math.MaxInt64/float64(time.Second) {
		return CatchUp{Known: true, Never: true}
	}
	return CatchUp{Duration: time.Duration(secs * float64(time.Second)), Known: true}
}

// HeadQuery asks the history before a window when a partition's log end
// passed a committed offset: for a partition whose window time lag is only a
// lower bound, because every log end in the window is already above it.
type HeadQuery struct {
	Topic     string
	Partition int32
	// Committed is the group's committed offset at the window's newest
	// observation.
	Committed int64
	// Before is the window's first observation: only what came before it
	// is asked about.
	Before time.Time
}

// HeadPoint is one observation of a partition's log-end offset.
type HeadPoint struct {
	Time   time.Time
	LogEnd int64
}

// HeadPassage is what the history before the window holds about a
// HeadQuery, from the documents of every group reading the partition:
// Below is the newest observation with a log end at or below Committed,
// Above the oldest with one above it; nil when there is none.
type HeadPassage struct{ Below, Above *HeadPoint }

// HeadQueries are the questions the history can answer about r: one per
// partition whose time lag the window can only bound.
func HeadQueries(r GroupResult) []HeadQuery {
	var qs []HeadQuery
	for _, p := range r.Partitions {
		if p.TimeLag.Known && p.TimeLag.LowerBound {
			qs = append(qs, HeadQuery{Topic: p.Topic, Partition: p.Partition, Committed: p.End.Committed, Before: p.Start.Time})
		}
	}
	return qs
}

// ApplyHeadHistory sets the time lag of the partitions HeadQueries(*r)
// named from what the history answered, hs[i] for the i-th query, and the
// group's time lag from its partitions'. Per partition, with C the
// committed offset and the time lag measured, as in the window, to its
// newest observation:
//
//   - Below and Above, Above the later: the message at C was appended when
//     the log end reached C+1, interpolated between them. Exact.
//   - Below alone, or an Above older than Below (the log end shrank, as
//     when a topic is recreated): the passage lies between Below and the
//     window's first observation, which is above C; interpolated there.
//   - Above alone: even the oldest stored observation is past C. A lower
//     bound, from that observation, as far back as retention keeps.
//   - Neither: the window's lower bound stands.
func (r *GroupResult) ApplyHeadHistory(hs []HeadPassage) {
	i := 0
	for k := range r.Partitions {
		p := &r.Partitions[k]
		if !p.TimeLag.Known || !p.TimeLag.LowerBound {
			continue
		}
		if i >= len(hs) {
			break
		}
		h := hs[i]
		i++
		c, newest := p.End.Committed, p.End.Time
		switch {
		case h.Below != nil:
			above := HeadPoint{Time: p.Start.Time, LogEnd: p.Start.LogEnd}
			if h.Above != nil && h.Above.Time.After(h.Below.Time) {
				above = *h.Above
			}
			if above.LogEnd <= h.Below.LogEnd || !above.Time.After(h.Below.Time) {
				continue // nothing to interpolate on: the window's bound stands
			}
			frac := float64(c+1-h.Below.LogEnd) / float64(above.LogEnd-h.Below.LogEnd)
			produced := h.Below.Time.Add(time.Duration(frac * float64(above.Time.Sub(h.Below.Time))))
			p.TimeLag = TimeLag{Duration: nonNegative(newest.Sub(produced)), Known: true}
		case h.Above != nil:
			p.TimeLag = TimeLag{Duration: nonNegative(newest.Sub(h.Above.Time)), Known: true, LowerBound: true}
		}
	}
	r.TimeLag = groupTimeLag(r.Partitions)
}

// groupTimeLag is the greatest known partition time lag, a lower bound when
// any partition's is.
func groupTimeLag(ps []PartitionResult) TimeLag {
	var t TimeLag
	for _, p := range ps {
		if p.TimeLag.Known {
			t.Known = true
			t.Duration = max(t.Duration, p.TimeLag.Duration)
			t.LowerBound = t.LowerBound || p.TimeLag.LowerBound
		}
	}
	return t
}
