package esindex

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
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
	TotalLag       int64
	// MaxLag is the partition with the most lag; nil when none has lag.
	MaxLag *MaxLag
	// TimeLagSeconds is how far behind the head the group is, the maximum
	// over its partitions; nil when unknown.
	TimeLagSeconds *float64
	// Rates in messages per second over the window; nil when unknown.
	ConsumeRate, ProduceRate *float64
	// CatchUpSeconds estimates the time to lag 0; nil when unknown or never
	// (CatchUpNever).
	CatchUpSeconds *float64
	CatchUpNever   bool
	WindowSize     int
	// Partitions are the partitions that are not OK.
	Partitions []PartitionStatusDoc
}

// MaxLag names the partition with the most lag.
type MaxLag struct {
	Topic     string
	Partition int
	Lag       int64
}

// PartitionStatusDoc is one partition's verdict within a StatusDoc.
type PartitionStatusDoc struct {
	Topic             string
	Partition         int
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

// statusJSON is the stored shape of a StatusDoc (templates/status.json).
type statusJSON struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Cluster struct {
			Name string `json:"name"`
		} `json:"cluster"`
		Consumergroup struct {
			ID string `json:"id"`
		} `json:"consumergroup"`
	} `json:"kafka"`
	Lagwatch struct {
		Status statusFields `json:"status"`
	} `json:"lagwatch"`
}

type statusFields struct {
	Status          string            `json:"status"`
	Code            int               `json:"code"`
	Complete        float64           `json:"complete"`
	PartitionCount  int               `json:"partition_count"`
	TotalLag        int64             `json:"total_lag"`
	MaxLag          *int64            `json:"max_lag,omitempty"`
	MaxLagTopic     string            `json:"max_lag_topic,omitempty"`
	MaxLagPartition *int              `json:"max_lag_partition,omitempty"`
	TimeLagSeconds  *float64          `json:"time_lag_seconds,omitempty"`
	ConsumeRate     *float64          `json:"consume_rate,omitempty"`
	ProduceRate     *float64          `json:"produce_rate,omitempty"`
	CatchUpSeconds  *float64          `json:"catch_up_seconds,omitempty"`
	CatchUpNever    bool              `json:"catch_up_never,omitempty"`
	WindowSize      int               `json:"window_size,omitempty"`
	Partitions      []partitionFields `json:"partitions,omitempty"`
}

type partitionFields struct {
	Topic             string   `json:"topic"`
	Partition         int      `json:"partition"`
	Status            string   `json:"status"`
	Code              int      `json:"code"`
	Complete          float64  `json:"complete"`
	Owner             string   `json:"owner,omitempty"`
	CurrentLag        int64    `json:"current_lag"`
	TimeLagSeconds    *float64 `json:"time_lag_seconds,omitempty"`
	TimeLagLowerBound bool     `json:"time_lag_lower_bound,omitempty"`
	StartOffset       *int64   `json:"start_offset,omitempty"`
	StartTime         string   `json:"start_time,omitempty"`
	StartLag          *int64   `json:"start_lag,omitempty"`
	EndOffset         *int64   `json:"end_offset,omitempty"`
	EndTime           string   `json:"end_time,omitempty"`
	EndLag            *int64   `json:"end_lag,omitempty"`
}

// encodeStatus renders d as stored.
func encodeStatus(d StatusDoc) ([]byte, error) {
	var s statusJSON
	s.Timestamp = d.At.UTC().Format(timestampLayout)
	s.Kafka.Cluster.Name = d.Cluster
	s.Kafka.Consumergroup.ID = d.Group
	f := &s.Lagwatch.Status
	f.Status, f.Code, f.Complete, f.PartitionCount, f.TotalLag = d.Status, d.Code, d.Complete, d.PartitionCount, d.TotalLag
	if d.MaxLag != nil {
		f.MaxLag, f.MaxLagTopic, f.MaxLagPartition = &d.MaxLag.Lag, d.MaxLag.Topic, &d.MaxLag.Partition
	}
	f.TimeLagSeconds, f.ConsumeRate, f.ProduceRate = d.TimeLagSeconds, d.ConsumeRate, d.ProduceRate
	f.CatchUpSeconds, f.CatchUpNever, f.WindowSize = d.CatchUpSeconds, d.CatchUpNever, d.WindowSize
	for _, p := range d.Partitions {
		pf := partitionFields{Topic: p.Topic, Partition: p.Partition, Status: p.Status, Code: p.Code, Complete: p.Complete,
			Owner: p.Owner, CurrentLag: p.CurrentLag, TimeLagSeconds: p.TimeLagSeconds, TimeLagLowerBound: p.TimeLagLowerBound}
		if p.Start != nil {
			pf.StartOffset, pf.StartTime, pf.StartLag = &p.Start.Offset, p.Start.Time.UTC().Format(timestampLayout), &p.Start.Lag
		}
		if p.End != nil {
			pf.EndOffset, pf.EndTime, pf.EndLag = &p.End.Offset, p.End.Time.UTC().Format(timestampLayout), &p.End.Lag
		}
		f.Partitions = append(f.Partitions, pf)
	}
	return json.Marshal(s)
}

// statusID is the _id of the status document of (cluster, group) evaluated at
// ms (Unix milliseconds): re-running an evaluation of the same instant makes
// the same id, so it is stored once.
func statusID(cluster, group string, ms int64) string {
	return docID(ms, -1, cluster, group)
}

// StatusWriter writes status documents with the Writer's bulk path: 201 and
// 409 (already stored: an evaluation re-run) count as written, 429 and 5xx are
// retried. There is no spool: the evaluator is a batch job whose failure is
// its exit status.
type StatusWriter struct {
	w *Writer
}

// NewStatusWriter returns a StatusWriter for names.Status.
func NewStatusWriter(es *elasticsearch.Client, names Names) (*StatusWriter, error) {
	w, err := NewWriter(es, names, WriterOptions{})
	if err != nil {
		return nil, err
	}
	return &StatusWriter{w: w}, nil
}

// Write stores docs. The error wraps ErrLost when any document was neither
// written nor already there.
func (sw *StatusWriter) Write(ctx context.Context, docs []StatusDoc) (WriteResult, error) {
	batch := make([]doc, 0, len(docs))
	for _, d := range docs {
		body, err := encodeStatus(d)
		if err != nil {
			return WriteResult{}, fmt.Errorf("encode status of group %q: %w", d.Group, err)
		}
		batch = append(batch, doc{index: sw.w.names.Status, id: statusID(d.Cluster, d.Group, d.At.UnixMilli()), body: body})
	}
	sw.w.mu.Lock()
	defer sw.w.mu.Unlock()
	var res WriteResult
	pr := problems{res: &res}
	res.Docs = len(batch)
	unwritten := sw.w.send(ctx, batch, &res, &pr).unwritten
	res.Dropped += len(unwritten)
	return res, lostError(res, len(unwritten))
}
