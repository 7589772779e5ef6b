package esindex

import (
	"context"
	"fmt"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// recentTicks is how many of a cluster's newest collector documents
// CollectorTicks reads: ten gaps for the interval's median, and the newest
// ticks' results.
const recentTicks = 11

// collectorSource are the fields of a collector document a freshness read
// needs.
var collectorSource = []string{"@timestamp", "lagwatch.collector.result", "lagwatch.collector.partitions",
	"lagwatch.collector.partition_errors", "lagwatch.error"}

// collectorHit is a collector document as a freshness read decodes it.
type collectorHit struct {
	Source struct {
		Timestamp string `json:"@timestamp"`
		Lagwatch  struct {
			Collector struct {
				Result          string `json:"result"`
				Partitions      int    `json:"partitions"`
				PartitionErrors int    `json:"partition_errors"`
			} `json:"collector"`
			Error string `json:"error"`
		} `json:"lagwatch"`
	} `json:"_source"`
}

// tick is the collector document as the stale decision sees it: a tick
// reads unless it failed (result error) or every partition it had to read
// failed. A tick of a cluster without partitions reads: nothing to read is
// no fault. A spooled tick reads: its documents reach Elasticsearch with
// the collector document itself.
func (h collectorHit) tick() (evaluate.CollectorTick, bool) {
	s := h.Source
	t, err := time.Parse(time.RFC3339Nano, s.Timestamp)
	if err != nil {
		return evaluate.CollectorTick{}, false
	}
	c := s.Lagwatch.Collector
	read := c.Result != "error" && (c.Partitions == 0 || c.PartitionErrors < c.Partitions)
	out := evaluate.CollectorTick{Time: t.UTC(), Read: read}
	switch {
	case read:
	case s.Lagwatch.Error != "":
		out.Err = s.Lagwatch.Error
	case c.Result != "error":
		out.Err = fmt.Sprintf("the offsets of every partition (%d) unreadable", c.Partitions)
	}
	return out, true
}

// clusterHits is a terms aggregation on the cluster with each cluster's
// newest collector documents (top_hits "t").
type clusterHits struct {
	Aggregations struct {
		C struct {
			Buckets []struct {
				Key string `json:"key"`
				T   struct {
					Hits struct {
						Hits []collectorHit `json:"hits"`
					} `json:"hits"`
				} `json:"t"`
			} `json:"buckets"`
		} `json:"c"`
	} `json:"aggregations"`
}

// newestPerCluster is the body of a search for the newest size collector
// documents of each cluster among those filter matches.
func newestPerCluster(filter []any, size int) map[string]any {
	return map[string]any{"size": 0, "track_total_hits": false,
		"query": map[string]any{"bool": map[string]any{"filter": filter}},
		"aggs": map[string]any{"c": map[string]any{
			"terms": map[string]any{"field": "kafka.cluster.name", "size": 10000},
			"aggs": map[string]any{"t": map[string]any{"top_hits": map[string]any{
				"size": size, "sort": []any{map[string]any{"@timestamp": map[string]string{"order": "desc"}}},
				"_source": map[string]any{"includes": collectorSource}}}},
		}}}
}

// CollectorTicks reads what the collector data stream says of each
// cluster's ticks in (at-lookback, at] (of cluster alone, when set), the
// stale decision's input (evaluate.JudgeFreshness): the cluster's newest
// recentTicks collector documents, and its newest tick that read. A
// cluster without a collector document in that span is not in the map: a
// history written by other means than the collector says nothing of its
// ticks, and no cluster of it is ever stale. It says how many requests it
// took: one, and one more when some cluster's newest ticks all read
// nothing (its newest tick that read is looked for among its older
// documents whose result is not an error; one whose every partition
// failed there too is not looked beyond, and the silence is then taken
// to begin at the oldest tick known).
func (c *Client) CollectorTicks(ctx context.Context, at time.Time, lookback time.Duration, cluster string) (map[string]evaluate.TickHistory, int, error) {
	span := map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gt": at.Add(-lookback).UTC().Format(time.RFC3339Nano), "lte": at.UTC().Format(time.RFC3339Nano)}}}
	filter := []any{span}
	if cluster != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.cluster.name": cluster}})
	}
	var recent clusterHits
	found, err := searchAggs(ctx, c.es, c.names.Ticks, newestPerCluster(filter, recentTicks), &recent)
	requests := 1
	if err != nil {
		return nil, requests, fmt.Errorf("read collector ticks: %w", err)
	}
	out := map[string]evaluate.TickHistory{}
	if !found {
		return out, requests, nil
	}
	// Each cluster none of whose recent ticks read, before the oldest of
	// them.
	var unread []any
	for _, b := range recent.Aggregations.C.Buckets {
		var h evaluate.TickHistory
		for _, hit := range b.T.Hits.Hits {
			t, ok := hit.tick()
			if !ok {
				continue
			}
			h.Recent = append(h.Recent, t)
			if t.Read && h.LastRead.IsZero() {
				h.LastRead = t.Time
			}
		}
		if len(h.Recent) == 0 {
			continue
		}
		out[b.Key] = h
		if h.LastRead.IsZero() && len(h.Recent) == recentTicks {
			unread = append(unread, map[string]any{"bool": map[string]any{"filter": []any{
				map[string]any{"term": map[string]any{"kafka.cluster.name": b.Key}},
				map[string]any{"range": map[string]any{"@timestamp": map[string]any{
					"lt": h.Recent[len(h.Recent)-1].Time.UTC().Format(time.RFC3339Nano)}}},
			}}})
		}
	}
	if len(unread) == 0 {
		return out, requests, nil
	}
	older := []any{span,
		map[string]any{"bool": map[string]any{"should": unread, "minimum_should_match": 1}},
		map[string]any{"terms": map[string]any{"lagwatch.collector.result": []string{"ok", "spooled"}}},
	}
	var before clusterHits
	_, err = searchAggs(ctx, c.es, c.names.Ticks, newestPerCluster(older, recentTicks), &before)
	requests++
	if err != nil {
		return nil, requests, fmt.Errorf("read collector ticks: the newest that read: %w", err)
	}
	for _, b := range before.Aggregations.C.Buckets {
		h, ok := out[b.Key]
		if !ok || !h.LastRead.IsZero() {
			continue
		}
		for _, hit := range b.T.Hits.Hits {
			if t, ok := hit.tick(); ok && t.Read {
				h.LastRead = t.Time
				break
			}
		}
		out[b.Key] = h
	}
	return out, requests, nil
}
