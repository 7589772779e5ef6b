package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// groupView is one consumer group as the collector would see it.
type groupView struct {
	state     string
	members   int
	committed map[int]int64 // -1: no commit
	lag       int64         // summed over the partitions; no commit counts from 0
}

// TestWorkload runs every role for about ten seconds against the real
// broker and checks that each group is in the shape its verdict needs:
// healthy keeps up, slow falls behind while committing, stall keeps its
// member and its offsets, stop has lag and no member.
func TestWorkload(t *testing.T) {
	brokers := testenv.Kafka(t)
	name := testenv.Name(t, "demoload")
	cfg := config{
		Roles: roles, Brokers: brokers, Topic: name, GroupPrefix: name,
		Partitions: 3, Rate: 20, SlowRate: 5, ReadFirst: 30,
	}
	testenv.DeleteTopicOnCleanup(t, name)
	c := testenv.KafkaClient(t)
	for _, r := range roles[1:] {
		testenv.DeleteGroupOnCleanup(t, cfg.group(r))
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runWorkload(ctx, cfg, log) }()
	wait := func(d time.Duration) {
		select {
		case err := <-done:
			t.Fatalf("the workload ended early: %v", err)
		case <-time.After(d):
		}
	}

	wait(10 * time.Second)
	first := viewGroups(t, c, cfg)
	wait(3 * time.Second)
	second := viewGroups(t, c, cfg)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runWorkload after cancel: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the workload did not stop within a minute of its context ending")
	}

	const behind = 50 // ten seconds at 20/s minus at most 5/s read is 150
	for _, r := range roles[1:] {
		t.Logf("%s: first %+v second %+v", r, first[r], second[r])
	}
	if h := second["healthy"]; h.lag > 20 || h.members != 1 {
		t.Errorf("healthy: lag %d with %d members, want at most 20 with 1", h.lag, h.members)
	}
	if s := second["slow"]; s.lag < behind || s.members != 1 || !moved(first["slow"], s) {
		t.Errorf("slow: lag %d, %d members, commits moved %v; want lag of %d or more, 1 member, moving commits",
			s.lag, s.members, moved(first["slow"], s), behind)
	}
	if s := second["stall"]; s.lag < behind || s.members != 1 || s.state != "Stable" || moved(first["stall"], s) || !allCommitted(s, cfg.Partitions) {
		t.Errorf("stall: lag %d, %d members, state %s, commits moved %v, committed %v; want lag of %d or more, 1 member, Stable, fixed commits on every partition",
			s.lag, s.members, s.state, moved(first["stall"], s), s.committed, behind)
	}
	if s := second["stop"]; s.lag < behind || s.members != 0 || s.state != "Empty" || moved(first["stop"], s) || !allCommitted(s, cfg.Partitions) {
		t.Errorf("stop: lag %d, %d members, state %s, commits moved %v, committed %v; want lag of %d or more, no member, Empty, fixed commits on every partition",
			s.lag, s.members, s.state, moved(first["stop"], s), s.committed, behind)
	}

	// The topic exists now: a second start uses it as it is.
	if n, err := ensureTopic(t.Context(), cfg, log); err != nil || n != cfg.Partitions {
		t.Errorf("ensureTopic on an existing topic = %d, %v; want %d, nil", n, err, cfg.Partitions)
	}
}

func viewGroups(t *testing.T, c *kafka.Client, cfg config) map[string]groupView {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	parts := make([]kafka.OffsetRequest, cfg.Partitions)
	ids := make([]int, cfg.Partitions)
	for p := range parts {
		parts[p], ids[p] = kafka.LastOffsetOf(p), p
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cfg.Topic: parts}})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", cfg.Topic, err)
	}
	end := map[int]int64{}
	for _, po := range lo.Topics[cfg.Topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", cfg.Topic, po.Partition, po.Error)
		}
		end[po.Partition] = po.LastOffset
	}

	views := map[string]groupView{}
	for _, r := range roles[1:] {
		g := cfg.group(r)
		dg, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{g}})
		if err != nil || len(dg.Groups) != 1 || dg.Groups[0].Error != nil {
			t.Fatalf("describe group %s: %v %+v", g, err, dg)
		}
		of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g, Topics: map[string][]int{cfg.Topic: ids}})
		if err == nil {
			err = of.Error
		}
		if err != nil {
			t.Fatalf("fetch offsets of group %s: %v", g, err)
		}
		v := groupView{state: dg.Groups[0].GroupState, members: len(dg.Groups[0].Members), committed: map[int]int64{}}
		for _, p := range of.Topics[cfg.Topic] {
			if p.Error != nil {
				t.Fatalf("fetch offsets of group %s on %s/%d: %v", g, cfg.Topic, p.Partition, p.Error)
			}
			v.committed[p.Partition] = p.CommittedOffset
			v.lag += end[p.Partition] - max(p.CommittedOffset, 0)
		}
		views[r] = v
	}
	return views
}

// moved reports whether any partition's committed offset changed.
func moved(a, b groupView) bool {
	for p, o := range b.committed {
		if a.committed[p] != o {
			return true
		}
	}
	return false
}

func allCommitted(v groupView, partitions int) bool {
	for p := range partitions {
		if o, ok := v.committed[p]; !ok || o < 0 {
			return false
		}
	}
	return true
}
