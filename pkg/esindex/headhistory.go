package esindex

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// HeadLookup is one evaluate.HeadQuery of a group of a cluster.
type HeadLookup struct {
	Cluster, Group string
	evaluate.HeadQuery
}

// Lookups per search of every group's documents (the second step).
const headChunkWider = 100

// HeadPassages answers each lookup from the offsets history before its
// window (evaluate.HeadPassage), in order; the second result counts the
// requests. The log end only grows (but for a topic recreated), so the
// newest observation at or below the committed offset is the point just
// before the passage, and the oldest above it the point just after.
//
// Every group reading a partition carries its log end, so one group's
// documents give the partition's series: the lookups are gathered by
// partition, and the series of one of their groups is read backwards from
// the window, 15 minutes first, then four times further each round for the
// partitions whose offsets it does not reach yet, until it reaches them or
// the oldest document of the cluster. A round is one composite aggregation
// (paged) over the partitions' documents of that group in that span, so
// the cost grows with the partitions and with how far back their
// consumers are, not with the number of groups reading them or the length
// of the history.
//
// Where that group's series holds no point below (the group appeared after
// the log end passed the offset, as a new group reading from an old offset
// does), every group's documents from before that group's oldest are
// asked, 100 lookups per search (a filters aggregation).
//
// Documents that carry lagwatch.error are no observation here either, as
// in the windows (unknownObservation).
func (c *Client) HeadPassages(ctx context.Context, lookups []HeadLookup) ([]evaluate.HeadPassage, int, error) {
	out, requests, err := c.headSeries(ctx, lookups)
	if err != nil {
		return nil, requests, err
	}
	var wider []HeadLookup
	var at []int
	for i, h := range out {
		if h.Below != nil {
			continue
		}
		l := lookups[i]
		if h.Above != nil {
			l.Before = h.Above.Time // what the group saw stands; only older is asked
		}
		wider, at = append(wider, l), append(at, i)
	}
	if len(wider) == 0 {
		return out, requests, nil
	}
	more, n, err := c.headSearch(ctx, wider, headChunkWider)
	requests += n
	if err != nil {
		return nil, requests, err
	}
	for j, h := range more {
		own := &out[at[j]]
		switch {
		case h.Below != nil:
			own.Below = h.Below
			if h.Above != nil && h.Above.Time.After(h.Below.Time) {
				own.Above = h.Above
			}
		case h.Above != nil:
			own.Above = h.Above // older than the group's own
		}
	}
	return out, requests, nil
}

// headKey is a partition of a cluster.
type headKey struct {
	cluster, topic string
	partition      int32
}

// headSeriesState is one partition's series as read so far.
type headSeriesState struct {
	group  string
	before time.Time            // the latest window start of its lookups
	from   time.Time            // read back to here (inclusive)
	points []evaluate.HeadPoint // oldest first
	asks   []int                // lookups of this partition
	done   bool
}

// Partitions per round's search, and the spans of the rounds.
const (
	headSeriesChunk = 300
	headSeriesFirst = 15 * time.Minute
	headSeriesGrow  = 4
	// headSeriesRounds bounds the rounds: the last reaches back about 400
	// years.
	headSeriesRounds = 16
	headSeriesPage   = 10000
)

// headSeries answers lookups from one of their groups' series per
// partition (HeadPassages); a lookup the series does not reach back to has
// no Below.
func (c *Client) headSeries(ctx context.Context, lookups []HeadLookup) ([]evaluate.HeadPassage, int, error) {
	out := make([]evaluate.HeadPassage, len(lookups))
	parts := map[headKey]*headSeriesState{}
	var order []headKey
	for i, l := range lookups {
		k := headKey{l.Cluster, l.Topic, l.Partition}
		st := parts[k]
		if st == nil {
			st = &headSeriesState{group: l.Group, before: l.Before}
			parts[k] = st
			order = append(order, k)
		}
		if l.Before.After(st.before) {
			st.before = l.Before
		}
		st.asks = append(st.asks, i)
	}
	requests := 0
	oldest := map[string]time.Time{} // per cluster, its oldest document
	for _, k := range order {
		if _, ok := oldest[k.cluster]; ok {
			continue
		}
		t, err := c.oldestOffsets(ctx, k.cluster)
		requests++
		if err != nil {
			return nil, requests, err
		}
		oldest[k.cluster] = t
	}
	for _, k := range order {
		if oldest[k.cluster].IsZero() {
			parts[k].done = true // the cluster has no history
		}
	}
	span := headSeriesFirst
	for round := 0; round < headSeriesRounds; round++ {
		var open []headKey
		for _, k := range order {
			if st := parts[k]; !st.done {
				open = append(open, k)
			}
		}
		if len(open) == 0 {
			break
		}
		for start := 0; start < len(open); start += headSeriesChunk {
			chunk := open[start:min(start+headSeriesChunk, len(open))]
			n, err := c.readSeries(ctx, chunk, parts, span)
			requests += n
			if err != nil {
				return nil, requests, err
			}
		}
		for _, k := range open {
			st := parts[k]
			// Done when the series reaches below every offset asked, or
			// the cluster's history ends.
			st.done = !st.from.After(oldest[k.cluster])
			if !st.done && len(st.points) > 0 {
				low := st.points[0].LogEnd
				st.done = true
				for _, i := range st.asks {
					if lookups[i].Committed < low {
						st.done = false
						break
					}
				}
			}
		}
		span *= headSeriesGrow
	}
	for _, k := range order {
		st := parts[k]
		for _, i := range st.asks {
			out[i] = passage(st.points, lookups[i].Committed, lookups[i].Before)
		}
	}
	return out, requests, nil
}

// passage finds, among points (oldest first), those before before: the
// newest at or below committed, and the first above it after that one (or
// the oldest above it when none is at or below).
func passage(points []evaluate.HeadPoint, committed int64, before time.Time) evaluate.HeadPassage {
	var h evaluate.HeadPassage
	below := -1
	for i := len(points) - 1; i >= 0; i-- {
		if points[i].Time.Before(before) && points[i].LogEnd <= committed {
			below = i
			break
		}
	}
	if below >= 0 {
		p := points[below]
		h.Below = &p
	}
	for i := below + 1; i < len(points) && points[i].Time.Before(before); i++ {
		if points[i].LogEnd > committed {
			p := points[i]
			h.Above = &p
			break
		}
	}
	return h
}

// readSeries reads, for each partition of keys, its group's log ends over
// the next span back from where its series starts (the window, at first),
// and prepends them.
func (c *Client) readSeries(ctx context.Context, keys []headKey, parts map[headKey]*headSeriesState, span time.Duration) (int, error) {
	should := make([]any, 0, len(keys))
	for _, k := range keys {
		st := parts[k]
		to := st.before
		if !st.from.IsZero() {
			to = st.from
		}
		st.from = to.Add(-span)
		should = append(should, map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"kafka.cluster.name": k.cluster}},
			map[string]any{"term": map[string]any{"kafka.consumergroup.id": st.group}},
			map[string]any{"term": map[string]any{"kafka.topic.name": k.topic}},
			map[string]any{"term": map[string]any{"kafka.partition.id": k.partition}},
			map[string]any{"range": map[string]any{"@timestamp": map[string]any{
				"gte": st.from.UTC().Format(time.RFC3339Nano), "lt": to.UTC().Format(time.RFC3339Nano)}}},
		}}})
	}
	comp := map[string]any{"size": headSeriesPage, "sources": []any{
		map[string]any{"cluster": map[string]any{"terms": map[string]any{"field": "kafka.cluster.name"}}},
		map[string]any{"topic": map[string]any{"terms": map[string]any{"field": "kafka.topic.name"}}},
		map[string]any{"partition": map[string]any{"terms": map[string]any{"field": "kafka.partition.id"}}},
		map[string]any{"time": map[string]any{"terms": map[string]any{"field": "@timestamp"}}},
		map[string]any{"newest": map[string]any{"terms": map[string]any{"field": "kafka.partition.offset.newest"}}},
	}}
	body := map[string]any{"size": 0, "track_total_hits": false,
		"query": map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1, "must_not": unknownObservation}},
		"aggs":  map[string]any{"s": map[string]any{"composite": comp}}}
	fresh := map[headKey][]evaluate.HeadPoint{}
	requests := 0
	for {
		var page struct {
			Aggregations struct {
				S struct {
					AfterKey map[string]any `json:"after_key"`
					Buckets  []struct {
						Key struct {
							Cluster   string `json:"cluster"`
							Topic     string `json:"topic"`
							Partition int32  `json:"partition"`
							Time      int64  `json:"time"`
							Newest    int64  `json:"newest"`
						} `json:"key"`
					} `json:"buckets"`
				} `json:"s"`
			} `json:"aggregations"`
		}
		requests++
		found, err := searchAggs(ctx, c.es, c.names.Offsets, body, &page)
		if err != nil {
			return requests, fmt.Errorf("read the log ends of %d partitions before their windows: %w", len(keys), err)
		}
		if !found {
			break
		}
		for _, b := range page.Aggregations.S.Buckets {
			k := headKey{b.Key.Cluster, b.Key.Topic, b.Key.Partition}
			fresh[k] = append(fresh[k], evaluate.HeadPoint{Time: time.UnixMilli(b.Key.Time).UTC(), LogEnd: b.Key.Newest})
		}
		if len(page.Aggregations.S.Buckets) < headSeriesPage || page.Aggregations.S.AfterKey == nil {
			break
		}
		comp["after"] = page.Aggregations.S.AfterKey
	}
	for k, pts := range fresh {
		if st := parts[k]; st != nil {
			st.points = append(pts, st.points...) // pts are older, time ordered
		}
	}
	return requests, nil
}

// oldestOffsets is the time of cluster's oldest offsets document; zero
// when it has none.
func (c *Client) oldestOffsets(ctx context.Context, cluster string) (time.Time, error) {
	t, err := c.oldest(ctx, c.names.Offsets, map[string]any{"term": map[string]any{"kafka.cluster.name": cluster}})
	if err != nil {
		return time.Time{}, fmt.Errorf("oldest document of cluster %q: %w", cluster, err)
	}
	return t, nil
}

// headSearch answers lookups from every group's documents, chunk lookups
// per search: a filters aggregation, two filters per lookup (at or below
// the offset, above it), with the tick times and log ends under each.
func (c *Client) headSearch(ctx context.Context, lookups []HeadLookup, chunk int) ([]evaluate.HeadPassage, int, error) {
	out := make([]evaluate.HeadPassage, 0, len(lookups))
	requests := 0
	for start := 0; start < len(lookups); start += chunk {
		part := lookups[start:min(start+chunk, len(lookups))]
		filters := make(map[string]any, 2*len(part))
		for i, l := range part {
			base := func(offset map[string]any) map[string]any {
				f := []any{
					map[string]any{"term": map[string]any{"kafka.cluster.name": l.Cluster}},
					map[string]any{"term": map[string]any{"kafka.topic.name": l.Topic}},
					map[string]any{"term": map[string]any{"kafka.partition.id": l.Partition}},
					map[string]any{"range": map[string]any{"kafka.partition.offset.newest": offset}},
					map[string]any{"range": map[string]any{"@timestamp": map[string]any{"lt": l.Before.UTC().Format(time.RFC3339Nano)}}},
				}
				return map[string]any{"bool": map[string]any{"filter": f, "must_not": unknownObservation}}
			}
			filters["b"+strconv.Itoa(i)] = base(map[string]any{"lte": l.Committed})
			filters["a"+strconv.Itoa(i)] = base(map[string]any{"gt": l.Committed})
		}
		body := map[string]any{
			"size": 0, "track_total_hits": false,
			"aggs": map[string]any{"h": map[string]any{
				"filters": map[string]any{"filters": filters},
				"aggs": map[string]any{
					"t_max": map[string]any{"max": map[string]any{"field": "@timestamp"}},
					"t_min": map[string]any{"min": map[string]any{"field": "@timestamp"}},
					"e_max": map[string]any{"max": map[string]any{"field": "kafka.partition.offset.newest"}},
					"e_min": map[string]any{"min": map[string]any{"field": "kafka.partition.offset.newest"}},
				},
			}},
		}
		type metric struct {
			Value *float64 `json:"value"`
		}
		var res struct {
			Aggregations struct {
				H struct {
					Buckets map[string]struct {
						DocCount int64  `json:"doc_count"`
						TMax     metric `json:"t_max"`
						TMin     metric `json:"t_min"`
						EMax     metric `json:"e_max"`
						EMin     metric `json:"e_min"`
					} `json:"buckets"`
				} `json:"h"`
			} `json:"aggregations"`
		}
		requests++
		found, err := searchAggs(ctx, c.es, c.names.Offsets, body, &res)
		if err != nil {
			return nil, requests, fmt.Errorf("look up when the log end passed the committed offsets (%d partitions): %w", len(part), err)
		}
		for i := range part {
			var h evaluate.HeadPassage
			if found {
				b := res.Aggregations.H.Buckets["b"+strconv.Itoa(i)]
				if b.DocCount > 0 && b.TMax.Value != nil && b.EMax.Value != nil {
					h.Below = &evaluate.HeadPoint{Time: time.UnixMilli(int64(*b.TMax.Value)).UTC(), LogEnd: int64(*b.EMax.Value)}
				}
				a := res.Aggregations.H.Buckets["a"+strconv.Itoa(i)]
				if a.DocCount > 0 && a.TMin.Value != nil && a.EMin.Value != nil {
					h.Above = &evaluate.HeadPoint{Time: time.UnixMilli(int64(*a.TMin.Value)).UTC(), LogEnd: int64(*a.EMin.Value)}
				}
			}
			out = append(out, h)
		}
	}
	return out, requests, nil
}
