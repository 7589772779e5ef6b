package esindex

import "time"

// TickDoc records how one collector tick went for one cluster: the data of
// the collector health dashboard, kept in Elasticsearch beside the history.
type TickDoc struct {
	Time    time.Time
	Cluster string
	// Result is "ok", "spooled" (Elasticsearch was away or refused the
	// documents: written later) or "error".
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
	// Refused counts the times Elasticsearch did not take a document for a
	// reason other than its content (WriteResult.Refused); Refusal is the
	// reason that refused the most, "" when none did.
	Refused       int
	Refusal       string
	SpoolSegments int
	SpoolBytes    int64
	// Error is the tick's error, "" when none.
	Error string
}
