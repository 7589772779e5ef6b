package evaluate

import (
	"testing"
	"time"
)

func TestTimeLag(t *testing.T) {
	cases := []struct {
		name, reason string
		obs          []Observation
		want         TimeLag
	}{
		{
			name:   "caught up",
			reason: "committed == newest log end: 0",
			obs:    live(ints(100, 164, 228), ints(100, 164, 228)),
			want:   TimeLag{Known: true},
		},
		{
			name:   "idle topic",
			reason: "nothing produced for the whole window, consumer read it all: 0, however old the last message",
			obs:    gone(repeat(500, 10), repeat(500, 10)),
			want:   TimeLag{Known: true},
		},
		{
			name:   "committed above a stale log-end read",
			reason: "the lag was clamped to 0: caught up, never negative",
			obs:    live(ints(100, 130), ints(100, 120)),
			want:   TimeLag{Known: true},
		},
		{
			name: "interpolation, hand computed",
			reason: "C=131; log end 100@0s, 164@30s: it reached C+1=132 at 0 + (132-100)/(164-100)*30s = 15s; " +
				"newest at 60s: 45s",
			obs:  live(ints(90, 120, 131), ints(100, 164, 228)),
			want: TimeLag{Duration: 45 * time.Second, Known: true},
		},
		{
			name:   "committed equal to an observed log end",
			reason: "log end 100@0s, 200@30s, C=100: message 100 appeared when the log end reached 101, at 0.3s; newest at 30s: 29.7s",
			obs:    live(ints(100, 100), ints(100, 200)),
			want:   TimeLag{Duration: 29700 * time.Millisecond, Known: true},
		},
		{
			name:   "one message behind on the newest tick",
			reason: "log end 100@0s, 200@30s, C=199: the last message arrived at 30s by interpolation: 0",
			obs:    live(ints(100, 199), ints(100, 200)),
			want:   TimeLag{Known: true},
		},
		{
			name:   "head passed C before the window: lower bound",
			reason: "every log end (1000, 1100, 1200) is above C=900: no extrapolation, window span 60s flagged as a lower bound",
			obs:    live(ints(900, 900, 900), ints(1000, 1100, 1200)),
			want:   TimeLag{Duration: 60 * time.Second, Known: true, LowerBound: true},
		},
		{
			name:   "lower bound starts at the first readable log end",
			reason: "the first observation has no log end: span 30s from the second",
			obs: with(live(ints(900, 900, 900), ints(1000, 1100, 1200)), 0, func(o *Observation) {
				o.HasLogEnd, o.HasLag = false, false
			}),
			want: TimeLag{Duration: 30 * time.Second, Known: true, LowerBound: true},
		},
		{
			name:   "unreadable log end between the bracketing observations",
			reason: "the middle observation is skipped: 100@0s, 164@60s, C=131 reached C+1 at 30s; newest at 60s: 30s",
			obs: with(live(ints(90, 120, 131), ints(100, 140, 164)), 1, func(o *Observation) {
				o.HasLogEnd, o.HasLag = false, false
			}),
			want: TimeLag{Duration: 30 * time.Second, Known: true},
		},
		{
			name:   "log end shrank earlier in the window",
			reason: "search backwards: 500@0s is ignored; 100@30s, 132@60s, C=115 reached 116 at 45s: 15s",
			obs:    live(ints(90, 100, 115), ints(500, 100, 132)),
			want:   TimeLag{Duration: 15 * time.Second, Known: true},
		},
		{
			name:   "a commit marker after the last record read",
			reason: "log end 100@0s, 221@30s and 60s, C=220, readable lag 0: caught up, not the 30s-old marker's age",
			obs:    readable(gone(ints(100, 220, 220), ints(100, 221, 221)), 0, 1, 1),
			want:   TimeLag{Known: true},
		},
		{
			name:   "a marker in a lag that is readable too",
			reason: "C=131 as in the hand-computed case, one offset of the lag a marker: the readable records are as old, 45s",
			obs:    readable(live(ints(90, 120, 131), ints(100, 164, 228)), 0, 0, 1),
			want:   TimeLag{Duration: 45 * time.Second, Known: true},
		},
		{
			name:   "never committed",
			reason: "no C: unknown",
			obs: with(live(ints(0, 0), ints(10, 20)), 1, func(o *Observation) {
				o.HasCommitted, o.HasLag = false, false
			}),
			want: TimeLag{},
		},
		{
			name:   "newest log end unreadable",
			reason: "no current lag: unknown",
			obs: with(live(ints(0, 5), ints(10, 20)), 1, func(o *Observation) {
				o.HasLogEnd, o.HasLag = false, false
			}),
			want: TimeLag{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := EvaluatePartition(PartitionWindow{Obs: tc.obs}, Rules{}, after(tc.obs)).TimeLag
			if got != tc.want {
				t.Errorf("TimeLag = %+v, want %+v: %s", got, tc.want, tc.reason)
			}
		})
	}
}

// TestTimeLagSteadilyBehind generates a steady producer and a consumer that
// commits every few seconds the offset the head had D earlier, polls it at an
// irregular interval, and checks that the time lag comes out within one poll
// interval of D (or as a lower bound when D exceeds the window).
func TestTimeLagSteadilyBehind(t *testing.T) {
	const (
		rate         = 7.0 // messages per second
		commitEvery  = 5 * time.Second
		windowLength = 10
	)
	// jitter moves each poll off its nominal time, as a late tick would.
	jitter := []time.Duration{0, 2 * time.Second, -3 * time.Second, time.Second, 0, 4 * time.Second, -time.Second, 3 * time.Second, -2 * time.Second, 0}
	logEnd := func(at time.Duration) int64 { return 1_000_000 + int64(rate*at.Seconds()) }
	cases := []struct {
		name     string
		reason   string
		behind   time.Duration
		interval time.Duration
		lower    bool
	}{
		{"zero", "a consumer at the head (committing every 5s) is at most 5s behind", 0, 30 * time.Second, false},
		{"less than one interval", "interpolation inside the newest interval", 12 * time.Second, 30 * time.Second, false},
		{"several intervals", "interpolation further back in the window", 95 * time.Second, 30 * time.Second, false},
		{"most of the window", "close to the window's start", 230 * time.Second, 30 * time.Second, false},
		{"short interval", "interval 10s, 47s behind", 47 * time.Second, 10 * time.Second, false},
		{"beyond the window", "400s behind a 270s window: lower bound, not extrapolated", 400 * time.Second, 30 * time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Hour // leave room for a consumer far behind
			obs := make([]Observation, windowLength)
			for i := range obs {
				at := start + time.Duration(i)*tc.interval + jitter[i]*tc.interval/(30*time.Second)
				// The consumer committed at the last commit tick what the head had D before it.
				committedAt := at.Truncate(commitEvery)
				c := logEnd(committedAt - tc.behind)
				e := logEnd(at)
				obs[i] = Observation{
					Time:      t0.Add(at),
					Committed: c, HasCommitted: true,
					LogEnd: e, HasLogEnd: true,
					Lag: e - c, HasLag: true,
					GroupState: "Stable", Owner: "member-1",
				}
			}
			got := EvaluatePartition(PartitionWindow{Obs: obs}, Rules{}, after(obs)).TimeLag
			if !got.Known || got.LowerBound != tc.lower {
				t.Fatalf("TimeLag = %+v, want known, lower bound %v (%s)", got, tc.lower, tc.reason)
			}
			if tc.lower {
				span := obs[len(obs)-1].Time.Sub(obs[0].Time)
				if got.Duration != span {
					t.Errorf("lower bound = %v, want the window span %v (%s)", got.Duration, span, tc.reason)
				}
				return
			}
			t.Logf("behind %v: time lag %v", tc.behind, got.Duration)
			if diff := (got.Duration - tc.behind).Abs(); diff > tc.interval {
				t.Errorf("TimeLag = %v, want within %v of %v (%s)", got.Duration, tc.interval, tc.behind, tc.reason)
			}
		})
	}
}

func TestRatesAndCatchUp(t *testing.T) {
	cases := []struct {
		name       string
		reason     string
		obs        []Observation
		consume    float64 // messages per second, checked when hasConsume
		produce    float64
		hasConsume bool
		hasProduce bool
		catchUp    CatchUp
	}{
		{
			name:    "gaining",
			reason:  "consumes 20/s, produces 10/s, lag 300: gains 10/s, 30s to catch up",
			obs:     live(ramp(0, 600, 4), ramp(1200, 300, 4)),
			consume: 20, produce: 10, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Duration: 30 * time.Second, Known: true},
		},
		{
			name:    "falling behind",
			reason:  "consumes 10/s, produces 20/s: never",
			obs:     live(ramp(0, 300, 4), ramp(100, 600, 4)),
			consume: 10, produce: 20, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Known: true, Never: true},
		},
		{
			name:    "keeping pace behind",
			reason:  "equal rates with lag: not gaining, never",
			obs:     live(ramp(0, 300, 4), ramp(100, 300, 4)),
			consume: 10, produce: 10, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Known: true, Never: true},
		},
		{
			name:    "stopped consumer on an idle topic with lag",
			reason:  "both rates 0 with lag: never",
			obs:     gone(repeat(100, 3), repeat(150, 3)),
			consume: 0, produce: 0, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Known: true, Never: true},
		},
		{
			name:    "caught up",
			reason:  "lag 0: catch-up 0 whatever the rates",
			obs:     live(ramp(0, 300, 4), ramp(0, 300, 4)),
			consume: 10, produce: 10, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Known: true},
		},
		{
			name:    "one observation",
			reason:  "no rate from one point; lag 50 with unknown rates: unknown",
			obs:     live(ints(100), ints(150)),
			catchUp: CatchUp{},
		},
		{
			name:   "two observations at one time",
			reason: "zero span: no rate",
			obs: func() []Observation {
				obs := live(ints(100, 110), ints(150, 160))
				obs[1].Time = obs[0].Time
				return obs
			}(),
			catchUp: CatchUp{},
		},
		{
			name:   "rates skip observations without the offset",
			reason: "commit missing at the first tick: consume rate from 30s to 90s = 600/60 = 10/s",
			obs: with(live(ints(0, 300, 600, 900), ramp(1000, 300, 4)), 0, func(o *Observation) {
				o.HasCommitted, o.HasLag = false, false
			}),
			consume: 10, produce: 10, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Known: true, Never: true},
		},
		{
			name:    "rewind gives a negative consume rate",
			reason:  "committed 300 -> 0 over 30s: -10/s",
			obs:     live(ints(300, 0), ints(400, 400)),
			consume: -10, produce: 0, hasConsume: true, hasProduce: true,
			catchUp: CatchUp{Known: true, Never: true},
		},
		{
			name:   "never committed",
			reason: "no lag: nothing to catch up, unknown",
			obs: func() []Observation {
				obs := live(repeat(0, 3), ramp(0, 300, 3))
				for i := range obs {
					obs[i].HasCommitted, obs[i].HasLag = false, false
				}
				return obs
			}(),
			produce: 10, hasProduce: true,
			catchUp: CatchUp{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := EvaluatePartition(PartitionWindow{Obs: tc.obs}, Rules{}, after(tc.obs))
			if got.HasConsumeRate != tc.hasConsume || (tc.hasConsume && got.ConsumeRate != tc.consume) {
				t.Errorf("ConsumeRate = %v (has %v), want %v (has %v): %s", got.ConsumeRate, got.HasConsumeRate, tc.consume, tc.hasConsume, tc.reason)
			}
			if got.HasProduceRate != tc.hasProduce || (tc.hasProduce && got.ProduceRate != tc.produce) {
				t.Errorf("ProduceRate = %v (has %v), want %v (has %v): %s", got.ProduceRate, got.HasProduceRate, tc.produce, tc.hasProduce, tc.reason)
			}
			if got.CatchUp != tc.catchUp {
				t.Errorf("CatchUp = %+v, want %+v: %s", got.CatchUp, tc.catchUp, tc.reason)
			}
		})
	}
}

func TestCatchUpOverflow(t *testing.T) {
	// A gain so small that the estimate exceeds what a time.Duration holds
	// is reported as never rather than wrapping around.
	p := PartitionResult{CurrentLag: 1 << 40, HasLag: true, ConsumeRate: 1e-3, ProduceRate: 0, HasConsumeRate: true, HasProduceRate: true}
	if got := catchUp(p); got != (CatchUp{Known: true, Never: true}) {
		t.Errorf("catchUp = %+v, want never", got)
	}
}
