package kafkasource

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/describegroups"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestApplyDescribeGroup is the proof of how a group's type is told from
// the protocol type ListGroups gave and DescribeGroups' answer, with the
// answers Kafka 4.1.2 gave (see describe).
func TestApplyDescribeGroup(t *testing.T) {
	member := describegroups.ResponseGroupMember{MemberID: "c-1", ClientID: "c", ClientHost: "/10.0.0.1",
		MemberAssignment: assignment(map[string][]int32{"orders": {0, 1}}, []string{"orders"})}
	dead := describegroups.ResponseGroup{GroupState: "Dead"}
	cases := []struct {
		name      string
		listed    string
		rg        describegroups.ResponseGroup
		wantType  string
		wantState string
		consumer  bool
		members   int
		assigned  bool
		wantErr   error
	}{
		{"a classic group of consumers, Stable: described, assignment decoded", "consumer",
			describegroups.ResponseGroup{GroupState: "Stable", ProtocolType: "consumer", Members: []describegroups.ResponseGroupMember{member}},
			snapshot.TypeClassic, "Stable", false, 1, true, nil},
		{"a classic group of consumers, Empty", "consumer",
			describegroups.ResponseGroup{GroupState: "Empty", ProtocolType: "consumer"}, snapshot.TypeClassic, "Empty", false, 0, false, nil},
		{"offsets committed without joining: classic, Empty, no protocol type", "",
			describegroups.ResponseGroup{GroupState: "Empty"}, snapshot.TypeClassic, "Empty", false, 0, false, nil},
		{"Kafka Connect's workers: classic, members kept, assignment not decoded", "connect",
			describegroups.ResponseGroup{GroupState: "Stable", ProtocolType: "connect", Members: []describegroups.ResponseGroupMember{member}},
			snapshot.TypeClassic, "Stable", false, 1, false, nil},
		{"listed as consumer, Dead without members: asked of ConsumerGroupDescribe, state unknown so far", "consumer",
			dead, snapshot.TypeConsumer, "", true, 0, false, nil},
		{"the same answer at DescribeGroups v6 (GROUP_ID_NOT_FOUND)", "consumer",
			describegroups.ResponseGroup{ErrorCode: int16(kafka.GroupIdNotFound), GroupState: "Dead"}, snapshot.TypeConsumer, "", true, 0, false, nil},
		{"a share group: its type, no state (Dead would be false)", "share", dead, snapshot.TypeShare, "", false, 0, false, nil},
		{"a streams group: likewise", "streams", dead, snapshot.TypeStreams, "", false, 0, false, nil},
		{"a type newer than this code: the protocol type it is listed with", "future", dead, "future", "", false, 0, false, nil},
		{"no protocol type and Dead: a classic group gone since the listing", "", dead, snapshot.TypeClassic, "Dead", false, 0, false, nil},
		{"an error: carried, type unknown when the listing cannot tell", "consumer",
			describegroups.ResponseGroup{ErrorCode: int16(kafka.GroupLoadInProgress)}, "", "", false, 0, false, kafka.GroupLoadInProgress},
		{"an error on a group without protocol type: classic all the same", "",
			describegroups.ResponseGroup{ErrorCode: int16(kafka.NotCoordinatorForGroup)}, snapshot.TypeClassic, "", false, 0, false, kafka.NotCoordinatorForGroup},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &snapshot.Group{ID: "g", ProtocolType: tc.listed}
			rg := tc.rg
			rg.GroupID = "g"
			consumer := applyDescribeGroup(g, &rg)
			if g.Type != tc.wantType || g.State != tc.wantState || consumer != tc.consumer || len(g.Members) != tc.members {
				t.Errorf("type %q, state %q, ask ConsumerGroupDescribe %v, %d members; want %q, %q, %v, %d",
					g.Type, g.State, consumer, len(g.Members), tc.wantType, tc.wantState, tc.consumer, tc.members)
			}
			if tc.members > 0 && (g.Members[0].Assigned != nil) != tc.assigned {
				t.Errorf("member assignment %v; want one decoded: %v", g.Members[0].Assigned, tc.assigned)
			}
			if !errors.Is(g.Err, tc.wantErr) || (tc.wantErr == nil) != (g.Err == nil) {
				t.Errorf("err %v, want %v", g.Err, tc.wantErr)
			}
		})
	}
}

func TestApplyConsumerGroup(t *testing.T) {
	tp := func(topic string, ps ...int32) kmsg.AssignmentTopicPartition {
		a := kmsg.NewAssignmentTopicPartition()
		a.Topic, a.Partitions = topic, ps
		a.TopicID = [16]byte{1, 2, 3}
		return a
	}
	mem := func(id, client string, tps ...kmsg.AssignmentTopicPartition) kmsg.ConsumerGroupDescribeResponseGroupMember {
		m := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		m.MemberID, m.ClientID, m.ClientHost = id, client, "/10.0.0.1"
		m.Assignment.TopicPartitions = tps
		// The target may differ while the member moves towards it: not
		// what it owns.
		m.TargetAssignment.TopicPartitions = []kmsg.AssignmentTopicPartition{tp("elsewhere", 9)}
		return m
	}
	msg := "Group g is not a consumer group."
	cases := []struct {
		name      string
		rg        kmsg.ConsumerGroupDescribeResponseGroup
		want      snapshot.Group
		wantErr   error
		errSubstr string
	}{
		{"Stable with two members on two topics, sorted by member id",
			kmsg.ConsumerGroupDescribeResponseGroup{State: "Stable", Epoch: 7, Members: []kmsg.ConsumerGroupDescribeResponseGroupMember{
				mem("zz", "c2", tp("pay", 1)), mem("aa", "c1", tp("orders", 0, 2), tp("pay", 0)),
			}},
			snapshot.Group{Type: snapshot.TypeConsumer, State: "Stable", Epoch: 7, Members: []snapshot.Member{
				{MemberID: "aa", ClientID: "c1", Host: "/10.0.0.1", Assigned: map[string][]int32{"orders": {0, 2}, "pay": {0}}},
				{MemberID: "zz", ClientID: "c2", Host: "/10.0.0.1", Assigned: map[string][]int32{"pay": {1}}},
			}}, nil, ""},
		{"a member between assignments owns nothing",
			kmsg.ConsumerGroupDescribeResponseGroup{State: "Reconciling", Epoch: 3, Members: []kmsg.ConsumerGroupDescribeResponseGroupMember{mem("aa", "c1")}},
			snapshot.Group{Type: snapshot.TypeConsumer, State: "Reconciling", Epoch: 3, Members: []snapshot.Member{{MemberID: "aa", ClientID: "c1", Host: "/10.0.0.1"}}}, nil, ""},
		{"Empty: no members",
			kmsg.ConsumerGroupDescribeResponseGroup{State: "Empty", Epoch: 2}, snapshot.Group{Type: snapshot.TypeConsumer, State: "Empty", Epoch: 2}, nil, ""},
		{"GROUP_ID_NOT_FOUND: gone since the listing, Dead as DescribeGroups said, type unknown",
			kmsg.ConsumerGroupDescribeResponseGroup{ErrorCode: int16(kafka.GroupIdNotFound), ErrorMessage: &msg},
			snapshot.Group{State: "Dead"}, nil, ""},
		{"another error: carried with Kafka's message, the state unknown",
			kmsg.ConsumerGroupDescribeResponseGroup{ErrorCode: int16(kafka.GroupAuthorizationFailed), ErrorMessage: &msg},
			snapshot.Group{Type: snapshot.TypeConsumer}, kafka.GroupAuthorizationFailed, msg},
		{"a topic without a name: an error, the rest kept",
			kmsg.ConsumerGroupDescribeResponseGroup{State: "Stable", Epoch: 1, Members: []kmsg.ConsumerGroupDescribeResponseGroupMember{mem("aa", "c1", tp("", 0), tp("orders", 1))}},
			snapshot.Group{Type: snapshot.TypeConsumer, State: "Stable", Epoch: 1, Members: []snapshot.Member{{MemberID: "aa", ClientID: "c1", Host: "/10.0.0.1", Assigned: map[string][]int32{"orders": {1}}}}},
			nil, "has no name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// As describe leaves a group it sends to ConsumerGroupDescribe.
			g := snapshot.Group{ID: "g", Type: snapshot.TypeConsumer, ProtocolType: "consumer"}
			rg := tc.rg
			rg.Group = "g"
			applyConsumerGroup(&g, &rg)
			err := g.Err
			g.Err = nil
			tc.want.ID, tc.want.ProtocolType = "g", "consumer"
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got %+v\nwant %+v", g, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			if tc.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), tc.errSubstr)) {
				t.Errorf("err %v, want one containing %q", err, tc.errSubstr)
			}
			if tc.wantErr == nil && tc.errSubstr == "" && err != nil {
				t.Errorf("err %v, want none", err)
			}
		})
	}
}

func TestKeepsOffsets(t *testing.T) {
	cases := []struct {
		name string
		g    snapshot.Group
		want bool
	}{
		{"classic consumers", snapshot.Group{Type: snapshot.TypeClassic, ProtocolType: "consumer"}, true},
		{"offsets committed without joining", snapshot.Group{Type: snapshot.TypeClassic}, true},
		{"consumer protocol", snapshot.Group{Type: snapshot.TypeConsumer, ProtocolType: "consumer"}, true},
		{"Kafka Streams commits as a consumer does", snapshot.Group{Type: snapshot.TypeStreams, ProtocolType: "streams"}, true},
		{"Kafka Connect's workers commit nothing", snapshot.Group{Type: snapshot.TypeClassic, ProtocolType: "connect"}, false},
		{"share groups keep their positions elsewhere", snapshot.Group{Type: snapshot.TypeShare, ProtocolType: "share"}, false},
		{"a newer type may commit: one request finds out", snapshot.Group{Type: "future", ProtocolType: "future"}, true},
		{"describe failed, listed as consumer: may have commits", snapshot.Group{ProtocolType: "consumer"}, true},
		{"describe failed, listed as connect: none", snapshot.Group{ProtocolType: "connect"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := keepsOffsets(&tc.g); got != tc.want {
				t.Errorf("keepsOffsets(%+v) = %v, want %v", tc.g, got, tc.want)
			}
		})
	}
}

// broker is one end of a connection for RawExchange: it reads the request
// written to it and answers with reply(request).
type broker struct {
	in    bytes.Buffer
	out   bytes.Buffer
	reply func(req []byte) []byte
}

func (b *broker) Write(p []byte) (int, error) {
	b.in.Write(p)
	b.out.Write(b.reply(p))
	return len(p), nil
}

func (b *broker) Read(p []byte) (int, error) { return b.out.Read(p) }

// frame builds a response: size, correlation id, tagged fields, body.
func frame(correlation int32, tags []byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(tags)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(correlation))
	b = append(b, tags...)
	return append(b, body...)
}

func TestRawExchange(t *testing.T) {
	res := kmsg.NewPtrConsumerGroupDescribeResponse()
	rg := kmsg.NewConsumerGroupDescribeResponseGroup()
	rg.Group, rg.State, rg.Epoch = "g", "Stable", 4
	res.Groups = append(res.Groups, rg)
	body := res.AppendTo(nil)
	supported := map[protocol.ApiKey]int16{69: 0}
	// One tagged field (tag 0, three bytes) in the response header: a later
	// Kafka may send some, and they must be skipped.
	tags := []byte{1, 0, 3, 'a', 'b', 'c'}
	echo := func(req []byte) int32 { return int32(binary.BigEndian.Uint32(req[8:])) }

	t.Run("request framed with header v2, answer decoded past tagged fields", func(t *testing.T) {
		b := &broker{reply: func(req []byte) []byte { return frame(echo(req), tags, body) }}
		r := consumerGroupDescribe(1, []string{"g", "h"}, "lagwatch-test")
		if !r.Required(supported) {
			t.Fatal("Required = false: kafka-go would encode a message it cannot")
		}
		m, err := r.RawExchange(b)
		if err != nil {
			t.Fatal(err)
		}
		got := m.(*rawResponse)
		if got.Unsupported || m.ApiKey() != 69 {
			t.Fatalf("response %+v, key %d", got, m.ApiKey())
		}
		if gs := got.Res.(*kmsg.ConsumerGroupDescribeResponse).Groups; len(gs) != 1 || gs[0].State != "Stable" || gs[0].Epoch != 4 {
			t.Errorf("decoded groups %+v", gs)
		}
		// The request as written: size, key 69, v0, correlation id, client
		// id as a nullable string, no tagged fields, then the body.
		w := b.in.Bytes()
		if size := binary.BigEndian.Uint32(w); int(size) != len(w)-4 {
			t.Fatalf("size prefix %d for %d bytes", size, len(w)-4)
		}
		if key, ver := binary.BigEndian.Uint16(w[4:]), binary.BigEndian.Uint16(w[6:]); key != 69 || ver != 0 {
			t.Errorf("api key %d version %d, want 69 and 0", key, ver)
		}
		n := int(binary.BigEndian.Uint16(w[12:]))
		if id := string(w[14 : 14+n]); id != "lagwatch-test" || w[14+n] != 0 {
			t.Errorf("client id %q, tagged fields %d", id, w[14+n])
		}
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		if err := req.ReadFrom(w[15+n:]); err != nil || !reflect.DeepEqual(req.Groups, []string{"g", "h"}) {
			t.Errorf("request body: %v, groups %v", err, req.Groups)
		}
	})

	t.Run("a broker that does not announce the key: nothing sent", func(t *testing.T) {
		b := &broker{reply: func([]byte) []byte { t.Error("a request was written"); return nil }}
		r := consumerGroupDescribe(1, []string{"g"}, "")
		if !r.Required(map[protocol.ApiKey]int16{15: 5}) {
			t.Fatal("Required = false")
		}
		m, err := r.RawExchange(b)
		if err != nil || !m.(*rawResponse).Unsupported || b.in.Len() != 0 {
			t.Errorf("response %+v, err %v, %d bytes written", m, err, b.in.Len())
		}
	})

	for _, tc := range []struct {
		name  string
		reply func(req []byte) []byte
		want  string
	}{
		{"another correlation id: the stream is out of step",
			func(req []byte) []byte { return frame(echo(req)+1, tags, body) }, "correlation id"},
		{"a size past the bound", func(req []byte) []byte { return binary.BigEndian.AppendUint32(nil, maxRawResponse+1) }, "out of range"},
		{"cut short", func(req []byte) []byte { return frame(echo(req), tags, body)[:20] }, "unexpected EOF"},
		{"tagged fields cut short", func(req []byte) []byte { return frame(echo(req), []byte{1, 0, 50}, nil) }, "tagged fields"},
		{"a body kmsg cannot read", func(req []byte) []byte { return frame(echo(req), []byte{0}, []byte{0, 0}) }, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := consumerGroupDescribe(1, []string{"g"}, "")
			r.Required(supported)
			_, err := r.RawExchange(&broker{reply: tc.reply})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSkipTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		rest int
		ok   bool
	}{
		{"none", []byte{0, 9, 9}, 2, true},
		{"two fields", []byte{2, 0, 1, 'x', 5, 2, 'y', 'z', 7}, 1, true},
		{"a size beyond the end", []byte{1, 0, 5, 'x'}, 0, false},
		{"empty", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, err := skipTags(tc.in)
			if (err == nil) != tc.ok || len(rest) != tc.rest {
				t.Errorf("skipTags(%v) = %v, %v; want %d bytes left, ok %v", tc.in, rest, err, tc.rest, tc.ok)
			}
		})
	}
}

var _ io.ReadWriter = (*broker)(nil)

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
		want    map[string][]int32
		wantErr bool
	}{
		{"member between rebalances has no assignment", nil, nil, false},
		{"two topics", good, map[string][]int32{"orders": {0, 2}, "pay": {1}}, false},
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

// TestPartitionsOf: a group's partition list, from what OffsetFetch
// answered, or from the previous tick when it failed.
func TestPartitionsOf(t *testing.T) {
	m := snapshot.Member{MemberID: "m1", Assigned: map[string][]int32{"a": {1, 2}}}
	g := &snapshot.Group{Members: []snapshot.Member{m}}
	failed := errors.New("no answer within 10s")
	type want struct {
		tp        string
		committed bool
		owner     string
		err       string // "" when none
	}
	cases := []struct {
		name string
		got  []snapshot.Partition
		want []want
	}{
		{"committed ones, and an assigned one never committed, without error",
			partitionsOf(g, map[topicPartition]int64{{"a", 1}: 7, {"b", 0}: 3}, nil),
			[]want{{"a/1", true, "m1", ""}, {"a/2", false, "m1", ""}, {"b/0", true, "", ""}}},
		{"a partition answered with an error keeps its place with it",
			partitionsOf(g, map[topicPartition]int64{{"a", 1}: 7}, map[topicPartition]error{{"c", 4}: failed}),
			[]want{{"a/1", true, "m1", ""}, {"a/2", false, "m1", ""}, {"c/4", false, "", "no answer within 10s"}}},
		{"group fetch failed: the previous tick's partitions and the assigned ones, all unknown",
			commitUnknown(g, []topicPartitions{{"a", []int32{1}}, {"b", []int32{0}}}, failed),
			[]want{{"a/1", false, "m1", "committed offset unknown: no answer within 10s"},
				{"a/2", false, "m1", "committed offset unknown: no answer within 10s"},
				{"b/0", false, "", "committed offset unknown: no answer within 10s"}}},
		{"group fetch failed at the first tick: the assigned ones, unknown",
			commitUnknown(g, nil, failed),
			[]want{{"a/1", false, "m1", "committed offset unknown: no answer within 10s"},
				{"a/2", false, "m1", "committed offset unknown: no answer within 10s"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) != len(tc.want) {
				t.Fatalf("got %d partitions, want %d: %+v", len(tc.got), len(tc.want), tc.got)
			}
			for i, w := range tc.want {
				p := tc.got[i]
				owner, err := "", ""
				if p.Owner != nil {
					owner = p.Owner.MemberID
				}
				if p.Err != nil {
					err = p.Err.Error()
				}
				if tp := fmt.Sprintf("%s/%d", p.Topic, p.Partition); tp != w.tp || p.HasCommitted != w.committed || owner != w.owner || err != w.err {
					t.Errorf("partition %d: got %s committed=%v owner=%q err=%q, want %+v", i, tp, p.HasCommitted, owner, err, w)
				}
			}
		})
	}
}

// TestRemember: what one tick leaves for the next. Each group under the
// coordinator it was read from (or carried under), its partitions topic by
// topic; a group gone since it was listed is forgotten, one that failed is
// not.
func TestRemember(t *testing.T) {
	r := &Source{}
	tk := r.newTick()
	tk.coordinator = map[string]int32{"a": 1, "b": 2, "gone": 1, "failed": 2}
	ps := func(tps ...string) []snapshot.Partition {
		var out []snapshot.Partition
		for _, tp := range tps {
			topic, p, _ := strings.Cut(tp, "/")
			n, _ := strconv.Atoi(p)
			out = append(out, snapshot.Partition{Topic: topic, Partition: int32(n)})
		}
		return out
	}
	r.remember(tk, []snapshot.Group{
		{ID: "a", ProtocolType: "consumer", Partitions: ps("x/0", "x/1", "y/0", "z/3", "z/4")},
		{ID: "b", Partitions: ps("x/2")},
		{ID: "failed", State: "Dead", Err: errors.New("describe group"), Partitions: ps("y/1")},
		{ID: "gone", State: "Dead"},
	})
	m := r.remembered()
	wantGroups := map[int32][]knownGroup{1: {{"a", "consumer"}}, 2: {{"b", ""}, {"failed", ""}}}
	if !reflect.DeepEqual(m.groups, wantGroups) {
		t.Errorf("groups %v, want %v", m.groups, wantGroups)
	}
	wantPartitions := map[string][]topicPartitions{
		"a":      {{"x", []int32{0, 1}}, {"y", []int32{0}}, {"z", []int32{3, 4}}},
		"b":      {{"x", []int32{2}}},
		"failed": {{"y", []int32{1}}},
	}
	if !reflect.DeepEqual(m.partitions, wantPartitions) {
		t.Errorf("partitions %v, want %v", m.partitions, wantPartitions)
	}
}
