// Package snapshot owns the model of one collection tick, a Snapshot of every
// consumer group's position in one Kafka cluster, and the pure lag
// arithmetic over it. Taking a snapshot from Kafka is internal/kafkasource's
// job.
//
// It imports no Kafka client, nor anything about Elasticsearch, evaluation
// or alerting, so that every package downstream can take its types without
// linking a client: data flows Kafka -> kafkasource -> snapshot -> esindex.
package snapshot

import (
	"time"
)

// Snapshot is everything one tick read from one Kafka cluster.
type Snapshot struct {
	// Cluster is the configured label of the cluster; ClusterID the id Kafka
	// reports (empty when the metadata request failed).
	Cluster   string
	ClusterID string
	// Time is the tick's time, in whole seconds (UTC): identical for every
	// document of this snapshot. Schedules have one-second resolution, so
	// two ticks never share a second; whole seconds leave Elasticsearch's
	// doc-values codec a common divisor, and dashboards ticks that line up
	// across clusters. Two --once runs started within the same second are
	// one tick: the second run's documents are already stored.
	Time time.Time
	// Groups in name order. A group that failed to read carries Err and
	// whatever was read before the failure.
	Groups []Group
	// Err is set when the cluster could not be read at all: its metadata
	// could not be read, or no broker answered ListGroups.
	Err error
	// BrokerErrors are the brokers that could not list their groups this
	// tick, in broker order. The groups they listed at the previous tick
	// are still in Groups: read where they live now or, when their
	// coordinator cannot be asked, with Err (see Group.Err).
	BrokerErrors []BrokerError
	// Stats counts what the tick saw and did.
	Stats Stats
}

// BrokerError is a broker whose ListGroups failed in a tick, after its
// retries.
type BrokerError struct {
	Broker int32
	Err    error
}

// Stats counts one snapshot's work.
type Stats struct {
	// Requests is the number of Kafka requests the tick sent, as seen by the
	// client's transport (coordinator lookups included).
	Requests int64
	// RequestsByType splits Requests by request type, Kafka's names
	// ("OffsetFetch", "ListOffsets"); nil when requests are not counted.
	RequestsByType map[string]int64
	// NegativeLags counts partitions whose log-end offset read below the
	// committed offset (a race between the two reads); their lag is stored
	// as 0.
	NegativeLags int
	// GroupErrors counts groups that carry an Err.
	GroupErrors int
	// TxnReads counts the partition ranges read to find transaction
	// markers and aborted records (Partition.Skipped); TxnReadErrors those
	// that failed, TxnReadErr the first failure. A failed read leaves
	// Skipped 0: the readable lag stays an upper bound.
	TxnReads, TxnReadErrors int
	TxnReadErr              error
	// RefusedGroups counts groups left out because their id is longer
	// than MaxGroupIDLength; RefusedGroup is the first one's id, cut to
	// 64 characters, for the log.
	RefusedGroups int
	RefusedGroup  string
	// BrokerErrors counts Snapshot.BrokerErrors.
	BrokerErrors int
	// Retries counts the items asked again within the tick after a
	// failure that a second attempt may overcome: a broker's ListGroups, a
	// group's describe or offset fetch (after finding its coordinator
	// again), a partition's log offsets (after reading its leader again).
	// An item asked three times counts two.
	Retries int
}

// MaxGroupIDLength is the longest group id, in characters, that lagwatch
// stores and judges. Elasticsearch indexes a keyword of at most 32,766
// bytes (Lucene's term limit), 8,191 characters of up to four bytes each;
// a longer id could be stored but never searched, and so never judged.
// Kafka accepts ids up to 32,767 bytes; the collector refuses longer ones
// (Stats.RefusedGroups) rather than store what nobody could read.
const MaxGroupIDLength = 8191

// Group types, as Kafka 4 names them (ListGroups v5's group type).
const (
	// TypeClassic is a group run by the JoinGroup/SyncGroup protocol: every
	// group before Kafka 4, Kafka Connect's workers, and groups that only
	// hold offsets committed for them.
	TypeClassic = "classic"
	// TypeConsumer is a group of KIP-848's consumer protocol (Kafka 4's Java
	// consumer with group.protocol=consumer).
	TypeConsumer = "consumer"
	// TypeShare is a share group (KIP-932, queues).
	TypeShare = "share"
	// TypeStreams is a group of Kafka Streams' rebalance protocol (KIP-1071).
	TypeStreams = "streams"
)

// Group is one consumer group's state, members and committed positions.
type Group struct {
	ID string
	// Type is TypeClassic, TypeConsumer, TypeShare, TypeStreams, or for a
	// type newer than these the protocol type Kafka lists the group with. ""
	// when it could not be told: describing the group failed, or the group
	// was gone by the time it was described.
	Type string
	// State as the coordinator reports it. Classic groups: Stable, Empty,
	// PreparingRebalance, CompletingRebalance, Dead. Consumer-protocol
	// groups: Stable, Empty, Assigning, Reconciling, Dead. "" when describing
	// the group failed, and for share, streams and newer types, which are
	// listed but not described. Dead is a group gone since it was listed.
	State string
	// Epoch is a consumer-protocol group's group epoch, raised by every
	// change of its members or their subscriptions; 0 for other types.
	Epoch int32
	// ProtocolType is the protocol type the group is listed with: "consumer"
	// for consumers of either protocol, "" for a group that only holds
	// committed offsets, "connect" for Kafka Connect, "share", "streams".
	ProtocolType string
	Members      []Member
	// Partitions in (topic, partition) order: every partition the group has
	// committed to, plus every partition assigned to a member that has no
	// commit yet. When its commits could not be read, the partitions the
	// previous tick knew and the assigned ones, with Err (see
	// Partition.Err).
	Partitions []Partition
	// Err is set when part of the group could not be read; the group is still
	// reported with what was read. A group whose coordinator could not be
	// asked this tick, listed at the previous one, is reported with its
	// id, its previous protocol type, its previous partitions (see
	// Partition.Err) and Err: unknown this tick, not gone.
	Err error
}

// Member is one member of a group.
type Member struct {
	MemberID, ClientID, Host string
	// Assigned maps topic to the partitions assigned to this member: for a
	// consumer-protocol member, those it owns now (not its target
	// assignment, which it may still be moving towards). nil for members of
	// classic groups whose protocol type is not "consumer" (their assignment
	// is in a format of their own).
	Assigned map[string][]int32
}

// Partition is one group's position on one topic partition. A tick holds one
// per group-partition, so the fields are ordered to leave no padding (88
// bytes).
type Partition struct {
	Topic string
	// Committed is the group's committed offset; HasCommitted is false when
	// the group never committed to this partition (assigned, not yet
	// committed), and then there is no lag either.
	Committed int64
	// LogEnd (high watermark) and LogStart offsets; HasOffsets is false when
	// listing them failed for this partition (Err says why).
	LogEnd, LogStart int64
	// Pending is the number of offsets at the end of the log that belong
	// to transactions still open: LogEnd minus the last stable offset
	// (LSO). 0 without an open transaction, and always 0 on a topic without
	// transactional producers. Read with the log offsets (HasOffsets).
	Pending int64
	// Skipped counts the offsets in [Committed, LastStable()) known to hold
	// nothing a consumer receives: transaction markers (a commit or abort
	// marker takes an offset) and records of aborted transactions. 0 when
	// the partition was not read to find out (see kafkasource): then the
	// readable lag is an upper bound, exactly Kafka's lag up to the LSO.
	Skipped int64
	// Owner is the member the partition is assigned to, nil when none.
	Owner *Member
	// Err is set when something of this partition is unknown this tick:
	// its log offsets (HasOffsets is false), or its committed offset
	// ("committed offset unknown: ..."; HasCommitted is false), because
	// the group's committed offsets could not be fetched, or its
	// coordinator could not be asked. Such a group lists the partitions
	// the previous tick knew and those assigned now. No commit with Err
	// set is not "never committed": its lag is unknown, not absent.
	Err          error
	Partition    int32
	HasCommitted bool
	HasOffsets   bool
}

// Lag is the partition's consumer lag: log-end offset minus committed offset,
// exactly as Kafka's consumer-groups tool reports it. ok is false when there is
// no lag to report: no committed offset, or no log offsets. A negative
// difference (the log-end offset was read before a newer commit) is reported
// as 0 with clamped set.
func (p Partition) Lag() (lag int64, ok, clamped bool) {
	if !p.HasCommitted || !p.HasOffsets {
		return 0, false, false
	}
	lag = p.LogEnd - p.Committed
	if lag < 0 {
		return 0, true, true
	}
	return lag, true, false
}

// LastStable is the partition's last stable offset: the first offset of
// the oldest transaction still open, LogEnd when none is open. A
// read_committed consumer receives nothing at or past it until that
// transaction ends.
func (p Partition) LastStable() int64 { return p.LogEnd - p.Pending }

// ReadableLag is the number of records the group would still receive: the
// lag a consumer has left to read, which the verdicts judge. It differs
// from Lag in two places, both about transactions:
//
//   - A commit or abort marker takes an offset, and records of aborted
//     transactions are never delivered to a read_committed consumer; the
//     Skipped offsets are not counted. A consumer that committed its last
//     record + 1, before the marker (librdkafka's and Spring Kafka's
//     manual commits), has readable lag 0 where Kafka's tool shows 1.
//   - Records of a transaction still open (past the LSO) are not counted
//     while the committed offset is at or below the LSO: a read_committed
//     consumer cannot read them yet, and they may still be aborted. A
//     committed offset past the LSO (a read_uncommitted consumer inside the
//     open transaction) counts up to the log end. A read_uncommitted
//     consumer stuck exactly at the LSO is therefore seen as caught up
//     until the transaction ends (transaction.timeout.ms bounds that, 15
//     minutes at most by default on the broker).
//
// ok is false when Lag has none (no commit, or no log offsets). Never
// negative.
func (p Partition) ReadableLag() (lag int64, ok bool) {
	if !p.HasCommitted || !p.HasOffsets {
		return 0, false
	}
	lso := p.LastStable()
	if p.Committed > lso {
		return max(p.LogEnd-p.Committed, 0), true
	}
	return max(lso-p.Committed-p.Skipped, 0), true
}

// BelowLogStart reports whether the committed offset points at messages that
// retention already deleted: the group will skip them when it resumes.
func (p Partition) BelowLogStart() bool {
	return p.HasCommitted && p.HasOffsets && p.Committed < p.LogStart
}

// GroupLag summarises a group's partitions.
type GroupLag struct {
	// TotalLag sums the lag of partitions that have one; TotalReadable
	// sums their readable lag (Partition.ReadableLag).
	TotalLag, TotalReadable int64
	// MaxLag is the largest lag, on MaxTopic/MaxPartition; HasMax is false
	// when no partition has a lag.
	MaxLag       int64
	MaxTopic     string
	MaxPartition int32
	HasMax       bool
	// Topics lists the group's topics in order, each once.
	Topics []string
}

// Summarise computes a group's total and maximum lag and its topics. Ties
// for the maximum go to the first partition in (topic, partition) order.
func (g Group) Summarise() GroupLag {
	var s GroupLag
	for _, p := range g.Partitions {
		if n := len(s.Topics); n == 0 || s.Topics[n-1] != p.Topic {
			s.Topics = append(s.Topics, p.Topic)
		}
		lag, ok, _ := p.Lag()
		if !ok {
			continue
		}
		s.TotalLag += lag
		readable, _ := p.ReadableLag()
		s.TotalReadable += readable
		if !s.HasMax || lag > s.MaxLag {
			s.MaxLag, s.MaxTopic, s.MaxPartition, s.HasMax = lag, p.Topic, p.Partition, true
		}
	}
	return s
}
