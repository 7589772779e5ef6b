package evaluate

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// t0 is the time of every test window's first observation; tick the interval
// between observations.
var t0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

const tick = 30 * time.Second

// window builds observations one tick apart from t0 with committed offsets c
// and log-end offsets e (same length), lag e-c clamped at 0 as the collector
// stores it. A non-empty owner makes the group Stable with that member owning
// the partition; "" makes it Empty with no owner.
func window(owner string, c, e []int64) []Observation {
	if len(c) != len(e) {
		panic("window: committed and log-end series differ in length")
	}
	state := "Empty"
	if owner != "" {
		state = "Stable"
	}
	obs := make([]Observation, len(c))
	for i := range c {
		obs[i] = Observation{
			Time:      t0.Add(time.Duration(i) * tick),
			Committed: c[i], HasCommitted: true,
			LogEnd: e[i], LogStart: 0, HasLogEnd: true,
			Lag: max(e[i]-c[i], 0), HasLag: true,
			GroupState: state,
			Owner:      owner,
		}
	}
	return obs
}

// live and gone are windows owned by a live member, and by nobody.
func live(c, e []int64) []Observation { return window("member-1", c, e) }
func gone(c, e []int64) []Observation { return window("", c, e) }

func ints(v ...int64) []int64 { return v }

// repeat returns n copies of v.
func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// ramp returns n values from start, step apart.
func ramp(start, step int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	return out
}

// readable sets each observation's lag to its readable lag: Kafka's lag less
// skipped[i] offsets that hold nothing a consumer receives (transaction
// markers, aborted records, records of a transaction still open).
func readable(obs []Observation, skipped ...int64) []Observation {
	out := append([]Observation(nil), obs...)
	for i := range out {
		out[i].Lag = max(out[i].Lag-skipped[i], 0)
	}
	return out
}

// after returns the time one tick after the newest observation of obs, when
// the evaluator would run.
func after(obs []Observation) time.Time {
	if len(obs) == 0 {
		return t0
	}
	return obs[len(obs)-1].Time.Add(tick)
}

// with applies f to a copy of obs[i].
func with(obs []Observation, i int, f func(*Observation)) []Observation {
	out := append([]Observation(nil), obs...)
	f(&out[i])
	return out
}

// TestEvaluatePartition is the correctness proof of the partition rules:
// every rule, in order, and Burrow's known pitfalls.
func TestEvaluatePartition(t *testing.T) {
	cases := []struct {
		name, reason string
		obs          []Observation
		rules        Rules
		now          time.Time // zero: one tick after the newest observation
		want         Status
		// wantComplete and wantLag are checked too.
		wantComplete float64
		wantLag      int64
	}{
		{
			name:   "empty window",
			reason: "nothing to judge: OK with complete 0, as in Burrow",
			obs:    nil, want: OK, wantComplete: 0,
		},
		{
			name:   "rule 1: incomplete window below MinComplete",
			reason: "3 of 10 observations < 0.5: OK without further checks, complete reported",
			obs:    gone(repeat(100, 3), repeat(150, 3)), rules: Rules{MinComplete: 0.5},
			want: OK, wantComplete: 0.3, wantLag: 50,
		},
		{
			name:   "rule 1: the same window at the default MinComplete",
			reason: "Burrow's default 0 judges any window: a frozen commit with lag and no owner is STOP",
			obs:    gone(repeat(100, 3), repeat(150, 3)),
			want:   Stop, wantComplete: 0.3, wantLag: 50,
		},
		{
			name:   "rule 1: MinComplete reached",
			reason: "5 of 10 is not below 0.5: the other rules apply",
			obs:    gone(repeat(100, 5), repeat(150, 5)), rules: Rules{MinComplete: 0.5},
			want: Stop, wantComplete: 0.5, wantLag: 50,
		},
		{
			name:   "rule 2: healthy consumer caught up now",
			reason: "current lag 0",
			obs:    live(ramp(0, 100, 10), ramp(0, 100, 10)),
			want:   OK, wantComplete: 1,
		},
		{
			name:   "rule 2: never committed",
			reason: "no lag at all: OK, with CurrentLag 0",
			obs: func() []Observation {
				obs := live(repeat(0, 4), ramp(100, 10, 4))
				for i := range obs {
					obs[i].HasCommitted, obs[i].Committed, obs[i].HasLag, obs[i].Lag = false, 0, false, 0
				}
				return obs
			}(),
			want: OK, wantComplete: 0.4, wantLag: 0,
		},
		{
			name:   "rule 2: lag within AllowedLag",
			reason: "a frozen, ownerless consumer 7 behind is caught up when 10 are allowed",
			obs:    gone(repeat(100, 10), repeat(107, 10)), rules: Rules{AllowedLag: 10},
			want: OK, wantComplete: 1, wantLag: 7,
		},
		{
			name:   "rule 2: newest log offsets unreadable",
			reason: "no current lag to judge: OK (the readers never pass such a tick: they leave it out of the window)",
			obs: with(gone(repeat(100, 10), repeat(150, 10)), 9, func(o *Observation) {
				o.HasLogEnd, o.LogEnd, o.HasLag, o.Lag = false, 0, false, 0
			}),
			want: OK, wantComplete: 1, wantLag: 0,
		},
		{
			name:   "transactions: committed its last record + 1, the commit marker ahead",
			reason: "Kafka's lag is 1 forever (the marker takes an offset), the readable lag 0: OK, not STOP",
			obs:    readable(gone(repeat(220, 10), repeat(221, 10)), repeat(1, 10)...),
			want:   OK, wantComplete: 1, wantLag: 0,
		},
		{
			name:   "transactions: caught up to a transaction still open",
			reason: "30 records of an open transaction past the committed offset (the LSO): a read_committed consumer cannot read them, readable lag 0: OK",
			obs:    readable(live(repeat(500, 10), repeat(530, 10)), repeat(30, 10)...),
			want:   OK, wantComplete: 1, wantLag: 0,
		},
		{
			name:   "transactions: stuck behind readable records",
			reason: "a marker in the lag does not hide 49 records the consumer does not read: STOP on the readable lag",
			obs:    readable(gone(repeat(100, 10), repeat(150, 10)), repeat(1, 10)...),
			want:   Stop, wantComplete: 1, wantLag: 49,
		},
		{
			name:   "pitfall: idle topic whose consumer caught up and left",
			reason: "nothing produced, committed == log end, no member: OK, not STOP (rule 2 before rule 5)",
			obs:    gone(repeat(500, 10), repeat(500, 10)),
			want:   OK, wantComplete: 1,
		},
		{
			name:   "rule 5: consumer left with lag",
			reason: "committed frozen over the whole window, lag, no owner: STOP",
			obs:    gone(repeat(100, 10), ramp(150, 10, 10)),
			want:   Stop, wantComplete: 1, wantLag: 140,
		},
		{
			name:   "caught up, then left while the producer went on",
			reason: "the window still holds a commit lag of 0 (t=30s): OK, as in Burrow (rule 3 before rule 5)",
			obs: gone(
				ints(100, 110, 120, 120, 120, 120, 120, 120, 120, 120),
				ints(100, 110, 120, 130, 140, 150, 160, 170, 180, 190)),
			want: OK, wantComplete: 1, wantLag: 70,
		},
		{
			name:   "caught up, left, and the zero lag slid out of the window",
			reason: "every commit lag in the window is above 0 and nobody owns the partition: STOP. Burrow, whose window moves only with commits, stays OK",
			obs:    gone(repeat(120, 10), ramp(130, 10, 10)),
			want:   Stop, wantComplete: 1, wantLag: 100,
		},
		{
			name:   "rule 5: stopped for less time than it committed",
			reason: "commits moved for 210s then stopped 90s ago: 90 < 210, not STOP yet; moving commits with lag never falling: WARN",
			obs: gone(
				ints(0, 10, 20, 30, 40, 50, 60, 70, 70, 70),
				ints(50, 60, 70, 80, 90, 100, 110, 120, 130, 140)),
			want: Warn, wantComplete: 1, wantLag: 70,
		},
		{
			name:   "rule 5: stop depends on now",
			reason: "the same window evaluated 241s after the last commit: 241 > 210, STOP",
			obs: gone(
				ints(0, 10, 20, 30, 40, 50, 60, 70, 70, 70),
				ints(50, 60, 70, 80, 90, 100, 110, 120, 130, 140)),
			now:  t0.Add(210*time.Second + 241*time.Second),
			want: Stop, wantComplete: 1, wantLag: 70,
		},
		{
			name:   "rule 5: owner in a Dead group is not alive",
			reason: "a stale owner does not make a dead group a live member",
			obs: func() []Observation {
				obs := live(repeat(100, 5), repeat(150, 5))
				obs[4].GroupState = "Dead"
				return obs
			}(),
			want: Stop, wantComplete: 0.5, wantLag: 50,
		},
		{
			name:   "rule 4: rewind not recovered",
			reason: "committed went 120 -> 60 with lag throughout: REWIND",
			obs:    live(ints(100, 110, 120, 60, 70, 80), repeat(300, 6)),
			want:   Rewind, wantComplete: 0.6, wantLag: 220,
		},
		{
			name:   "rule 4: rewind that passed its earlier high",
			reason: "the decrease 120 -> 60 is still in the window: REWIND, as in Burrow, however far the consumer has advanced since",
			obs:    live(ints(100, 110, 120, 60, 90, 125, 130), repeat(300, 7)),
			want:   Rewind, wantComplete: 0.7, wantLag: 170,
		},
		{
			name:   "rule 4: the rewind left the window",
			reason: "the observation before the rewind slid out; commits move and the commit lag falls: OK",
			obs:    live(ints(60, 90, 125, 130, 160, 200, 240, 280, 300, 330), ramp(300, 10, 10)),
			want:   OK, wantComplete: 1, wantLag: 60,
		},
		{
			name:   "rule 4: a rewind of a consumer that was caught up",
			reason: "reset to an older offset, but the window holds a commit lag of 0 from before: OK, as in Burrow (rule 3 before rule 4)",
			obs:    live(ints(100, 100, 50), repeat(100, 3)),
			want:   OK, wantComplete: 0.3, wantLag: 50,
		},
		{
			name:   "rule 3: the log end a tick before gives a zero commit lag",
			reason: "the newest observation lags the head by 12, but its commit is at the previous tick's log end: OK (a window of 13 whose oldest is the observation before)",
			obs:    live(ints(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 150), ints(100, 150, 150, 150, 150, 150, 150, 150, 150, 150, 150, 150, 162)),
			want:   OK, wantComplete: 1, wantLag: 12,
		},
		{
			name:   "rule 3: lag was zero in the window",
			reason: "a live consumer frozen since the producer resumed, but it was caught up within the window: OK (Burrow's first rule)",
			obs:    live(repeat(100, 5), ints(100, 100, 110, 120, 130)),
			want:   OK, wantComplete: 0.5, wantLag: 30,
		},
		{
			name:   "rule 3: lag within AllowedLag earlier in the window",
			reason: "AllowedLag counts as zero for rule 3 too",
			obs:    live(repeat(100, 4), ints(105, 150, 160, 170)), rules: Rules{AllowedLag: 5},
			want: OK, wantComplete: 0.4, wantLag: 70,
		},
		{
			name:   "pitfall: stuck consumer still a member",
			reason: "a live owner, committed frozen, lag throughout: STALL",
			obs:    live(repeat(100, 10), ramp(150, 10, 10)),
			want:   Stall, wantComplete: 1, wantLag: 140,
		},
		{
			name:   "rule 6: stuck member during a rebalance",
			reason: "PreparingRebalance with an owner is alive: STALL, not STOP",
			obs: func() []Observation {
				obs := live(repeat(100, 4), repeat(150, 4))
				obs[3].GroupState = "PreparingRebalance"
				return obs
			}(),
			want: Stall, wantComplete: 0.4, wantLag: 50,
		},
		{
			name:   "rule 6: an unreadable log end does not hide a stall",
			reason: "one tick without log offsets in a frozen window with lag: still STALL",
			obs: with(live(repeat(100, 4), repeat(150, 4)), 1, func(o *Observation) {
				o.HasLogEnd, o.LogEnd, o.HasLag, o.Lag = false, 0, false, 0
			}),
			want: Stall, wantComplete: 0.4, wantLag: 50,
		},
		{
			name:   "rule 6: a first commit is progress",
			reason: "never committed, then committed 100 and stuck: not a stall; no lag rule fires: OK",
			obs: with(live(repeat(100, 4), repeat(150, 4)), 0, func(o *Observation) {
				o.HasCommitted, o.Committed, o.HasLag, o.Lag = false, 0, false, 0
			}),
			want: OK, wantComplete: 0.4, wantLag: 50,
		},
		{
			name:   "rule 6: one observation is not a stall",
			reason: "STALL needs at least 2 observations; a live owner rules out STOP: OK",
			obs:    live(ints(100), ints(150)),
			want:   OK, wantComplete: 0.1, wantLag: 50,
		},
		{
			name:   "pitfall: slow consumer with moving commits and rising lag",
			reason: "commits advance 10 per tick, producer 20: lag never decreases: WARN",
			obs:    live(ramp(0, 10, 10), ramp(100, 20, 10)),
			want:   Warn, wantComplete: 1, wantLag: 190,
		},
		{
			name:   "rule 7: constant lag with moving commits",
			reason: "equal lags count as not decreasing (Burrow's rule): WARN",
			obs:    live(ramp(0, 10, 5), ramp(50, 10, 5)),
			want:   Warn, wantComplete: 0.5, wantLag: 50,
		},
		{
			name:   "healthy consumer with lag",
			reason: "commits move and the lag falls somewhere in the window: OK (rule 8)",
			obs:    live(ramp(0, 100, 10), ints(50, 140, 260, 330, 450, 530, 640, 760, 830, 950)),
			want:   OK, wantComplete: 1, wantLag: 50,
		},
		{
			name:   "window longer than N keeps the newest N",
			reason: "the oldest observations fall outside a window of 10, the one before it gives the first commit lag (150-100): STALL, complete capped at 1",
			obs:    live(repeat(100, 13), ints(100, 100, 150, 150, 150, 150, 150, 150, 150, 150, 150, 150, 150)),
			want:   Stall, wantComplete: 1, wantLag: 50,
		},
		{
			name:   "custom window size",
			reason: "5 observations fill a window of 5",
			obs:    live(repeat(100, 5), repeat(150, 5)), rules: Rules{WindowSize: 5},
			want: Stall, wantComplete: 1, wantLag: 50,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = after(tc.obs)
			}
			w := PartitionWindow{Topic: "orders", Partition: 3, Obs: tc.obs}
			got := EvaluatePartition(w, tc.rules, now)
			if got.Status != tc.want {
				t.Errorf("Status = %v, want %v: %s", got.Status, tc.want, tc.reason)
			}
			if got.Complete != tc.wantComplete {
				t.Errorf("Complete = %v, want %v", got.Complete, tc.wantComplete)
			}
			if got.CurrentLag != tc.wantLag {
				t.Errorf("CurrentLag = %d, want %d", got.CurrentLag, tc.wantLag)
			}
			if got.Topic != "orders" || got.Partition != 3 {
				t.Errorf("identity = %s/%d, want orders/3", got.Topic, got.Partition)
			}
		})
	}
}

func TestPartitionResultFields(t *testing.T) {
	obs := live(ints(100, 110, 110, 110), ints(150, 170, 190, 210))
	obs[3].ClientID, obs[3].Host = "client-a", "/10.0.0.7"
	got := EvaluatePartition(PartitionWindow{Topic: "t", Partition: 0, Obs: obs}, Rules{}, after(obs))
	cases := []struct {
		name   string
		reason string
		ok     bool
	}{
		{"start is the first observation", "Burrow's start", got.Start.Time.Equal(t0) && got.Start.Committed == 100},
		{"end is the last observation", "Burrow's end", got.End.Time.Equal(t0.Add(3*tick)) && got.End.Committed == 110},
		{"last commit is when 110 first appeared", "a poll sees a commit at the first tick after it", got.LastCommit.Equal(t0.Add(tick))},
		{"owner and client come from the newest observation", "the current owner matters", got.Owner == "member-1" && got.ClientID == "client-a" && got.Host == "/10.0.0.7"},
		{"has lag", "the newest observation has a lag", got.HasLag && got.CurrentLag == 100},
		{"zero Rules means DefaultRules", "4 of 10", got.Complete == 0.4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("%s: got %+v", tc.reason, got)
			}
		})
	}
}

func TestLastCommitTime(t *testing.T) {
	cases := []struct {
		name   string
		reason string
		c      []int64
		want   time.Time
	}{
		{"frozen whole window", "first observation", repeat(5, 4), t0},
		{"moved at the third tick", "start of the newest run", ints(1, 2, 3, 3), t0.Add(2 * tick)},
		{"moved at the newest tick", "the newest observation itself", ints(1, 2, 3, 4), t0.Add(3 * tick)},
		{"same offset in an earlier run", "only the newest run counts (5, 7, 5: a new commit of 5)", ints(5, 7, 5, 5), t0.Add(2 * tick)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastCommitTime(live(tc.c, repeat(100, len(tc.c)))); !got.Equal(tc.want) {
				t.Errorf("lastCommitTime = %v, want %v (%s)", got, tc.want, tc.reason)
			}
		})
	}
}

func TestRulesValidate(t *testing.T) {
	cases := []struct {
		name, reason string
		r            Rules
		wantErr      bool
	}{
		{"defaults", "Burrow's settings", DefaultRules(), false},
		{"zero value", "means the defaults", Rules{}, false},
		{"negative window", "no such window", Rules{WindowSize: -1}, true},
		{"min complete above 1", "a share", Rules{MinComplete: 1.5}, true},
		{"min complete negative", "a share", Rules{MinComplete: -0.1}, true},
		{"min complete 1", "only full windows are judged", Rules{MinComplete: 1}, false},
		{"negative allowed lag", "a lag is never negative", Rules{AllowedLag: -1}, true},
		{"all at once", "every bad setting is reported", Rules{WindowSize: -1, MinComplete: 2, AllowedLag: -1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate() = %v, want error %v (%s)", err, tc.wantErr, tc.reason)
			}
		})
	}
}

// TestRulesValidateFields: each bad setting is its own *RuleError naming
// the field, so that a configuration can name its variable.
func TestRulesValidateFields(t *testing.T) {
	err := Rules{WindowSize: -1, MinComplete: 2, AllowedLag: -1}.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() = %v, want joined errors", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var re *RuleError
		if !errors.As(e, &re) {
			t.Fatalf("%v is not a *RuleError", e)
		}
		got = append(got, re.Field+": "+re.Msg)
	}
	want := []string{
		"WindowSize: must be 0 (the default, 10) or more, got -1",
		"MinComplete: must be between 0 and 1, got 2",
		"AllowedLag: must not be negative, got -1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Validate() problems\n got: %q\nwant: %q", got, want)
	}
}
