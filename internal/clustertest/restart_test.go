package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// The three groups, by what their consumer does, and the verdict each must
// get in every evaluation.
const (
	healthy = "healthy" // a live member reading the busy topic, committing every 200 ms
	stalled = "stalled" // a live member that never commits: its offsets stay where they were
	stopped = "stopped" // committed offsets, no member
)

var (
	kinds = []string{healthy, stalled, stopped}
	want  = map[string]string{healthy: "OK", stalled: "ERR", stopped: "ERR"}
)

// partitions of the busy topic.
const partitions = 6

// TestVerdictsSurviveBrokerRestarts runs the collector program every 3 s
// against the three-broker cluster while each broker in turn is killed
// (SIGKILL) and started again: first the coordinator of the three groups,
// then the broker leading most of the busy topic's partitions, then the
// last one. After every tick one live evaluation runs. With two brokers of
// three up, every partition keeps a leader and every group a coordinator,
// so nothing that lagwatch reports should change: the healthy group stays
// OK and the stalled and stopped ones ERR in every evaluation, every tick
// holds every group with all its partitions, and no incident closes or
// opens again.
func TestVerdictsSurviveBrokerRestarts(t *testing.T) {
	brokers := testenv.KafkaCluster(t)
	esURL := testenv.Elasticsearch(t)
	prefix := testenv.Name(t, "restart")
	names, err := esindex.NewNames(strings.ReplaceAll(prefix, "-", ""))
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+names.Namespace,
		names.Offsets, names.Groups, names.Status, names.Ticks)
	t.Cleanup(func() {
		es := testenv.ESClient(t)
		res, err := es.Indices.Delete([]string{names.Incidents, names.IncidentLog}, es.Indices.Delete.WithIgnoreUnavailable(true))
		if err == nil {
			res.Body.Close()
		}
	})

	topic := testenv.CreateTopicOn(t, brokers, prefix+"-busy", partitions, 3)
	groups := sameCoordinator(t, brokers, prefix)
	for _, g := range groups {
		testenv.DeleteGroupOnCleanupOn(t, brokers, g)
	}
	// 60 records a second, 10 on each partition, through Kafka's own Java
	// producer (acks=all: two in-sync replicas of three).
	testenv.StartProducerPerformance(t, testenv.ProducerOptions{Brokers: brokers, Topic: topic, PerSecond: 60})
	startGroups(t, brokers, topic, groups)

	o, err := newObserver(esURL, names, groups, partitions)
	if err != nil {
		t.Fatal(err)
	}
	collectorLog := startCollector(t, brokers, esURL, names.Namespace, prefix)
	o.start()
	t.Cleanup(o.finish)

	// Warm-up: the verdicts settle (a stall needs two observations).
	warm := time.Now()
	deadline := warm.Add(time.Minute)
	for !settled(o.records()) {
		if time.Now().After(deadline) {
			report(t, o, collectorLog)
			t.Fatalf("before any broker was killed, the verdicts did not settle to %v within a minute (see the ticks above)", want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	steady := time.Now()
	o.setPhase("all up")
	o.waitTicks(1, steady, 15*time.Second)

	// Each broker in turn: killed, down for two ticks, started again and
	// caught up, two more ticks.
	var done []int32
	for round := range 3 {
		victim, roles := chooseVictim(t, brokers, topic, groups[healthy], round, done)
		t.Logf("killing broker %d: %s", victim, roles)
		o.setPhase(fmt.Sprintf("broker %d down", victim))
		down := time.Now()
		testenv.KillBroker(t, victim)
		o.waitTicks(2, down, 30*time.Second)
		o.setPhase(fmt.Sprintf("broker %d restarting", victim))
		testenv.StartBroker(t, victim)
		testenv.WaitInSync(t, brokers, 2*time.Minute, topic, "__consumer_offsets")
		back := time.Now()
		o.setPhase(fmt.Sprintf("broker %d back", victim))
		o.waitTicks(2, back, 30*time.Second)
		done = append(done, victim)
	}
	o.finish()
	report(t, o, collectorLog)
	check(t, o.records(), steady)
}

// sameCoordinator names the three groups so that their commits land on one
// partition of Kafka's offsets topic: one broker coordinates all three.
func sameCoordinator(t *testing.T, brokers []string, prefix string) map[string]string {
	t.Helper()
	first := prefix + "-" + healthy
	testenv.CoordinatorOf(t, brokers, first) // creates the offsets topic when it is missing
	n := int32(len(testenv.TopicPartitions(t, brokers, "__consumer_offsets")))
	target := testenv.OffsetsPartition(first, n)
	groups := map[string]string{healthy: first}
	for _, kind := range []string{stalled, stopped} {
		for i := 0; groups[kind] == ""; i++ {
			if g := fmt.Sprintf("%s-%s-%d", prefix, kind, i); testenv.OffsetsPartition(g, n) == target {
				groups[kind] = g
			}
		}
	}
	return groups
}

// startGroups brings the groups to their states with Kafka's console
// consumer: all three commit every partition once; then the stopped one's
// consumer leaves, and the stalled one's comes back with commits off.
func startGroups(t *testing.T, brokers []string, topic string, groups map[string]string) {
	t.Helper()
	start := func(kind string, props map[string]string) *testenv.JavaConsumer {
		return testenv.StartJavaConsumer(t, testenv.JavaConsumerOptions{Brokers: brokers, Topic: topic, Group: groups[kind],
			ClientID: "java-" + kind, Properties: props})
	}
	consumers := map[string]*testenv.JavaConsumer{}
	for _, kind := range kinds {
		consumers[kind] = start(kind, map[string]string{"auto.commit.interval.ms": "200"})
	}
	alive := func() {
		for kind, c := range consumers {
			if err := c.Exited(); err != nil {
				t.Fatalf("%s group: %v", kind, err)
			}
		}
	}
	waitFor(t, 2*time.Minute, "every group committed every partition", func() error {
		alive()
		for _, kind := range kinds {
			if n := len(testenv.CommittedOffsets(t, brokers, groups[kind], topic)); n < partitions {
				return fmt.Errorf("the %s group committed %d of %d partitions", kind, n, partitions)
			}
		}
		return nil
	})
	consumers[stopped].Stop(t)
	consumers[stalled].Stop(t)
	consumers[stalled] = start(stalled, map[string]string{"enable.auto.commit": "false"})
	wantState := map[string]string{healthy: "Stable 1", stalled: "Stable 1", stopped: "Empty 0"}
	waitFor(t, 2*time.Minute, "the groups in their states", func() error {
		alive()
		for _, kind := range kinds {
			state, members := testenv.GroupMembers(t, brokers, groups[kind])
			if got := fmt.Sprintf("%s %d", state, members); got != wantState[kind] {
				return fmt.Errorf("the %s group is %s, want %s", kind, got, wantState[kind])
			}
		}
		return nil
	})
}

// waitFor calls cond until it returns nil, failing the test with what it
// said last after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startCollector runs the collector program on a 3 s schedule against the
// cluster, writing to namespace ns and watching the groups of prefix; it is
// stopped when the test ends. It returns the program's log.
func startCollector(t *testing.T, brokers []string, esURL, ns, prefix string) *testenv.Buffer {
	t.Helper()
	bin := testenv.BuildProgram(t, "../../cmd/collector")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+strings.Join(brokers, ","), "ELASTICSEARCH_URL="+esURL,
		"ELASTICSEARCH_NAMESPACE="+ns, "KAFKA_GROUP_ALLOW=^"+prefix+"-", "COLLECTOR_SPOOL_DIR="+t.TempDir(),
		"COLLECTOR_METRICS_ADDR=", "COLLECTOR_SCHEDULE=*/3 * * * * *", "LOG_FORMAT=json")
	log := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the collector: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("the collector ignored SIGTERM for 30 s")
		}
	})
	return log
}

// settled reports whether the newest evaluation gave every group its
// verdict, after at least two.
func settled(recs []tickRecord) bool {
	if len(recs) < 2 {
		return false
	}
	last := recs[len(recs)-1]
	for _, kind := range kinds {
		if last.verdicts[kind] != want[kind] {
			return false
		}
	}
	return true
}

// chooseVictim picks the broker to kill in round (0, 1, 2), among those not
// killed yet: the groups' coordinator first, then the broker leading most
// partitions of topic, then the last one. roles says what it does now.
func chooseVictim(t *testing.T, brokers []string, topic, group string, round int, done []int32) (int32, string) {
	t.Helper()
	coordinator := testenv.CoordinatorOf(t, brokers, group)
	led := map[int32][]int32{}
	for _, p := range testenv.TopicPartitions(t, brokers, topic) {
		led[p.Leader] = append(led[p.Leader], p.Partition)
	}
	var victim int32 = -1
	switch round {
	case 0:
		victim = coordinator
	default:
		for _, id := range []int32{1, 2, 3} {
			if slices.Contains(done, id) {
				continue
			}
			if victim < 0 || len(led[id]) > len(led[victim]) {
				victim = id
			}
		}
	}
	var roles []string
	if victim == coordinator {
		roles = append(roles, "coordinator of the groups")
	}
	if len(led[victim]) > 0 {
		roles = append(roles, fmt.Sprintf("leader of partitions %v", led[victim]))
	}
	if len(roles) == 0 {
		roles = append(roles, "follower only")
	}
	return victim, strings.Join(roles, ", ")
}

// report logs every tick, then the summary: ticks with each group missing,
// wrong verdicts and verdict changes per broker restart, incident
// transitions, and the collector's warnings and errors.
func report(t *testing.T, o *observer, collectorLog *testenv.Buffer) {
	t.Helper()
	recs := o.records()
	t.Logf("%-12s %-20s %-7s %-8s %-8s %-8s %s", "TICK", "PHASE", "RESULT", kinds[0], kinds[1], kinds[2], "MISSING / NO LAG / ALERTS / ERRORS")
	for _, r := range recs {
		var notes []string
		for _, kind := range kinds {
			if r.missing[kind] != "" {
				notes = append(notes, kind+": "+r.missing[kind])
			}
			if r.noLag[kind] > 0 {
				notes = append(notes, fmt.Sprintf("%s: %d partitions without lag", kind, r.noLag[kind]))
			}
		}
		if len(r.alerts) > 0 {
			notes = append(notes, "alerts "+strings.Join(r.alerts, " "))
		}
		if r.err != "" {
			notes = append(notes, "collector: "+r.err)
		}
		if r.evalErr != nil {
			notes = append(notes, "evaluation: "+r.evalErr.Error())
		}
		t.Logf("%-12s %-20s %-7s %-8s %-8s %-8s %s", r.at.Format("15:04:05.000"), r.phase, r.result,
			r.verdicts[kinds[0]], r.verdicts[kinds[1]], r.verdicts[kinds[2]], strings.Join(notes, "; "))
	}
	if err := o.lastProblem(); err != nil {
		t.Logf("last failure reading the ticks: %v", err)
	}

	results := map[string]int{}
	for _, r := range recs {
		results[r.result]++
	}
	t.Logf("summary: %d ticks; collector results %v", len(recs), results)
	for _, kind := range kinds {
		missing, noLag := 0, 0
		for _, r := range recs {
			if r.missing[kind] != "" {
				missing++
			}
			if r.noLag[kind] > 0 {
				noLag++
			}
		}
		t.Logf("summary: %s group: missing from %d ticks, partitions without lag in %d ticks", kind, missing, noLag)
	}
	// Per broker restart (the phases of one kill): evaluations with a
	// verdict other than the expected one, and changes of verdict.
	var cycles []string
	wrong, flips := map[string]map[string]int{}, map[string]map[string]int{}
	prev := map[string]string{}
	for _, r := range recs {
		cycle := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(r.phase, " down"), " restarting"), " back")
		if !slices.Contains(cycles, cycle) {
			cycles = append(cycles, cycle)
			wrong[cycle], flips[cycle] = map[string]int{}, map[string]int{}
		}
		for _, kind := range kinds {
			if r.verdicts[kind] != want[kind] {
				wrong[cycle][kind]++
			}
			if prev[kind] != "" && r.verdicts[kind] != prev[kind] {
				flips[cycle][kind]++
			}
			prev[kind] = r.verdicts[kind]
		}
	}
	for _, c := range cycles {
		t.Logf("summary: %-10s wrong verdicts %v, verdict changes %v", c, wrong[c], flips[c])
	}
	closes, reopens := incidentChanges(recs)
	t.Logf("summary: incidents closed %d times, reopened %d times", closes, reopens)

	for _, l := range o.evalLog.Lines() {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Logf("evaluator: %s", l)
		}
	}
	var notable []string
	for _, l := range collectorLog.Lines() {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			notable = append(notable, l)
		}
	}
	t.Logf("collector: %d warning and error lines", len(notable))
	for i, l := range notable {
		if i == 40 {
			t.Logf("collector: ... %d more", len(notable)-i)
			break
		}
		t.Logf("collector: %s", l)
	}
}

// incidentChanges counts the incidents that closed, and those that opened
// again after one of the same group had been opened before.
func incidentChanges(recs []tickRecord) (closes, reopens int) {
	opened := map[string]bool{}
	for _, r := range recs {
		for _, a := range r.alerts {
			kind, group, _ := strings.Cut(a, ":")
			group, _, _ = strings.Cut(group, ":")
			switch kind {
			case "close":
				closes++
			case "open":
				if opened[group] {
					reopens++
				}
				opened[group] = true
			}
		}
	}
	return closes, reopens
}

// check asserts, for the ticks from since on: every evaluation gave each
// group its expected verdict, no tick lacked a group, no incident closed or
// opened again (nor opened at all for the healthy group), and there were
// at least twelve ticks.
func check(t *testing.T, all []tickRecord, since time.Time) {
	t.Helper()
	var recs []tickRecord
	for _, r := range all {
		if !r.at.Before(since) {
			recs = append(recs, r)
		}
	}
	if len(recs) < 12 {
		t.Errorf("%d ticks observed while brokers were killed and restarted, want at least 12: the collector did not tick every 3 s", len(recs))
	}
	for _, kind := range kinds {
		wrong, missing := byPhase{}, byPhase{}
		for _, r := range recs {
			if r.verdicts[kind] != want[kind] {
				wrong.add(r, r.verdicts[kind])
			}
			if r.missing[kind] != "" {
				missing.add(r, r.missing[kind])
			}
		}
		if wrong.n > 0 {
			t.Errorf("the %s group was not %s in %d of %d evaluations, while one broker of three at most was down: %s",
				kind, want[kind], wrong.n, len(recs), wrong)
		}
		if missing.n > 0 {
			t.Errorf("the %s group was missing from %d of %d ticks' documents, while one broker of three at most was down: %s",
				kind, missing.n, len(recs), missing)
		}
	}
	var bad []string
	opened := map[string]bool{}
	for _, r := range all {
		for _, a := range r.alerts {
			kind, rest, _ := strings.Cut(a, ":")
			group, _, _ := strings.Cut(rest, ":")
			late := !r.at.Before(since)
			switch {
			case kind == "close" && late, kind == "open" && opened[group] && late, kind == "open" && group == healthy:
				bad = append(bad, fmt.Sprintf("%s %s (%s)", r.at.Format("15:04:05"), a, r.phase))
			}
			if kind == "open" {
				opened[group] = true
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("incidents closed or opened again (an alert storm for nothing): %s", strings.Join(bad, "; "))
	}
	for _, r := range recs {
		if r.evalErr != nil {
			t.Errorf("evaluation after the tick at %s failed: %v", r.at.Format("15:04:05"), r.evalErr)
		}
	}
}

// byPhase lists ticks with what was wrong at each, grouped by phase.
type byPhase struct {
	n      int
	phases []string
	ticks  map[string][]string
}

func (b *byPhase) add(r tickRecord, what string) {
	if b.ticks == nil {
		b.ticks = map[string][]string{}
	}
	if _, ok := b.ticks[r.phase]; !ok {
		b.phases = append(b.phases, r.phase)
	}
	b.ticks[r.phase] = append(b.ticks[r.phase], r.at.Format("15:04:05")+" "+what)
	b.n++
}

func (b byPhase) String() string {
	var parts []string
	for _, p := range b.phases {
		parts = append(parts, fmt.Sprintf("%s: %d ticks (%s)", p, len(b.ticks[p]), strings.Join(b.ticks[p], ", ")))
	}
	return strings.Join(parts, "; ")
}
