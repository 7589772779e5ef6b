package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// OffsetsRow is one stored offsets document, as the evaluator reads it.
// Optional fields carry a Has flag: absent in the document, absent here.
type OffsetsRow struct {
	Time                 time.Time
	Committed            int64
	HasCommitted         bool
	LogEnd, LogStart     int64
	HasLogEnd            bool
	Lag                  int64
	HasLag               bool
	State                string
	Owner                string // member id; "" when no member owned the partition
	ClientID, ClientHost string
}

// PartitionHistory is one partition's window, oldest row first.
type PartitionHistory struct {
	Topic     string
	Partition int
	Rows      []OffsetsRow
}

// GroupHistory is one group's window: its partitions in (topic, partition)
// order.
type GroupHistory struct {
	Cluster, Group string
	Partitions     []PartitionHistory
}

// WindowQuery says which window to read.
type WindowQuery struct {
	// At is the evaluation instant: nothing after it is read.
	At time.Time
	// MaxAge: nothing at or before At-MaxAge is read.
	MaxAge time.Duration
	// Size is N, the most documents per partition.
	Size int
	// PageSize is the number of documents per search request; <= 0 means
	// 5000. Memory grows with it, not with the history.
	PageSize int
	// Cluster and Group, when set, restrict the read to one cluster or group.
	Cluster, Group string
}

// WindowStats counts one read.
type WindowStats struct {
	// Requests sent to Elasticsearch (point in time open and close, the
	// tick lookup and every page).
	Requests int
	Pages    int
	Docs     int
	Groups   int
}

// ReadWindows streams the window of every group at q.At to fn, one group at a
// time, in (cluster, group) order.
//
// A partition's window is its documents among the last q.Size ticks of its
// cluster that lie within (At-MaxAge, At]. The collector writes every group
// on every tick, so this is the partition's last Size documents; a group that
// was missing from recent ticks (deleted from Kafka, or a tick that failed for
// it) has fewer, and a group absent from all of them has no window at all.
// The read costs one aggregation to find each cluster's tick times, then a
// point-in-time search paged with search_after in (cluster, group, topic,
// partition, time) order: requests grow with pages, not with groups, and only
// one group is held in memory at a time.
func ReadWindows(ctx context.Context, es *elasticsearch.Client, names Names, q WindowQuery, fn func(GroupHistory) error) (WindowStats, error) {
	var st WindowStats
	if q.Size <= 0 || q.MaxAge <= 0 || q.At.IsZero() {
		return st, errors.New("read windows: Size, MaxAge and At must be set")
	}
	if q.PageSize <= 0 {
		q.PageSize = 5000
	}
	cutoffs, err := tickCutoffs(ctx, es, names.Offsets, q)
	st.Requests++
	if err != nil {
		return st, err
	}
	if len(cutoffs) == 0 {
		return st, nil
	}

	pit, err := openPIT(ctx, es, names.Offsets)
	st.Requests++
	if err != nil {
		return st, err
	}
	defer func() {
		closePIT(context.WithoutCancel(ctx), es, pit)
		st.Requests++
	}()

	var should []any
	for cluster, from := range cutoffs {
		should = append(should, map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"kafka.cluster.name": cluster}},
			map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": from.UTC().Format(time.RFC3339Nano), "lte": q.At.UTC().Format(time.RFC3339Nano)}}},
		}}})
	}
	filter := []any{map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}}
	if q.Group != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.consumergroup.id": q.Group}})
	}
	body := map[string]any{
		"size":             q.PageSize,
		"track_total_hits": false,
		"query":            map[string]any{"bool": map[string]any{"filter": filter}},
		"sort": []any{
			map[string]string{"kafka.cluster.name": "asc"},
			map[string]string{"kafka.consumergroup.id": "asc"},
			map[string]string{"kafka.topic.name": "asc"},
			map[string]string{"kafka.partition.id": "asc"},
			map[string]string{"@timestamp": "asc"},
		},
		"_source": []string{"@timestamp", "kafka.cluster.name", "kafka.consumergroup", "kafka.topic.name", "kafka.partition"},
	}

	acc := groupAccumulator{size: q.Size}
	var after json.RawMessage
	for {
		body["pit"] = map[string]any{"id": pit, "keep_alive": "1m"}
		if after != nil {
			body["search_after"] = after
		} else {
			delete(body, "search_after")
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return st, err
		}
		res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithBody(bytes.NewReader(raw)))
		st.Requests++
		if err != nil {
			return st, fmt.Errorf("read windows: search page %d: %w", st.Pages+1, err)
		}
		var page searchPage
		err = decodeResponse(res, &page)
		if err != nil {
			return st, fmt.Errorf("read windows: search page %d: %w", st.Pages+1, err)
		}
		st.Pages++
		if page.PitID != "" {
			pit = page.PitID
		}
		hits := page.Hits.Hits
		for i := range hits {
			st.Docs++
			done, err := acc.add(&hits[i].Source)
			if err != nil {
				return st, err
			}
			if done != nil {
				st.Groups++
				if err := fn(*done); err != nil {
					return st, err
				}
			}
		}
		if len(hits) < q.PageSize {
			break
		}
		after = hits[len(hits)-1].Sort
	}
	if last := acc.flush(); last != nil {
		st.Groups++
		if err := fn(*last); err != nil {
			return st, err
		}
	}
	return st, nil
}

// tickCutoffs finds, per cluster, the time of the Size-th newest tick within
// (At-MaxAge, At]: the start of that cluster's window.
func tickCutoffs(ctx context.Context, es *elasticsearch.Client, index string, q WindowQuery) (map[string]time.Time, error) {
	filter := []any{map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gt": q.At.Add(-q.MaxAge).UTC().Format(time.RFC3339Nano), "lte": q.At.UTC().Format(time.RFC3339Nano)}}}}
	if q.Cluster != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.cluster.name": q.Cluster}})
	}
	if q.Group != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.consumergroup.id": q.Group}})
	}
	body := map[string]any{
		"size":  0,
		"query": map[string]any{"bool": map[string]any{"filter": filter}},
		"aggs": map[string]any{"clusters": map[string]any{
			"terms": map[string]any{"field": "kafka.cluster.name", "size": 10000},
			"aggs": map[string]any{"ticks": map[string]any{
				"terms": map[string]any{"field": "@timestamp", "size": q.Size, "order": map[string]string{"_key": "desc"}},
			}},
		}},
	}
	raw, _ := json.Marshal(body)
	res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(index), es.Search.WithBody(bytes.NewReader(raw)),
		es.Search.WithIgnoreUnavailable(true), es.Search.WithAllowNoIndices(true))
	if err != nil {
		return nil, fmt.Errorf("read windows: find tick times: %w", err)
	}
	var out struct {
		Aggregations struct {
			Clusters struct {
				Buckets []struct {
					Key   string `json:"key"`
					Ticks struct {
						Buckets []struct {
							Key int64 `json:"key"`
						} `json:"buckets"`
					} `json:"ticks"`
				} `json:"buckets"`
			} `json:"clusters"`
		} `json:"aggregations"`
	}
	if err := decodeResponse(res, &out); err != nil {
		if errors.Is(err, errIndexNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("read windows: find tick times: %w", err)
	}
	cut := map[string]time.Time{}
	for _, c := range out.Aggregations.Clusters.Buckets {
		ticks := c.Ticks.Buckets
		if len(ticks) == 0 {
			continue
		}
		cut[c.Key] = time.UnixMilli(ticks[len(ticks)-1].Key).UTC()
	}
	return cut, nil
}

type searchPage struct {
	PitID string `json:"pit_id"`
	Hits  struct {
		Hits []struct {
			Source storedOffsets   `json:"_source"`
			Sort   json.RawMessage `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
}

// storedOffsets mirrors the offsets document (docs.go) for reading.
type storedOffsets struct {
	Timestamp time.Time `json:"@timestamp"`
	Kafka     struct {
		Cluster struct {
			Name string `json:"name"`
		} `json:"cluster"`
		Consumergroup struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Offset *int64 `json:"offset"`
			Lag    *int64 `json:"consumer_lag"`
			Client *struct {
				ID       string `json:"id"`
				Host     string `json:"host"`
				MemberID string `json:"member_id"`
			} `json:"client"`
		} `json:"consumergroup"`
		Topic struct {
			Name string `json:"name"`
		} `json:"topic"`
		Partition struct {
			ID     int `json:"id"`
			Offset struct {
				Newest *int64 `json:"newest"`
				Oldest *int64 `json:"oldest"`
			} `json:"offset"`
		} `json:"partition"`
	} `json:"kafka"`
}

// groupAccumulator gathers sorted rows into groups, keeping each partition's
// last size rows.
type groupAccumulator struct {
	size int
	cur  *GroupHistory
}

func (a *groupAccumulator) add(d *storedOffsets) (*GroupHistory, error) {
	cluster, group := d.Kafka.Cluster.Name, d.Kafka.Consumergroup.ID
	var done *GroupHistory
	if a.cur != nil && (a.cur.Cluster != cluster || a.cur.Group != group) {
		done = a.flush()
	}
	if a.cur == nil {
		a.cur = &GroupHistory{Cluster: cluster, Group: group}
	}
	g := a.cur
	topic, partition := d.Kafka.Topic.Name, d.Kafka.Partition.ID
	n := len(g.Partitions)
	if n == 0 || g.Partitions[n-1].Topic != topic || g.Partitions[n-1].Partition != partition {
		g.Partitions = append(g.Partitions, PartitionHistory{Topic: topic, Partition: partition})
		n++
	}
	p := &g.Partitions[n-1]
	row := OffsetsRow{Time: d.Timestamp.UTC(), State: d.Kafka.Consumergroup.State}
	cg := d.Kafka.Consumergroup
	if cg.Offset != nil {
		row.Committed, row.HasCommitted = *cg.Offset, true
	}
	if cg.Lag != nil {
		row.Lag, row.HasLag = *cg.Lag, true
	}
	if o := d.Kafka.Partition.Offset; o.Newest != nil {
		row.LogEnd, row.HasLogEnd = *o.Newest, true
		if o.Oldest != nil {
			row.LogStart = *o.Oldest
		}
	}
	if cg.Client != nil {
		row.Owner, row.ClientID, row.ClientHost = cg.Client.MemberID, cg.Client.ID, cg.Client.Host
	}
	if len(p.Rows) == a.size {
		copy(p.Rows, p.Rows[1:])
		p.Rows = p.Rows[:a.size-1]
	}
	p.Rows = append(p.Rows, row)
	return done, nil
}

func (a *groupAccumulator) flush() *GroupHistory {
	g := a.cur
	a.cur = nil
	return g
}

// GroupKey names a group in a cluster.
type GroupKey struct{ Cluster, Group string }

// KnownGroups lists the groups that have a group document in [from, to], in
// (cluster, group) order, paging a composite aggregation. The evaluator
// reports those without a window as NOTFOUND.
func KnownGroups(ctx context.Context, es *elasticsearch.Client, names Names, from, to time.Time, cluster string) ([]GroupKey, int, error) {
	var out []GroupKey
	requests := 0
	filter := []any{map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gte": from.UTC().Format(time.RFC3339Nano), "lte": to.UTC().Format(time.RFC3339Nano)}}}}
	if cluster != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.cluster.name": cluster}})
	}
	var after map[string]string
	for {
		comp := map[string]any{"size": 5000, "sources": []any{
			map[string]any{"cluster": map[string]any{"terms": map[string]any{"field": "kafka.cluster.name"}}},
			map[string]any{"group": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.id"}}},
		}}
		if after != nil {
			comp["after"] = after
		}
		raw, _ := json.Marshal(map[string]any{"size": 0, "query": map[string]any{"bool": map[string]any{"filter": filter}},
			"aggs": map[string]any{"g": map[string]any{"composite": comp}}})
		res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(names.Groups), es.Search.WithBody(bytes.NewReader(raw)),
			es.Search.WithIgnoreUnavailable(true), es.Search.WithAllowNoIndices(true))
		requests++
		if err != nil {
			return out, requests, fmt.Errorf("known groups: %w", err)
		}
		var page struct {
			Aggregations struct {
				G struct {
					AfterKey map[string]string `json:"after_key"`
					Buckets  []struct {
						Key map[string]string `json:"key"`
					} `json:"buckets"`
				} `json:"g"`
			} `json:"aggregations"`
		}
		if err := decodeResponse(res, &page); err != nil {
			if errors.Is(err, errIndexNotFound) {
				return out, requests, nil
			}
			return out, requests, fmt.Errorf("known groups: %w", err)
		}
		for _, b := range page.Aggregations.G.Buckets {
			out = append(out, GroupKey{Cluster: b.Key["cluster"], Group: b.Key["group"]})
		}
		if len(page.Aggregations.G.Buckets) == 0 || page.Aggregations.G.AfterKey == nil {
			break
		}
		after = page.Aggregations.G.AfterKey
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].Group < out[j].Group
	})
	return out, requests, nil
}

var errIndexNotFound = errors.New("index not found")

// decodeResponse reads an answer into v, or returns the error Elasticsearch
// gave (errIndexNotFound for a missing index or data stream).
func decodeResponse(res *esapi.Response, v any) error {
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.IsError() {
		if res.StatusCode == 404 && strings.Contains(string(b), "index_not_found_exception") {
			return errIndexNotFound
		}
		return &requestError{Status: res.StatusCode, Reason: errorReason(res.StatusCode, string(b))}
	}
	return json.Unmarshal(b, v)
}

func openPIT(ctx context.Context, es *elasticsearch.Client, index string) (string, error) {
	res, err := es.OpenPointInTime([]string{index}, "1m", es.OpenPointInTime.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("open point in time on %s: %w", index, err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := decodeResponse(res, &out); err != nil {
		return "", fmt.Errorf("open point in time on %s: %w", index, err)
	}
	return out.ID, nil
}

func closePIT(ctx context.Context, es *elasticsearch.Client, id string) {
	body, _ := json.Marshal(map[string]string{"id": id})
	res, err := es.ClosePointInTime(es.ClosePointInTime.WithContext(ctx), es.ClosePointInTime.WithBody(bytes.NewReader(body)))
	if err == nil {
		res.Body.Close()
	}
}
