package esindex

import (
	"encoding/json"
	"time"
)

// TickDoc records how one collector tick went for one cluster: the data of
// the collector health dashboard, kept in Elasticsearch beside the history.
type TickDoc struct {
	Time    time.Time
	Cluster string
	// Result is "ok", "spooled" (Elasticsearch was away: written later) or
	// "error".
	Result                       string
	TickDuration, ReadDuration   time.Duration
	Groups, Partitions           int
	KafkaRequests                int64
	GroupErrors, PartitionErrors int
	NegativeLags                 int
	Written, Duplicates, Failed  int
	Spooled, Replayed, Dropped   int
	SpoolSegments                int
	SpoolBytes                   int64
	// Error is the tick's error, "" when none.
	Error string
}

func encodeTick(t TickDoc) ([]byte, error) {
	type collector struct {
		Result             string  `json:"result"`
		TickDuration       float64 `json:"tick_duration_seconds"`
		ReadDuration       float64 `json:"read_duration_seconds"`
		Groups             int     `json:"groups"`
		Partitions         int     `json:"partitions"`
		KafkaRequests      int64   `json:"kafka_requests"`
		GroupErrors        int     `json:"group_errors"`
		PartitionErrors    int     `json:"partition_errors"`
		NegativeLags       int     `json:"negative_lags"`
		DocumentsWritten   int     `json:"documents_written"`
		DocumentsDuplicate int     `json:"documents_duplicate"`
		DocumentsFailed    int     `json:"documents_failed"`
		DocumentsSpooled   int     `json:"documents_spooled"`
		DocumentsReplayed  int     `json:"documents_replayed"`
		DocumentsDropped   int     `json:"documents_dropped"`
		SpoolSegments      int     `json:"spool_segments"`
		SpoolBytes         int64   `json:"spool_bytes"`
	}
	var d struct {
		Timestamp string `json:"@timestamp"`
		Kafka     struct {
			Cluster struct {
				Name string `json:"name"`
			} `json:"cluster"`
		} `json:"kafka"`
		Lagwatch struct {
			Collector collector `json:"collector"`
			Error     string    `json:"error,omitempty"`
		} `json:"lagwatch"`
	}
	d.Timestamp = t.Time.UTC().Format(timestampLayout)
	d.Kafka.Cluster.Name = t.Cluster
	d.Lagwatch.Collector = collector{
		Result: t.Result, TickDuration: t.TickDuration.Seconds(), ReadDuration: t.ReadDuration.Seconds(),
		Groups: t.Groups, Partitions: t.Partitions, KafkaRequests: t.KafkaRequests,
		GroupErrors: t.GroupErrors, PartitionErrors: t.PartitionErrors, NegativeLags: t.NegativeLags,
		DocumentsWritten: t.Written, DocumentsDuplicate: t.Duplicates, DocumentsFailed: t.Failed,
		DocumentsSpooled: t.Spooled, DocumentsReplayed: t.Replayed, DocumentsDropped: t.Dropped,
		SpoolSegments: t.SpoolSegments, SpoolBytes: t.SpoolBytes,
	}
	d.Lagwatch.Error = truncateUTF8(t.Error, maxErrorLen)
	return json.Marshal(d)
}

// tickID is the _id of the tick document of cluster at tick time ms.
func tickID(cluster string, ms int64) string {
	return docID(ms, -1, cluster)
}
