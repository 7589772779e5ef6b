package burrowapi

import (
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// The bodies below follow Burrow's core/internal/httpserver/structs.go (field
// names, JSON keys and types) and the messages of kafka.go and config.go in
// the same directory; kafka_test.go there decodes them the same way. The
// consumer status and lag bodies are pkg/evaluate's BurrowLagResponse. Every
// body opens with Head; Burrow writes request after the payload in most
// bodies, before it in some, and a JSON reader does not see the order.

// Head opens every body. Alone, it is Burrow's httpResponseError, the body
// of every error (400, 404, 405, 500).
type Head struct {
	// Error is true on an error body only: a NOTFOUND status is not one.
	Error bool `json:"error"`
	// Message says what was returned or what went wrong, in Burrow's words.
	Message string `json:"message"`
	// Request is the path asked for, without the query, and the serving
	// host.
	Request Request `json:"request"`
}

// Request is Burrow's httpResponseRequestInfo.
type Request = evaluate.BurrowRequest

// ClusterListResponse answers GET /v3/kafka (Burrow's
// httpResponseClusterList).
type ClusterListResponse struct {
	Head
	Clusters []string `json:"clusters"`
}

// TopicListResponse answers GET /v3/kafka/(cluster)/topic (Burrow's
// httpResponseTopicList).
type TopicListResponse struct {
	Head
	Topics []string `json:"topics"`
}

// TopicDetailResponse answers GET /v3/kafka/(cluster)/topic/(topic)
// (Burrow's httpResponseTopicDetail): the log-end offset of each partition,
// index = partition.
type TopicDetailResponse struct {
	Head
	Offsets []int64 `json:"offsets"`
}

// ConsumerListResponse answers GET /v3/kafka/(cluster)/consumer (Burrow's
// httpResponseConsumerList) and .../topic/(topic)/consumers (Burrow's
// httpResponseTopicConsumerDetail, the same shape).
type ConsumerListResponse struct {
	Head
	Consumers []string `json:"consumers"`
}

// ConsumerDetailResponse answers GET /v3/kafka/(cluster)/consumer/(group)
// (Burrow's httpResponseConsumerDetail, whose topics is
// protocol.ConsumerTopics): topic -> partitions, index = partition.
type ConsumerDetailResponse struct {
	Head
	Topics map[string][]*ConsumerPartition `json:"topics"`
}

// ConsumerPartition is Burrow's protocol.ConsumerPartition: one group's
// recent commits on one partition. A partition the window has no
// observation of is null in its topic's array, as a partition Burrow has no
// entry for.
type ConsumerPartition struct {
	// Offsets are the window's observations that have a committed offset,
	// oldest first. Burrow's array always has its ring's length, null for a
	// slot not yet filled; this one holds only what the window has.
	Offsets []evaluate.BurrowOffset `json:"offsets"`
	// Owner is the owning member's host, or its member id when the host is
	// unknown, "" when none (as in the status bodies); ClientID is its
	// client id. Both are the newest observation's.
	Owner    string `json:"owner"`
	ClientID string `json:"client_id"`
	// CurrentLag is the newest observation's readable lag (what the group
	// would still receive; evaluate.Observation.Lag); 0 when unknown.
	// Burrow's is a uint64, and this is never negative.
	CurrentLag int64 `json:"current-lag"`
}

// ModuleDetailResponse answers GET /v3/kafka/(cluster) and
// /v3/config/cluster/(cluster) (Burrow's httpResponseConfigModuleDetail),
// and adds lagwatch, how fresh the cluster's lag data is, when the Source
// knows (Freshener).
type ModuleDetailResponse struct {
	Head
	Module   ClusterModule    `json:"module"`
	Lagwatch *ClusterLagwatch `json:"lagwatch,omitempty"`
}

// ClusterLagwatch is how fresh a cluster's lag data is
// (evaluate.Freshness): its newest collector tick that read and how old it
// is, the collector's interval as the history shows it, the age at which
// the cluster is stale, and whether it is. Unknown figures are null.
type ClusterLagwatch struct {
	Stale                bool       `json:"stale"`
	NewestTick           *time.Time `json:"newest_tick"`
	NewestTickAgeSeconds *float64   `json:"newest_tick_age_seconds"`
	IntervalSeconds      *float64   `json:"interval_seconds"`
	StaleAfterSeconds    float64    `json:"stale_after_seconds"`
	// StaleSince is when the cluster became stale (its groups' verdicts
	// are those of that instant); Reason says why. Both only when stale.
	StaleSince *time.Time `json:"stale_since,omitempty"`
	Reason     string     `json:"reason,omitempty"`
}

// clusterLagwatch is f at at as a cluster's body shows it.
func clusterLagwatch(f evaluate.Freshness, at time.Time) *ClusterLagwatch {
	l := &ClusterLagwatch{Stale: f.Stale, StaleAfterSeconds: f.After.Seconds(), Reason: f.Reason}
	if !f.NewestTick.IsZero() {
		t, age := f.NewestTick.UTC(), f.Age(at).Seconds()
		l.NewestTick, l.NewestTickAgeSeconds = &t, &age
	}
	if f.Interval > 0 {
		i := f.Interval.Seconds()
		l.IntervalSeconds = &i
	}
	if f.Stale {
		s := f.StaleAt.UTC()
		l.StaleSince = &s
	}
	return l
}

// ClusterModule is Burrow's httpResponseConfigModuleCluster: the settings of
// Burrow's module that reads one cluster. lagwatch's collector reads the
// clusters, not this program, and the history does not record its settings,
// so only what maps is filled: class-name "kafka" (Burrow's only cluster
// class), servers [] (unknown here, and an empty list reads better than
// null), the client profile's name "default" (Burrow's default profile)
// with no TLS or SASL profile, and the refresh intervals 0 (unknown).
type ClusterModule struct {
	ClassName     string        `json:"class-name"`
	Servers       []string      `json:"servers"`
	ClientProfile ClientProfile `json:"client-profile"`
	TopicRefresh  int64         `json:"topic-refresh"`
	OffsetRefresh int64         `json:"offset-refresh"`
}

// ClientProfile is Burrow's httpResponseClientProfile. TLS and SASL are
// always null: the history does not say how the collector connects.
type ClientProfile struct {
	Name         string    `json:"name"`
	ClientID     string    `json:"client-id"`
	KafkaVersion string    `json:"kafka-version"`
	TLS          *struct{} `json:"tls"`
	SASL         *struct{} `json:"sasl"`
}

// ModuleListResponse answers GET /v3/config/(coordinator) (Burrow's
// httpResponseConfigModuleList).
type ModuleListResponse struct {
	Head
	Coordinator string   `json:"coordinator"`
	Modules     []string `json:"modules"`
}

// consumerTopics returns w in Burrow's consumer detail shape: each
// partition's observations with a committed offset, oldest first. An
// offset's timestamp is when it was first seen in the run of observations
// showing it (the polling estimate of its commit time, as the status bodies'
// end), observedAt the observation's own time, and lag its commit lag, the
// lag Burrow stores with a commit (null when unknown).
func consumerTopics(w evaluate.GroupWindow) map[string][]*ConsumerPartition {
	topics := make(map[string][]*ConsumerPartition)
	for _, pw := range w.Partitions {
		if len(pw.Obs) == 0 || pw.Partition < 0 {
			continue
		}
		parts := topics[pw.Topic]
		if n := int(pw.Partition) + 1; len(parts) < n {
			parts = append(parts, make([]*ConsumerPartition, n-len(parts))...)
		}
		parts[pw.Partition] = consumerPartition(pw)
		topics[pw.Topic] = parts
	}
	return topics
}

func consumerPartition(pw evaluate.PartitionWindow) *ConsumerPartition {
	lags := pw.CommitLags()
	cp := &ConsumerPartition{Offsets: []evaluate.BurrowOffset{}}
	var since time.Time // when the current run of one committed offset began
	for i, o := range pw.Obs {
		if !o.HasCommitted {
			since = time.Time{}
			continue
		}
		if i == 0 || since.IsZero() || pw.Obs[i-1].Committed != o.Committed {
			since = o.Time
		}
		off := evaluate.BurrowOffset{Offset: o.Committed, Timestamp: since.UnixMilli(), ObservedAt: o.Time.UnixMilli()}
		if lags[i].Known {
			l := lags[i].Lag
			off.Lag = &l
		}
		cp.Offsets = append(cp.Offsets, off)
	}
	last := pw.Obs[len(pw.Obs)-1]
	cp.Owner, cp.ClientID = last.Host, last.ClientID
	if cp.Owner == "" {
		cp.Owner = last.Owner
	}
	if last.HasLag {
		cp.CurrentLag = max(last.Lag, 0)
	}
	return cp
}
