package esindex

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// StatusDoc is one evaluation of one group: the document the evaluator writes
// to the status data stream. It is plain data so that this package does not
// depend on the evaluation rules; the evaluator fills it in.
type StatusDoc struct {
	// At is the evaluation instant (the document's @timestamp).
	At             time.Time
	Cluster, Group string
	// Status is Burrow's group status string (OK, WARN, ERR, NOTFOUND) and
	// Code its Burrow status code (NOTFOUND 0, OK 1, WARN 2, ERR 3).
	Status string
	Code   int
	// Complete is the share of partitions with a full window, 0 to 1.
	Complete       float64
	PartitionCount int
	// TotalLag sums the partitions' lags. Lags here are readable lags, the
	// ones the verdicts judge: transaction markers, aborted records and
	// open transactions are not counted (the offsets documents keep
	// Kafka's own lag beside).
	TotalLag int64
	// MaxLag is the partition with the most lag; nil when none has lag.
	MaxLag *MaxLag
	// TimeLagSeconds is how far behind the head the group is, the maximum
	// over its partitions; nil when unknown. TimeLagLowerBound: it is at
	// least that (the history does not reach back to where the consumer
	// is).
	TimeLagSeconds    *float64
	TimeLagLowerBound bool
	// Rates in messages per second over the window; nil when unknown.
	ConsumeRate, ProduceRate *float64
	// CatchUpSeconds estimates the time to lag 0; nil when unknown or never
	// (CatchUpNever).
	CatchUpSeconds *float64
	CatchUpNever   bool
	WindowSize     int
	// Partitions are the partitions that are not OK.
	Partitions []PartitionStatusDoc
	// Stale is set when the group's cluster is stale: no lag data since
	// NewestTick (zero when none ever came), for StaleReason. The verdict
	// is then the one of the instant the cluster became stale, and the
	// time lags are lower bounds.
	Stale       bool
	NewestTick  time.Time
	StaleReason string
}

// MaxLag names the partition with the most lag.
type MaxLag struct {
	Topic     string
	Partition int32
	Lag       int64
}

// PartitionStatusDoc is one partition's verdict within a StatusDoc.
type PartitionStatusDoc struct {
	Topic             string
	Partition         int32
	Status            string
	Code              int
	Complete          float64
	Owner             string
	CurrentLag        int64
	TimeLagSeconds    *float64
	TimeLagLowerBound bool
	// Start and End are the first and last observations of the window.
	Start, End *OffsetPoint
}

// OffsetPoint is a committed offset at a time, with its lag.
type OffsetPoint struct {
	Offset int64
	Time   time.Time
	Lag    int64
}

// DefaultStatusBacklogBytes bounds the status documents a StatusWriter keeps
// in memory while Elasticsearch does not take them.
const DefaultStatusBacklogBytes = 64 << 20

// StatusWriter writes status documents with the Writer's bulk path: 201 and
// 409 (already stored: an evaluation re-run) count as written, 429 and 5xx are
// retried, documents rejected for their content are lost (Failed).
//
// Documents Elasticsearch does not take for another reason (a write block,
// a missing privilege, an outage) are kept in memory, up to
// DefaultStatusBacklogBytes, and sent before the next Write's: a status
// document is the verdict of one instant, which only the evaluator that
// made it can write later (or a re-evaluation of that instant: evaluator
// --at). Past the bound the oldest are dropped (Dropped). There is no spool
// on disk: a process that ends loses its backlog, which Backlog reports
// before it does. It is safe for concurrent use.
type StatusWriter struct {
	sender
	index string

	mu           sync.Mutex
	backlog      []doc // oldest first
	backlogBytes int64
	maxBacklog   int64
}

// NewStatusWriter returns a StatusWriter for the status data stream, with
// the Writer's default retries and request sizes.
func (c *Client) NewStatusWriter() *StatusWriter {
	opts, _ := WriterOptions{}.withDefaults() // the zero options are valid
	return &StatusWriter{sender: newSender(c.es, opts), index: c.names.Status, maxBacklog: DefaultStatusBacklogBytes}
}

// Write stores docs, after the documents kept from earlier writes. Spooled
// counts those of docs that are kept for the next Write, Replayed the kept
// ones written now. While the kept ones are still refused, docs join them
// unsent. The error wraps ErrLost when documents were rejected for their
// content or dropped past the backlog's bound.
func (sw *StatusWriter) Write(ctx context.Context, docs []StatusDoc) (WriteResult, error) {
	batch := make([]doc, 0, len(docs))
	for _, d := range docs {
		body, err := encodeStatus(d)
		if err != nil {
			return WriteResult{}, fmt.Errorf("encode status of group %q: %w", d.Group, err)
		}
		batch = append(batch, doc{index: sw.index, id: statusID(d.Cluster, d.Group, d.At.UnixMilli()), body: body})
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	t := newTally(len(batch))
	if kept := sw.backlog; len(kept) > 0 {
		sw.backlog, sw.backlogBytes = nil, 0
		out := sw.send(ctx, &sliceSource{docs: kept}, t)
		t.res.Replayed += out.written
		sw.keep(out.unwritten, t)
		if len(out.unwritten) > 0 {
			sw.keep(batch, t)
			t.res.Spooled += len(batch)
			return t.res, lostError(t.res, 0)
		}
	}
	unwritten := sw.send(ctx, &sliceSource{docs: batch}, t).unwritten
	sw.keep(unwritten, t)
	t.res.Spooled += len(unwritten)
	return t.res, lostError(t.res, 0)
}

// keep appends docs to the backlog, dropping the oldest documents past its
// bound (counted in Dropped).
func (sw *StatusWriter) keep(docs []doc, t *tally) {
	for _, d := range docs {
		sw.backlog = append(sw.backlog, d)
		sw.backlogBytes += int64(bulkSize(&d))
	}
	n := 0
	for sw.backlogBytes > sw.maxBacklog && n < len(sw.backlog) {
		sw.backlogBytes -= int64(bulkSize(&sw.backlog[n]))
		n++
	}
	if n > 0 {
		sw.backlog = slices.Delete(sw.backlog, 0, n)
		t.res.Dropped += n
		t.problem(fmt.Sprintf("oldest status documents not yet written dropped to stay under %d bytes", sw.maxBacklog), n)
	}
}

// Backlog is what waits for the next Write: documents and their size in
// bytes.
func (sw *StatusWriter) Backlog() (docs int, bytes int64) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.backlog), sw.backlogBytes
}
