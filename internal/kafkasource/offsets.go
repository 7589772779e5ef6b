package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Committed offsets travel in OffsetFetch. From version 8 (Kafka 3.0,
// KIP-709) one request carries many groups, so a tick sends one request per
// coordinator, split only where a request would exceed
// maxOffsetFetchRequest. Brokers older than that answer one group per
// request (kafka-go's v0 to v5), at most Cluster.Concurrency in flight.
//
// Whether a broker takes version 8 is asked once per broker with an
// ApiVersions request (see tick.apiVersions) and remembered for the
// Source's life; a batched request that fails forgets it, so that the
// next attempt asks again (a broker replaced by an older one, say).
//
// A group whose offsets cannot be fetched, after the retries of
// eachCoordinator, keeps its place: its partitions are those the previous
// tick knew and those assigned now, each with Err "committed offset
// unknown" and no commit (commitUnknown).

// offsetFetchBatchVersion is the OffsetFetch version of batched requests:
// the first with many groups. v9 only adds the member id and epoch of a
// consumer-protocol member fetching its own offsets.
const offsetFetchBatchVersion = 8

// maxOffsetFetchRequest bounds a batched request's size in bytes (about 25
// bytes plus the group id per group): a request of 1 MiB carries some 20,000
// groups of 30-character ids, far below a broker's socket.request.max.bytes
// (100 MiB by default). The answer grows with the groups' partitions, about
// 20 bytes each plus topic names: 1,000,000 group-partitions are 20 MiB,
// within maxRawResponse.
const maxOffsetFetchRequest = 1 << 20

// fetchCommitted reads every committed offset of every group that keeps
// them (keepsOffsets) and builds each group's partition list: committed
// partitions plus assigned ones. Coordinators are asked concurrently. The
// groups of unknown (whose coordinator could not be asked) and those whose
// fetch failed get the partitions last knew, without commits (see
// commitUnknown).
func (t *tick) fetchCommitted(ctx context.Context, groups []snapshot.Group, unknown map[string]error, last memory) {
	index := map[string]*snapshot.Group{}
	var ids []string
	for i := range groups {
		g := &groups[i]
		if err, ok := unknown[g.ID]; ok {
			g.Partitions = commitUnknown(g, last.partitions[g.ID], err)
			continue
		}
		if keepsOffsets(g) {
			index[g.ID] = g
			ids = append(ids, g.ID)
		}
	}
	failed := t.eachCoordinator(ctx, "fetch offsets for group", ids, func(ctx context.Context, c int32, ids []string) map[string]error {
		gs := make([]*snapshot.Group, len(ids))
		for i, id := range ids {
			gs[i] = index[id]
		}
		v, err := t.apiVersions(ctx, c)
		if err != nil {
			return eachFailed(ids, func(id string) error {
				return fmt.Errorf("fetch offsets for group %q on coordinator %d: %w", id, c, err)
			})
		}
		if !v.supports(kmsg.OffsetFetch, offsetFetchBatchVersion) {
			return t.fetchEach(ctx, c, gs)
		}
		failed := map[string]error{}
		for _, chunk := range offsetFetchChunks(gs) {
			maps.Copy(failed, t.offsetFetchBatch(ctx, c, chunk))
		}
		return failed
	})
	for id, err := range failed {
		g := index[id]
		g.Err = errors.Join(g.Err, err)
		g.Partitions = commitUnknown(g, last.partitions[id], err)
	}
}

// offsetFetchChunks splits one coordinator's groups into requests of at
// most maxOffsetFetchRequest bytes.
func offsetFetchChunks(gs []*snapshot.Group) [][]*snapshot.Group {
	var out [][]*snapshot.Group
	start, size := 0, 0
	for i, g := range gs {
		n := len(g.ID) + 25
		if i > start && size+n > maxOffsetFetchRequest {
			out = append(out, gs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(gs) {
		out = append(out, gs[start:])
	}
	return out
}

// offsetFetchBatch fetches the committed offsets of gs, all of which
// coordinator c owns, in one OffsetFetch v8, and sets the partitions of
// the groups it answered for. It returns the groups it failed for: every
// group of a request that failed, and each group answered with an error
// code.
func (t *tick) offsetFetchBatch(ctx context.Context, c int32, gs []*snapshot.Group) map[string]error {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = offsetFetchBatchVersion
	req.Groups = make([]kmsg.OffsetFetchRequestGroup, len(gs))
	for i, g := range gs {
		req.Groups[i] = kmsg.NewOffsetFetchRequestGroup()
		req.Groups[i].Group = g.ID
		// Topics nil: every partition the group committed.
	}
	res, err := t.send(ctx, &rawRequest{Req: req, ClientID: t.r.clientID(), broker: c})
	if err == nil && res.(*rawResponse).Unsupported {
		err = errors.New("the broker does not announce OffsetFetch")
	}
	failed := map[string]error{}
	if err != nil {
		t.r.forgetVersions(c)
		for _, g := range gs {
			failed[g.ID] = fmt.Errorf("fetch offsets for group %q on coordinator %d: %w", g.ID, c, err)
		}
		return failed
	}
	answered := make(map[string]*kmsg.OffsetFetchResponseGroup, len(gs))
	groups := res.(*rawResponse).Res.(*kmsg.OffsetFetchResponse).Groups
	for i := range groups {
		answered[groups[i].Group] = &groups[i]
	}
	for _, g := range gs {
		rg, ok := answered[g.ID]
		switch {
		case !ok:
			failed[g.ID] = fmt.Errorf("fetch offsets for group %q: coordinator %d did not answer for it", g.ID, c)
		case rg.ErrorCode != 0:
			failed[g.ID] = fmt.Errorf("fetch offsets for group %q: %w", g.ID, kafka.Error(rg.ErrorCode))
		default:
			var f fetched
			for _, rt := range rg.Topics {
				for _, p := range rt.Partitions {
					f.add(g.ID, rt.Topic, p.Partition, p.Offset, p.ErrorCode)
				}
			}
			f.apply(g)
		}
	}
	return failed
}

// fetched is one group's committed offsets as OffsetFetch answered them.
type fetched struct {
	committed map[topicPartition]int64
	// unknown are the partitions answered with an error code.
	unknown map[topicPartition]error
	errs    []error
}

// add records one partition's committed offset, or its error. -1 is no
// committed offset (the coordinator lists such a partition when it is
// asked about explicitly).
func (f *fetched) add(group, topic string, partition int32, offset int64, code int16) {
	tp := topicPartition{topic, partition}
	if code != 0 {
		err := fmt.Errorf("fetch offset for group %q topic %q partition %d: %w", group, topic, partition, kafka.Error(code))
		if f.unknown == nil {
			f.unknown = map[topicPartition]error{}
		}
		f.unknown[tp] = fmt.Errorf("committed offset unknown: %w", err)
		f.errs = append(f.errs, err)
		return
	}
	if offset >= 0 {
		if f.committed == nil {
			f.committed = map[topicPartition]int64{}
		}
		f.committed[tp] = offset
	}
}

// apply sets g's partitions from what was fetched, and its Err from the
// partitions that failed.
func (f *fetched) apply(g *snapshot.Group) {
	g.Err = errors.Join(g.Err, errors.Join(f.errs...))
	g.Partitions = partitionsOf(g, f.committed, f.unknown)
}

// fetchEach fetches the offsets of gs, all of which coordinator c owns, one
// request per group (for brokers before Kafka 3.0), at most
// Cluster.Concurrency at a time across the tick. It returns the groups it
// failed for, as offsetFetchBatch does.
func (t *tick) fetchEach(ctx context.Context, c int32, gs []*snapshot.Group) map[string]error {
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, g := range gs {
		t.sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-t.sem }()
			f, err := t.offsetFetch(ctx, c, g.ID)
			if err != nil {
				mu.Lock()
				failed[g.ID] = err
				mu.Unlock()
				return
			}
			f.apply(g)
		})
	}
	wg.Wait()
	return failed
}

// offsetFetch fetches one group's committed offsets, kafka-go's OffsetFetch
// (v0 to v5), straight to its coordinator.
func (t *tick) offsetFetch(ctx context.Context, c int32, group string) (*fetched, error) {
	res, err := t.send(ctx, &brokerOffsetFetch{GroupID: group, toBroker: toBroker{c}})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets for group %q on coordinator %d: %w", group, c, err)
	}
	of := res.(*offsetfetch.Response)
	if of.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch offsets for group %q: %w", group, kafka.Error(of.ErrorCode))
	}
	f := &fetched{committed: map[topicPartition]int64{}}
	for _, rt := range of.Topics {
		for _, p := range rt.Partitions {
			f.add(group, rt.Name, p.PartitionIndex, p.CommittedOffset, p.ErrorCode)
		}
	}
	return f, nil
}
