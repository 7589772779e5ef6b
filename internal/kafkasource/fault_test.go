package kafkasource

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestOneFailingGroupKeepsTheOthers injects a failure into one group's offset
// fetch (an answer of GROUP_AUTHORIZATION_FAILED for it) and checks that the
// other group is read completely and the failing one carries its error: in
// one OffsetFetch v8 for both groups, and in one request per group from a
// broker that speaks Kafka 2.8's versions.
func TestOneFailingGroupKeepsTheOthers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []kfake.Opt
	}{
		{"batched", nil},
		{"one group per request (Kafka 2.8)", []kfake.Opt{kfake.MaxVersions(kversion.V2_8_0())}},
	} {
		t.Run(tc.name, func(t *testing.T) { oneFailingGroup(t, tc.opts...) })
	}
}

func oneFailingGroup(t *testing.T, opts ...kfake.Opt) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	commits := []kafka.OffsetCommit{{Partition: 0, Offset: 1}, {Partition: 1, Offset: 3}}
	c, addr := fakeOrders(ctx, t, 2, []int{3, 3}, map[string][]kafka.OffsetCommit{"healthy": commits, "broken": commits}, opts...)

	c.ControlKey(kmsg.OffsetFetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		of := req.(*kmsg.OffsetFetchRequest)
		res := of.ResponseKind().(*kmsg.OffsetFetchResponse)
		res.Version = of.Version
		if of.Version < 8 {
			if of.Group != "broken" {
				return nil, nil, false
			}
			res.ErrorCode = int16(kafka.GroupAuthorizationFailed) // not retriable
			return res, nil, true
		}
		// Batched: the healthy group's commits as kfake holds them.
		for _, rg := range of.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			if rg.Group == "broken" {
				g.ErrorCode = int16(kafka.GroupAuthorizationFailed)
			} else {
				topic := kmsg.NewOffsetFetchResponseGroupTopic()
				topic.Topic = "orders"
				for _, cm := range commits {
					p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					p.Partition, p.Offset = int32(cm.Partition), cm.Offset
					topic.Partitions = append(topic.Partitions, p)
				}
				g.Topics = append(g.Topics, topic)
			}
			res.Groups = append(res.Groups, g)
		}
		return res, nil, true
	})

	s := fakeSource(t, addr, "").Take(ctx, time.Now())
	if s.Err != nil {
		t.Fatalf("cluster-level error: %v", s.Err)
	}
	if len(s.Groups) != 2 {
		t.Fatalf("got %d groups, want 2: %+v", len(s.Groups), s.Groups)
	}
	broken, healthy := s.Groups[0], s.Groups[1]
	if !errors.Is(broken.Err, kafka.GroupAuthorizationFailed) {
		t.Errorf("broken group: err %v, want GroupAuthorizationFailed", broken.Err)
	}
	if healthy.Err != nil || len(healthy.Partitions) != 2 {
		t.Fatalf("healthy group: err %v, %d partitions; want none and 2", healthy.Err, len(healthy.Partitions))
	}
	for _, p := range healthy.Partitions {
		lag, ok, _ := p.Lag()
		want := map[int32]int64{0: 2, 1: 0}[p.Partition]
		if !ok || lag != want {
			t.Errorf("healthy partition %d: lag %d (ok=%v), want %d", p.Partition, lag, ok, want)
		}
	}
	if s.Stats.GroupErrors != 1 {
		t.Errorf("GroupErrors = %d, want 1", s.Stats.GroupErrors)
	}
}

// TestNotLeaderIsAskedAgain: a leader that answers NOT_LEADER_OR_FOLLOWER for
// a moment (kfake fails the first ListOffsets of each kind) costs a retry,
// not the partition's offsets in that tick.
func TestNotLeaderIsAskedAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, addr := fakeOrders(ctx, t, 1, []int{2}, map[string][]kafka.OffsetCommit{"g": {{Partition: 0, Offset: 1}}})

	failures := 0
	c.ControlKey(kmsg.ListOffsets.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if failures >= 3 { // the three kinds of the first round
			return nil, nil, false
		}
		c.KeepControl()
		failures++
		lo := req.(*kmsg.ListOffsetsRequest)
		res := lo.ResponseKind().(*kmsg.ListOffsetsResponse)
		res.Version = lo.Version
		for _, rt := range lo.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = int16(kafka.NotLeaderForPartition)
				st.Partitions = append(st.Partitions, sp)
			}
			res.Topics = append(res.Topics, st)
		}
		return res, nil, true
	})

	s := fakeSource(t, addr, "").Take(ctx, time.Now())
	if s.Err != nil || len(s.Groups) != 1 || len(s.Groups[0].Partitions) != 1 {
		t.Fatalf("snapshot: %v %+v", s.Err, s.Groups)
	}
	p := s.Groups[0].Partitions[0]
	if lag, ok, _ := p.Lag(); p.Err != nil || !ok || lag != 1 || failures != 3 {
		t.Errorf("partition %+v (lag %d, ok %v) after %d NOT_LEADER answers; want lag 1 and no error", p, lag, ok, failures)
	}
}

// TestConsumerGroupDescribeFault: kfake answers ListGroups and
// DescribeGroups as Kafka 4.1.2 does for two consumer-protocol groups and a
// classic one (see describe), and ConsumerGroupDescribe, asked once for both
// consumer-protocol groups, fails one of them with GROUP_AUTHORIZATION_FAILED
// (not retriable). That group carries the error and its type; the other two
// are read completely.
func TestConsumerGroupDescribeFault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, addr := fakeOrders(ctx, t, 1, []int{3, 3}, map[string][]kafka.OffsetCommit{
		"classic": {{Partition: 0, Offset: 1}, {Partition: 1, Offset: 3}},
		"new-ok":  {{Partition: 0, Offset: 2}, {Partition: 1, Offset: 2}},
	})

	c.ControlKey(kmsg.ListGroups.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		res := req.ResponseKind().(*kmsg.ListGroupsResponse)
		res.Version = req.GetVersion()
		for g, pt := range map[string]string{"classic": "", "new-ok": "consumer", "new-broken": "consumer"} {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType = g, pt
			res.Groups = append(res.Groups, lg)
		}
		return res, nil, true
	})
	c.ControlKey(kmsg.DescribeGroups.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		dg := req.(*kmsg.DescribeGroupsRequest)
		res := dg.ResponseKind().(*kmsg.DescribeGroupsResponse)
		res.Version = dg.Version
		for _, g := range dg.Groups {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.State = g, "Dead" // a consumer-protocol group, at v5
			if g == "classic" {
				rg.State = "Empty"
			}
			res.Groups = append(res.Groups, rg)
		}
		return res, nil, true
	})
	var mu sync.Mutex
	var asked [][]string
	c.ControlKey(kmsg.ConsumerGroupDescribe.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		cg := req.(*kmsg.ConsumerGroupDescribeRequest)
		mu.Lock()
		asked = append(asked, append([]string(nil), cg.Groups...))
		mu.Unlock()
		res := cg.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		res.Version = cg.Version
		for _, g := range cg.Groups {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group = g
			switch g {
			case "new-broken":
				rg.ErrorCode = int16(kafka.GroupAuthorizationFailed)
				msg := "Not authorized to access group."
				rg.ErrorMessage = &msg
			case "new-ok":
				rg.State, rg.Epoch = "Stable", 5
				m := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				m.MemberID, m.ClientID, m.ClientHost = "m-1", "c-1", "/10.0.0.9"
				tp := kmsg.NewAssignmentTopicPartition()
				tp.Topic, tp.Partitions = "orders", []int32{0, 1}
				m.Assignment.TopicPartitions = append(m.Assignment.TopicPartitions, tp)
				rg.Members = append(rg.Members, m)
			}
			res.Groups = append(res.Groups, rg)
		}
		return res, nil, true
	})

	r := fakeSource(t, addr, "lagwatch-test")
	// The first tick also opens the connections and asks each broker its
	// API versions, and so may a later one when kafka-go opens another
	// connection for concurrent requests: the fewest of three more ticks
	// are counted.
	r.Take(ctx, time.Now())
	var s snapshot.Snapshot
	fewest := int64(-1)
	for range 3 {
		s = r.Take(ctx, time.Now())
		if fewest < 0 || s.Stats.Requests < fewest {
			fewest = s.Stats.Requests
		}
	}
	if s.Err != nil || len(s.Groups) != 3 {
		t.Fatalf("snapshot: %v, %d groups %+v", s.Err, len(s.Groups), s.Groups)
	}
	classic, broken, ok := s.Groups[0], s.Groups[1], s.Groups[2]
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 4 || len(asked[3]) != 2 {
		t.Errorf("ConsumerGroupDescribe asked %v in four ticks; want one request per tick for both consumer-protocol groups", asked)
	}
	if !errors.Is(broken.Err, kafka.GroupAuthorizationFailed) || broken.Type != snapshot.TypeConsumer || broken.State != "" {
		t.Errorf("failed group: err %v, type %q, state %q; want GROUP_AUTHORIZATION_FAILED, consumer, no state", broken.Err, broken.Type, broken.State)
	}
	if classic.Err != nil || classic.Type != snapshot.TypeClassic || classic.State != "Empty" {
		t.Errorf("classic group: err %v, type %q, state %q", classic.Err, classic.Type, classic.State)
	}
	if ok.Err != nil || ok.Type != snapshot.TypeConsumer || ok.State != "Stable" || ok.Epoch != 5 || len(ok.Members) != 1 || len(ok.Partitions) != 2 {
		t.Fatalf("consumer-protocol group: %+v", ok)
	}
	for _, g := range []snapshot.Group{classic, ok} {
		for _, p := range g.Partitions {
			lag, has, _ := p.Lag()
			want := map[string]map[int32]int64{"classic": {0: 2, 1: 0}, "new-ok": {0: 1, 1: 1}}[g.ID][p.Partition]
			if !has || lag != want {
				t.Errorf("%s partition %d: lag %d (%v), want %d", g.ID, p.Partition, lag, has, want)
			}
			if owned := p.Owner != nil && p.Owner.MemberID == "m-1" && p.Owner.ClientID == "c-1" && p.Owner.Host == "/10.0.0.9"; owned != (g.ID == "new-ok") {
				t.Errorf("%s partition %d: owner %+v", g.ID, p.Partition, p.Owner)
			}
		}
	}
	// One broker: ListGroups, DescribeGroups, ConsumerGroupDescribe, one
	// OffsetFetch for the three groups, log-start, log-end and last stable
	// offsets (the metadata comes from the transport's cache).
	if s.Stats.GroupErrors != 1 || fewest != 7 || s.Stats.Retries != 0 {
		t.Errorf("GroupErrors %d, requests %d, retries %d; want 1, 7 and 0", s.Stats.GroupErrors, fewest, s.Stats.Retries)
	}
}

// fakeOrders starts a kfake cluster of brokers brokers with the topic
// "orders" of len(messages) partitions, produces messages[p] records to
// partition p, and commits each group's offsets on "orders". It returns the
// cluster, for fault injection, and its address. opts are kfake's further
// options.
func fakeOrders(ctx context.Context, t *testing.T, brokers int, messages []int, commits map[string][]kafka.OffsetCommit, opts ...kfake.Opt) (*kfake.Cluster, net.Addr) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(brokers), kfake.SeedTopics(int32(len(messages)), "orders")}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	addr := kafka.TCP(c.ListenAddrs()...)
	client := &kafka.Client{Addr: addr, Timeout: 10 * time.Second}
	for p, n := range messages {
		records := make([]kafka.Record, n)
		for i := range records {
			records[i].Value = kafka.NewBytes([]byte{byte('a' + i)})
		}
		res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "orders", Partition: p, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(records...)})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	for g, offsets := range commits {
		res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: g, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{"orders": offsets}})
		if err != nil {
			t.Fatalf("commit for %s: %v", g, err)
		}
		for _, p := range res.Topics["orders"] {
			if p.Error != nil {
				t.Fatalf("commit for %s partition %d: %v", g, p.Partition, p.Error)
			}
		}
	}
	return c, addr
}

// fakeSource is a Source for the cluster at addr that counts its requests.
func fakeSource(t *testing.T, addr net.Addr, clientID string) *Source {
	rc := &requestCounter{}
	tr := &kafka.Transport{Dial: rc.Dial(nil), ClientID: clientID}
	t.Cleanup(tr.CloseIdleConnections)
	return &Source{cluster: "fault", addr: addr, transport: tr, counter: rc}
}
