package evaluate

import (
	"slices"
	"time"
)

// The monitor watches itself: a cluster whose collector stopped writing, or
// writes ticks that read nothing, is stale. Its groups would otherwise keep
// the verdicts of their last ticks with nothing saying how old those are,
// and go NOTFOUND once the window's maximum age passes, which opens no
// incident: the monitor would go blind in silence. A stale cluster's groups
// keep the verdicts they had when the cluster became stale, marked stale;
// their time lags keep growing with the clock, as lower bounds; and the
// cluster gets one incident of its own (internal/notify).

// CollectorTick is one collector tick of a cluster, as its collector
// document records it.
type CollectorTick struct {
	Time time.Time
	// Read is true when the tick read lag data: its result is not an error
	// and, when it had partitions to read, not every one of them failed. A
	// tick of a cluster without groups reads (nothing to read is no fault).
	Read bool
	// Err says why a tick that did not read failed: the tick's error, or
	// "" when it did not say.
	Err string
}

// TickHistory is what the history holds of one cluster's collector ticks
// before an instant.
type TickHistory struct {
	// Recent are the cluster's newest ticks, newest first, a dozen or so:
	// the collector's schedule as the history shows it, and how its latest
	// ticks went.
	Recent []CollectorTick
	// LastRead is the time of the newest tick that read, also when it is
	// older than every tick of Recent; zero when none did within the
	// history searched.
	LastRead time.Time
}

// StaleIntervals is how many collector intervals the newest tick that read
// may age before its cluster is stale, when StaleRules.After is not set.
const StaleIntervals = 5

// StaleRules say when a cluster's silence makes it stale.
type StaleRules struct {
	// After is how old a cluster's newest tick that read may be before the
	// cluster is stale; 0 means StaleIntervals collector intervals, the
	// interval being the one the history shows (TickInterval).
	After time.Duration
	// MaxAge is the window's maximum age (0: none). A cluster is stale
	// at the latest when its newest tick is that old, whatever After and
	// the interval say, and also when the interval cannot be told: past
	// it, every window of the cluster would be empty and its groups
	// NOTFOUND.
	MaxAge time.Duration
}

// Freshness is how fresh one cluster's lag data is at an instant.
type Freshness struct {
	// NewestTick is the cluster's newest tick that read (TickHistory's
	// LastRead): the age of the lag data. Zero when none did.
	NewestTick time.Time
	// LastTick is the cluster's newest tick of any kind; zero when the
	// history holds none.
	LastTick time.Time
	// Interval is the collector's interval as the history shows it
	// (TickInterval); 0 when fewer than two ticks tell.
	Interval time.Duration
	// After is the age at which the cluster is stale (StaleRules).
	After time.Duration
	// Stale is true when the newest tick that read is After old or older,
	// or when no tick read and the ticks that did not have gone on for
	// After. StaleAt is the instant the cluster became stale: its groups'
	// verdicts are those of that instant. Reason says why, in a line.
	Stale   bool
	StaleAt time.Time
	Reason  string
}

// Age is how old the cluster's lag data is at at; 0 when no tick read.
func (f Freshness) Age(at time.Time) time.Duration {
	if f.NewestTick.IsZero() {
		return 0
	}
	return nonNegative(at.Sub(f.NewestTick))
}

// JudgeFreshness says whether the cluster whose ticks h holds is stale at
// at. The rules, each a predicate below:
//
//   - never ticked: a cluster without any tick in the history is not
//     stale: there is nothing it should be saying.
//   - silentTooLong: the newest tick that read is After old or older
//     (staleAfter), or, when no tick read, the oldest tick known is: stale.
//     Before that, the cluster is fresh, whatever its latest ticks say
//     (one failed tick is the collector's own business).
//
// Why, when stale: "no collector tick since T" when the collector is
// silent too (its newest tick is After old), with the error of the ticks
// that read nothing before, if any; otherwise "collector ticks but reads
// nothing: <error of the newest tick>".
func JudgeFreshness(h TickHistory, at time.Time, r StaleRules) Freshness {
	f := Freshness{NewestTick: h.LastRead, Interval: TickInterval(h.Recent)}
	if len(h.Recent) > 0 {
		f.LastTick = h.Recent[0].Time
	}
	if f.NewestTick.After(f.LastTick) {
		f.LastTick = f.NewestTick
	}
	f.After = staleAfter(f.Interval, r)
	if neverTicked(f) || f.After <= 0 {
		return f
	}
	since := silenceStart(f, h)
	if !silentTooLong(since, at, f.After) {
		return f
	}
	f.Stale, f.StaleAt = true, since.Add(f.After)
	f.Reason = staleReason(f, h, at)
	return f
}

// neverTicked: the history holds no tick of the cluster at all.
func neverTicked(f Freshness) bool { return f.LastTick.IsZero() }

// silenceStart is when the cluster's lag data stopped: its newest tick
// that read or, when none did, the oldest tick known (every one of which
// read nothing), the latest the silence can have begun.
func silenceStart(f Freshness, h TickHistory) time.Time {
	if !f.NewestTick.IsZero() {
		return f.NewestTick
	}
	return h.Recent[len(h.Recent)-1].Time
}

// silentTooLong: the silence that began at since has lasted after at at.
func silentTooLong(since, at time.Time, after time.Duration) bool {
	return at.Sub(since) >= after
}

// staleAfter is the age at which a cluster is stale: r.After, or
// StaleIntervals intervals, or r.MaxAge when the interval is unknown;
// never more than r.MaxAge.
func staleAfter(interval time.Duration, r StaleRules) time.Duration {
	after := r.After
	switch {
	case after > 0:
	case interval > 0:
		after = StaleIntervals * interval
	default:
		after = r.MaxAge
	}
	if r.MaxAge > 0 {
		after = min(after, r.MaxAge)
	}
	return after
}

// staleReason says, in a line, why a stale cluster is stale.
func staleReason(f Freshness, h TickHistory, at time.Time) string {
	failed := failedSince(h, f.NewestTick)
	if at.Sub(f.LastTick) >= f.After {
		reason := "no collector tick since " + f.LastTick.UTC().Format(time.RFC3339)
		if failed != nil {
			reason += "; the ticks before it read nothing" + errSuffix(failed.Err)
		}
		return reason
	}
	if failed == nil {
		return "collector ticks but reads nothing"
	}
	return "collector ticks but reads nothing" + errSuffix(failed.Err)
}

// failedSince is the newest tick after since that read nothing, nil when
// there is none.
func failedSince(h TickHistory, since time.Time) *CollectorTick {
	for i := range h.Recent {
		if t := &h.Recent[i]; !t.Read && t.Time.After(since) {
			return t
		}
	}
	return nil
}

func errSuffix(err string) string {
	if err == "" {
		return ""
	}
	return ": " + err
}

// TickInterval is the collector's interval as ticks shows it (newest
// first, any order will do): the median of the gaps between consecutive
// distinct tick times, the lower of the two middle ones for an even count,
// so that one long gap (the collector down for a while) does not stretch
// it. 0 with fewer than two distinct times.
func TickInterval(ticks []CollectorTick) time.Duration {
	times := make([]time.Time, 0, len(ticks))
	for _, t := range ticks {
		times = append(times, t.Time)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	times = slices.CompactFunc(times, time.Time.Equal)
	if len(times) < 2 {
		return 0
	}
	gaps := make([]time.Duration, 0, len(times)-1)
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	slices.Sort(gaps)
	return gaps[(len(gaps)-1)/2]
}

// StaleWindow is the instant and maximum age of the window a stale
// cluster's groups are judged on: the window the evaluation at the newest
// tick that read saw, which ends there (nothing came after it) and reaches
// back maxAge from it. Not the window an evaluation at f.StaleAt would have
// read, which the silence shortens by StaleAt - NewestTick: with a short
// maximum age that can leave a single observation, too few to tell a stall
// from a pause, and a stalled consumer would turn OK because the collector
// went silent.
func (f Freshness) StaleWindow(maxAge time.Duration) (at time.Time, age time.Duration) {
	return f.NewestTick, maxAge
}

// MarkStale makes r a result of a group of the stale cluster f, at the
// instant at: r keeps its verdict (the caller evaluated it at f.StaleAt,
// on f.StaleWindow's window), and the time lag of each partition that had
// lag grows by the time since its newest observation: the consumer is at
// least as far behind as it was then, plus the silence, unless it consumed
// meanwhile, which nobody saw. Those time lags are lower bounds. A
// partition caught up at its newest observation stays at 0, the least it
// can be. The group's time lag follows its partitions'.
func (r *GroupResult) MarkStale(f Freshness, at time.Time) {
	r.Stale = &f
	for i := range r.Partitions {
		p := &r.Partitions[i]
		if !p.TimeLag.Known || !p.HasLag || p.CurrentLag == 0 {
			continue
		}
		p.TimeLag.Duration += nonNegative(at.Sub(p.End.Time))
		p.TimeLag.LowerBound = true
	}
	if len(r.Partitions) > 0 {
		r.TimeLag = groupTimeLag(r.Partitions)
	}
}
