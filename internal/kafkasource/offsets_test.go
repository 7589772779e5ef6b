package kafkasource

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestOffsetFetchBatching reads 40 groups from two kfake brokers: one
// OffsetFetch per coordinator from brokers that take version 8, one per
// group from brokers that speak Kafka 2.8's versions, the same offsets
// either way. ApiVersions is asked once per broker, not every tick (kafka-go
// asks it too, on each new connection: the concurrent fetches of Kafka 2.8
// open more of them, so only batched ticks are checked, and there, since the
// three ListOffsets per leader run at once, a later tick may still open
// one: the fewest of three ticks after the first must send none).
func TestOffsetFetchBatching(t *testing.T) {
	commits := map[string][]kafka.OffsetCommit{}
	for i := range 40 {
		commits[fmt.Sprintf("g%02d", i)] = []kafka.OffsetCommit{{Partition: 0, Offset: int64(i % 3)}, {Partition: 1, Offset: 1}}
	}
	var offsets []map[string]map[int32]int64
	for _, tc := range []struct {
		name         string
		opts         []kfake.Opt
		offsetFetch  func(coordinators int) int64
		apiVersions2 int64 // fewest ApiVersions of a tick after the first; -1 unchecked
	}{
		{"Kafka 3.0 and later", nil, func(coordinators int) int64 { return int64(coordinators) }, 0},
		{"Kafka 2.8", []kfake.Opt{kfake.MaxVersions(kversion.V2_8_0())}, func(int) int64 { return 40 }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, addr := fakeOrders(ctx, t, 2, []int{3, 3}, commits, tc.opts...)
			coordinators := map[int32]bool{}
			for g := range commits {
				coordinators[c.CoordinatorFor(g)] = true
			}
			if len(coordinators) != 2 {
				t.Logf("the 40 groups have %d coordinators", len(coordinators))
			}
			r := fakeSource(t, addr, "")
			var s snapshot.Snapshot
			apiVersions := int64(-1)
			for i := range 4 {
				s = r.Take(ctx, time.Now())
				if s.Err != nil || len(s.Groups) != 40 {
					t.Fatalf("snapshot: %v, %d groups", s.Err, len(s.Groups))
				}
				if n := s.Stats.RequestsByType["ApiVersions"]; i > 0 && (apiVersions < 0 || n < apiVersions) {
					apiVersions = n
				}
			}
			if got, want := s.Stats.RequestsByType["OffsetFetch"], tc.offsetFetch(len(coordinators)); got != want {
				t.Errorf("OffsetFetch requests %d, want %d (%v)", got, want, s.Stats.RequestsByType)
			}
			if tc.apiVersions2 >= 0 && apiVersions != tc.apiVersions2 {
				t.Errorf("ticks after the first sent at least %d ApiVersions, want %d (%v)", apiVersions, tc.apiVersions2, s.Stats.RequestsByType)
			}
			got := map[string]map[int32]int64{}
			for _, g := range s.Groups {
				if g.Err != nil {
					t.Errorf("group %s: %v", g.ID, g.Err)
				}
				got[g.ID] = map[int32]int64{}
				for _, p := range g.Partitions {
					if !p.HasCommitted {
						t.Errorf("group %s partition %d: no committed offset", g.ID, p.Partition)
					}
					got[g.ID][p.Partition] = p.Committed
				}
			}
			offsets = append(offsets, got)
		})
	}
	if len(offsets) == 2 && !reflect.DeepEqual(offsets[0], offsets[1]) {
		t.Errorf("batched and one-per-group offsets differ:\n%v\n%v", offsets[0], offsets[1])
	}
	if len(offsets) == 2 && offsets[0]["g04"][0] != 1 {
		t.Errorf("g04 partition 0 committed %d, want 1", offsets[0]["g04"][0])
	}
}

// TestOffsetFetchBatchFails: a batched OffsetFetch that the broker answers
// by closing the connection is asked again within the tick: the broker's
// versions are forgotten and asked again, the groups' coordinator is looked
// up (one FindCoordinator for both), and one more OffsetFetch reads every
// group.
func TestOffsetFetchBatchFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	commits := map[string][]kafka.OffsetCommit{"a": {{Partition: 0, Offset: 1}}, "b": {{Partition: 0, Offset: 2}}}
	c, addr := fakeOrders(ctx, t, 1, []int{3}, commits)
	failed := false
	c.ControlKey(kmsg.OffsetFetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if failed {
			return nil, nil, false
		}
		failed = true
		return nil, fmt.Errorf("injected"), true // kfake closes the connection
	})
	r := fakeSource(t, addr, "")
	s := r.Take(ctx, time.Now())
	if s.Err != nil || len(s.Groups) != 2 {
		t.Fatalf("snapshot: %v %+v", s.Err, s.Groups)
	}
	for _, g := range s.Groups {
		if g.Err != nil || len(g.Partitions) != 1 || !g.Partitions[0].HasCommitted {
			t.Errorf("group %s after a failed batch asked again: %v %+v", g.ID, g.Err, g.Partitions)
		}
	}
	by := s.Stats.RequestsByType
	if !failed || s.Stats.Retries != 2 || by["OffsetFetch"] != 2 || by["FindCoordinator"] != 1 {
		t.Errorf("retries %d, requests %v; want 2 retries (both groups), two OffsetFetch, one FindCoordinator", s.Stats.Retries, by)
	}
	if !r.versions[0].supports(kmsg.OffsetFetch, offsetFetchBatchVersion) {
		t.Errorf("versions after the retry: %v; want broker 0 batching again", r.versions)
	}
}

func TestOffsetFetchChunks(t *testing.T) {
	mk := func(n, idLen int) []*snapshot.Group {
		gs := make([]*snapshot.Group, n)
		for i := range gs {
			gs[i] = &snapshot.Group{ID: strings.Repeat("x", idLen)}
		}
		return gs
	}
	cases := []struct {
		name   string
		groups []*snapshot.Group
		want   []int
	}{
		{"none: no request", nil, nil},
		{"one group", mk(1, 10), []int{1}},
		{"20,000 groups of 27 characters fit one request", mk(20000, 27), []int{20000}},
		{"30,000 groups of 40 characters: 65 bytes each, split at 1 MiB", mk(30000, 40), []int{16131, 13869}},
		{"a group larger than a request still goes, alone", mk(2, maxOffsetFetchRequest), []int{1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for _, c := range offsetFetchChunks(tc.groups) {
				got = append(got, len(c))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("chunks %v, want %v", got, tc.want)
			}
		})
	}
}
