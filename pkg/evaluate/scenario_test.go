package evaluate

import (
	"fmt"
	"testing"
	"time"
)

// The workload of the side-by-side run with Burrow (1.9, on Kafka 4.1.2):
// a producer writes 20 messages a second to every partition, consumers
// commit every 2 seconds. The collector polls every pollEvery; Burrow
// fetched log-end offsets every 10 s and kept a window of 10 commits.
const (
	produceRate = 20 // messages per second per partition
	commitEvery = 2 * time.Second
	pollEvery   = 30 * time.Second // the collector's default schedule
)

// scenarioT0 is when the scenario's producer starts; the log end is 0 then.
var scenarioT0 = time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)

// consumer describes one partition's consumer over time, in seconds since
// scenarioT0. position is the offset the consumer has read up to (the offset
// it commits) at time s; member reports whether a live member owns the
// partition. commits are taken every commitEvery, so the committed offset
// polled at s is position at the last commit time at or before s.
type consumer struct {
	logEnd   func(s float64) int64
	position func(s float64) int64
	member   func(s float64) bool
}

// steadyLogEnd is the log end of the busy topic: 20 messages a second.
func steadyLogEnd(s float64) int64 { return int64(produceRate * s) }

// idleLogEnd is a topic that got 5,000 messages before the scenario and no
// more.
func idleLogEnd(float64) int64 { return 5000 }

func always(float64) bool { return true }

// until returns a member function that is true before s0 and false after.
func until(s0 float64) func(float64) bool { return func(s float64) bool { return s < s0 } }

// poll returns the observations of c at every poll from scenarioT0 to end.
func (c consumer) poll(end time.Duration) []Observation {
	var obs []Observation
	for at := time.Duration(0); at <= end; at += pollEvery {
		s := at.Seconds()
		lastCommit := (at / commitEvery * commitEvery).Seconds()
		committed := min(c.position(lastCommit), c.logEnd(lastCommit))
		e := c.logEnd(s)
		o := Observation{
			Time:      scenarioT0.Add(at),
			Committed: committed, HasCommitted: true,
			LogEnd: e, HasLogEnd: true,
			Lag: max(e-committed, 0), HasLag: true,
			GroupState: "Empty",
		}
		if c.member(s) {
			o.GroupState, o.Owner, o.ClientID, o.Host = "Stable", "member-1", "console-consumer", "/127.0.0.1"
		}
		obs = append(obs, o)
	}
	return obs
}

// windowAt is what the window reader hands over at instant at: the last
// size observations at or before it, and the one before them.
func windowAt(obs []Observation, at time.Time, size int) PartitionWindow {
	var upto []Observation
	for _, o := range obs {
		if !o.Time.After(at) {
			upto = append(upto, o)
		}
	}
	w := PartitionWindow{Topic: "orders", Partition: 0, Obs: upto}
	if len(upto) > size {
		w.Obs = upto[len(upto)-size:]
		w.Before = &upto[len(upto)-size-1]
	}
	return w
}

// TestBurrowScenarios replays the workloads of the side-by-side run and
// checks lagwatch's verdict at every evaluation (one a second after each
// poll, from the first full window on) against the verdict Burrow gave on
// the same workload. Where lagwatch deliberately differs, the case says so
// and docs/rules.md ("Verdicts compared with Burrow's") explains why.
func TestBurrowScenarios(t *testing.T) {
	const size = DefaultWindowSize
	full := time.Duration(size-1) * pollEvery // the first poll of a full window
	type phase struct {
		from, to time.Duration // evaluation times since scenarioT0, inclusive
		want     Status
	}
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	cases := []struct {
		name   string
		reason string
		c      consumer
		phases []phase
	}{
		{
			name:   "healthy: commits the head",
			reason: "Burrow OK in every read: every commit is at or past the log end of the poll before, commit lag 0, although the polled lag is up to 40",
			c:      consumer{logEnd: steadyLogEnd, position: steadyLogEnd, member: always},
			phases: []phase{{full, full + 30*pollEvery, OK}},
		},
		{
			name: "slow: starts 200 behind, consumes at half the production rate",
			reason: "Burrow WARN: commits move and the commit lag grows at every poll; the first window still holds the first poll's commit, " +
				"which is within one poll of the head (commit lag 0), so WARN starts with the second window",
			c: consumer{logEnd: steadyLogEnd, member: always,
				position: func(s float64) int64 { return max(int64(produceRate/2*s)-200, 0) }},
			phases: []phase{{full, sec(300), OK}, {sec(330), sec(1200), Warn}},
		},
		{
			name: "stall: a live member stops committing new offsets at 300 s",
			reason: "Burrow ERR/STALL once no commit lag of 0 is left in the window: the last is the poll at 330 s, " +
				"whose commit is the log end of the poll before; STALL from the first window without it",
			c: consumer{logEnd: steadyLogEnd, member: always,
				position: func(s float64) int64 { return steadyLogEnd(min(s, 300)) }},
			phases: []phase{{full, sec(600), OK}, {sec(630), sec(1500), Stall}},
		},
		{
			name: "stop: a consumer keeping pace 2,000 behind leaves at 400 s",
			reason: "Burrow ERR/STOP once the time since the last commit exceeds the span of commits in the window; " +
				"before, WARN: the commit lag never decreases (Burrow counts a steady lag as not decreasing), from the first window without the start-up's zero commit lags",
			c: consumer{logEnd: steadyLogEnd, member: until(400),
				position: func(s float64) int64 { return max(steadyLogEnd(min(s, 400))-2000, 0) }},
			phases: []phase{{sec(330), sec(540), Warn}, {sec(570), sec(1500), Stop}},
		},
		{
			name: "rewind: one commit 3,000 back at 600 s, then advancing at 1.5 times the production rate",
			reason: "Burrow ERR/REWIND while the commit before the rewind is in the window (polls 570 to 840 s), " +
				"then OK: the consumer catches up and its commit lag falls. Before it, WARN: 2,000 behind at a steady pace",
			c: consumer{logEnd: steadyLogEnd, member: always,
				position: func(s float64) int64 {
					if s < 600 {
						return max(steadyLogEnd(s)-2000, 0)
					}
					return steadyLogEnd(600) - 2000 - 3000 + int64(1.5*produceRate*(s-600))
				}},
			phases: []phase{{sec(330), sec(570), Warn}, {sec(600), sec(840), Rewind}, {sec(870), sec(1200), OK}},
		},
		{
			name:   "idle and caught up",
			reason: "Burrow OK: nothing produced, current lag 0",
			c:      consumer{logEnd: idleLogEnd, position: idleLogEnd, member: always},
			phases: []phase{{full, full + 30*pollEvery, OK}},
		},
		{
			name:   "caught up, then left, idle topic",
			reason: "Burrow OK: current lag 0, whether a member is there or not",
			c:      consumer{logEnd: idleLogEnd, position: idleLogEnd, member: until(400)},
			phases: []phase{{full, full + 40*pollEvery, OK}},
		},
		{
			name: "caught up, then left at 400 s while the producer went on (differs from Burrow)",
			reason: "Burrow OK for as long as it keeps the group: its window moves only with commits, and the last commits had lag 0. " +
				"lagwatch's window moves with polls: OK while a commit lag of 0 is in the window (the last is at 420 s), " +
				"then ERR/STOP, since nobody reads the data that keeps arriving",
			c: consumer{logEnd: steadyLogEnd, member: until(400),
				position: func(s float64) int64 { return steadyLogEnd(min(s, 400)) }},
			phases: []phase{{full, sec(690), OK}, {sec(720), sec(1500), Stop}},
		},
		{
			name:   "catching up fast: 3,000 behind, five times the production rate",
			reason: "Burrow OK: the commit lag falls at every poll, then reaches 0",
			c: consumer{logEnd: steadyLogEnd, member: always,
				position: func(s float64) int64 { return min(max(int64(100*s)-3000, 0), steadyLogEnd(s)) }},
			phases: []phase{{full, full + 30*pollEvery, OK}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			end := tc.phases[len(tc.phases)-1].to
			obs := tc.c.poll(end)
			for _, ph := range tc.phases {
				for at := ph.from; at <= ph.to; at += pollEvery {
					now := scenarioT0.Add(at + time.Second)
					got := EvaluatePartition(windowAt(obs, now, size), Rules{}, now)
					if got.Status != ph.want {
						t.Errorf("at +%v: %v (lag %d, commit lags start %v end %v), want %v: %s",
							at, got.Status, got.CurrentLag, got.StartCommitLag, got.EndCommitLag, ph.want, tc.reason)
					}
				}
			}
		})
	}
}

// TestBurrowScenarioGroups checks the group verdicts of the side-by-side
// run: a group is the worst of its partitions, and a group with no
// observation in the window, deleted or never there, is NOTFOUND.
func TestBurrowScenarioGroups(t *testing.T) {
	const size = DefaultWindowSize
	at := 900 * time.Second
	now := scenarioT0.Add(at + time.Second)
	healthy := consumer{logEnd: steadyLogEnd, position: steadyLogEnd, member: always}.poll(at)
	stalled := consumer{logEnd: steadyLogEnd, member: always,
		position: func(s float64) int64 { return steadyLogEnd(min(s, 300)) }}.poll(at)
	cases := []struct {
		name      string
		reason    string
		g         GroupWindow
		want      Status
		wantParts []Status
	}{
		{
			name:   "two partitions, one healthy and one stalled",
			reason: "Burrow ERR with the partitions OK and STALL",
			g: GroupWindow{Cluster: "local", Group: "two", Partitions: []PartitionWindow{
				func() PartitionWindow { w := windowAt(healthy, now, size); w.Partition = 0; return w }(),
				func() PartitionWindow { w := windowAt(stalled, now, size); w.Partition = 1; return w }(),
			}},
			want: Err, wantParts: []Status{OK, Stall},
		},
		{
			name:   "deleted",
			reason: "Burrow NOTFOUND at once: the reader hands over no observation of a group absent from the window's polls",
			g:      GroupWindow{Cluster: "local", Group: "deleted"},
			want:   NotFound,
		},
		{
			name:   "never existed",
			reason: "Burrow NOTFOUND",
			g:      GroupWindow{Cluster: "local", Group: "never"},
			want:   NotFound,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := EvaluateGroup(tc.g, Rules{}, now)
			if got.Status != tc.want {
				t.Errorf("group %v, want %v: %s", got.Status, tc.want, tc.reason)
			}
			var parts []Status
			for _, p := range got.Partitions {
				parts = append(parts, p.Status)
			}
			if fmt.Sprint(parts) != fmt.Sprint(tc.wantParts) {
				t.Errorf("partitions %v, want %v: %s", parts, tc.wantParts, tc.reason)
			}
		})
	}
}
