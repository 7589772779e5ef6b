package esindex

import "time"

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
	// BrokerErrors counts the brokers that could not list their groups;
	// Retries the items asked again within the tick.
	BrokerErrors, Retries       int
	NegativeLags                int
	Written, Duplicates, Failed int
	Spooled, Replayed, Dropped  int
	SpoolSegments               int
	SpoolBytes                  int64
	// Error is the tick's error, "" when none.
	Error string
}
