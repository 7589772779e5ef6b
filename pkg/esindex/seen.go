package esindex

import (
	"context"
	"fmt"
	"time"
)

// GroupSeen reports whether group of cluster has a group document in
// [from, to]: what KnownGroups says of one group, in one search that stops
// at the first document it finds, whatever the number of groups.
func (c *Client) GroupSeen(ctx context.Context, from, to time.Time, cluster, group string) (bool, error) {
	body := map[string]any{"size": 0, "track_total_hits": 1, "terminate_after": 1,
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"range": map[string]any{"@timestamp": map[string]any{
				"gte": from.UTC().Format(time.RFC3339Nano), "lte": to.UTC().Format(time.RFC3339Nano)}}},
			map[string]any{"term": map[string]any{"kafka.cluster.name": cluster}},
			map[string]any{"term": map[string]any{"kafka.consumergroup.id": group}},
		}}}}
	var out struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
	}
	found, err := searchAggs(ctx, c.es, c.names.Groups, body, &out)
	if err != nil {
		return false, fmt.Errorf("group %q of cluster %q seen: %w", group, cluster, err)
	}
	return found && out.Hits.Total.Value > 0, nil
}

// OldestTick is the time of the history's oldest group document, of any
// cluster: before it the history knows no cluster. Zero when it holds none.
func (c *Client) OldestTick(ctx context.Context) (time.Time, error) {
	t, err := c.oldest(ctx, c.names.Groups, map[string]any{"match_all": map[string]any{}})
	if err != nil {
		return time.Time{}, fmt.Errorf("oldest tick: %w", err)
	}
	return t, nil
}

// oldest is the time of the oldest document of index that query matches;
// zero when none does.
func (c *Client) oldest(ctx context.Context, index string, query map[string]any) (time.Time, error) {
	body := map[string]any{"size": 0, "track_total_hits": false, "query": query,
		"aggs": map[string]any{"t": map[string]any{"min": map[string]any{"field": "@timestamp"}}}}
	var res struct {
		Aggregations struct {
			T struct {
				Value *float64 `json:"value"`
			} `json:"t"`
		} `json:"aggregations"`
	}
	found, err := searchAggs(ctx, c.es, index, body, &res)
	if err != nil {
		return time.Time{}, err
	}
	if !found || res.Aggregations.T.Value == nil {
		return time.Time{}, nil
	}
	return time.UnixMilli(int64(*res.Aggregations.T.Value)).UTC(), nil
}
