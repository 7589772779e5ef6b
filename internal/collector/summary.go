package collector

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// Tick results, as the tick document, the ticks_total series and the log
// line name them.
const (
	resultOK      = "ok"
	resultSpooled = "spooled" // a successful tick whose documents wait in the spool
	resultError   = "error"
)

// Summary is how one cluster's tick went: what was read, what the sink did
// with it, and the verdict. The tick document, the metrics and the log line
// are all made from it.
type Summary struct {
	Cluster string
	// Time is the snapshot's time: the tick's, to the second.
	Time time.Time
	// Snapshot counts. PartitionErrors counts partitions whose Err is set.
	Groups, Partitions, PartitionErrors int
	Stats                               snapshot.Stats
	// BrokerErrors are the snapshot's: brokers that could not list their
	// groups.
	BrokerErrors []snapshot.BrokerError
	// ReadErr is the snapshot's Err: the cluster was not read, nothing was
	// written.
	ReadErr error
	// ReadDuration is the time from the tick's start to this cluster's
	// snapshot; Duration to the end of its write.
	ReadDuration, Duration time.Duration

	// Write and WriteErr are the sink's answer to the snapshot (zero when
	// the cluster was not read).
	Write    esindex.WriteResult
	WriteErr error

	// Result is resultOK, resultSpooled or resultError; Err is the
	// cluster's error for the tick's own (nil unless Result is error).
	Result string
	Err    error
}

// summarize counts what s holds.
func summarize(s snapshot.Snapshot, readTook time.Duration) Summary {
	sum := Summary{Cluster: s.Cluster, Time: s.Time, Groups: len(s.Groups), Stats: s.Stats, BrokerErrors: s.BrokerErrors,
		ReadErr: s.Err, ReadDuration: readTook}
	for _, g := range s.Groups {
		sum.Partitions += len(g.Partitions)
		for _, p := range g.Partitions {
			if p.Err != nil {
				sum.PartitionErrors++
			}
		}
	}
	return sum
}

// judge sets Result and Err: a cluster not read, a write error or a
// rejected document fail the cluster's tick; documents that went to the
// spool do not (they are written later), but the result says so.
func (s *Summary) judge() {
	switch {
	case s.ReadErr != nil:
		s.Result, s.Err = resultError, fmt.Errorf("cluster %q: %w", s.Cluster, s.ReadErr)
	case s.WriteErr != nil || s.Write.Failed > 0:
		s.Result, s.Err = resultError, fmt.Errorf("cluster %q: %w", s.Cluster, s.writeError())
	case s.Write.Spooled > 0:
		s.Result = resultSpooled
	default:
		s.Result = resultOK
	}
}

// writeError is the sink's error or, when it gave none, the rejected
// documents as one; nil when neither.
func (s *Summary) writeError() error {
	if s.WriteErr == nil && s.Write.Failed > 0 {
		return fmt.Errorf("%d documents rejected by Elasticsearch for their content", s.Write.Failed)
	}
	return s.WriteErr
}

// refusal is the reason Elasticsearch refused the most of the cluster's
// documents for, other than their content ("" when it refused none).
func (s *Summary) refusal() string {
	if p, ok := s.Write.Refusal(); ok {
		return p.Reason
	}
	return ""
}

// causes renders counts by cause as a map, for a log line.
func causes(cs []esindex.CauseCount) map[string]int {
	m := make(map[string]int, len(cs))
	for _, c := range cs {
		m[c.Cause] += c.Count
	}
	return m
}

// tickDoc is the document recording the tick, for the collector health
// dashboard: tickTook is the time since the tick started, segments and
// bytes the spool's depth after the snapshot's write.
func tickDoc(s Summary, tickTook time.Duration, segments int, bytes int64) esindex.TickDoc {
	td := esindex.TickDoc{Time: s.Time, Cluster: s.Cluster, Result: s.Result,
		TickDuration: tickTook, ReadDuration: s.ReadDuration,
		Groups: s.Groups, Partitions: s.Partitions, KafkaRequests: s.Stats.Requests,
		GroupErrors: s.Stats.GroupErrors, PartitionErrors: s.PartitionErrors, NegativeLags: s.Stats.NegativeLags,
		BrokerErrors: s.Stats.BrokerErrors, Retries: s.Stats.Retries,
		Written: s.Write.Indexed, Duplicates: s.Write.Duplicates, Failed: s.Write.Failed,
		Spooled: s.Write.Spooled, Replayed: s.Write.Replayed, Dropped: s.Write.Dropped,
		Refused: s.Write.Refused, Refusal: s.refusal(),
		SpoolSegments: segments, SpoolBytes: bytes}
	// The error as it came: the rejected-documents count is in Failed.
	switch {
	case s.ReadErr != nil:
		td.Error = s.ReadErr.Error()
	case s.WriteErr != nil:
		td.Error = s.WriteErr.Error()
	}
	return td
}

// logSummary writes the cluster's tick line, the one place it is written:
// Info "tick" when all went well, Warn when the documents were spooled,
// Error when the tick failed. Documents lost for good get an Error line of
// their own as well, and so does each broker that could not list its groups
// (a Warn line: the tick goes on without them). Group and partition errors
// are counted here and written on their documents.
func logSummary(log *slog.Logger, s Summary) {
	for _, b := range s.BrokerErrors {
		log.Warn("broker not read: its groups are unknown this tick", "cluster", s.Cluster, "broker", b.Broker, "err", b.Err)
	}
	attrs := []any{"cluster", s.Cluster, "groups", s.Groups, "partitions", s.Partitions,
		"kafka_requests", s.Stats.Requests, "kafka_requests_by_type", s.Stats.RequestsByType, "group_errors", s.Stats.GroupErrors, "partition_errors", s.PartitionErrors,
		"broker_errors", s.Stats.BrokerErrors, "kafka_retries", s.Stats.Retries, "negative_lags", s.Stats.NegativeLags, "read_duration", s.ReadDuration}
	if s.Stats.RefusedGroups > 0 {
		log.Warn("groups left out: their id is longer than lagwatch stores", "cluster", s.Cluster, "refused", s.Stats.RefusedGroups,
			"max_characters", snapshot.MaxGroupIDLength, "group", s.Stats.RefusedGroup+"...")
	}
	if s.Stats.TxnReads > 0 {
		attrs = append(attrs, "txn_reads", s.Stats.TxnReads)
	}
	if s.Stats.TxnReadErrors > 0 {
		attrs = append(attrs, "txn_read_errors", s.Stats.TxnReadErrors, "txn_read_err", s.Stats.TxnReadErr)
	}
	if s.ReadErr != nil {
		log.Error("tick failed: cluster not read", append(attrs, "duration", s.Duration, "err", s.ReadErr)...)
		return
	}
	w := s.Write
	attrs = append(attrs, "written", w.Indexed, "duplicates", w.Duplicates, "failed", w.Failed,
		"retried", w.Retried, "refused", w.Refused, "spooled", w.Spooled, "replayed", w.Replayed, "dropped", w.Dropped,
		"es_bulk_took", w.BulkTook, "duration", s.Duration)
	if w.Dropped > 0 {
		log.Error("documents lost: neither written nor kept in the spool", "cluster", s.Cluster, "dropped", w.Dropped, "problems", w.Problems)
	}
	if w.Failed > 0 {
		// Not spooled: the same bytes would be refused again at every
		// replay, and every later document would wait behind them.
		attrs := []any{"cluster", s.Cluster, "failed", w.Failed, "rejected", causes(w.Rejections)}
		if e := w.Rejection; e != nil {
			attrs = append(attrs, "example", slog.GroupValue(slog.String("index", e.Index), slog.String("id", e.ID),
				slog.String("reason", e.Reason), slog.String("document", e.Body)))
		}
		log.Error("documents rejected for their content (a mapping conflict): not stored, not kept", attrs...)
	}
	if w.Refused > 0 {
		attrs = append(attrs, "refusals", causes(w.Refusals), "refusal", s.refusal())
	}
	if len(w.Problems) > 0 {
		attrs = append(attrs, "problems", w.Problems)
	}
	switch s.Result {
	case resultError:
		log.Error("tick failed", append(attrs, "err", s.writeError())...)
	case resultSpooled:
		log.Warn("tick spooled: Elasticsearch unavailable or refusing writes, or templates not installed; replayed in order later", attrs...)
	default:
		log.Info("tick", attrs...)
	}
}
