package kafkasource

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactions leave offsets that no consumer receives: every commit or
// abort marker takes one, and a read_committed consumer never receives the
// records of an aborted transaction. A consumer that read everything and
// committed its last record + 1 (librdkafka's and Spring Kafka's manual
// commits) is therefore 1 behind the log end by Kafka's count for as long
// as nothing new is written. To tell such a consumer from a stalled one,
// the partition is read from the committed offset up to the last stable
// offset, in read_committed mode, and the offsets that hold nothing to
// receive are counted (snapshot.Partition.Skipped).
//
// Only where the question arises: a group-partition with something between
// its committed offset and the LSO, seen at the same committed offset and
// LSO at the previous tick, is read once; the answer is remembered while
// neither moves, because the log below the LSO never changes. A busy
// partition whose offsets move at every tick is never read, so in the
// common case no request is sent at all, and otherwise one Fetch per
// partition leader, bounded in bytes: requests grow with leaders, not with
// partitions. On the Source's first tick (every tick of `collector
// --once`) there is nothing to compare with: a group-partition is read
// there when at most firstSightRange offsets separate it from the LSO, so
// that a caught-up consumer behind a marker is caught up from the first
// tick rather than judged on a lag of 1 until the second. What one Fetch does not cover is
// counted as readable, so an unfinished answer can only overstate the
// lag.

const (
	// txnFetchVersion is a Fetch version every broker from Kafka 2.3 to 4.x
	// takes (4.0 removed versions 0 to 3), with topic names rather than
	// ids, the isolation level and aborted transactions.
	txnFetchVersion = 11
	// txnPartitionMaxBytes bounds what one partition's check reads; the
	// broker still returns a whole first batch when it is larger.
	txnPartitionMaxBytes = 256 << 10
	// txnFetchMaxBytes bounds one Fetch answer.
	txnFetchMaxBytes = 4 << 20
	// maxTxnChecks bounds the partition ranges checked in one tick, the
	// smallest first; the rest wait for a later tick (their readable lag
	// meanwhile is the upper bound, Kafka's lag up to the LSO). Only groups
	// at rest with something left to read are candidates: stopped and
	// stalled consumers, and caught-up ones behind a marker.
	maxTxnChecks = 1000
	// firstSightRange is the largest range read for a group-partition seen
	// for the first time, whose offsets may be moving: a few markers'
	// worth, so that busy partitions on a first tick cost little.
	firstSightRange = 100
)

// groupTP names one group-partition in the memo: FNV-1a (64 bits) of the
// group, topic and partition, 8 bytes however long the names, since the
// memo may hold every group-partition with lag.
type groupTP uint64

func groupTPKey(group, topic string, partition int32) groupTP {
	h := fnv.New64a()
	_, _ = h.Write([]byte(group))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(topic))
	_, _ = h.Write([]byte{0, byte(partition >> 24), byte(partition >> 16), byte(partition >> 8), byte(partition)})
	return groupTP(h.Sum64())
}

// txnMemo is what one group-partition showed at the previous tick.
type txnMemo struct {
	committed, lso int64
	// checked is set when the range [committed, lso) was read; skipped is
	// then what the read found.
	checked bool
	skipped int64
}

// txnRange is one range to read: a partition from a committed offset up to
// the LSO. Groups at the same position share it.
type txnRange struct {
	topicPartition
	from, to int64
}

// txnResult is what reading a range found.
type txnResult struct {
	skipped int64
	err     error
}

// countSkipped sets Skipped on every group-partition that has offsets
// between its committed offset and the LSO and did not move since the
// previous tick, reading each such range once while it stays the same. leader maps a partition to its leader's broker id. It returns how
// many ranges it read and the errors met (a failed read leaves Skipped 0:
// the readable lag stays the upper bound, never below the truth).
func (t *tick) countSkipped(ctx context.Context, leader map[topicPartition]int32, groups []snapshot.Group) (checked int, errs []error) {
	r := t.r
	memo := make(map[groupTP]txnMemo, len(r.txnMemo))
	first := r.txnMemo == nil
	want := map[txnRange][]*snapshot.Partition{}
	var order []txnRange
	for gi := range groups {
		g := &groups[gi]
		for pi := range g.Partitions {
			p := &g.Partitions[pi]
			if !p.HasCommitted || !p.HasOffsets || p.Err != nil {
				continue
			}
			lso := p.LastStable()
			if p.Committed >= lso || p.Committed < p.LogStart {
				continue
			}
			key := groupTPKey(g.ID, p.Topic, p.Partition)
			m := txnMemo{committed: p.Committed, lso: lso}
			prev, seen := r.txnMemo[key]
			same := seen && prev.committed == m.committed && prev.lso == m.lso
			switch {
			case same && prev.checked:
				m = prev
				p.Skipped = m.skipped
			case same, first && lso-p.Committed <= firstSightRange:
				rg := txnRange{topicPartition{p.Topic, p.Partition}, p.Committed, lso}
				if want[rg] == nil {
					order = append(order, rg)
				}
				want[rg] = append(want[rg], p)
			}
			memo[key] = m
		}
	}
	if len(order) > maxTxnChecks {
		// The smallest ranges first: there a few markers can be the whole
		// lag, and one read covers them.
		sort.SliceStable(order, func(i, j int) bool { return order[i].to-order[i].from < order[j].to-order[j].from })
		order = order[:maxTxnChecks]
	}
	results := t.readRanges(ctx, leader, order)
	for _, rg := range order {
		res := results[rg]
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		for _, p := range want[rg] {
			p.Skipped = res.skipped
		}
	}
	for gi := range groups {
		g := &groups[gi]
		for pi := range g.Partitions {
			p := &g.Partitions[pi]
			key := groupTPKey(g.ID, p.Topic, p.Partition)
			m, ok := memo[key]
			if !ok {
				continue
			}
			if res, read := results[txnRange{topicPartition{p.Topic, p.Partition}, m.committed, m.lso}]; read && res.err == nil {
				m.checked, m.skipped = true, res.skipped
				memo[key] = m
			}
		}
	}
	r.txnMemo = memo
	return len(order), errs
}

// readRanges reads every range, one Fetch per leader, all leaders
// concurrently.
func (t *tick) readRanges(ctx context.Context, leader map[topicPartition]int32, ranges []txnRange) map[txnRange]txnResult {
	out := make(map[txnRange]txnResult, len(ranges))
	byLeader := map[int32][]txnRange{}
	for _, rg := range ranges {
		l, ok := leader[rg.topicPartition]
		if !ok || l < 0 {
			out[rg] = txnResult{err: fmt.Errorf("read topic %q partition %d for transaction markers: %w", rg.topic, rg.partition, kafka.LeaderNotAvailable)}
			continue
		}
		byLeader[l] = append(byLeader[l], rg)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for l, rs := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := t.fetchOnce(ctx, l, rs)
			mu.Lock()
			defer mu.Unlock()
			for rg, v := range res {
				out[rg] = v
			}
		}()
	}
	wg.Wait()
	return out
}

// fetchOnce reads ranges, all led by broker l, in one Fetch. A Fetch names
// each partition once, so a partition where groups sit at different
// committed offsets is read from the lowest of them, and every range is
// counted from the same answer.
func (t *tick) fetchOnce(ctx context.Context, l int32, ranges []txnRange) map[txnRange]txnResult {
	out := make(map[txnRange]txnResult, len(ranges))
	fail := func(err error) map[txnRange]txnResult {
		for _, rg := range ranges {
			out[rg] = txnResult{err: fmt.Errorf("read topic %q partition %d for transaction markers on broker %d: %w", rg.topic, rg.partition, l, err)}
		}
		return out
	}
	sort.Slice(ranges, func(i, j int) bool {
		if ranges[i].topic != ranges[j].topic {
			return ranges[i].topic < ranges[j].topic
		}
		if ranges[i].partition != ranges[j].partition {
			return ranges[i].partition < ranges[j].partition
		}
		return ranges[i].from < ranges[j].from
	})
	req := kmsg.NewPtrFetchRequest()
	req.Version = txnFetchVersion
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = txnFetchMaxBytes
	req.IsolationLevel = 1 // read_committed: up to the LSO, with the aborted transactions
	req.SessionID, req.SessionEpoch = 0, -1
	byKey := make(map[topicPartition][]txnRange, len(ranges))
	for _, rg := range ranges {
		byKey[rg.topicPartition] = append(byKey[rg.topicPartition], rg)
		if len(byKey[rg.topicPartition]) > 1 {
			continue // sorted by from: the first is the lowest
		}
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != rg.topic {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = rg.topic
			req.Topics = append(req.Topics, t)
		}
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = rg.partition
		fp.CurrentLeaderEpoch = -1
		fp.FetchOffset = rg.from
		fp.LogStartOffset = -1
		fp.PartitionMaxBytes = txnPartitionMaxBytes
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, fp)
	}
	res, err := t.send(ctx, &rawRequest{Req: req, ClientID: t.r.clientID(), broker: l})
	if err == nil && res.(*rawResponse).Unsupported {
		err = errors.New("the broker does not announce Fetch")
	}
	if err != nil {
		return fail(err)
	}
	fr := res.(*rawResponse).Res.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		return fail(kafka.Error(fr.ErrorCode))
	}
	for _, t := range fr.Topics {
		for _, p := range t.Partitions {
			rgs := byKey[topicPartition{t.Topic, p.Partition}]
			for _, rg := range rgs {
				if p.ErrorCode != 0 {
					out[rg] = txnResult{err: fmt.Errorf("read topic %q partition %d for transaction markers: %w", rg.topic, rg.partition, kafka.Error(p.ErrorCode))}
					continue
				}
				aborted := make([]abortedTxn, len(p.AbortedTransactions))
				for i, a := range p.AbortedTransactions {
					aborted[i] = abortedTxn{producerID: a.ProducerID, firstOffset: a.FirstOffset}
				}
				out[rg] = txnResult{skipped: skippedOffsets(p.RecordBatches, aborted, rg.from, rg.to)}
			}
		}
	}
	for _, rg := range ranges {
		if _, ok := out[rg]; !ok {
			out[rg] = txnResult{err: fmt.Errorf("read topic %q partition %d for transaction markers: broker %d did not answer for it", rg.topic, rg.partition, l)}
		}
	}
	return out
}

// abortedTxn is one aborted transaction a read_committed Fetch reports: the
// producer and the first offset of its transaction.
type abortedTxn struct {
	producerID, firstOffset int64
}

// Record batch header (magic 2), byte offsets: base offset 0, batch length
// 8, partition leader epoch 12, magic 16, CRC 17, attributes 21, last
// offset delta 23, base timestamp 27, max timestamp 35, producer id 43,
// producer epoch 51, base sequence 53, record count 57, records 61. An
// older message set also has its magic at byte 16.
const (
	batchHeaderLen     = 61
	attrTransactional  = 0x10
	attrControl        = 0x20
	controlTypeAbort   = 0
	batchLengthOffset  = 8
	batchMagicOffset   = 16
	batchAttrOffset    = 21
	batchLastDeltaOff  = 23
	batchProducerIDOff = 43
)

// skippedOffsets counts the offsets in [from, to) that hold nothing a
// read_committed consumer receives, from a Fetch answer's record batches
// and aborted transactions, the way Kafka's consumer filters them:
// control batches (markers) are skipped, and a transactional batch of a
// producer whose transaction is listed as aborted is skipped until that
// producer's abort marker. Batches are read by their headers alone, never
// decompressed: a compacted batch's gaps count as records to receive. An
// answer that ends before to (bytes bound, a cut batch, an old message
// format) leaves the rest counted as readable: the result can only be too
// small, the readable lag too large.
func skippedOffsets(b []byte, aborted []abortedTxn, from, to int64) int64 {
	sort.Slice(aborted, func(i, j int) bool { return aborted[i].firstOffset < aborted[j].firstOffset })
	abortedProducers := map[int64]bool{}
	var skipped int64
	for len(b) >= batchHeaderLen {
		if b[batchMagicOffset] != 2 {
			break // an old message format has no transactions; the rest counts as readable
		}
		size := 12 + int64(int32(binary.BigEndian.Uint32(b[batchLengthOffset:])))
		if size < batchHeaderLen || size > int64(len(b)) {
			break // cut by the bytes bound
		}
		base := int64(binary.BigEndian.Uint64(b))
		last := base + int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaOff:])))
		attrs := binary.BigEndian.Uint16(b[batchAttrOffset:])
		producer := int64(binary.BigEndian.Uint64(b[batchProducerIDOff:]))
		for len(aborted) > 0 && aborted[0].firstOffset <= last {
			abortedProducers[aborted[0].producerID] = true
			aborted = aborted[1:]
		}
		skip := false
		switch {
		case attrs&attrControl != 0:
			skip = true
			if controlType(b[batchHeaderLen:size]) == controlTypeAbort {
				delete(abortedProducers, producer)
			}
		case attrs&attrTransactional != 0 && abortedProducers[producer]:
			skip = true
		}
		if lo, hi := max(base, from), min(last, to-1); skip && hi >= lo {
			skipped += hi - lo + 1
		}
		if last >= to-1 {
			break
		}
		b = b[size:]
	}
	return skipped
}

// controlType reads the type of a control batch's first record: its key
// holds a version (int16) and the type (int16): 0 abort, 1 commit. A record
// is a varint length, attributes (int8), timestamp delta (varint), offset
// delta (varint), key length (varint), key. -1 when it cannot be read (a
// compressed control batch, which Kafka does not write).
func controlType(records []byte) int {
	b := records
	// length, then attributes, then timestamp and offset deltas
	for i := range 3 {
		_, n := binary.Varint(b)
		if n <= 0 || (i == 0 && len(b) <= n) {
			return -1
		}
		b = b[n:]
		if i == 0 {
			b = b[1:] // attributes
		}
	}
	keyLen, n := binary.Varint(b)
	if n <= 0 || keyLen < 4 || int64(len(b)-n) < keyLen {
		return -1
	}
	b = b[n:]
	return int(int16(binary.BigEndian.Uint16(b[2:4])))
}
