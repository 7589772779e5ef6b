package evaluate

import (
	"testing"
	"time"
)

// ticksEvery are n collector ticks every interval ending at newest, newest
// first, each one reading unless failing says otherwise (failing[i] for
// the i-th newest: its error).
func ticksEvery(newest time.Time, interval time.Duration, n int, failing map[int]string) []CollectorTick {
	out := make([]CollectorTick, n)
	for i := range out {
		err, failed := failing[i]
		out[i] = CollectorTick{Time: newest.Add(-time.Duration(i) * interval), Read: !failed, Err: err}
	}
	return out
}

// lastRead is the newest tick of ticks that read; zero when none.
func lastRead(ticks []CollectorTick) time.Time {
	for _, t := range ticks {
		if t.Read {
			return t.Time
		}
	}
	return time.Time{}
}

// TestJudgeFreshness is the proof of the stale decision: each case one
// rule or edge of JudgeFreshness.
func TestJudgeFreshness(t *testing.T) {
	last := t0.Add(time.Hour) // the newest tick of most cases
	every30s := ticksEvery(last, 30*time.Second, 11, nil)
	failing := ticksEvery(last, 30*time.Second, 11, map[int]string{0: "dial tcp 127.0.0.1:1: connection refused",
		1: "dial tcp 127.0.0.1:1: connection refused", 2: "dial tcp 127.0.0.1:1: connection refused",
		3: "dial", 4: "dial", 5: "dial", 6: "dial"})
	allFailing := ticksEvery(last, 30*time.Second, 11, map[int]string{0: "no broker answered", 1: "x", 2: "x", 3: "x",
		4: "x", 5: "x", 6: "x", 7: "x", 8: "x", 9: "x", 10: "x"})
	oneTick := []CollectorTick{{Time: last, Read: true}}
	hour := time.Hour
	cases := []struct {
		name, reason string
		recent       []CollectorTick
		lastRead     *time.Time // nil: the newest tick of recent that read
		at           time.Time
		rules        StaleRules
		wantStale    bool
		wantAfter    time.Duration
		wantStaleAt  time.Time
		wantReason   string
	}{
		{name: "no tick at all", reason: "a cluster the history holds no tick of has nothing to say: not stale",
			at: last, rules: StaleRules{MaxAge: hour}, wantAfter: hour},
		{name: "fresh", reason: "the newest tick is one interval old: fresh",
			recent: every30s, at: last.Add(30 * time.Second), rules: StaleRules{MaxAge: hour}, wantAfter: 150 * time.Second},
		{name: "just before five intervals", reason: "still fresh a moment before five intervals of silence",
			recent: every30s, at: last.Add(150*time.Second - time.Millisecond), rules: StaleRules{MaxAge: hour}, wantAfter: 150 * time.Second},
		{name: "five intervals", reason: "five intervals of silence make it stale, at exactly that age",
			recent: every30s, at: last.Add(150 * time.Second), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(150 * time.Second),
			wantReason: "no collector tick since " + last.Format(time.RFC3339)},
		{name: "twenty minutes of silence", reason: "stays stale, and StaleAt stays the instant it became so",
			recent: every30s, at: last.Add(20 * time.Minute), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(150 * time.Second),
			wantReason: "no collector tick since " + last.Format(time.RFC3339)},
		{name: "past the window's max age", reason: "stale, never NOTFOUND: the silence outlasted EVALUATOR_MAX_AGE",
			recent: every30s, at: last.Add(3 * hour), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(150 * time.Second),
			wantReason: "no collector tick since " + last.Format(time.RFC3339)},
		{name: "setting overrides the intervals", reason: "EVALUATOR_STALE_AFTER of 10m: not stale after 5m",
			recent: every30s, at: last.Add(5 * time.Minute), rules: StaleRules{After: 10 * time.Minute, MaxAge: hour},
			wantAfter: 10 * time.Minute},
		{name: "setting reached", reason: "EVALUATOR_STALE_AFTER of 10m: stale at 10m",
			recent: every30s, at: last.Add(10 * time.Minute), rules: StaleRules{After: 10 * time.Minute, MaxAge: hour},
			wantStale: true, wantAfter: 10 * time.Minute, wantStaleAt: last.Add(10 * time.Minute),
			wantReason: "no collector tick since " + last.Format(time.RFC3339)},
		{name: "slow schedule capped by max age", reason: "five 20-minute intervals exceed the 1h max age: stale at 1h, before the window empties",
			recent: ticksEvery(last, 20*time.Minute, 5, nil), at: last.Add(hour), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: hour, wantStaleAt: last.Add(hour),
			wantReason: "no collector tick since " + last.Format(time.RFC3339)},
		{name: "one tick only", reason: "no interval to tell: stale once the max age is reached",
			recent: oneTick, at: last.Add(59 * time.Minute), rules: StaleRules{MaxAge: hour}, wantAfter: hour},
		{name: "one tick, max age reached", reason: "no interval to tell, but the window would now be empty: stale",
			recent: oneTick, at: last.Add(hour), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: hour, wantStaleAt: last.Add(hour),
			wantReason: "no collector tick since " + last.Format(time.RFC3339)},
		{name: "a few failed ticks", reason: "the newest three ticks failed, 90s: fresh still (one failure is the collector's business)",
			recent: ticksEvery(last, 30*time.Second, 11, map[int]string{0: "x", 1: "x", 2: "x"}), at: last,
			rules: StaleRules{MaxAge: hour}, wantAfter: 150 * time.Second},
		{name: "ticks but reads nothing", reason: "seven failed ticks after the last read: stale, with the newest tick's error",
			recent: failing, at: last.Add(time.Second), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(-210 * time.Second).Add(150 * time.Second),
			wantReason: "collector ticks but reads nothing: dial tcp 127.0.0.1:1: connection refused"},
		{name: "read long ago, failing since", reason: "the last read is older than the recent ticks (found apart): stale since it",
			recent: allFailing, lastRead: ptrTime(last.Add(-time.Hour)), at: last, rules: StaleRules{MaxAge: 2 * hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(-time.Hour).Add(150 * time.Second),
			wantReason: "collector ticks but reads nothing: no broker answered"},
		{name: "never read", reason: "every tick known failed: stale from the oldest of them",
			recent: allFailing, lastRead: ptrTime(time.Time{}), at: last, rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(-300 * time.Second).Add(150 * time.Second),
			wantReason: "collector ticks but reads nothing: no broker answered"},
		{name: "failed, then silent", reason: "the collector failed, then stopped: its silence is the reason, the failure beside it",
			recent: failing, at: last.Add(10 * time.Minute), rules: StaleRules{MaxAge: hour},
			wantStale: true, wantAfter: 150 * time.Second, wantStaleAt: last.Add(-210 * time.Second).Add(150 * time.Second),
			wantReason: "no collector tick since " + last.Format(time.RFC3339) +
				"; the ticks before it read nothing: dial tcp 127.0.0.1:1: connection refused"},
		{name: "failing without a word", reason: "failed ticks that carry no error still say what they do",
			recent: ticksEvery(last, 30*time.Second, 11, map[int]string{0: "", 1: "", 2: "", 3: "", 4: "", 5: ""}), at: last,
			rules: StaleRules{MaxAge: hour}, wantStale: true, wantAfter: 150 * time.Second,
			wantStaleAt: last.Add(-180 * time.Second).Add(150 * time.Second), wantReason: "collector ticks but reads nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := TickHistory{Recent: tc.recent, LastRead: lastRead(tc.recent)}
			if tc.lastRead != nil {
				h.LastRead = *tc.lastRead
			}
			f := JudgeFreshness(h, tc.at, tc.rules)
			if f.Stale != tc.wantStale || f.After != tc.wantAfter || !f.StaleAt.Equal(tc.wantStaleAt) || f.Reason != tc.wantReason {
				t.Errorf("%s:\ngot  stale %v after %v at %v reason %q\nwant stale %v after %v at %v reason %q", tc.reason,
					f.Stale, f.After, f.StaleAt, f.Reason, tc.wantStale, tc.wantAfter, tc.wantStaleAt, tc.wantReason)
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestTickInterval(t *testing.T) {
	at := func(secs ...int) []CollectorTick {
		var out []CollectorTick
		for _, s := range secs {
			out = append(out, CollectorTick{Time: t0.Add(time.Duration(s) * time.Second)})
		}
		return out
	}
	cases := []struct {
		name, reason string
		ticks        []CollectorTick
		want         time.Duration
	}{
		{"none", "no tick: unknown", nil, 0},
		{"one", "one tick: no gap, unknown", at(0), 0},
		{"two", "two ticks: their gap", at(30, 0), 30 * time.Second},
		{"regular", "a steady schedule: its interval", at(120, 90, 60, 30, 0), 30 * time.Second},
		{"one long gap", "the collector was down once: the median ignores it", at(1000, 970, 940, 910, 100, 70, 40), 30 * time.Second},
		{"duplicates", "two aligned collectors write the same times: counted once", at(60, 60, 30, 30, 0, 0), 30 * time.Second},
		{"unordered", "any order will do", at(0, 60, 30, 90), 30 * time.Second},
		{"even count", "the lower of the two middle gaps", at(0, 10, 30, 60, 100), 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := TickInterval(tc.ticks); got != tc.want {
				t.Errorf("%s: got %v, want %v", tc.reason, got, tc.want)
			}
		})
	}
}

// TestMarkStale: a stale cluster's group keeps its verdict; a partition
// that had lag is further behind by the silence (a lower bound), one caught
// up stays at 0.
func TestMarkStale(t *testing.T) {
	stop := gone(repeat(100, 10), ramp(150, 10, 10)) // STOP, time lag a lower bound already
	warn := live(ramp(0, 10, 10), ramp(80, 20, 10))  // WARN, interpolated time lag
	g := GroupWindow{Cluster: "c", Group: "g", Partitions: []PartitionWindow{part("t", 0, okWindow), part("t", 1, warn), part("t", 2, stop)}}
	newest := okWindow[len(okWindow)-1].Time
	f := Freshness{NewestTick: newest, Stale: true, After: 5 * tick, StaleAt: newest.Add(5 * tick), Reason: "no collector tick since then"}
	r := EvaluateGroup(g, Rules{}, f.StaleAt)
	before := r
	before.Partitions = append([]PartitionResult(nil), r.Partitions...)
	at := newest.Add(20 * time.Minute)
	r.MarkStale(f, at)

	if r.Stale == nil || !r.Stale.Stale || r.Status != before.Status {
		t.Fatalf("stale %+v, status %v: want marked stale, status %v kept", r.Stale, r.Status, before.Status)
	}
	cases := []struct {
		name, reason string
		i            int
		want         TimeLag
	}{
		{"caught up", "lag 0 at the newest tick: 0 is still the least it can be", 0, TimeLag{Known: true}},
		{"behind", "had lag: its time lag plus the 20 minutes since, a lower bound", 1,
			TimeLag{Duration: before.Partitions[1].TimeLag.Duration + 20*time.Minute, Known: true, LowerBound: true}},
		{"already a lower bound", "grows the same way and stays a lower bound", 2,
			TimeLag{Duration: before.Partitions[2].TimeLag.Duration + 20*time.Minute, Known: true, LowerBound: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Partitions[tc.i].TimeLag; got != tc.want {
				t.Errorf("%s: got %+v, want %+v", tc.reason, got, tc.want)
			}
		})
	}
	want := max(r.Partitions[1].TimeLag.Duration, r.Partitions[2].TimeLag.Duration)
	if r.TimeLag != (TimeLag{Duration: want, Known: true, LowerBound: true}) {
		t.Errorf("group time lag %+v, want the partitions' greatest (%v), a lower bound", r.TimeLag, want)
	}
}

func TestStaleWindow(t *testing.T) {
	newest := t0.Add(time.Hour)
	cases := []struct {
		name, reason string
		after        time.Duration
		maxAge       time.Duration
		wantAge      time.Duration
	}{
		{"five intervals", "the window of the newest tick: the max age back from it, however long the silence", 150 * time.Second, time.Hour, time.Hour},
		{"at the max age", "stale exactly at the max age: still the newest tick's whole window, not what is left of it", time.Hour, time.Hour, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := Freshness{NewestTick: newest, Stale: true, After: tc.after, StaleAt: newest.Add(tc.after)}
			at, age := f.StaleWindow(tc.maxAge)
			if !at.Equal(newest) || age != tc.wantAge {
				t.Errorf("%s: got %v back %v, want %v back %v", tc.reason, at, age, newest, tc.wantAge)
			}
		})
	}
}
