package evaluator

import (
	"cmp"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/prometheus/client_golang/prometheus"
)

// Burrow's Prometheus gauges (core/internal/httpserver/prometheus.go), with
// Burrow's names, help texts, labels and values, so that dashboards and
// alert rules written for Burrow keep working. They describe the latest
// successful live evaluation (scheduled or --once) of this process; past
// evaluations (--at, backtests) never change them. Burrow's values, and
// ours:
//
//   - burrow_kafka_consumer_status{cluster,consumer_group}: the group's
//     status as Burrow's enum, which evaluate.Status is (NOTFOUND 0, OK 1,
//     WARN 2, ERR 3). Burrow leaves NOTFOUND groups out of every series, and
//     so do we.
//   - burrow_kafka_consumer_lag_total{cluster,consumer_group}: the sum of the
//     partitions' current lags.
//   - burrow_kafka_consumer_partition_lag{cluster,consumer_group,topic,partition}:
//     the partition's current lag (0 when unknown, as Burrow's). Current
//     lags are readable lags (evaluate.PartitionResult.CurrentLag): on a
//     transactional topic they leave out commit markers, aborted records and
//     open transactions, which Kafka's tool and Burrow count.
//   - burrow_kafka_consumer_current_offset{...same}: the newest committed
//     offset; only for a complete window (Complete == 1), as in Burrow, and
//     only when that observation has a commit.
//   - burrow_kafka_topic_partition_status{...same}: the partition's status
//     (OK 1, WARN 2, STOP 4, STALL 5, REWIND 6); only for a complete window,
//     as in Burrow.
//   - burrow_kafka_topic_partition_offset{cluster,topic,partition}: the
//     partition's log-end offset, once per topic partition whatever the
//     number of groups reading it: the newest observation's. Burrow lists
//     every topic of the cluster; we know only the partitions some group
//     has offsets on.
var (
	burrowConsumerStatus = prometheus.NewDesc("burrow_kafka_consumer_status",
		"The status of the consumer group. It is calculated from the highest status for the individual partitions. Statuses are an index list from NOTFOUND, OK, WARN, or ERR",
		[]string{"cluster", "consumer_group"}, nil)
	burrowConsumerLagTotal = prometheus.NewDesc("burrow_kafka_consumer_lag_total",
		"The sum of all partition current lag values for the group",
		[]string{"cluster", "consumer_group"}, nil)
	burrowPartitionLag = prometheus.NewDesc("burrow_kafka_consumer_partition_lag",
		"Number of messages the consumer group is behind by for a partition as reported by Burrow",
		[]string{"cluster", "consumer_group", "topic", "partition"}, nil)
	burrowCurrentOffset = prometheus.NewDesc("burrow_kafka_consumer_current_offset",
		"Latest offset that Burrow is storing for this partition",
		[]string{"cluster", "consumer_group", "topic", "partition"}, nil)
	burrowPartitionStatus = prometheus.NewDesc("burrow_kafka_topic_partition_status",
		"The status of topic partition. It is calculated from the highest status for the individual partitions. Statuses are an index list from OK, WARN, STOP, STALL, REWIND",
		[]string{"cluster", "consumer_group", "topic", "partition"}, nil)
	burrowTopicOffset = prometheus.NewDesc("burrow_kafka_topic_partition_offset",
		"Latest offset the topic that Burrow is storing for this partition",
		[]string{"cluster", "topic", "partition"}, nil)
)

// burrowGauges is the prometheus.Collector of Burrow's gauges. It holds one
// immutable set, replaced whole by publish, so that a scrape sees one
// evaluation, never a mix, and a group or partition the latest evaluation
// did not report has no series. Safe for concurrent use.
type burrowGauges struct {
	cur atomic.Pointer[burrowSet]
}

// burrowSet is what one evaluation gives the gauges: per partition a few
// numbers, the strings shared.
type burrowSet struct {
	groups []burrowGroup
	topics []burrowTopic
}

type burrowGroup struct {
	cluster, group string
	status         evaluate.Status
	totalLag       int64
	topics         []burrowGroupTopic
}

// burrowGroupTopic is a group's partitions of one topic, so that the topic
// name is held once per group and topic, not once per partition.
type burrowGroupTopic struct {
	topic string
	parts []burrowPartition
}

// burrowPartition is 24 bytes.
type burrowPartition struct {
	lag, committed int64
	partition      int32
	status         int8 // an evaluate.Status
	complete       bool // a full window: Burrow shows status and offset only then
	hasCommitted   bool
}

// burrowTopic is one topic's log-end offsets, by partition, deduplicated
// across the groups that read it.
type burrowTopic struct {
	cluster, topic string
	parts          []topicOffset
}

// topicOffset is a partition's log-end offset as observed at atMillis (Unix
// milliseconds), the newest observation winning.
type topicOffset struct {
	partition int32
	logEnd    int64
	atMillis  int64
}

// burrowBuild collects a set while an evaluation streams its results by.
// Not safe for concurrent use.
type burrowBuild struct {
	set     burrowSet
	strs    map[string]string // interned cluster and topic names
	topicAt map[[2]string]int // (cluster, topic) -> index in set.topics
}

func newBurrowBuild() *burrowBuild {
	return &burrowBuild{strs: map[string]string{}, topicAt: map[[2]string]int{}}
}

func (b *burrowBuild) intern(s string) string {
	if v, ok := b.strs[s]; ok {
		return v
	}
	b.strs[s] = s
	return s
}

// add takes what the gauges need of r, keeping no reference to r's slices.
// A NOTFOUND group is left out, as Burrow leaves it out.
func (b *burrowBuild) add(r evaluate.GroupResult) {
	if r.Status == evaluate.NotFound {
		return
	}
	g := burrowGroup{cluster: b.intern(r.Cluster), group: r.Group, status: r.Status, totalLag: r.TotalLag}
	// r.Partitions are in (topic, partition) order: each topic is one run,
	// a slice of one allocation of exactly the group's partitions.
	topics := 0
	for i, p := range r.Partitions {
		if i == 0 || p.Topic != r.Partitions[i-1].Topic {
			topics++
		}
	}
	g.topics = make([]burrowGroupTopic, 0, topics)
	parts := make([]burrowPartition, len(r.Partitions))
	for i, p := range r.Partitions {
		if i == 0 || p.Topic != r.Partitions[i-1].Topic {
			g.topics = append(g.topics, burrowGroupTopic{topic: b.intern(p.Topic), parts: parts[i:i]})
		}
		parts[i] = burrowPartition{lag: p.CurrentLag, committed: p.End.Committed, partition: p.Partition,
			status: int8(p.Status), complete: p.Complete == 1, hasCommitted: p.End.HasCommitted}
		gt := &g.topics[len(g.topics)-1]
		gt.parts = gt.parts[:len(gt.parts)+1]
		if p.End.HasLogEnd {
			b.topicOffset(g.cluster, gt.topic, topicOffset{partition: p.Partition, logEnd: p.End.LogEnd, atMillis: p.End.Time.UnixMilli()})
		}
	}
	b.set.groups = append(b.set.groups, g)
}

// topicOffset adds one group's view of a partition's log end; finish keeps
// the newest per partition.
func (b *burrowBuild) topicOffset(cluster, topic string, o topicOffset) {
	k := [2]string{cluster, topic}
	i, ok := b.topicAt[k]
	if !ok {
		i = len(b.set.topics)
		b.topicAt[k] = i
		b.set.topics = append(b.set.topics, burrowTopic{cluster: cluster, topic: topic})
	}
	b.set.topics[i].parts = append(b.set.topics[i].parts, o)
}

// finish ends the collection: each topic partition once, with the newest
// observation's log end (the greater on a tie), in partition order; slices
// trimmed to their length; the builder's maps dropped.
func (b *burrowBuild) finish() *burrowSet {
	for i := range b.set.topics {
		t := &b.set.topics[i]
		slices.SortFunc(t.parts, func(x, y topicOffset) int {
			return cmp.Or(cmp.Compare(x.partition, y.partition), cmp.Compare(y.atMillis, x.atMillis), cmp.Compare(y.logEnd, x.logEnd))
		})
		t.parts = exact(slices.CompactFunc(t.parts, func(x, y topicOffset) bool { return x.partition == y.partition }))
	}
	s := &burrowSet{groups: exact(b.set.groups), topics: exact(b.set.topics)}
	b.set, b.strs, b.topicAt = burrowSet{}, nil, nil
	return s
}

// exact is s in an allocation of its length, so that append's spare
// capacity is not kept for as long as the set is served.
func exact[S ~[]E, E any](s S) S {
	if cap(s) == len(s) {
		return s
	}
	return slices.Clone(s)
}

// publish replaces the gauges' set with the one b collected.
func (g *burrowGauges) publish(b *burrowBuild) { g.cur.Store(b.finish()) }

// Describe implements prometheus.Collector.
func (g *burrowGauges) Describe(ch chan<- *prometheus.Desc) { describeBurrow(ch) }

// Collect implements prometheus.Collector: the latest set's series, none
// before the first live evaluation.
func (g *burrowGauges) Collect(ch chan<- prometheus.Metric) {
	if s := g.cur.Load(); s != nil {
		s.collect(ch)
	}
}

// describeBurrow sends the descriptions of Burrow's gauges.
func describeBurrow(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{burrowConsumerStatus, burrowConsumerLagTotal, burrowPartitionLag,
		burrowCurrentOffset, burrowPartitionStatus, burrowTopicOffset} {
		ch <- d
	}
}

// collect sends the set's series.
func (s *burrowSet) collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, gr := range s.groups {
		gauge(burrowConsumerStatus, float64(gr.status), gr.cluster, gr.group)
		gauge(burrowConsumerLagTotal, float64(gr.totalLag), gr.cluster, gr.group)
		for _, t := range gr.topics {
			for _, p := range t.parts {
				part := strconv.FormatInt(int64(p.partition), 10)
				gauge(burrowPartitionLag, float64(p.lag), gr.cluster, gr.group, t.topic, part)
				if !p.complete {
					continue
				}
				if p.hasCommitted {
					gauge(burrowCurrentOffset, float64(p.committed), gr.cluster, gr.group, t.topic, part)
				}
				gauge(burrowPartitionStatus, float64(p.status), gr.cluster, gr.group, t.topic, part)
			}
		}
	}
	for _, t := range s.topics {
		for _, p := range t.parts {
			gauge(burrowTopicOffset, float64(p.logEnd), t.cluster, t.topic, strconv.FormatInt(int64(p.partition), 10))
		}
	}
}
