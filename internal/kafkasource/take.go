package kafkasource

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

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
// Time). It never returns a partial result silently: a broker that could
// not list its groups is in BrokerErrors (and its groups of the previous
// tick carry Err), a group that failed carries Err, a partition whose
// offsets failed carries Err, and a cluster that could not even list its
// groups has the Snapshot's Err. What may succeed when asked again is
// asked again within the tick (see tick.go), each request within the
// request timeout.
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
	t := r.newTick()
	s.Err = r.take(ctx, t, &s)
	if r.counter != nil {
		s.Stats.Requests = r.counter.Count() - before
		s.Stats.RequestsByType = map[string]int64{}
		for k, n := range r.counter.ByKey() {
			if n -= beforeByKey[k]; n > 0 {
				s.Stats.RequestsByType[requestName(k)] = n
			}
		}
	}
	s.Stats.Retries = int(t.retries.Load())
	s.Stats.BrokerErrors = len(s.BrokerErrors)
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

func (r *Source) take(ctx context.Context, t *tick, s *snapshot.Snapshot) error {
	client := &kafka.Client{Addr: r.addr, Transport: r.transport}
	// Served from the transport's cache, refreshed in the background,
	// except at the first tick.
	mctx, cancel := context.WithTimeout(ctx, r.requestTimeoutOrDefault())
	md, err := client.Metadata(mctx, &kafka.MetadataRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("read metadata of cluster %q: %w", r.cluster, err)
	}
	s.ClusterID = md.ClusterID

	last := r.remembered()
	unknown, err := t.list(ctx, md, last, s)
	if err != nil {
		return fmt.Errorf("list groups of cluster %q: %w", r.cluster, err)
	}
	refuseLongIDs(s)
	index := make(map[string]*snapshot.Group, len(s.Groups))
	var readable []string
	for i := range s.Groups {
		g := &s.Groups[i]
		index[g.ID] = g
		if err, ok := unknown[g.ID]; ok {
			g.Err = err
			continue
		}
		readable = append(readable, g.ID)
	}

	consumerGroups := t.describe(ctx, readable, index)
	t.describeConsumerGroups(ctx, consumerGroups, index)
	t.fetchCommitted(ctx, s.Groups, unknown, last)
	t.listLogOffsets(ctx, md, s.Groups)
	n, errs := t.countSkipped(ctx, leaders(md), s.Groups)
	s.Stats.TxnReads, s.Stats.TxnReadErrors = n, len(errs)
	if len(errs) > 0 {
		s.Stats.TxnReadErr = errs[0]
	}
	r.remember(t, s.Groups)
	return nil
}

// refuseLongIDs leaves out of s the groups whose id is longer than
// snapshot.MaxGroupIDLength characters, counting them: their documents
// could be stored but never searched.
func refuseLongIDs(s *snapshot.Snapshot) {
	kept := s.Groups[:0]
	for _, g := range s.Groups {
		if n := utf8.RuneCountInString(g.ID); n > snapshot.MaxGroupIDLength {
			if s.Stats.RefusedGroups == 0 {
				s.Stats.RefusedGroup = string([]rune(g.ID)[:64])
			}
			s.Stats.RefusedGroups++
			continue
		}
		kept = append(kept, g)
	}
	s.Groups = kept
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
// DescribeGroups request per coordinator, run concurrently, and returns the
// groups that ConsumerGroupDescribe is to describe.
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
func (t *tick) describe(ctx context.Context, ids []string, index map[string]*snapshot.Group) []string {
	var mu sync.Mutex
	var consumerGroups []string
	failed := t.eachCoordinator(ctx, "describe group", ids, func(ctx context.Context, c int32, ids []string) map[string]error {
		res, err := t.send(ctx, &brokerDescribeGroups{Groups: ids, toBroker: toBroker{c}})
		if err != nil {
			return eachFailed(ids, func(id string) error {
				return fmt.Errorf("describe group %q on coordinator %d: %w", id, c, err)
			})
		}
		failed := map[string]error{}
		mu.Lock()
		defer mu.Unlock()
		for _, rg := range res.(*describegroups.Response).Groups {
			g, ok := index[rg.GroupID]
			switch {
			case !ok:
			case coordinatorMoved(rg.ErrorCode):
				failed[g.ID] = fmt.Errorf("describe group %q: %w", g.ID, kafka.Error(rg.ErrorCode))
			case applyDescribeGroup(g, &rg):
				consumerGroups = append(consumerGroups, g.ID)
			}
		}
		return failed
	})
	for id, err := range failed {
		index[id].Err = errors.Join(index[id].Err, err)
	}
	sort.Strings(consumerGroups)
	return consumerGroups
}

// eachFailed is the same error, made by errOf, for every group of ids.
func eachFailed(ids []string, errOf func(id string) error) map[string]error {
	out := make(map[string]error, len(ids))
	for _, id := range ids {
		out[id] = errOf(id)
	}
	return out
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
func (t *tick) describeConsumerGroups(ctx context.Context, ids []string, index map[string]*snapshot.Group) {
	var mu sync.Mutex
	failed := t.eachCoordinator(ctx, "describe consumer group", ids, func(ctx context.Context, c int32, ids []string) map[string]error {
		res, err := t.send(ctx, consumerGroupDescribe(c, ids, t.r.clientID()))
		if err != nil {
			return eachFailed(ids, func(id string) error {
				return fmt.Errorf("describe consumer group %q on coordinator %d: %w", id, c, err)
			})
		}
		mu.Lock()
		defer mu.Unlock()
		raw := res.(*rawResponse)
		if raw.Unsupported {
			for _, id := range ids {
				g := index[id]
				g.Type, g.State = snapshot.TypeClassic, "Dead"
			}
			return nil
		}
		failed := map[string]error{}
		answered := map[string]bool{}
		for _, rg := range raw.Res.(*kmsg.ConsumerGroupDescribeResponse).Groups {
			g, ok := index[rg.Group]
			if !ok || answered[rg.Group] {
				continue
			}
			answered[rg.Group] = true
			if coordinatorMoved(rg.ErrorCode) {
				failed[g.ID] = consumerGroupError(&rg)
				continue
			}
			applyConsumerGroup(g, &rg)
		}
		for _, id := range ids {
			if !answered[id] {
				failed[id] = fmt.Errorf("describe consumer group %q: coordinator %d did not answer for it", id, c)
			}
		}
		return failed
	})
	for id, err := range failed {
		index[id].Err = errors.Join(index[id].Err, err)
	}
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
		g.Err = errors.Join(g.Err, consumerGroupError(rg))
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

// consumerGroupError is the error code ConsumerGroupDescribe answered for
// a group, with its message.
func consumerGroupError(rg *kmsg.ConsumerGroupDescribeResponseGroup) error {
	err := fmt.Errorf("describe consumer group %q: %w", rg.Group, kafka.Error(rg.ErrorCode))
	if rg.ErrorMessage != nil && *rg.ErrorMessage != "" {
		err = fmt.Errorf("%w (%s)", err, *rg.ErrorMessage)
	}
	return err
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

// partitionsOf builds g's partition list: every partition of committed,
// with its offset; every other partition of unknown, whose committed
// offset could not be read, with the error as its Err; and every other
// partition assigned to a member, without a commit.
func partitionsOf(g *snapshot.Group, committed map[topicPartition]int64, unknown map[topicPartition]error) []snapshot.Partition {
	owner := map[topicPartition]*snapshot.Member{}
	for i := range g.Members {
		m := &g.Members[i]
		for topic, ps := range m.Assigned {
			for _, p := range ps {
				owner[topicPartition{topic, p}] = m
			}
		}
	}
	out := make([]snapshot.Partition, 0, len(committed)+len(unknown)+len(owner))
	for tp, off := range committed {
		out = append(out, snapshot.Partition{Topic: tp.topic, Partition: tp.partition, Owner: owner[tp], Committed: off, HasCommitted: true})
	}
	for tp, err := range unknown {
		if _, ok := committed[tp]; !ok {
			out = append(out, snapshot.Partition{Topic: tp.topic, Partition: tp.partition, Owner: owner[tp], Err: err})
		}
	}
	for tp, m := range owner {
		_, isCommitted := committed[tp]
		_, isUnknown := unknown[tp]
		if !isCommitted && !isUnknown {
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

// commitUnknown is the partition list of g when its committed offsets
// could not be read (err): the partitions the previous tick knew (prev)
// and those assigned now, each without a commit and with Err "committed
// offset unknown", so that none reads as a partition never committed, nor
// vanishes.
func commitUnknown(g *snapshot.Group, prev []topicPartitions, err error) []snapshot.Partition {
	err = fmt.Errorf("committed offset unknown: %w", err)
	unknown := map[topicPartition]error{}
	for _, tps := range prev {
		for _, p := range tps.partitions {
			unknown[topicPartition{tps.topic, p}] = err
		}
	}
	for _, m := range g.Members {
		for topic, ps := range m.Assigned {
			for _, p := range ps {
				unknown[topicPartition{topic, p}] = err
			}
		}
	}
	return partitionsOf(g, nil, unknown)
}

// listLogOffsets reads the log-start, log-end and last stable offsets of
// every partition any group involves: per partition leader, one request
// for each, all leaders concurrently. A partition its leader answered with
// a retriable error (NOT_LEADER_OR_FOLLOWER for a moment after a topic is
// made or a leader moves), or whose request got no answer, is asked again,
// twice at most, a little later, of its leader as a Metadata request then
// says: requests grow only with such errors.
func (t *tick) listLogOffsets(ctx context.Context, md *kafka.MetadataResponse, groups []snapshot.Group) {
	leader := map[topicPartition]int32{}
	known := map[string]bool{}
	for _, mt := range md.Topics {
		if mt.Error != nil {
			continue
		}
		known[mt.Name] = true
		for _, p := range mt.Partitions {
			leader[topicPartition{mt.Name, int32(p.ID)}] = int32(p.Leader.ID)
		}
	}
	result := map[topicPartition]*offsets{}
	var ask []topicPartition
	for _, g := range groups {
		for _, p := range g.Partitions {
			tp := topicPartition{p.Topic, p.Partition}
			if _, ok := result[tp]; ok {
				continue
			}
			o := unread()
			result[tp] = o
			if !known[p.Topic] {
				o.err = fmt.Errorf("topic %q: %w", p.Topic, kafka.UnknownTopicOrPartition)
				continue
			}
			ask = append(ask, tp)
		}
	}

	for attempt := 1; len(ask) > 0; attempt++ {
		byLeader := map[int32]map[string][]int32{}
		for _, tp := range ask {
			l, ok := leader[tp]
			switch {
			case !ok:
				result[tp].err = fmt.Errorf("topic %q partition %d: %w", tp.topic, tp.partition, kafka.UnknownTopicOrPartition)
			case l < 0:
				result[tp].err = fmt.Errorf("topic %q partition %d: %w", tp.topic, tp.partition, kafka.LeaderNotAvailable)
			default:
				if byLeader[l] == nil {
					byLeader[l] = map[string][]int32{}
				}
				byLeader[l][tp.topic] = append(byLeader[l][tp.topic], tp.partition)
			}
		}
		t.listRound(ctx, byLeader, result)
		var again []topicPartition
		topics := map[string]bool{}
		for _, tp := range ask {
			if o := result[tp]; o.err != nil && movable(o.err) {
				again = append(again, tp)
				topics[tp.topic] = true
			}
		}
		if len(again) == 0 || attempt == maxAttempts || !pause(ctx, retryPause(attempt)) {
			break
		}
		t.retries.Add(int64(len(again)))
		// When the leaders cannot be read anew, the old ones are asked
		// again: that still overcomes a passing NOT_LEADER.
		if fresh, err := t.leadersOf(ctx, slices.Sorted(maps.Keys(topics))); err == nil {
			maps.Copy(leader, fresh)
		}
		for _, tp := range again {
			*result[tp] = *unread()
		}
		ask = again
	}

	for gi := range groups {
		for pi := range groups[gi].Partitions {
			p := &groups[gi].Partitions[pi]
			o := result[topicPartition{p.Topic, p.Partition}]
			switch {
			case o.err != nil:
				p.Err = errors.Join(p.Err, o.err)
			case o.start < 0 || o.end < 0 || o.stable < 0:
				p.Err = errors.Join(p.Err, fmt.Errorf("topic %q partition %d: the leader did not answer for it", p.Topic, p.Partition))
			default:
				p.LogStart, p.LogEnd, p.HasOffsets = o.start, o.end, true
				// The LSO is read a moment apart from the log end: past
				// it, the transaction ended in between.
				p.Pending = max(o.end-o.stable, 0)
			}
		}
	}
}

// offsets are one partition's log-start, log-end and last stable offsets
// as read, -1 until read.
type offsets struct {
	start, end, stable int64
	err                error
}

func unread() *offsets { return &offsets{start: -1, end: -1, stable: -1} }

// offsetKinds are the three offsets listRound reads, one request each per
// leader: the log start, the log end (high watermark) and the last stable
// offset (the log end under READ_COMMITTED).
var offsetKinds = []struct {
	timestamp int64
	isolation int8
}{{kafka.FirstOffset, 0}, {kafka.LastOffset, 0}, {kafka.LastOffset, 1}}

// listRound sends, per leader, one ListOffsets request for each of
// offsetKinds, all concurrently.
func (t *tick) listRound(ctx context.Context, byLeader map[int32]map[string][]int32, result map[topicPartition]*offsets) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for l, topics := range byLeader {
		for kind, k := range offsetKinds {
			wg.Go(func() {
				req := &leaderListOffsets{ReplicaID: -1, IsolationLevel: k.isolation, toBroker: toBroker{l}}
				for topic, ps := range topics {
					rt := listoffsets.RequestTopic{Topic: topic}
					for _, p := range ps {
						rt.Partitions = append(rt.Partitions, listoffsets.RequestPartition{Partition: p, CurrentLeaderEpoch: -1, Timestamp: k.timestamp})
					}
					req.Topics = append(req.Topics, rt)
				}
				res, err := t.send(ctx, req)
				mu.Lock()
				defer mu.Unlock()
				// A partition keeps its first error: the three requests
				// often fail alike.
				if err != nil {
					for topic, ps := range topics {
						for _, p := range ps {
							if o := result[topicPartition{topic, p}]; o.err == nil {
								o.err = fmt.Errorf("list offsets on broker %d: %w", l, err)
							}
						}
					}
					return
				}
				for _, rt := range res.(*listoffsets.Response).Topics {
					for _, p := range rt.Partitions {
						o := result[topicPartition{rt.Topic, p.Partition}]
						if o == nil {
							continue
						}
						if p.ErrorCode != 0 {
							if o.err == nil {
								o.err = fmt.Errorf("list offsets of topic %q partition %d: %w", rt.Topic, p.Partition, kafka.Error(p.ErrorCode))
							}
							continue
						}
						switch kind {
						case 0:
							o.start = p.Offset
						case 1:
							o.end = p.Offset
						default:
							o.stable = p.Offset
						}
					}
				}
			})
		}
	}
	wg.Wait()
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
