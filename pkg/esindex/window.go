package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// WindowQuery says which window to read.
type WindowQuery struct {
	// At is the evaluation instant: nothing after it is read.
	At time.Time
	// MaxAge: nothing at or before At-MaxAge is read.
	MaxAge time.Duration
	// Size is N, the most documents per partition.
	Size int
	// PageSize is the number of documents per search request; <= 0 means
	// 10000. Memory grows with it, not with the history.
	PageSize int
	// Cluster and Group, when set, restrict the read to one cluster or group.
	Cluster, Group string
	// Ticks, when set, are tick times read earlier (WindowTicks) that stand
	// in for the read's first search, if they were read with the same
	// Cluster, Size and MaxAge at an instant at or before At (otherwise the
	// search is made): a tick newer than their instant is missed.
	Ticks *WindowTicks
	// NoBefore leaves out the observation at the tick before the window
	// (PartitionWindow.Before), and the read of that tick: for a reader
	// that holds it already.
	NoBefore bool
	// Shard, when it has more than one part, restricts the read to the
	// groups it owns: only their documents are searched.
	Shard Shard
	// Skip are clusters ReadWindows leaves out (the evaluator reads a
	// stale cluster's groups apart, as of the instant it became stale).
	Skip map[string]bool
}

// Shard is one of Count parts of the groups, those whose hash of cluster and
// group id is Index modulo Count, so that several evaluators share one
// history, each evaluating its own groups. The zero Shard (or a Count of 1)
// owns every group.
type Shard struct{ Index, Count int }

// Owns reports whether the group id of cluster is in the shard: FNV-1a of
// cluster, a zero byte and id, modulo Count.
func (s Shard) Owns(cluster, id string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(cluster))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return int(h.Sum32()%uint32(s.Count)) == s.Index
}

// WindowTicks are the tick times a window read starts with: each cluster's
// newest Size+1 ticks within (At-MaxAge, At] of the query they were read
// for, newest first.
type WindowTicks struct {
	at      time.Time
	maxAge  time.Duration
	size    int
	cluster string
	times   map[string][]Tick
}

// Tick is one collection tick of a cluster as the offsets data stream holds
// it: its time and how many offsets documents of the cluster carry it. The
// count grows while the tick is being written (and when a spooled tick is
// replayed), so a reader that keeps a tick's documents can tell when to read
// them again.
type Tick struct {
	Time time.Time
	Docs int64
}

// NewWindowTicks are the ticks of q's window as another reader found them,
// newest first per cluster: for a History other than the Client (a test's).
func NewWindowTicks(q WindowQuery, ticks map[string][]Tick) *WindowTicks {
	return &WindowTicks{at: q.At, maxAge: q.MaxAge, size: q.Size, cluster: q.Cluster, times: ticks}
}

// At is the instant the ticks were read for.
func (t *WindowTicks) At() time.Time { return t.at }

// Of are cluster's ticks, newest first: the Size newest within (At-MaxAge,
// At], then the one before them when there is one. Nil for a cluster
// without a tick then. The slice must not be changed.
func (t *WindowTicks) Of(cluster string) []Tick { return t.times[cluster] }

// WindowTicks reads the tick times of the window q asks for, to be handed
// to later reads of the same cluster as q.Ticks: one request.
func (c *Client) WindowTicks(ctx context.Context, q WindowQuery) (*WindowTicks, error) {
	if q.Size <= 0 || q.MaxAge <= 0 || q.At.IsZero() {
		return nil, errors.New("window ticks: Size, MaxAge and At must be set")
	}
	times, err := tickTimes(ctx, c.es, c.names.Offsets, q)
	if err != nil {
		return nil, err
	}
	return &WindowTicks{at: q.At, maxAge: q.MaxAge, size: q.Size, cluster: q.Cluster, times: times}, nil
}

// cutoffs are the window starts of q, and the ticks before them, from the
// ticks in q.Ticks when they serve q, or from a search (searched says
// which).
func (c *Client) cutoffs(ctx context.Context, q WindowQuery) (start, before map[string]time.Time, searched bool, err error) {
	t := q.Ticks
	if t == nil || t.cluster != q.Cluster || t.size != q.Size || t.maxAge != q.MaxAge || t.at.After(q.At) {
		times, err := tickTimes(ctx, c.es, c.names.Offsets, q)
		if err != nil {
			return nil, nil, true, err
		}
		start, before = cutoffsOf(times, q)
		if q.NoBefore {
			before = nil
		}
		return start, before, true, nil
	}
	start, before = cutoffsOf(t.times, q)
	if q.NoBefore {
		before = nil
	}
	return start, before, false, nil
}

// WindowStats counts one read.
type WindowStats struct {
	// Requests sent to Elasticsearch (point in time open and close, the
	// tick lookup and every page).
	Requests int
	Pages    int
	Docs     int
	Groups   int
	// SearchTook is what Elasticsearch reported spending on the window's
	// pages (their "took", summed): its own share of the read, the rest
	// being the network, decoding and the caller's work. Pages searched at
	// once add up, so it may exceed the read's wall time.
	SearchTook time.Duration
}

// ReadWindows streams the window of every group at q.At to fn, one group at a
// time, in (cluster, group) order, each partition's observations oldest
// first, its partitions in (topic, partition) order: the evaluation's own
// input type, read from doc values. Optional fields absent from a document
// are unset here (their Has flag false, or "").
//
// A partition's window is its documents among the last q.Size ticks of its
// cluster that lie within (At-MaxAge, At]. The collector writes every group
// on every tick, so this is the partition's last Size documents; a group that
// was missing from recent ticks (deleted from Kafka, or a tick that failed for
// it) has fewer, and a group absent from all of them has no window at all.
// The ticks are always the cluster's, also when q.Group asks for one group:
// a deleted group's own last ticks are old ones, and its window is empty as
// soon as the cluster has Size ticks without it. The partition's document at
// the tick before the window, if any, comes along as Before.
//
// A document that carries lagwatch.error (the committed offset or the log
// offsets could not be read at that tick) is left out, as if that tick had
// not happened for that partition (unknownObservation): the partition's
// window holds its other ticks, and a partition none of whose documents is
// readable has no window, nor has a group without any such partition. An
// observation's Lag is the readable lag (lagwatch.readable_lag; for a
// document written before it was stored, newest - offset clamped at 0).
//
// The read costs one aggregation to find each cluster's tick times, a
// composite aggregation over the (small) groups data stream to list the
// groups in the window with their partition counts, then, under one point in
// time, one composite aggregation per chunk of consecutive groups holding
// about PageSize documents, each document a bucket read from doc values in
// (group, topic, partition, time) order, paged with after_key when a chunk is
// larger. Filtering each request by its groups keeps its cost proportional to
// the chunk, not to the whole window, so requests and work grow with pages.
// Two chunks are searched at once (readAhead) and handed to fn in order;
// the chunk being handed on and the two searched meanwhile are held in
// memory. A read of one chunk that fits in one page (one group's window,
// typically) is a single search,
// without the point in time: three requests in all. Should that chunk
// need a second page after all, the pages are read without one.
//
// A read of one group of one cluster (q.Cluster and q.Group set) lists no
// groups: its chunk is that group, read without a point in time, so it
// costs two requests, or one with q.Ticks.
func (c *Client) ReadWindows(ctx context.Context, q WindowQuery, fn func(evaluate.GroupWindow) error) (st WindowStats, err error) {
	es, names := c.es, c.names
	if q.Size <= 0 || q.MaxAge <= 0 || q.At.IsZero() {
		return st, errors.New("read windows: Size, MaxAge and At must be set")
	}
	if q.PageSize <= 0 {
		q.PageSize = 10000
	}
	q.PageSize = min(q.PageSize, 10000) // Elasticsearch's max_result_window
	cutoffs, before, searched, err := c.cutoffs(ctx, q)
	if searched {
		st.Requests++
	}
	if err != nil {
		return st, err
	}
	for cluster := range q.Skip {
		delete(cutoffs, cluster)
	}
	if len(cutoffs) == 0 {
		return st, nil
	}
	var chunks []chunk
	if _, ok := cutoffs[q.Cluster]; ok && q.Group != "" {
		if !q.Shard.Owns(q.Cluster, q.Group) {
			return st, nil
		}
		// One group of one cluster: its chunk is known without listing
		// the window's groups. A group without documents in the window
		// reads none, and has no window.
		chunks = []chunk{{cluster: q.Cluster, groups: []string{q.Group}}}
	} else {
		var reqs int
		chunks, reqs, err = groupChunks(ctx, es, names.Groups, q, cutoffs, before)
		st.Requests += reqs
		if err != nil || len(chunks) == 0 {
			return st, err
		}
	}

	// A point in time keeps the pages of a read consistent with each
	// other; a read expected to fit in one page (one group, or a few small
	// ones) is one search without one, two requests fewer.
	pit := ""
	var pitMu sync.Mutex // pit, as the chunks' searches update it
	if len(chunks) > 1 || chunks[0].docs*int64(q.Size+1)/int64(q.Size) >= int64(q.PageSize) {
		pit, err = openPIT(ctx, es, names.Offsets)
		st.Requests++
		if err != nil {
			return st, err
		}
		defer func() { // st is the result: the close counts
			pitMu.Lock()
			id := pit
			pitMu.Unlock()
			closePIT(context.WithoutCancel(ctx), es, id)
			st.Requests++
		}()
	}

	// Chunks are read readAhead at a time, each by its own searches, and
	// consumed in order: Elasticsearch searches one shard on one thread, so
	// a second search in flight uses the node's other cores while this
	// process decodes and evaluates. At most readAhead + 1 chunks are
	// held: the one being handed to fn and the readAhead searched meanwhile.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan chunkPages, len(chunks))
	for i := range results {
		results[i] = make(chan chunkPages, 1)
	}
	slots := make(chan struct{}, readAhead)
	go func() {
		for i, ch := range chunks {
			select {
			case slots <- struct{}{}:
			case <-rctx.Done():
				for _, r := range results[i:] {
					r <- chunkPages{err: rctx.Err()}
				}
				return
			}
			go func() {
				from := cutoffs[ch.cluster]
				if b, ok := before[ch.cluster]; ok {
					from = b
				}
				pitMu.Lock()
				id := pit
				pitMu.Unlock()
				res := readChunk(rctx, es, names.Offsets, id, ch, from, q)
				if res.pit != "" {
					pitMu.Lock()
					pit = res.pit
					pitMu.Unlock()
				}
				results[i] <- res
			}()
		}
	}()
	acc := groupAccumulator{size: q.Size, start: cutoffs}
	for i, ch := range chunks {
		res := <-results[i]
		<-slots
		st.Requests += res.requests
		if res.err != nil {
			return st, fmt.Errorf("read windows: page %d: %w", st.Pages+res.pages+1, res.err)
		}
		st.Pages += res.pages
		st.SearchTook += res.took
		for j := range res.buckets {
			b := &res.buckets[j]
			st.Docs += b.DocCount
			if done := acc.add(ch.cluster, &b.Key); done != nil {
				st.Groups++
				if err := fn(*done); err != nil {
					return st, err
				}
			}
		}
	}
	if last := acc.flush(); last != nil {
		st.Groups++
		if err := fn(*last); err != nil {
			return st, err
		}
	}
	return st, nil
}

// readAhead is how many chunks of a window read are searched at once.
const readAhead = 2

// chunkPages is one chunk's buckets, all its pages', or the error that
// stopped its read.
type chunkPages struct {
	buckets  []windowBucket
	pages    int
	requests int
	took     time.Duration // the pages' "took"
	pit      string        // the point in time's id as last answered
	err      error
}

// readChunk reads every page of one chunk's composite aggregation, from
// from to q.At, within the point in time pit (none when empty).
func readChunk(ctx context.Context, es *elasticsearch.Client, index, pit string, ch chunk, from time.Time, q WindowQuery) chunkPages {
	var out chunkPages
	comp := map[string]any{"size": q.PageSize, "sources": windowSources}
	body := map[string]any{
		"size":             0,
		"track_total_hits": false,
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"kafka.cluster.name": ch.cluster}},
			map[string]any{"terms": map[string]any{"kafka.consumergroup.id": ch.groups}},
			map[string]any{"range": map[string]any{"@timestamp": map[string]any{
				"gte": from.UTC().Format(time.RFC3339Nano), "lte": q.At.UTC().Format(time.RFC3339Nano)}}},
		}, "must_not": unknownObservation}},
		"aggs": map[string]any{"w": map[string]any{"composite": comp}},
	}
	for {
		opts := []func(*esapi.SearchRequest){es.Search.WithContext(ctx)}
		if pit != "" {
			body["pit"] = map[string]any{"id": pit, "keep_alive": pitKeepAlive}
		} else {
			opts = append(opts, es.Search.WithIndex(index))
		}
		raw, err := json.Marshal(body)
		if err != nil {
			out.err = err
			return out
		}
		res, err := es.Search(append(opts, es.Search.WithBody(bytes.NewReader(raw)))...)
		out.requests++
		if err != nil {
			out.err = err
			return out
		}
		answer, err := readResponse(res)
		if err != nil {
			out.err = err
			return out
		}
		page, err := decodeWindowPage(answer)
		if err != nil {
			out.err = err
			return out
		}
		out.pages++
		out.took += time.Duration(page.Took) * time.Millisecond
		if page.PitID != "" {
			pit, out.pit = page.PitID, page.PitID
		}
		buckets := page.Aggregations.W.Buckets
		out.buckets = append(out.buckets, buckets...)
		if len(buckets) < q.PageSize || len(page.Aggregations.W.AfterKey) == 0 {
			return out
		}
		comp["after"] = page.Aggregations.W.AfterKey
	}
}

// chunk is a run of consecutive groups of one cluster read by one search.
type chunk struct {
	cluster string
	groups  []string
	// docs estimates the chunk's offsets documents in the window's ticks:
	// its group documents there times each group's most partitions.
	docs int64
}

// groupChunks lists, from the groups data stream (one document per group per
// tick), the groups of each cluster's window in order with their partition
// counts, and cuts them into chunks of about pageSize offsets documents,
// counting the tick before the window where the read takes it (before):
// a chunk that overflowed its page by that tick would cost a second search
// of nearly the same cost for a tenth of the documents.
func groupChunks(ctx context.Context, es *elasticsearch.Client, index string, q WindowQuery, cutoffs, before map[string]time.Time) ([]chunk, int, error) {
	var chunks []chunk
	var cur chunk
	requests, err := windowGroups(ctx, es, index, q, cutoffs, func(cluster, group string, groupDocs int64, partitions *float64) {
		if !q.Shard.Owns(cluster, group) {
			return
		}
		n := int64(1)
		if partitions != nil && *partitions > 0 {
			n = int64(*partitions)
		}
		if _, ok := before[cluster]; ok {
			groupDocs++
		}
		docs := groupDocs * n
		// A chunk stays below the page size, so that one request reads it
		// whole (a full page would ask for one more).
		if len(cur.groups) > 0 && (cur.cluster != cluster || cur.docs+docs >= int64(q.PageSize)) {
			chunks = append(chunks, cur)
			cur = chunk{}
		}
		cur.cluster = cluster
		cur.groups = append(cur.groups, group)
		cur.docs += docs
	})
	if err != nil {
		return nil, requests, err
	}
	if len(cur.groups) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, requests, nil
}

// windowGroups calls fn, in (cluster, group) order, with each group that has
// a document in the groups data stream within its cluster's window,
// [cutoffs[cluster], q.At] (only q.Group, when set): its documents there and
// the most partitions one of them counted (nil when none says). It pages a
// composite aggregation and says how many requests that took.
func windowGroups(ctx context.Context, es *elasticsearch.Client, index string, q WindowQuery, cutoffs map[string]time.Time, fn func(cluster, group string, groupDocs int64, partitions *float64)) (int, error) {
	filter := windowSpans(q, cutoffs)
	requests := 0
	// bucket is one (cluster, group) pair: its documents and the most
	// partitions a document of the group counted.
	type bucket struct {
		Key      map[string]string `json:"key"`
		DocCount int64             `json:"doc_count"`
		P        struct {
			Value *float64 `json:"value"`
		} `json:"p"`
	}
	var after map[string]any
	for {
		var page groupPage[any, bucket]
		found, err := searchAggs(ctx, es, index, map[string]any{"size": 0, "track_total_hits": false,
			"query": map[string]any{"bool": map[string]any{"filter": filter}},
			"aggs": map[string]any{"g": map[string]any{"composite": groupPairs(groupListPage, after),
				"aggs": map[string]any{"p": map[string]any{"max": map[string]any{"field": "lagwatch.group.partitions"}}}}}}, &page)
		requests++
		if err != nil {
			return requests, fmt.Errorf("read windows: list groups: %w", err)
		}
		if !found {
			return requests, nil
		}
		for _, b := range page.Aggregations.G.Buckets {
			fn(b.Key["cluster"], b.Key["group"], b.DocCount, b.P.Value)
		}
		// A page short of its size is the last: no request for an empty one.
		if len(page.Aggregations.G.Buckets) < groupListPage || page.Aggregations.G.AfterKey == nil {
			return requests, nil
		}
		after = page.Aggregations.G.AfterKey
	}
}

// windowSpans is the filter of the documents in each cluster's window,
// [cutoffs[cluster], q.At] (only q.Group's, when set).
func windowSpans(q WindowQuery, cutoffs map[string]time.Time) []any {
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
	return filter
}

// WindowGroups lists the groups that have a window at q.At, those
// ReadWindows would read with the same query, in (cluster, group) order,
// without reading one: the groups with a group document counting a
// partition within their cluster's window (the last q.Size ticks of the
// cluster within (At-MaxAge, At]), each such document coming with an offsets
// document per partition. A group deleted from Kafka stays in the list until
// its cluster has q.Size ticks without it; a group without partitions (a
// share group, or one that never committed) is never in it, nor is one
// whose every offsets document in the window carries lagwatch.error
// (ReadWindows leaves those out, so it has no window). PageSize is not
// used.
//
// It costs the first two requests of ReadWindows, the tick times and the
// list of the window's groups, and one to find the groups with an
// unreadable observation in the window; one more when there are some.
func (c *Client) WindowGroups(ctx context.Context, q WindowQuery) ([]GroupKey, int, error) {
	if q.Size <= 0 || q.MaxAge <= 0 || q.At.IsZero() {
		return nil, 0, errors.New("window groups: Size, MaxAge and At must be set")
	}
	cutoffs, _, searched, err := c.cutoffs(ctx, q)
	requests := 0
	if searched {
		requests++
	}
	if err != nil || len(cutoffs) == 0 {
		return nil, requests, err
	}
	var out []GroupKey
	reqs, err := windowGroups(ctx, c.es, c.names.Groups, q, cutoffs, func(cluster, group string, _ int64, partitions *float64) {
		// No partitions, no offsets document: no window.
		if partitions != nil && *partitions > 0 {
			out = append(out, GroupKey{Cluster: cluster, Group: group})
		}
	})
	requests += reqs
	if err != nil || len(out) == 0 {
		return out, requests, err
	}
	out, reqs, err = c.dropUnobserved(ctx, q, cutoffs, out)
	requests += reqs
	return out, requests, err
}

// dropUnobserved removes from groups those whose every offsets document in
// their cluster's window carries lagwatch.error: ReadWindows leaves those
// documents out (unknownObservation), so such a group has no window. One
// request finds the groups with such a document in the window (seldom
// any), a second one which of them have a document without.
func (c *Client) dropUnobserved(ctx context.Context, q WindowQuery, cutoffs map[string]time.Time, groups []GroupKey) ([]GroupKey, int, error) {
	spans := windowSpans(q, cutoffs)
	erred := map[GroupKey]bool{}
	requests, err := c.groupKeys(ctx, c.names.Offsets, map[string]any{"filter": append(slices.Clip(spans), unknownObservation...)}, func(k GroupKey) {
		erred[k] = true
	})
	if err != nil || len(erred) == 0 {
		return groups, requests, err
	}
	var ids []string
	for k := range erred {
		ids = append(ids, k.Group)
	}
	seen := map[GroupKey]bool{}
	filter := append(slices.Clip(spans), map[string]any{"terms": map[string]any{"kafka.consumergroup.id": ids}})
	reqs, err := c.groupKeys(ctx, c.names.Offsets, map[string]any{"filter": filter, "must_not": unknownObservation}, func(k GroupKey) {
		seen[k] = true
	})
	requests += reqs
	if err != nil {
		return nil, requests, err
	}
	return slices.DeleteFunc(groups, func(k GroupKey) bool { return erred[k] && !seen[k] }), requests, nil
}

// groupKeys calls fn with each (cluster, group) pair of the documents of
// index that boolQuery (the body of a bool query) matches, in order, paging
// a composite aggregation; it says how many requests that took. A missing
// index has none.
func (c *Client) groupKeys(ctx context.Context, index string, boolQuery map[string]any, fn func(GroupKey)) (int, error) {
	requests := 0
	var after map[string]string
	for {
		var page groupPage[string, struct {
			Key map[string]string `json:"key"`
		}]
		found, err := searchAggs(ctx, c.es, index, map[string]any{"size": 0, "track_total_hits": false, "query": map[string]any{"bool": boolQuery},
			"aggs": map[string]any{"g": map[string]any{"composite": groupPairs(knownGroupsPage, after)}}}, &page)
		requests++
		if err != nil || !found {
			return requests, err
		}
		for _, b := range page.Aggregations.G.Buckets {
			fn(GroupKey{Cluster: b.Key["cluster"], Group: b.Key["group"]})
		}
		// A page short of its size is the last: no request for an empty one.
		if len(page.Aggregations.G.Buckets) < knownGroupsPage || page.Aggregations.G.AfterKey == nil {
			return requests, nil
		}
		after = page.Aggregations.G.AfterKey
	}
}

// tickCutoffs finds, per cluster, the time of the Size-th newest tick within
// (At-MaxAge, At], the start of that cluster's window, and of the tick
// before it, when there is one. The ticks are the cluster's, whatever
// q.Group says.
func tickCutoffs(ctx context.Context, es *elasticsearch.Client, index string, q WindowQuery) (start, before map[string]time.Time, err error) {
	times, err := tickTimes(ctx, es, index, q)
	if err != nil {
		return nil, nil, err
	}
	start, before = cutoffsOf(times, q)
	return start, before, nil
}

// cutoffsOf are the window starts and the ticks before them (tickCutoffs)
// among times, each cluster's newest ticks, newest first, as tickTimes reads
// them for an instant at or before q.At: those outside (At-MaxAge, At] are
// left out.
func cutoffsOf(times map[string][]Tick, q WindowQuery) (start, before map[string]time.Time) {
	if times == nil {
		return nil, nil
	}
	oldest := q.At.Add(-q.MaxAge)
	start, before = map[string]time.Time{}, map[string]time.Time{}
	for cluster, all := range times {
		var ticks []time.Time
		for _, t := range all {
			if t.Time.After(oldest) && !t.Time.After(q.At) {
				ticks = append(ticks, t.Time)
			}
		}
		if len(ticks) > q.Size {
			before[cluster] = ticks[q.Size]
			ticks = ticks[:q.Size]
		}
		if len(ticks) == 0 {
			continue
		}
		start[cluster] = ticks[len(ticks)-1]
	}
	return start, before
}

// tickTimes reads, per cluster (only q.Cluster, when set), its newest
// Size+1 tick times within (At-MaxAge, At], newest first: nil when there is
// no offsets data stream. Each tick's document count is exact: the ticks
// are the newest keys, and every shard returns its newest.
func tickTimes(ctx context.Context, es *elasticsearch.Client, index string, q WindowQuery) (map[string][]Tick, error) {
	filter := []any{map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gt": q.At.Add(-q.MaxAge).UTC().Format(time.RFC3339Nano), "lte": q.At.UTC().Format(time.RFC3339Nano)}}}}
	if q.Cluster != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.cluster.name": q.Cluster}})
	}
	body := map[string]any{
		"size":  0,
		"query": map[string]any{"bool": map[string]any{"filter": filter}},
		"aggs": map[string]any{"clusters": map[string]any{
			"terms": map[string]any{"field": "kafka.cluster.name", "size": 10000},
			"aggs": map[string]any{"ticks": map[string]any{
				"terms": map[string]any{"field": "@timestamp", "size": q.Size + 1, "order": map[string]string{"_key": "desc"}},
			}},
		}},
	}
	var out struct {
		Aggregations struct {
			Clusters struct {
				Buckets []struct {
					Key   string `json:"key"`
					Ticks struct {
						Buckets []struct {
							Key      int64 `json:"key"`
							DocCount int64 `json:"doc_count"`
						} `json:"buckets"`
					} `json:"ticks"`
				} `json:"buckets"`
			} `json:"clusters"`
		} `json:"aggregations"`
	}
	found, err := searchAggs(ctx, es, index, body, &out)
	if err != nil {
		return nil, fmt.Errorf("read windows: find tick times: %w", err)
	}
	if !found {
		return nil, nil
	}
	times := map[string][]Tick{}
	for _, c := range out.Aggregations.Clusters.Buckets {
		for _, b := range c.Ticks.Buckets {
			times[c.Key] = append(times[c.Key], Tick{Time: time.UnixMilli(b.Key).UTC(), Docs: b.DocCount})
		}
	}
	return times, nil
}

// unknownObservation, a must_not clause of every read of observations,
// leaves out the offsets documents that carry lagwatch.error: at that tick
// the partition's committed offset or its log offsets could not be read,
// so the document says nothing about the consumer, and judging it (no lag
// reads as caught up) would close incidents and flip verdicts on a read
// failure. For every reader the tick did not happen for that partition:
// its window holds the other ticks. The field is rare and indexed, so the
// clause costs little where a composite source per document would cost a
// thirteenth key.
var unknownObservation = []any{map[string]any{"exists": map[string]any{"field": "lagwatch.error"}}}

// windowSources read an offsets document from doc values as the key of a
// composite aggregation bucket: one bucket per document, in (group, topic,
// partition, time) order. An aggregation has no fetch phase, which with a
// synthetic _source would load every document's stored fields (ten times
// the cost of the search itself). Identical documents would share a bucket,
// and lose nothing. Twelve sources: each costs per document read. The lag
// is the readable lag (lagwatch.readable_lag), the one the rules judge; a
// document written before it was stored lacks it, and its lag is computed
// from the offset and newest (groupAccumulator.add), as consumer_lag was.
var windowSources = []any{
	map[string]any{"group": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.id"}}},
	map[string]any{"topic": map[string]any{"terms": map[string]any{"field": "kafka.topic.name"}}},
	map[string]any{"partition": map[string]any{"terms": map[string]any{"field": "kafka.partition.id"}}},
	map[string]any{"time": map[string]any{"terms": map[string]any{"field": "@timestamp"}}},
	map[string]any{"offset": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.offset", "missing_bucket": true}}},
	map[string]any{"lag": map[string]any{"terms": map[string]any{"field": "lagwatch.readable_lag", "missing_bucket": true}}},
	map[string]any{"newest": map[string]any{"terms": map[string]any{"field": "kafka.partition.offset.newest", "missing_bucket": true}}},
	map[string]any{"oldest": map[string]any{"terms": map[string]any{"field": "kafka.partition.offset.oldest", "missing_bucket": true}}},
	map[string]any{"state": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.state", "missing_bucket": true}}},
	map[string]any{"member": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.client.member_id", "missing_bucket": true}}},
	map[string]any{"client": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.client.id", "missing_bucket": true}}},
	map[string]any{"host": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.client.host", "missing_bucket": true}}},
}

type windowPage struct {
	Took         int64 // milliseconds
	PitID        string
	Aggregations struct {
		W struct {
			// AfterKey is the last bucket's key, to ask for the next
			// page with; nil after the last page.
			AfterKey json.RawMessage
			Buckets  []windowBucket
		}
	}
}

// windowBucket is one offsets document, a composite bucket.
type windowBucket struct {
	Key      windowDoc
	DocCount int
}

// windowDoc is an offsets document as a composite key (windowSources);
// absent fields are "" or have their Has flag false. Lag is the readable
// lag, when the document has one.
type windowDoc struct {
	Group, Topic                            string
	Partition                               int32
	Time                                    int64 // epoch milliseconds
	Offset, Lag, Newest, Oldest             int64
	HasOffset, HasLag, HasNewest, HasOldest bool
	State, Member, Client, Host             string
}

// groupAccumulator gathers sorted documents into groups, keeping each
// partition's last size observations at or after its cluster's window
// start, and the newest one before it as Before.
type groupAccumulator struct {
	size  int
	start map[string]time.Time // cluster -> window start
	cur   *evaluate.GroupWindow
}

func (a *groupAccumulator) add(cluster string, d *windowDoc) *evaluate.GroupWindow {
	var done *evaluate.GroupWindow
	if a.cur != nil && (a.cur.Cluster != cluster || a.cur.Group != d.Group) {
		done = a.flush()
	}
	if a.cur == nil {
		a.cur = &evaluate.GroupWindow{Cluster: cluster, Group: d.Group}
	}
	g := a.cur
	n := len(g.Partitions)
	if n == 0 || g.Partitions[n-1].Topic != d.Topic || g.Partitions[n-1].Partition != d.Partition {
		g.Partitions = append(g.Partitions, evaluate.PartitionWindow{Topic: d.Topic, Partition: d.Partition})
		n++
	}
	p := &g.Partitions[n-1]
	o := evaluate.Observation{Time: time.UnixMilli(d.Time).UTC()}
	o.GroupState = d.State
	o.Committed, o.HasCommitted = d.Offset, d.HasOffset
	o.Lag, o.HasLag = d.Lag, d.HasLag
	if !d.HasLag && d.HasOffset && d.HasNewest {
		// Written before the readable lag was stored: Kafka's lag, as
		// consumer_lag held it (clamped at 0).
		o.Lag, o.HasLag = max(d.Newest-d.Offset, 0), true
	}
	o.LogEnd, o.HasLogEnd = d.Newest, d.HasNewest
	o.LogStart = d.Oldest
	o.Owner, o.ClientID, o.Host = d.Member, d.Client, d.Host
	if o.Time.Before(a.start[cluster]) {
		p.Before = &o
		return done
	}
	if len(p.Obs) == a.size {
		copy(p.Obs, p.Obs[1:])
		p.Obs = p.Obs[:a.size-1]
	}
	p.Obs = append(p.Obs, o)
	return done
}

// flush hands over the current group, without the partitions that have an
// observation before the window but none in it; nil when no partition is
// left.
func (a *groupAccumulator) flush() *evaluate.GroupWindow {
	g := a.cur
	a.cur = nil
	if g == nil {
		return nil
	}
	kept := g.Partitions[:0]
	for _, p := range g.Partitions {
		if len(p.Obs) > 0 {
			kept = append(kept, p)
		}
	}
	g.Partitions = kept
	if len(kept) == 0 {
		return nil
	}
	return g
}

// Buckets per page of the group lists: the window's groups (groupChunks)
// and the known groups (KnownGroups, groupKeys).
const (
	groupListPage   = 10000
	knownGroupsPage = 5000
)

// GroupKey names a group in a cluster.
type GroupKey struct{ Cluster, Group string }

// KnownGroups lists the groups that have a group document in [from, to], in
// (cluster, group) order, paging a composite aggregation. The evaluator
// reports those without a window as NOTFOUND.
func (c *Client) KnownGroups(ctx context.Context, from, to time.Time, cluster string) ([]GroupKey, int, error) {
	var out []GroupKey
	filter := []any{map[string]any{"range": map[string]any{"@timestamp": map[string]any{
		"gte": from.UTC().Format(time.RFC3339Nano), "lte": to.UTC().Format(time.RFC3339Nano)}}}}
	if cluster != "" {
		filter = append(filter, map[string]any{"term": map[string]any{"kafka.cluster.name": cluster}})
	}
	requests, err := c.groupKeys(ctx, c.names.Groups, map[string]any{"filter": filter}, func(k GroupKey) {
		out = append(out, k)
	})
	if err != nil {
		return out, requests, fmt.Errorf("known groups: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].Group < out[j].Group
	})
	return out, requests, nil
}

// KnownClusters lists the clusters that have a group document in [from,
// to], in name order.
func (c *Client) KnownClusters(ctx context.Context, from, to time.Time) ([]string, error) {
	es, names := c.es, c.names
	var out struct {
		Aggregations struct {
			C struct {
				Buckets []struct {
					Key string `json:"key"`
				} `json:"buckets"`
			} `json:"c"`
		} `json:"aggregations"`
	}
	body := map[string]any{"size": 0,
		"query": map[string]any{"range": map[string]any{"@timestamp": map[string]any{
			"gte": from.UTC().Format(time.RFC3339Nano), "lte": to.UTC().Format(time.RFC3339Nano)}}},
		"aggs": map[string]any{"c": map[string]any{"terms": map[string]any{"field": "kafka.cluster.name", "size": 10000, "order": map[string]string{"_key": "asc"}}}}}
	found, err := searchAggs(ctx, es, names.Groups, body, &out)
	if err != nil {
		return nil, fmt.Errorf("known clusters: %w", err)
	}
	if !found {
		return nil, nil
	}
	var clusters []string
	for _, b := range out.Aggregations.C.Buckets {
		clusters = append(clusters, b.Key)
	}
	return clusters, nil
}

// searchAggs sends the search body to index and decodes the answer into
// out. A missing index, or a pattern that matches none, is no error: found
// is false then and out is untouched.
func searchAggs(ctx context.Context, es *elasticsearch.Client, index string, body, out any) (found bool, err error) {
	raw, _ := json.Marshal(body)
	res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(index), es.Search.WithBody(bytes.NewReader(raw)),
		es.Search.WithIgnoreUnavailable(true), es.Search.WithAllowNoIndices(true))
	if err != nil {
		return false, err
	}
	if err := decodeResponse(res, out); err != nil {
		if errors.Is(err, errIndexNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// groupPairs is a composite aggregation over (cluster, group) pairs, size
// buckets a page, resuming after the key a previous page ended with (nil for
// the first page).
func groupPairs[K any](size int, after map[string]K) map[string]any {
	comp := map[string]any{"size": size, "sources": []any{
		map[string]any{"cluster": map[string]any{"terms": map[string]any{"field": "kafka.cluster.name"}}},
		map[string]any{"group": map[string]any{"terms": map[string]any{"field": "kafka.consumergroup.id"}}},
	}}
	if after != nil {
		comp["after"] = after
	}
	return comp
}

// groupPage is one page of the answer to a search whose composite
// aggregation is named "g" (groupPairs): its buckets, and the key to resume
// after, nil on the last page.
type groupPage[K, B any] struct {
	Aggregations struct {
		G struct {
			AfterKey map[string]K `json:"after_key"`
			Buckets  []B          `json:"buckets"`
		} `json:"g"`
	} `json:"aggregations"`
}

var errIndexNotFound = errors.New("index not found")

// decodeResponse reads an answer into v, or returns the error Elasticsearch
// gave (errIndexNotFound for a missing index or data stream).
func decodeResponse(res *esapi.Response, v any) error {
	b, err := readResponse(res)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readResponse reads a response's body, or the error it answers.
func readResponse(res *esapi.Response) ([]byte, error) {
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.IsError() {
		if res.StatusCode == 404 && strings.Contains(string(b), "index_not_found_exception") {
			return nil, errIndexNotFound
		}
		return nil, &requestError{Status: res.StatusCode, Reason: errorReason(res.StatusCode, string(b))}
	}
	return b, nil
}

// pitKeepAlive is how long a window read's point in time outlives its
// latest page: the reader's callback may do work of its own between pages
// (the evaluator looks time lags up in batches).
const pitKeepAlive = "5m"

func openPIT(ctx context.Context, es *elasticsearch.Client, index string) (string, error) {
	res, err := es.OpenPointInTime([]string{index}, pitKeepAlive, es.OpenPointInTime.WithContext(ctx))
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
