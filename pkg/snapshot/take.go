package snapshot

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/describegroups"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
)

// Reader takes snapshots of one Kafka cluster.
type Reader struct {
	// Cluster is the configured label written on every document.
	Cluster string
	// Addr is the bootstrap address list, e.g. kafka.TCP("b1:9092", "b2:9092").
	Addr net.Addr
	// Transport carries TLS, SASL and timeouts. Required.
	Transport kafka.RoundTripper
	// Filter keeps a group when it returns true; nil keeps all.
	Filter func(group string) bool
	// Concurrency bounds the offset fetches in flight (one per group); <= 0
	// means 16.
	Concurrency int
	// Counter, when set, is read before and after the tick to report the
	// requests it sent in Stats.Requests.
	Counter *RequestCounter
}

// consumerProtocols are the group protocol types whose members speak the
// consumer protocol ("" is a group that only ever had offsets committed for
// it, by an admin tool or a consumer using manual assignment). Other types
// (Kafka Connect's "connect", for one) have no consumer offsets to report and
// member data we cannot decode.
var consumerProtocols = map[string]bool{"consumer": true, "": true}

// Take reads every consumer group's state, members and committed offsets and
// the log offsets of every partition they involve, at time now (truncated to
// the second, see Snapshot.Time). It never
// returns a partial result silently: a group that failed carries Err, a
// partition whose log offsets failed carries Err, and a cluster that could not
// even list its groups has Snapshot.Err.
func (r *Reader) Take(ctx context.Context, now time.Time) Snapshot {
	s := Snapshot{Cluster: r.Cluster, Time: now.UTC().Truncate(time.Second)}
	var before int64
	if r.Counter != nil {
		before = r.Counter.Count()
	}
	s.Err = r.take(ctx, &s)
	if r.Counter != nil {
		s.Stats.Requests = r.Counter.Count() - before
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

func (r *Reader) take(ctx context.Context, s *Snapshot) error {
	client := &kafka.Client{Addr: r.Addr, Transport: r.Transport}

	md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("read metadata of cluster %q: %w", r.Cluster, err)
	}
	s.ClusterID = md.ClusterID

	lg, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err == nil && lg.Error != nil {
		err = lg.Error
	}
	if err != nil {
		return fmt.Errorf("list groups of cluster %q: %w", r.Cluster, err)
	}
	byCoordinator := map[int32][]string{}
	for _, g := range lg.Groups {
		if !consumerProtocols[g.ProtocolType] || (r.Filter != nil && !r.Filter(g.GroupID)) {
			continue
		}
		s.Groups = append(s.Groups, Group{ID: g.GroupID, ProtocolType: g.ProtocolType})
		byCoordinator[int32(g.Coordinator)] = append(byCoordinator[int32(g.Coordinator)], g.GroupID)
	}
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].ID < s.Groups[j].ID })
	index := make(map[string]*Group, len(s.Groups))
	coordinator := make(map[string]int32, len(s.Groups))
	for i := range s.Groups {
		index[s.Groups[i].ID] = &s.Groups[i]
	}
	for c, ids := range byCoordinator {
		for _, id := range ids {
			coordinator[id] = c
		}
	}

	r.describe(ctx, byCoordinator, index)
	r.fetchCommitted(ctx, s.Groups, coordinator)
	r.listLogOffsets(ctx, md, s.Groups)
	return nil
}

// describe fills state and members, one DescribeGroups request per
// coordinator, run concurrently.
func (r *Reader) describe(ctx context.Context, byCoordinator map[int32][]string, index map[string]*Group) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for c, ids := range byCoordinator {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Transport.RoundTrip(ctx, r.Addr, &brokerDescribeGroups{Groups: ids, broker: c})
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
				if rg.ErrorCode != 0 {
					g.Err = errors.Join(g.Err, fmt.Errorf("describe group %q: %w", rg.GroupID, kafka.Error(rg.ErrorCode)))
					continue
				}
				g.State = rg.GroupState
				if rg.ProtocolType != "" {
					g.ProtocolType = rg.ProtocolType
				}
				for _, m := range rg.Members {
					member := Member{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
					assigned, err := decodeAssignment(m.MemberAssignment)
					if err != nil {
						g.Err = errors.Join(g.Err, fmt.Errorf("group %q member %q: %w", rg.GroupID, m.MemberID, err))
					}
					member.Assigned = assigned
					g.Members = append(g.Members, member)
				}
				sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].MemberID < g.Members[j].MemberID })
			}
		}()
	}
	wg.Wait()
}

// fetchCommitted reads every committed offset of every group, one request
// per group to its coordinator, at most Concurrency at a time, and builds the
// group's partition list: committed partitions plus assigned ones.
func (r *Reader) fetchCommitted(ctx context.Context, groups []Group, coordinator map[string]int32) {
	limit := r.Concurrency
	if limit <= 0 {
		limit = 16
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range groups {
		g := &groups[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			committed, err := r.offsetFetch(ctx, g.ID, coordinator[g.ID])
			if err != nil {
				g.Err = errors.Join(g.Err, err)
			}
			g.Partitions = partitionsOf(g, committed)
		}()
	}
	wg.Wait()
}

type topicPartition struct {
	topic     string
	partition int32
}

func (r *Reader) offsetFetch(ctx context.Context, group string, coordinator int32) (map[topicPartition]int64, error) {
	res, err := r.Transport.RoundTrip(ctx, r.Addr, &brokerOffsetFetch{GroupID: group, broker: coordinator})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets for group %q: %w", group, err)
	}
	of := res.(*offsetfetch.Response)
	if of.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch offsets for group %q: %w", group, kafka.Error(of.ErrorCode))
	}
	out := map[topicPartition]int64{}
	var errs []error
	for _, t := range of.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				errs = append(errs, fmt.Errorf("fetch offset for group %q topic %q partition %d: %w", group, t.Name, p.PartitionIndex, kafka.Error(p.ErrorCode)))
				continue
			}
			// -1: no committed offset (the coordinator lists it anyway when
			// asked about the partition explicitly).
			if p.CommittedOffset >= 0 {
				out[topicPartition{t.Name, p.PartitionIndex}] = p.CommittedOffset
			}
		}
	}
	return out, errors.Join(errs...)
}

func partitionsOf(g *Group, committed map[topicPartition]int64) []Partition {
	owner := map[topicPartition]*Member{}
	for i := range g.Members {
		m := &g.Members[i]
		for topic, ps := range m.Assigned {
			for _, p := range ps {
				owner[topicPartition{topic, int32(p)}] = m
			}
		}
	}
	seen := map[topicPartition]bool{}
	var out []Partition
	add := func(tp topicPartition) {
		if seen[tp] {
			return
		}
		seen[tp] = true
		p := Partition{Topic: tp.topic, Partition: int(tp.partition), Owner: owner[tp]}
		if off, ok := committed[tp]; ok {
			p.Committed, p.HasCommitted = off, true
		}
		out = append(out, p)
	}
	for tp := range committed {
		add(tp)
	}
	for tp := range owner {
		add(tp)
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
func (r *Reader) listLogOffsets(ctx context.Context, md *kafka.MetadataResponse, groups []Group) {
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
			tp := topicPartition{p.Topic, int32(p.Partition)}
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
			byLeader[l][p.Topic] = append(byLeader[l][p.Topic], int32(p.Partition))
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
			o := result[topicPartition{p.Topic, int32(p.Partition)}]
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
func (r *Reader) listRound(ctx context.Context, byLeader map[int32]map[string][]int32, result func(topicPartition) *offsets) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for l, topics := range byLeader {
		for _, kind := range []int64{kafka.FirstOffset, kafka.LastOffset} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &leaderListOffsets{ReplicaID: -1, broker: l}
				for topic, ps := range topics {
					rt := listoffsets.RequestTopic{Topic: topic}
					for _, p := range ps {
						rt.Partitions = append(rt.Partitions, listoffsets.RequestPartition{Partition: p, CurrentLeaderEpoch: -1, Timestamp: kind})
					}
					req.Topics = append(req.Topics, rt)
				}
				res, err := r.Transport.RoundTrip(ctx, r.Addr, req)
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
func decodeAssignment(b []byte) (map[string][]int, error) {
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
	out := make(map[string][]int, n)
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
		ps := make([]int, np)
		for j := range ps {
			var p int32
			if err := binary.Read(rd, binary.BigEndian, &p); err != nil {
				return nil, fmt.Errorf("decode assignment: %w", err)
			}
			ps[j] = int(p)
		}
		out[string(name)] = append(out[string(name)], ps...)
	}
	return out, nil
}

var _ protocol.BrokerMessage = (*leaderListOffsets)(nil)
