package esindex

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TopicQuery says whose topics to read, and as of when. Topics are what the
// offsets data stream holds: every offsets document carries its cluster,
// topic, partition, the partition's log-end offset and its group, so the
// topics known are those some group has committed offsets of (a topic no
// group reads is not there).
type TopicQuery struct {
	// At is the instant: the tick read is the cluster's latest in
	// (At-Lookback, At].
	At       time.Time
	Lookback time.Duration
	// Cluster is the cluster asked about; required.
	Cluster string
	// Topic is the topic asked about; required by TopicOffsets and
	// TopicGroups, ignored by Topics.
	Topic string
}

func (q TopicQuery) check(needTopic bool) error {
	switch {
	case q.At.IsZero() || q.Lookback <= 0 || q.Cluster == "":
		return errors.New("the query needs At, Lookback and Cluster")
	case needTopic && q.Topic == "":
		return errors.New("the query needs a Topic")
	}
	return nil
}

// Topics lists, in name order, the topics of q.Cluster's latest tick at or
// before q.At (within q.Lookback), and says when that tick was. A zero tick
// means the cluster has no offsets document in the span (unknown then, or
// all its groups without partitions): the list is empty.
//
// Two requests: the tick lookup the window reader uses, then a composite
// aggregation over the tick's topics, paged.
func (c *Client) Topics(ctx context.Context, q TopicQuery) (topics []string, tick time.Time, err error) {
	sources := []any{map[string]any{"topic": map[string]any{"terms": map[string]any{"field": "kafka.topic.name"}}}}
	tick, err = c.atLatestTick(ctx, q, false, "topics", fmt.Sprintf("topics of cluster %q", q.Cluster), sources, func(k bucketKey) {
		topics = append(topics, k.Topic)
	})
	if err != nil {
		return nil, tick, err
	}
	return topics, tick, nil
}

// TopicOffsets returns the log-end offset of each partition of q.Topic at
// q.Cluster's latest tick at or before q.At (within q.Lookback), indexed by
// partition, and that tick's time. A partition's log-end offset is the
// greatest among its documents of the tick (each group that reads it has
// one; the collector fetches it once per tick, so they agree). A partition
// that no group reads at that tick, or whose documents there all carry an
// error (its leader did not answer, see tickBuckets), is -1, or missing
// from the end of the slice. The slice is empty when the tick holds no
// document of the topic, and the tick zero when the cluster has none in the
// span.
//
// Two requests: the tick lookup, then a composite aggregation over
// (partition, log-end offset, highest first), one bucket per partition in
// practice, paged.
func (c *Client) TopicOffsets(ctx context.Context, q TopicQuery) (logEnd []int64, tick time.Time, err error) {
	// The log-end offset as a composite key rather than a max aggregation:
	// a key is a JSON integer, exact, where max answers a double. Documents
	// without one come last, so a partition's first bucket has its highest
	// known log-end offset, or none.
	sources := []any{
		map[string]any{"partition": map[string]any{"terms": map[string]any{"field": "kafka.partition.id"}}},
		map[string]any{"newest": map[string]any{"terms": map[string]any{"field": "kafka.partition.offset.newest",
			"order": "desc", "missing_bucket": true, "missing_order": "last"}}},
	}
	seen := map[int32]bool{}
	tick, err = c.atLatestTick(ctx, q, true, "topic offsets", fmt.Sprintf("offsets of topic %q in cluster %q", q.Topic, q.Cluster), sources, func(k bucketKey) {
		if k.Partition < 0 || seen[k.Partition] {
			return // a lower log-end offset of a partition already seen
		}
		seen[k.Partition] = true
		for int(k.Partition) >= len(logEnd) {
			logEnd = append(logEnd, -1)
		}
		if k.Newest != nil {
			logEnd[k.Partition] = *k.Newest
		}
	})
	if err != nil {
		return nil, tick, err
	}
	return logEnd, tick, nil
}

// TopicGroups lists, in name order, the groups that have an offsets
// document of q.Topic at q.Cluster's latest tick at or before q.At (within
// q.Lookback): the groups that read it then. The tick is zero when the
// cluster has no document in the span.
//
// Two requests: the tick lookup, then a composite aggregation over the
// topic's groups, paged.
func (c *Client) TopicGroups(ctx context.Context, q TopicQuery) (groups []string, tick time.Time, err error) {
	sources := []any{map[string]any{"group": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.id"}}}}
	tick, err = c.atLatestTick(ctx, q, true, "topic groups", fmt.Sprintf("groups of topic %q in cluster %q", q.Topic, q.Cluster), sources, func(k bucketKey) {
		groups = append(groups, k.Group)
	})
	if err != nil {
		return nil, tick, err
	}
	return groups, tick, nil
}

// latestTick is the time of q.Cluster's latest tick in (At-Lookback, At],
// found as the window reader finds its ticks; zero when there is none.
func (c *Client) latestTick(ctx context.Context, q TopicQuery) (time.Time, error) {
	start, _, err := tickCutoffs(ctx, c.es, c.names.Offsets, WindowQuery{At: q.At, MaxAge: q.Lookback, Size: 1, Cluster: q.Cluster})
	if err != nil {
		return time.Time{}, fmt.Errorf("latest tick of cluster %q: %w", q.Cluster, err)
	}
	return start[q.Cluster], nil
}

// bucketKey is a composite bucket's key over the offsets documents; the
// sources asked for are set.
type bucketKey struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Group     string `json:"group"`
	Newest    *int64 `json:"newest"` // null: no log-end offset
}

// topicPageSize is the number of composite buckets per request.
const topicPageSize = 10000

// atLatestTick checks q (withTopic: q.Topic is required), finds q.Cluster's
// latest tick at or before q.At and calls fn with each bucket of the
// composite aggregation over sources at that tick. The tick is zero, and fn
// never called, when the cluster has none in the span. Errors say what was
// asked: what for a bad query, where for a failed read.
func (c *Client) atLatestTick(ctx context.Context, q TopicQuery, withTopic bool, what, where string, sources []any, fn func(bucketKey)) (time.Time, error) {
	if err := q.check(withTopic); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", what, err)
	}
	tick, err := c.latestTick(ctx, q)
	if err != nil || tick.IsZero() {
		return tick, err
	}
	if err := c.tickBuckets(ctx, q, tick, withTopic, sources, fn); err != nil {
		return tick, fmt.Errorf("%s: %w", where, err)
	}
	return tick, nil
}

// tickBuckets pages a composite aggregation of sources over the offsets
// documents of q.Cluster at tick (and of q.Topic, with byTopic), calling fn
// with each bucket's key in order. Documents that carry lagwatch.error are
// left out, as the windows leave them out, so that the topics answered
// from the history agree with those the present view holds.
func (c *Client) tickBuckets(ctx context.Context, q TopicQuery, tick time.Time, byTopic bool, sources []any, fn func(bucketKey)) error {
	ts := tick.UTC().Format(time.RFC3339Nano)
	filter := []any{
		map[string]any{"term": map[string]any{"kafka.cluster.name": q.Cluster}},
		map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": ts, "lte": ts}}},
	}
	if byTopic {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.topic.name": q.Topic}})
	}
	comp := map[string]any{"size": topicPageSize, "sources": sources}
	body := map[string]any{"size": 0, "track_total_hits": false,
		"query": map[string]any{"bool": map[string]any{"filter": filter, "must_not": unknownObservation}},
		"aggs":  map[string]any{"k": map[string]any{"composite": comp}}}
	for {
		var page struct {
			Aggregations struct {
				K struct {
					AfterKey map[string]any `json:"after_key"`
					Buckets  []struct {
						Key bucketKey `json:"key"`
					} `json:"buckets"`
				} `json:"k"`
			} `json:"aggregations"`
		}
		found, err := searchAggs(ctx, c.es, c.names.Offsets, body, &page)
		if err != nil || !found {
			return err
		}
		for _, b := range page.Aggregations.K.Buckets {
			fn(b.Key)
		}
		if len(page.Aggregations.K.Buckets) < topicPageSize || page.Aggregations.K.AfterKey == nil {
			return nil
		}
		comp["after"] = page.Aggregations.K.AfterKey
	}
}
