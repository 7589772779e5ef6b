package esindex

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// HeadLookup is one evaluate.HeadQuery of a cluster.
type HeadLookup struct {
	Cluster string
	evaluate.HeadQuery
}

// headChunk is the number of lookups per search: two filters each.
const headChunk = 500

// HeadPassages answers each lookup from the offsets history before its
// window (evaluate.HeadPassage), in order: every group's documents of the
// partition count, for each carries the partition's log-end offset at its
// tick. The cost grows with the lookups, not with the history: one search per
// 500 lookups, each lookup two filters of a filters aggregation (log end at
// or below the committed offset, and above it) with the newest and oldest
// tick time and log end under each. The log end only grows (but for a
// topic recreated), so the newest at or below is the point just before the
// passage and the oldest above the point just after it. The second result
// counts the requests.
func (c *Client) HeadPassages(ctx context.Context, lookups []HeadLookup) ([]evaluate.HeadPassage, int, error) {
	out := make([]evaluate.HeadPassage, 0, len(lookups))
	requests := 0
	for start := 0; start < len(lookups); start += headChunk {
		chunk := lookups[start:min(start+headChunk, len(lookups))]
		filters := make(map[string]any, 2*len(chunk))
		for i, l := range chunk {
			base := func(offset map[string]any) map[string]any {
				return map[string]any{"bool": map[string]any{"filter": []any{
					map[string]any{"term": map[string]any{"kafka.cluster.name": l.Cluster}},
					map[string]any{"term": map[string]any{"kafka.topic.name": l.Topic}},
					map[string]any{"term": map[string]any{"kafka.partition.id": l.Partition}},
					map[string]any{"range": map[string]any{"kafka.partition.offset.newest": offset}},
					map[string]any{"range": map[string]any{"@timestamp": map[string]any{"lt": l.Before.UTC().Format(time.RFC3339Nano)}}},
				}}}
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
			return nil, requests, fmt.Errorf("look up when the log end passed the committed offsets (%d partitions): %w", len(chunk), err)
		}
		for i := range chunk {
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
