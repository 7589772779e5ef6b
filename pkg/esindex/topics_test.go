package esindex

import (
	"slices"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// topicsSnapshot is tickSnapshot(i, 3, 6) (topic-0 partitions 0-2, topic-1
// partitions 0-2, topic-1/2 without a log-end offset, its documents
// carrying an error, so that no reader takes them), where group-000
// reads only topic-0, and group-001 saw topic-0/0's log-end offset 5 higher
// than the others did (the highest wins).
func topicsSnapshot(i int) snapshot.Snapshot {
	s := tickSnapshot(i, 3, 6)
	s.Groups[0].Partitions = s.Groups[0].Partitions[:3]
	s.Groups[1].Partitions[0].LogEnd += 5
	return s
}

// TestTopics writes 3 ticks and reads the topics, their log-end offsets and
// their groups at the latest tick and at an earlier instant.
func TestTopics(t *testing.T) {
	names, es := installed(t)
	w := newWriter(t, es, names, fastRetries(t.TempDir()))
	const ticks = 3
	for i := range ticks {
		if _, err := w.Write(ctxT(t), topicsSnapshot(i)); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
	refresh(t, es, names)
	c := clientOf(t, es, names)
	tickAt := func(i int) time.Time { return tick0.Add(time.Duration(i) * 30 * time.Second) }
	last := tickAt(ticks - 1)

	cases := []struct {
		name     string
		reason   string
		at       time.Time
		tick     time.Time
		topic0   []int64 // log-end offsets of topic-0
		topic1   []int64
		groups1  []string // readers of topic-1
		lookback time.Duration
	}{
		{"latest", "the last tick's offsets, topic-0/0 from group-001", last.Add(10 * time.Second), last,
			[]int64{1007, 1004, 1006}, []int64{1008, 1010}, []string{"group-001", "group-002"}, time.Hour},
		{"at the first tick", "an instant sees the tick at or before it", tickAt(0).Add(29 * time.Second), tickAt(0),
			[]int64{1005, 1002, 1004}, []int64{1006, 1008}, []string{"group-001", "group-002"}, time.Hour},
		{"exactly at a tick", "the tick at the instant counts", tickAt(1), tickAt(1),
			[]int64{1006, 1003, 1005}, []int64{1007, 1009}, []string{"group-001", "group-002"}, time.Hour},
		{"before any tick", "nothing then", tickAt(0).Add(-time.Second), time.Time{}, nil, nil, nil, time.Hour},
		{"lookback too short", "the last tick is older than the lookback", last.Add(time.Hour), time.Time{}, nil, nil, nil, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := TopicQuery{At: tc.at, Lookback: tc.lookback, Cluster: "test"}
			topics, tick, err := c.Topics(ctxT(t), q)
			if err != nil {
				t.Fatal(err)
			}
			wantTopics := []string{"topic-0", "topic-1"}
			if tc.tick.IsZero() {
				wantTopics = nil
			}
			if !tick.Equal(tc.tick) || !slices.Equal(topics, wantTopics) {
				t.Errorf("Topics: %v at tick %s, want %v at %s: %s", topics, tick, wantTopics, tc.tick, tc.reason)
			}
			for _, want := range []struct {
				topic string
				off   []int64
			}{{"topic-0", tc.topic0}, {"topic-1", tc.topic1}} {
				q.Topic = want.topic
				off, tick, err := c.TopicOffsets(ctxT(t), q)
				if err != nil {
					t.Fatal(err)
				}
				if !tick.Equal(tc.tick) || !slices.Equal(off, want.off) {
					t.Errorf("TopicOffsets(%s): %v at tick %s, want %v at %s: %s", want.topic, off, tick, want.off, tc.tick, tc.reason)
				}
			}
			q.Topic = "topic-1"
			groups, _, err := c.TopicGroups(ctxT(t), q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(groups, tc.groups1) {
				t.Errorf("TopicGroups(topic-1): %v, want %v: %s", groups, tc.groups1, tc.reason)
			}
		})
	}

	t.Run("unknown topic and cluster", func(t *testing.T) {
		q := TopicQuery{At: last, Lookback: time.Hour, Cluster: "test", Topic: "nope"}
		if off, tick, err := c.TopicOffsets(ctxT(t), q); err != nil || len(off) != 0 || !tick.Equal(last) {
			t.Errorf("unknown topic: %v at %s, %v; want none at the last tick", off, tick, err)
		}
		if groups, _, err := c.TopicGroups(ctxT(t), q); err != nil || len(groups) != 0 {
			t.Errorf("unknown topic: groups %v, %v; want none", groups, err)
		}
		q.Cluster = "elsewhere"
		if topics, tick, err := c.Topics(ctxT(t), q); err != nil || len(topics) != 0 || !tick.IsZero() {
			t.Errorf("unknown cluster: %v at %s, %v; want nothing and no tick", topics, tick, err)
		}
	})

	t.Run("missing fields", func(t *testing.T) {
		if _, _, err := c.TopicOffsets(ctxT(t), TopicQuery{At: last, Lookback: time.Hour, Cluster: "test"}); err == nil {
			t.Error("TopicOffsets without a topic: no error")
		}
		if _, _, err := c.Topics(ctxT(t), TopicQuery{At: last, Lookback: time.Hour}); err == nil {
			t.Error("Topics without a cluster: no error")
		}
	})
}

// TestTopicsNoDataStream: a namespace the collector never wrote is no
// error, only no tick.
func TestTopicsNoDataStream(t *testing.T) {
	names := testNames(t)
	c := clientOf(t, testenv.ESClient(t), names)
	topics, tick, err := c.Topics(ctxT(t), TopicQuery{At: tick0, Lookback: time.Hour, Cluster: "test"})
	if err != nil || len(topics) != 0 || !tick.IsZero() {
		t.Errorf("%v at %s, %v; want nothing", topics, tick, err)
	}
}
