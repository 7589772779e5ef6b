package snapshot

import (
	"reflect"
	"testing"
)

func TestPartitionLag(t *testing.T) {
	cases := []struct {
		name                 string
		p                    Partition
		lag                  int64
		ok, clamped, belowLS bool
	}{
		{"behind", Partition{Committed: 10, HasCommitted: true, LogEnd: 25, LogStart: 0, HasOffsets: true}, 15, true, false, false},
		{"caught up", Partition{Committed: 25, HasCommitted: true, LogEnd: 25, HasOffsets: true}, 0, true, false, false},
		{"log-end read before a newer commit: clamped to 0", Partition{Committed: 30, HasCommitted: true, LogEnd: 25, HasOffsets: true}, 0, true, true, false},
		{"never committed: no lag at all", Partition{LogEnd: 25, HasOffsets: true}, 0, false, false, false},
		{"log offsets failed: no lag", Partition{Committed: 3, HasCommitted: true}, 0, false, false, false},
		{"retention deleted unread messages", Partition{Committed: 5, HasCommitted: true, LogStart: 8, LogEnd: 20, HasOffsets: true}, 15, true, false, true},
		{"committed exactly at log start is not below", Partition{Committed: 8, HasCommitted: true, LogStart: 8, LogEnd: 20, HasOffsets: true}, 12, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lag, ok, clamped := tc.p.Lag()
			if lag != tc.lag || ok != tc.ok || clamped != tc.clamped {
				t.Errorf("Lag() = %d, %v, %v; want %d, %v, %v", lag, ok, clamped, tc.lag, tc.ok, tc.clamped)
			}
			if got := tc.p.BelowLogStart(); got != tc.belowLS {
				t.Errorf("BelowLogStart() = %v, want %v", got, tc.belowLS)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	p := func(topic string, n int32, committed, end int64, has bool) Partition {
		return Partition{Topic: topic, Partition: n, Committed: committed, HasCommitted: has, LogEnd: end, HasOffsets: true}
	}
	cases := []struct {
		name string
		g    Group
		want GroupLag
	}{
		{"empty group: no max", Group{}, GroupLag{}},
		{"max and total over topics, uncommitted ignored", Group{Partitions: []Partition{
			p("a", 0, 5, 10, true), p("a", 1, 0, 99, false), p("b", 0, 1, 21, true),
		}}, GroupLag{TotalLag: 25, TotalReadable: 25, MaxLag: 20, MaxTopic: "b", MaxPartition: 0, HasMax: true, Topics: []string{"a", "b"}}},
		{"tie goes to the first partition", Group{Partitions: []Partition{
			p("a", 0, 0, 7, true), p("a", 1, 0, 7, true),
		}}, GroupLag{TotalLag: 14, TotalReadable: 14, MaxLag: 7, MaxTopic: "a", MaxPartition: 0, HasMax: true, Topics: []string{"a"}}},
		{"all caught up: max is 0 and present", Group{Partitions: []Partition{p("a", 3, 9, 9, true)}},
			GroupLag{MaxTopic: "a", MaxPartition: 3, HasMax: true, Topics: []string{"a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.Summarise(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadableLag(t *testing.T) {
	cases := []struct {
		name string
		p    Partition
		lag  int64
		ok   bool
	}{
		{"no transactions: Kafka's lag", Partition{Committed: 10, HasCommitted: true, LogEnd: 25, HasOffsets: true}, 15, true},
		{"one commit marker after the committed offset, found by reading", Partition{Committed: 20, HasCommitted: true, LogEnd: 21, HasOffsets: true, Skipped: 1}, 0, true},
		{"the same, not read: an upper bound, Kafka's lag", Partition{Committed: 20, HasCommitted: true, LogEnd: 21, HasOffsets: true}, 1, true},
		{"read_committed consumer at the LSO behind an open transaction", Partition{Committed: 21, HasCommitted: true, LogEnd: 31, Pending: 10, HasOffsets: true}, 0, true},
		{"behind the LSO: only the stable records count", Partition{Committed: 5, HasCommitted: true, LogEnd: 31, Pending: 10, HasOffsets: true}, 16, true},
		{"read_uncommitted consumer inside the open transaction", Partition{Committed: 25, HasCommitted: true, LogEnd: 31, Pending: 10, HasOffsets: true}, 6, true},
		{"commit read after the log end: clamped", Partition{Committed: 40, HasCommitted: true, LogEnd: 31, HasOffsets: true}, 0, true},
		{"skipped larger than the span (a race): never negative", Partition{Committed: 20, HasCommitted: true, LogEnd: 21, HasOffsets: true, Skipped: 3}, 0, true},
		{"never committed: none", Partition{LogEnd: 25, HasOffsets: true}, 0, false},
		{"log offsets unreadable: none", Partition{Committed: 3, HasCommitted: true}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lag, ok := tc.p.ReadableLag()
			if lag != tc.lag || ok != tc.ok {
				t.Errorf("ReadableLag() = %d, %v; want %d, %v", lag, ok, tc.lag, tc.ok)
			}
		})
	}
}
