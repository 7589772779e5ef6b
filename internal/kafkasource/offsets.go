package kafkasource

import (
	"context"
	"errors"
	"fmt"
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
// ApiVersions request (kafka-go negotiates versions too, but tells us only
// up to the version it speaks itself, 5 for OffsetFetch) and remembered for
// the Source's life; a batched request that fails forgets it, so that the
// next tick asks again (a broker replaced by an older one, say).

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
// partitions plus assigned ones. Coordinators are asked concurrently.
func (r *Source) fetchCommitted(ctx context.Context, groups []snapshot.Group, coordinator map[string]int32) {
	byCoordinator := map[int32][]*snapshot.Group{}
	for i := range groups {
		g := &groups[i]
		if !keepsOffsets(g) {
			continue
		}
		c := coordinator[g.ID]
		byCoordinator[c] = append(byCoordinator[c], g)
	}
	var single []*snapshot.Group // groups of coordinators without batching
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c, gs := range byCoordinator {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !r.batchesOffsetFetch(ctx, c) {
				mu.Lock()
				single = append(single, gs...)
				mu.Unlock()
				return
			}
			for _, chunk := range offsetFetchChunks(gs) {
				r.offsetFetchBatch(ctx, c, chunk)
			}
		}()
	}
	wg.Wait()
	r.fetchCommittedEach(ctx, single, coordinator)
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
// coordinator c owns, in one OffsetFetch v8. A failed request is every
// group's error; a group-level error code is its group's.
func (r *Source) offsetFetchBatch(ctx context.Context, c int32, gs []*snapshot.Group) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = offsetFetchBatchVersion
	req.Groups = make([]kmsg.OffsetFetchRequestGroup, len(gs))
	for i, g := range gs {
		req.Groups[i] = kmsg.NewOffsetFetchRequestGroup()
		req.Groups[i].Group = g.ID
		// Topics nil: every partition the group committed.
	}
	res, err := r.transport.RoundTrip(ctx, r.addr, &rawRequest{Req: req, ClientID: r.clientID(), broker: c})
	if err == nil && res.(*rawResponse).Unsupported {
		err = errors.New("the broker does not announce OffsetFetch")
	}
	if err != nil {
		r.forgetOffsetFetchBatching(c)
		for _, g := range gs {
			g.Err = errors.Join(g.Err, fmt.Errorf("fetch offsets for group %q on coordinator %d: %w", g.ID, c, err))
			g.Partitions = partitionsOf(g, nil)
		}
		return
	}
	answered := make(map[string]*kmsg.OffsetFetchResponseGroup, len(gs))
	groups := res.(*rawResponse).Res.(*kmsg.OffsetFetchResponse).Groups
	for i := range groups {
		answered[groups[i].Group] = &groups[i]
	}
	for _, g := range gs {
		rg, ok := answered[g.ID]
		var committed map[topicPartition]int64
		switch {
		case !ok:
			g.Err = errors.Join(g.Err, fmt.Errorf("fetch offsets for group %q: coordinator %d did not answer for it", g.ID, c))
		case rg.ErrorCode != 0:
			g.Err = errors.Join(g.Err, fmt.Errorf("fetch offsets for group %q: %w", g.ID, kafka.Error(rg.ErrorCode)))
		default:
			committed = make(map[topicPartition]int64)
			var errs []error
			for _, t := range rg.Topics {
				for _, p := range t.Partitions {
					errs = addCommitted(committed, errs, g.ID, t.Topic, p.Partition, p.Offset, p.ErrorCode)
				}
			}
			g.Err = errors.Join(g.Err, errors.Join(errs...))
		}
		g.Partitions = partitionsOf(g, committed)
	}
}

// addCommitted records one partition's committed offset, or its error.
// -1 is no committed offset (the coordinator lists such a partition when it
// is asked about explicitly).
func addCommitted(committed map[topicPartition]int64, errs []error, group, topic string, partition int32, offset int64, code int16) []error {
	if code != 0 {
		return append(errs, fmt.Errorf("fetch offset for group %q topic %q partition %d: %w", group, topic, partition, kafka.Error(code)))
	}
	if offset >= 0 {
		committed[topicPartition{topic, partition}] = offset
	}
	return errs
}

// batchesOffsetFetch reports whether broker c takes OffsetFetch v8, asking
// it with ApiVersions the first time. When it cannot be asked, it says no
// (this tick fetches group by group, and the next asks again).
func (r *Source) batchesOffsetFetch(ctx context.Context, c int32) bool {
	r.versionsMu.Lock()
	ok, known := r.offsetFetchV8[c]
	r.versionsMu.Unlock()
	if known {
		return ok
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0 // answered by every broker, in the same version
	res, err := r.transport.RoundTrip(ctx, r.addr, &rawRequest{Req: req, ClientID: r.clientID(), broker: c})
	if err != nil || res.(*rawResponse).Unsupported {
		return false
	}
	av := res.(*rawResponse).Res.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		return false
	}
	ok = false
	for _, k := range av.ApiKeys {
		if k.ApiKey == kmsg.OffsetFetch.Int16() {
			ok = k.MinVersion <= offsetFetchBatchVersion && offsetFetchBatchVersion <= k.MaxVersion
		}
	}
	r.versionsMu.Lock()
	if r.offsetFetchV8 == nil {
		r.offsetFetchV8 = map[int32]bool{}
	}
	r.offsetFetchV8[c] = ok
	r.versionsMu.Unlock()
	return ok
}

func (r *Source) forgetOffsetFetchBatching(c int32) {
	r.versionsMu.Lock()
	delete(r.offsetFetchV8, c)
	r.versionsMu.Unlock()
}

// fetchCommittedEach fetches groups one request each, to their
// coordinators, at most Cluster.Concurrency at a time: for brokers before
// Kafka 3.0.
func (r *Source) fetchCommittedEach(ctx context.Context, groups []*snapshot.Group, coordinator map[string]int32) {
	limit := r.concurrency
	if limit <= 0 {
		limit = 16
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, g := range groups {
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

// offsetFetch fetches one group's committed offsets, kafka-go's OffsetFetch
// (v0 to v5), straight to its coordinator.
func (r *Source) offsetFetch(ctx context.Context, group string, coordinator int32) (map[topicPartition]int64, error) {
	res, err := r.transport.RoundTrip(ctx, r.addr, &brokerOffsetFetch{GroupID: group, toBroker: toBroker{coordinator}})
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
			errs = addCommitted(out, errs, group, t.Name, p.PartitionIndex, p.CommittedOffset, p.ErrorCode)
		}
	}
	return out, errors.Join(errs...)
}
