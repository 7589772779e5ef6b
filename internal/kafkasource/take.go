package kafkasource

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/describegroups"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Take reads every group Kafka lists, of every type, with its state, members
// and committed offsets and the log offsets of every partition they
// involve, at time now (truncated to the second, see snapshot.Snapshot's
// Time). It never returns a partial result silently: a group that failed
// carries Err, a partition whose log offsets failed carries Err, and a
// cluster that could not even list its groups has the Snapshot's Err.
//
// Classic groups are described by DescribeGroups, consumer-protocol groups
// (KIP-848) by ConsumerGroupDescribe; share and streams groups, and types
// newer than those, are recorded with their type but not described. See
// describe for how the types are told apart.
func (r *Source) Take(ctx context.Context, now time.Time) snapshot.Snapshot {
	s := snapshot.Snapshot{Cluster: r.cluster, Time: now.UTC().Truncate(time.Second)}
	var before int64
	var beforeByKey map[int16]int64
	if r.counter != nil {
		before, beforeByKey = r.counter.Count(), r.counter.ByKey()
	}
	s.Err = r.take(ctx, &s)
	if r.counter != nil {
		s.Stats.Requests = r.counter.Count() - before
		s.Stats.RequestsByType = map[string]int64{}
		for k, n := range r.counter.ByKey() {
			if n -= beforeByKey[k]; n > 0 {
				s.Stats.RequestsByType[requestName(k)] = n
			}
		}
	}
	for _, g := range s.Groups {
		if g.Err != nil {
			s.Stats.GroupErrors++
		}
		for _, p := range g.Partitions {
			if _, _, clamped := p.Lag(); clamped {
				s.Stats.NegativeLags++
			}
		}
	}
	return s
}

func (r *Source) take(ctx context.Context, s *snapshot.Snapshot) error {
	client := &kafka.Client{Addr: r.addr, Transport: r.transport}

	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("read metadata of cluster %q: %w", r.cluster, err)
	}
	s.ClusterID = md.ClusterID

	lg, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err == nil && lg.Error != nil {
		err = lg.Error
	}
	if err != nil {
		return fmt.Errorf("list groups of cluster %q: %w", r.cluster, err)
	}
	byCoordinator := map[int32][]string{}
	for _, g := range lg.Groups {
		if r.filter != nil && !r.filter(g.GroupID) {
			continue
		}
		s.Groups = append(s.Groups, snapshot.Group{ID: g.GroupID, ProtocolType: g.ProtocolType})
		byCoordinator[int32(g.Coordinator)] = append(byCoordinator[int32(g.Coordinator)], g.GroupID)
	}
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].ID < s.Groups[j].ID })
	index := make(map[string]*snapshot.Group, len(s.Groups))
	coordinator := make(map[string]int32, len(s.Groups))
	for i := range s.Groups {
		index[s.Groups[i].ID] = &s.Groups[i]
	}
	for c, ids := range byCoordinator {
		for _, id := range ids {
			coordinator[id] = c
		}
	}

	consumerGroups := r.describe(ctx, byCoordinator, index)
	r.describeConsumerGroups(ctx, consumerGroups, index)
	r.fetchCommitted(ctx, s.Groups, coordinator)
	r.listLogOffsets(ctx, md, s.Groups)
	n, errs := r.countSkipped(ctx, leaders(md), s.Groups)
	s.Stats.TxnReads, s.Stats.TxnReadErrors = n, len(errs)
	if len(errs) > 0 {
		s.Stats.TxnReadErr = errs[0]
	}
	return nil
}

// leaders maps every partition of md to its leader's broker id.
func leaders(md *kafka.MetadataResponse) map[topicPartition]int32 {
	out := map[topicPartition]int32{}
	for _, t := range md.Topics {
		if t.Error != nil {
			continue
		}
		for _, p := range t.Partitions {
			out[topicPartition{t.Name, int32(p.ID)}] = int32(p.Leader.ID)
		}
	}
	return out
}

// describe fills the type, state and members of classic groups, one
// DescribeGroups request per coordinator, run concurrently, and returns per
// coordinator the groups that ConsumerGroupDescribe is to describe.
//
// ListGroups, in the versions kafka-go speaks (v0 to v2; the group type
// came with v5), gives a group's protocol type, not its type: a
// consumer-protocol group is listed as "consumer" like a classic group of
// consumers. DescribeGroups tells them apart: Kafka 4.1 answers it for a
// group that is not classic exactly as for a group that does not exist,
// Dead with no members and no protocol type (at v6, which kafka-go does not
// speak, with GROUP_ID_NOT_FOUND "Group g is not a classic group."). So a
// group DescribeGroups describes is classic, whatever its protocol type
// (Kafka Connect's "connect", say). One it answers as not classic is
// described by ConsumerGroupDescribe when listed as "consumer"; is of the
// type its protocol type names when listed as "share", "streams" or
// another; and is a classic group gone since the listing when listed with
// no protocol type.
func (r *Source) describe(ctx context.Context, byCoordinator map[int32][]string, index map[string]*snapshot.Group) map[int32][]string {
	var wg sync.WaitGroup
	var mu sync.Mutex
	consumerGroups := map[int32][]string{}
	for c, ids := range byCoordinator {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.transport.RoundTrip(ctx, r.addr, &brokerDescribeGroups{Groups: ids, toBroker: toBroker{c}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, id := range ids {
					index[id].Err = errors.Join(index[id].Err, fmt.Errorf("describe group %q on coordinator %d: %w", id, c, err))
				}
				return
			}
			for _, rg := range res.(*describegroups.Response).Groups {
				g, ok := index[rg.GroupID]
				if !ok {
					continue
				}
				if applyDescribeGroup(g, &rg) {
					consumerGroups[c] = append(consumerGroups[c], g.ID)
				}
			}
		}()
	}
	wg.Wait()
	return consumerGroups
}

// applyDescribeGroup sets g from its DescribeGroups answer and reports
// whether ConsumerGroupDescribe is to describe it.
func applyDescribeGroup(g *snapshot.Group, rg *describegroups.ResponseGroup) (describeAsConsumer bool) {
	switch {
	case notClassic(rg):
		return classifyNotClassic(g)
	case rg.ErrorCode != 0:
		g.Err = errors.Join(g.Err, fmt.Errorf("describe group %q: %w", rg.GroupID, kafka.Error(rg.ErrorCode)))
		if g.ProtocolType == "" {
			g.Type = snapshot.TypeClassic
		}
		return false
	}
	g.Type = snapshot.TypeClassic
	g.State = rg.GroupState
	if rg.ProtocolType != "" {
		g.ProtocolType = rg.ProtocolType
	}
	for _, m := range rg.Members {
		member := snapshot.Member{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		// Other protocols' assignments (Kafka Connect's, say) are in
		// formats of their own.
		if g.ProtocolType == "consumer" {
			assigned, err := decodeAssignment(m.MemberAssignment)
			if err != nil {
				g.Err = errors.Join(g.Err, fmt.Errorf("group %q member %q: %w", rg.GroupID, m.MemberID, err))
			}
			member.Assigned = assigned
		}
		g.Members = append(g.Members, member)
	}
	sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].MemberID < g.Members[j].MemberID })
	return false
}

// notClassic reports whether DescribeGroups answered as Kafka does for a
// group that is not classic, or does not exist.
func notClassic(rg *describegroups.ResponseGroup) bool {
	if rg.ErrorCode == int16(kafka.GroupIdNotFound) {
		return true
	}
	return rg.ErrorCode == 0 && rg.GroupState == "Dead" && len(rg.Members) == 0
}

// classifyNotClassic sets what DescribeGroups' answer for a group that is
// not classic says about g, given the protocol type it was listed with, and
// reports whether ConsumerGroupDescribe is to say the rest.
func classifyNotClassic(g *snapshot.Group) (describeAsConsumer bool) {
	switch g.ProtocolType {
	case "consumer":
		// A consumer-protocol group until ConsumerGroupDescribe says
		// otherwise; its state is not Dead.
		g.Type = snapshot.TypeConsumer
		return true
	case "":
		// Only a classic group can lack a protocol type: one whose
		// offsets were removed since the listing.
		g.Type, g.State = snapshot.TypeClassic, "Dead"
	default:
		// "share", "streams", or a type newer than this code.
		g.Type = g.ProtocolType
	}
	return false
}

// describeConsumerGroups fills the state, epoch and members of
// consumer-protocol groups: one ConsumerGroupDescribe request per
// coordinator, run concurrently. A coordinator that does
// not announce the request (Kafka before 3.7, or with the consumer protocol
// off) has no consumer-protocol groups: what it listed as "consumer" and
// answered as Dead is a classic group gone since the listing, and no
// request is sent.
func (r *Source) describeConsumerGroups(ctx context.Context, byCoordinator map[int32][]string, index map[string]*snapshot.Group) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for c, ids := range byCoordinator {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.transport.RoundTrip(ctx, r.addr, consumerGroupDescribe(c, ids, r.clientID()))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, id := range ids {
					g := index[id]
					g.Err = errors.Join(g.Err, fmt.Errorf("describe consumer group %q on coordinator %d: %w", id, c, err))
				}
				return
			}
			raw := res.(*rawResponse)
			if raw.Unsupported {
				for _, id := range ids {
					g := index[id]
					g.Type, g.State = snapshot.TypeClassic, "Dead"
				}
				return
			}
			answered := map[string]bool{}
			for _, rg := range raw.Res.(*kmsg.ConsumerGroupDescribeResponse).Groups {
				g, ok := index[rg.Group]
				if !ok || answered[rg.Group] {
					continue
				}
				answered[rg.Group] = true
				applyConsumerGroup(g, &rg)
			}
			for _, id := range ids {
				if !answered[id] {
					g := index[id]
					g.Err = errors.Join(g.Err, fmt.Errorf("describe consumer group %q: coordinator %d did not answer for it", id, c))
				}
			}
		}()
	}
	wg.Wait()
}

// applyConsumerGroup sets g from its ConsumerGroupDescribe answer.
func applyConsumerGroup(g *snapshot.Group, rg *kmsg.ConsumerGroupDescribeResponseGroup) {
	switch code := kafka.Error(rg.ErrorCode); {
	case code == kafka.GroupIdNotFound:
		// Gone since the listing, or (rarer still) turned back into a
		// classic group between the two describes: Kafka answers both
		// "Group g not found." and "Group g is not a consumer group."
		// with this code.
		g.Type, g.State = "", "Dead"
		return
	case rg.ErrorCode != 0:
		err := fmt.Errorf("describe consumer group %q: %w", rg.Group, code)
		if rg.ErrorMessage != nil && *rg.ErrorMessage != "" {
			err = fmt.Errorf("%w (%s)", err, *rg.ErrorMessage)
		}
		g.Err = errors.Join(g.Err, err)
		return
	}
	g.Type, g.State, g.Epoch = snapshot.TypeConsumer, rg.State, rg.Epoch
	for _, m := range rg.Members {
		member := snapshot.Member{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		for _, tp := range m.Assignment.TopicPartitions {
			// Kafka names every topic it assigns; a topic it no longer
			// knows is left out of the answer.
			if tp.Topic == "" {
				g.Err = errors.Join(g.Err, fmt.Errorf("group %q member %q: assigned topic id %x has no name", rg.Group, m.MemberID, tp.TopicID))
				continue
			}
			if member.Assigned == nil {
				member.Assigned = map[string][]int32{}
			}
			member.Assigned[tp.Topic] = append(member.Assigned[tp.Topic], tp.Partitions...)
		}
		g.Members = append(g.Members, member)
	}
	sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].MemberID < g.Members[j].MemberID })
}

// requestName is Kafka's name of an API key, or "key N" for one unknown
// here.
func requestName(key int16) string {
	if name := kmsg.NameForKey(key); name != "" && name != "Unknown" {
		return name
	}
	return "key " + strconv.Itoa(int(key))
}

// clientID is the client id the transport sends, for the requests this
// package frames itself.
func (r *Source) clientID() string {
	if t, ok := r.transport.(*kafka.Transport); ok {
		return t.ClientID
	}
	return ""
}

// keepsOffsets reports whether g may hold committed consumer offsets, worth
// one OffsetFetch: groups of consumers of either protocol, groups that only
// hold committed offsets, streams groups (Kafka Streams commits its
// positions as a consumer does), and types newer than this code. Classic
// groups of other protocols (Kafka Connect's workers) commit none, and share
// groups keep their positions in the share coordinator's state instead.
func keepsOffsets(g *snapshot.Group) bool {
	switch g.ProtocolType {
	case "consumer", "", snapshot.TypeStreams:
		return true
	}
	return g.Type != snapshot.TypeClassic && g.Type != snapshot.TypeShare && g.Type != ""
}

type topicPartition struct {
	topic     string
	partition int32
}

func partitionsOf(g *snapshot.Group, committed map[topicPartition]int64) []snapshot.Partition {
	owner := map[topicPartition]*snapshot.Member{}
	for i := range g.Members {
		m := &g.Members[i]
		for topic, ps := range m.Assigned {
			for _, p := range ps {
				owner[topicPartition{topic, p}] = m
			}
		}
	}
	onlyAssigned := 0
	for tp := range owner {
		if _, ok := committed[tp]; !ok {
			onlyAssigned++
		}
	}
	out := make([]snapshot.Partition, 0, len(committed)+onlyAssigned)
	for tp, off := range committed {
		out = append(out, snapshot.Partition{Topic: tp.topic, Partition: tp.partition, Owner: owner[tp], Committed: off, HasCommitted: true})
	}
	for tp, m := range owner {
		if _, ok := committed[tp]; !ok {
			out = append(out, snapshot.Partition{Topic: tp.topic, Partition: tp.partition, Owner: m})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// listLogOffsets reads the log-start and log-end offsets of every partition
// any group involves: per partition leader, one request for each kind, all
// leaders concurrently.
func (r *Source) listLogOffsets(ctx context.Context, md *kafka.MetadataResponse, groups []snapshot.Group) {
	leader := map[topicPartition]int32{}
	known := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error != nil {
			continue
		}
		known[t.Name] = true
		for _, p := range t.Partitions {
			leader[topicPartition{t.Name, int32(p.ID)}] = int32(p.Leader.ID)
		}
	}
	result := map[topicPartition]*offsets{}
	byLeader := map[int32]map[string][]int32{}
	for _, g := range groups {
		for _, p := range g.Partitions {
			tp := topicPartition{p.Topic, p.Partition}
			if _, ok := result[tp]; ok {
				continue
			}
			o := &offsets{start: -1, end: -1}
			result[tp] = o
			l, ok := leader[tp]
			switch {
			case !known[p.Topic]:
				o.err = fmt.Errorf("topic %q: %w", p.Topic, kafka.UnknownTopicOrPartition)
				continue
			case !ok:
				o.err = fmt.Errorf("topic %q partition %d: %w", p.Topic, p.Partition, kafka.UnknownTopicOrPartition)
				continue
			case l < 0:
				o.err = fmt.Errorf("topic %q partition %d: %w", p.Topic, p.Partition, kafka.LeaderNotAvailable)
				continue
			}
			if byLeader[l] == nil {
				byLeader[l] = map[string][]int32{}
			}
			byLeader[l][p.Topic] = append(byLeader[l][p.Topic], p.Partition)
		}
	}

	// A partition a leader answered with a retriable error (NOT_LEADER for
	// a moment after a topic is made or a leader moves) is asked again,
	// twice at most, a little later: requests grow only with such errors.
	for attempt := 0; len(byLeader) > 0; attempt++ {
		r.listRound(ctx, byLeader, func(tp topicPartition) *offsets { return result[tp] })
		if attempt == 2 {
			break
		}
		retry := map[int32]map[string][]int32{}
		for l, topics := range byLeader {
			for topic, ps := range topics {
				for _, p := range ps {
					o := result[topicPartition{topic, p}]
					if o.err != nil && retriable(o.err) {
						if retry[l] == nil {
							retry[l] = map[string][]int32{}
						}
						retry[l][topic] = append(retry[l][topic], p)
						*o = offsets{start: -1, end: -1}
					}
				}
			}
		}
		byLeader = retry
		if len(byLeader) == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}

	for gi := range groups {
		for pi := range groups[gi].Partitions {
			p := &groups[gi].Partitions[pi]
			o := result[topicPartition{p.Topic, p.Partition}]
			switch {
			case o.err != nil:
				p.Err = o.err
			case o.start < 0 || o.end < 0:
				p.Err = fmt.Errorf("topic %q partition %d: the leader did not answer for it", p.Topic, p.Partition)
			default:
				p.LogStart, p.LogEnd, p.HasOffsets = o.start, o.end, true
			}
		}
	}
}

// offsets are one partition's log-start and log-end offsets as read.
type offsets struct {
	start, end int64
	err        error
}

// listRound sends, per leader, one ListOffsets request for the log-start
// offsets and one for the log-end offsets of its partitions, concurrently.
func (r *Source) listRound(ctx context.Context, byLeader map[int32]map[string][]int32, result func(topicPartition) *offsets) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for l, topics := range byLeader {
		for _, kind := range []int64{kafka.FirstOffset, kafka.LastOffset} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &leaderListOffsets{ReplicaID: -1, toBroker: toBroker{l}}
				for topic, ps := range topics {
					rt := listoffsets.RequestTopic{Topic: topic}
					for _, p := range ps {
						rt.Partitions = append(rt.Partitions, listoffsets.RequestPartition{Partition: p, CurrentLeaderEpoch: -1, Timestamp: kind})
					}
					req.Topics = append(req.Topics, rt)
				}
				res, err := r.transport.RoundTrip(ctx, r.addr, req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					for topic, ps := range topics {
						for _, p := range ps {
							o := result(topicPartition{topic, p})
							o.err = errors.Join(o.err, fmt.Errorf("list offsets on broker %d: %w", l, err))
						}
					}
					return
				}
				for _, t := range res.(*listoffsets.Response).Topics {
					for _, p := range t.Partitions {
						o := result(topicPartition{t.Topic, p.Partition})
						if o == nil {
							continue
						}
						if p.ErrorCode != 0 {
							o.err = errors.Join(o.err, fmt.Errorf("list offsets of topic %q partition %d: %w", t.Topic, p.Partition, kafka.Error(p.ErrorCode)))
							continue
						}
						if kind == kafka.FirstOffset {
							o.start = p.Offset
						} else {
							o.end = p.Offset
						}
					}
				}
			}()
		}
	}
	wg.Wait()

}

// retriable reports whether err carries a Kafka error that a later attempt
// may not meet.
func retriable(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

// decodeAssignment reads a consumer-protocol member assignment: int16
// version, an array of (topic string, array of int32 partitions), then user
// data that we ignore. An empty assignment (a member between rebalances) is
// no error.
func decodeAssignment(b []byte) (map[string][]int32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	rd := bytes.NewReader(b)
	var version int16
	var n int32
	if err := binary.Read(rd, binary.BigEndian, &version); err != nil {
		return nil, fmt.Errorf("decode assignment: %w", err)
	}
	if err := binary.Read(rd, binary.BigEndian, &n); err != nil {
		return nil, fmt.Errorf("decode assignment: %w", err)
	}
	if n < 0 || int(n) > rd.Len() {
		return nil, fmt.Errorf("decode assignment: %d topics in %d bytes", n, rd.Len())
	}
	out := make(map[string][]int32, n)
	for i := int32(0); i < n; i++ {
		var l int16
		if err := binary.Read(rd, binary.BigEndian, &l); err != nil {
			return nil, fmt.Errorf("decode assignment: %w", err)
		}
		if l < 0 || int(l) > rd.Len() {
			return nil, fmt.Errorf("decode assignment: topic name of %d bytes in %d", l, rd.Len())
		}
		name := make([]byte, l)
		if _, err := rd.Read(name); err != nil {
			return nil, fmt.Errorf("decode assignment: %w", err)
		}
		var np int32
		if err := binary.Read(rd, binary.BigEndian, &np); err != nil {
			return nil, fmt.Errorf("decode assignment: %w", err)
		}
		if np < 0 || int(np)*4 > rd.Len() {
			return nil, fmt.Errorf("decode assignment: %d partitions in %d bytes", np, rd.Len())
		}
		ps := make([]int32, np)
		if err := binary.Read(rd, binary.BigEndian, ps); err != nil {
			return nil, fmt.Errorf("decode assignment: %w", err)
		}
		out[string(name)] = append(out[string(name)], ps...)
	}
	return out, nil
}

var _ protocol.BrokerMessage = (*leaderListOffsets)(nil)
