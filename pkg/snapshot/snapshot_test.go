package snapshot

import (
	"encoding/binary"
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
	p := func(topic string, n int, committed, end int64, has bool) Partition {
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
		}}, GroupLag{TotalLag: 25, MaxLag: 20, MaxTopic: "b", MaxPartition: 0, HasMax: true, Topics: []string{"a", "b"}}},
		{"tie goes to the first partition", Group{Partitions: []Partition{
			p("a", 0, 0, 7, true), p("a", 1, 0, 7, true),
		}}, GroupLag{TotalLag: 14, MaxLag: 7, MaxTopic: "a", MaxPartition: 0, HasMax: true, Topics: []string{"a"}}},
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

func assignment(topics map[string][]int32, order []string) []byte {
	b := binary.BigEndian.AppendUint16(nil, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(order)))
	for _, tp := range order {
		b = binary.BigEndian.AppendUint16(b, uint16(len(tp)))
		b = append(b, tp...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(topics[tp])))
		for _, p := range topics[tp] {
			b = binary.BigEndian.AppendUint32(b, uint32(p))
		}
	}
	return binary.BigEndian.AppendUint32(b, 0xffffffff) // null user data
}

func TestDecodeAssignment(t *testing.T) {
	good := assignment(map[string][]int32{"orders": {0, 2}, "pay": {1}}, []string{"orders", "pay"})
	cases := []struct {
		name    string
		in      []byte
		want    map[string][]int
		wantErr bool
	}{
		{"member between rebalances has no assignment", nil, nil, false},
		{"two topics", good, map[string][]int{"orders": {0, 2}, "pay": {1}}, false},
		{"truncated in a partition list", good[:len(good)-10], nil, true},
		{"absurd topic count", []byte{0, 1, 0x7f, 0xff, 0xff, 0xff}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAssignment(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPartitionsOf(t *testing.T) {
	m := Member{MemberID: "m1", Assigned: map[string][]int{"a": {1, 2}}}
	g := &Group{Members: []Member{m}}
	got := partitionsOf(g, map[topicPartition]int64{{"a", 1}: 7, {"b", 0}: 3})
	if len(got) != 3 {
		t.Fatalf("got %d partitions, want committed a/1, b/0 and assigned a/2: %+v", len(got), got)
	}
	want := []struct {
		topic     string
		partition int
		committed bool
		owner     string
	}{{"a", 1, true, "m1"}, {"a", 2, false, "m1"}, {"b", 0, true, ""}}
	for i, w := range want {
		p := got[i]
		owner := ""
		if p.Owner != nil {
			owner = p.Owner.MemberID
		}
		if p.Topic != w.topic || p.Partition != w.partition || p.HasCommitted != w.committed || owner != w.owner {
			t.Errorf("partition %d: got %s/%d committed=%v owner=%q, want %+v", i, p.Topic, p.Partition, p.HasCommitted, owner, w)
		}
	}
}

func TestCountingConnFraming(t *testing.T) {
	frame := func(n int) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(n)), make([]byte, n)...) }
	stream := append(append(frame(10), frame(0)...), frame(300)...)
	cases := []struct {
		name  string
		chunk int
	}{
		{"whole stream in one write", len(stream)},
		{"byte by byte: size prefixes split across writes", 1},
		{"odd chunks", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &RequestCounter{}
			c := &countingConn{rc: rc}
			for i := 0; i < len(stream); i += tc.chunk {
				c.scan(stream[i:min(i+tc.chunk, len(stream))])
			}
			if got := rc.Count(); got != 3 {
				t.Errorf("counted %d requests, want 3", got)
			}
		})
	}
}
