package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// esHTTP is a minimal Elasticsearch client for the benchmark's own requests
// (stats, force-merge, reading back, the comparison index). The collector
// under test uses its own.
type esHTTP struct {
	base string
	hc   *http.Client
}

func newESHTTP(base string) *esHTTP {
	return &esHTTP{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 15 * time.Minute}}
}

// do sends a request and decodes a 2xx JSON answer into out (when not nil).
// Any other status is an error quoting the body.
func (e *esHTTP) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := e.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		if len(b) > 1000 {
			b = b[:1000]
		}
		return &esError{Status: res.StatusCode, What: method + " " + path, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

type esError struct {
	Status     int
	What, Body string
}

func (e *esError) Error() string { return fmt.Sprintf("%s: HTTP %d: %s", e.What, e.Status, e.Body) }

func (e *esError) is(status int) bool { return e != nil && e.Status == status }

func (e *esHTTP) json(ctx context.Context, method, path string, body any, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	return e.do(ctx, method, path, "application/json", b, out)
}

// version is the node's Elasticsearch version (GET / is not there on every
// distribution; the nodes info API is).
func (e *esHTTP) version(ctx context.Context) string {
	var out struct {
		Nodes map[string]struct {
			Version string `json:"version"`
			JVM     struct {
				Mem struct {
					HeapMax int64 `json:"heap_max_in_bytes"`
				} `json:"mem"`
			} `json:"jvm"`
		} `json:"nodes"`
	}
	if err := e.json(ctx, http.MethodGet, "/_nodes/_local/jvm?filter_path=nodes.*.version,nodes.*.jvm.mem.heap_max_in_bytes", nil, &out); err != nil {
		return "unknown"
	}
	// The shards the node already holds: tests leave data streams behind
	// (this Elasticsearch cannot delete them), and a node holding 2,033
	// indices took about twice as long to index a tick as the same node
	// after `scripts/testenv reset` (docs/BENCHMARKS.md).
	var health struct {
		Shards int `json:"active_primary_shards"`
	}
	shards := "?"
	if err := e.json(ctx, http.MethodGet, "/_cluster/health", nil, &health); err == nil {
		shards = thousands(int64(health.Shards))
	}
	for _, n := range out.Nodes {
		return fmt.Sprintf("%s (heap %s; %s primary shards at the start)", n.Version, mib(n.JVM.Mem.HeapMax), shards)
	}
	return "unknown"
}

// storeStats is one index's (or data stream's) primaries on disk.
type storeStats struct {
	Label    string
	Index    string
	Docs     int64
	Bytes    int64
	Segments int64
	// Mapping says how the comparison's string fields were mapped.
	Mapping string
	Took    time.Duration // writing the copy, for the comparison indices
	// Usage splits the store by part (see diskUsage); nil when unknown.
	Usage map[string]int64
}

func (s storeStats) BytesPerDoc() float64 {
	if s.Docs == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Docs)
}

// compact refreshes target, force-merges it to one segment and reads its
// primaries' store size, document count and segment count.
func (e *esHTTP) compact(ctx context.Context, target string) (storeStats, error) {
	st := storeStats{Index: target}
	p := "/" + url.PathEscape(target)
	if err := e.do(ctx, http.MethodPost, p+"/_refresh", "", nil, nil); err != nil {
		return st, err
	}
	if err := e.do(ctx, http.MethodPost, p+"/_forcemerge?max_num_segments=1", "", nil, nil); err != nil {
		return st, err
	}
	if err := e.do(ctx, http.MethodPost, p+"/_refresh", "", nil, nil); err != nil {
		return st, err
	}
	var out struct {
		All struct {
			Primaries struct {
				Docs struct {
					Count int64 `json:"count"`
				} `json:"docs"`
				Store struct {
					Size int64 `json:"size_in_bytes"`
				} `json:"store"`
				Segments struct {
					Count int64 `json:"count"`
				} `json:"segments"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if err := e.json(ctx, http.MethodGet, p+"/_stats/store,docs,segments", nil, &out); err != nil {
		return st, err
	}
	pr := out.All.Primaries
	st.Docs, st.Bytes, st.Segments = pr.Docs.Count, pr.Store.Size, pr.Segments.Count
	return st, nil
}

// offsetsDoc is the part of a lagwatch offsets document that a Burrow row
// carries.
type offsetsDoc struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Cluster struct {
			Name string `json:"name"`
		} `json:"cluster"`
		ConsumerGroup struct {
			ID          string `json:"id"`
			Offset      *int64 `json:"offset"`
			ConsumerLag *int64 `json:"consumer_lag"`
			Client      *struct {
				ID   string `json:"id"`
				Host string `json:"host"`
			} `json:"client"`
		} `json:"consumergroup"`
		Topic struct {
			Name string `json:"name"`
		} `json:"topic"`
		Partition struct {
			ID int `json:"id"`
		} `json:"partition"`
	} `json:"kafka"`
}

// readBackWhere calls fn with the _id and _source of every document of
// target that query matches (all of them when query is nil), through a point
// in time.
func (e *esHTTP) readBackWhere(ctx context.Context, target string, query any, fn func(id string, src json.RawMessage) error) error {
	var pit struct {
		ID string `json:"id"`
	}
	if err := e.json(ctx, http.MethodPost, "/"+url.PathEscape(target)+"/_pit?keep_alive=5m", nil, &pit); err != nil {
		return err
	}
	defer func() {
		_ = e.json(context.WithoutCancel(ctx), http.MethodDelete, "/_pit", map[string]string{"id": pit.ID}, nil)
	}()
	var after json.RawMessage
	for {
		q := map[string]any{
			"size": 10000,
			"pit":  map[string]any{"id": pit.ID, "keep_alive": "5m"},
			"sort": []any{map[string]string{"_shard_doc": "asc"}},
		}
		if after != nil {
			q["search_after"] = after
		}
		if query != nil {
			q["query"] = query
		}
		var res struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
					Sort   json.RawMessage `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := e.json(ctx, http.MethodPost, "/_search", q, &res); err != nil {
			return err
		}
		if len(res.Hits.Hits) == 0 {
			return nil
		}
		for _, h := range res.Hits.Hits {
			if err := fn(h.ID, h.Source); err != nil {
				return err
			}
		}
		after = res.Hits.Hits[len(res.Hits.Hits)-1].Sort
		if res.PitID != "" {
			pit.ID = res.PitID
		}
	}
}

// telegrafHost is the value of Telegraf's global "host" tag in the
// comparison rows: Telegraf adds the agent's host name to every metric.
const telegrafHost = "telegraf-1.example.internal"

// appendTelegrafDoc appends the row d as Telegraf's Elasticsearch output
// stores a Burrow plugin burrow_partition metric: tags under "tag", fields
// under the measurement's name. Burrow's fields: lag (current lag, 0 when
// none), offset (the committed offset), status and its code, timestamp (the
// offset's time in ms; the snapshot time stands in). Its tags: cluster,
// group, topic, partition, and owner when a member owns the partition.
func appendTelegrafDoc(b []byte, src json.RawMessage) ([]byte, error) {
	var d offsetsDoc
	if err := json.Unmarshal(src, &d); err != nil {
		return b, fmt.Errorf("decode offsets document: %w", err)
	}
	ts, err := time.Parse(time.RFC3339Nano, d.Timestamp)
	if err != nil {
		return b, fmt.Errorf("offsets document @timestamp %q: %w", d.Timestamp, err)
	}
	tags := map[string]string{
		"cluster":   d.Kafka.Cluster.Name,
		"group":     d.Kafka.ConsumerGroup.ID,
		"topic":     d.Kafka.Topic.Name,
		"partition": strconv.Itoa(d.Kafka.Partition.ID),
		"host":      telegrafHost,
	}
	if c := d.Kafka.ConsumerGroup.Client; c != nil && c.Host != "" {
		tags["owner"] = c.Host
	}
	var lag, offset int64
	if p := d.Kafka.ConsumerGroup.ConsumerLag; p != nil {
		lag = *p
	}
	if p := d.Kafka.ConsumerGroup.Offset; p != nil {
		offset = *p
	}
	doc := map[string]any{
		"@timestamp":       ts, // encoding/json writes RFC 3339, as Telegraf does
		"measurement_name": "burrow_partition",
		"tag":              tags,
		"burrow_partition": map[string]any{
			"lag":         lag,
			"offset":      offset,
			"status":      "OK",
			"status_code": 1,
			"timestamp":   ts.UnixMilli(),
		},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return b, err
	}
	b = append(b, `{"index":{}}`+"\n"...)
	b = append(b, line...)
	return append(b, '\n'), nil
}

// telegrafTemplate is the index template Telegraf's Elasticsearch output
// installs for Elasticsearch 7 and later when manage_template is true, as its
// sample configuration sets it (as a legacy template there; the settings and
// mappings are the same).
const telegrafTemplate = `{
  "index_patterns": [%q],
  "priority": 500,
  "template": {
    "settings": {"index": {"refresh_interval": "10s", "mapping.total_fields.limit": 5000,
      "auto_expand_replicas": "0-1", "codec": "best_compression"}},
    "mappings": {
      "properties": {"@timestamp": {"type": "date"}, "measurement_name": {"type": "keyword"}},
      "dynamic_templates": [
        {"tags": {"match_mapping_type": "string", "path_match": "tag.*", "mapping": {"ignore_above": 512, "type": "keyword"}}},
        {"metrics_long": {"match_mapping_type": "long", "mapping": {"type": "float", "index": false}}},
        {"metrics_double": {"match_mapping_type": "double", "mapping": {"type": "float", "index": false}}},
        {"text_fields": {"match": "*", "mapping": {"norms": false}}}
      ]
    }
  }
}`

// comparison is another way of storing the same rows.
type comparison struct {
	Label string
	Index string
	// Template, when set, is installed (named like the index) before the
	// first write and deleted afterwards.
	Template string
	// Create is the body of the index creation; empty means Elasticsearch's
	// defaults (and dynamic mapping, unless Template says otherwise).
	Create []byte
	// Row appends the bulk action and document for one offsets document;
	// nil copies the document with its id.
	Row func(b []byte, src json.RawMessage) ([]byte, error)
}

// appendSameDoc appends the offsets document unchanged, for Elasticsearch to
// give it an automatic id.
func appendSameDoc(b []byte, src json.RawMessage) ([]byte, error) {
	b = append(b, `{"create":{}}`+"\n"...)
	b = append(b, src...)
	return append(b, '\n'), nil
}

// writeComparison copies every offsets document of stream into a new index
// as c.Row makes them, force-merges it and measures it, then deletes the index
// (and its template). The index must not exist.
func (e *esHTTP) writeComparison(ctx context.Context, stream string, c comparison, log *slog.Logger) (st storeStats, err error) {
	st.Label, st.Index = c.Label, c.Index
	start := time.Now()
	ip := "/" + url.PathEscape(c.Index)
	tp := "/_index_template/" + url.PathEscape(c.Index)
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		var ee *esError
		if derr := e.do(dctx, http.MethodDelete, ip, "", nil, nil); derr != nil && !(errors.As(derr, &ee) && ee.is(http.StatusNotFound)) {
			err = errors.Join(err, derr)
		}
		if c.Template != "" {
			if derr := e.do(dctx, http.MethodDelete, tp, "", nil, nil); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()

	if c.Template != "" {
		if err := e.do(ctx, http.MethodPut, tp, "application/json", []byte(c.Template), nil); err != nil {
			return st, err
		}
	} else if c.Create == nil {
		// Say so when some other template would shape the index.
		var sim struct {
			Overlapping []struct {
				Name string `json:"name"`
			} `json:"overlapping"`
			Template struct {
				Mappings json.RawMessage `json:"mappings"`
			} `json:"template"`
		}
		err := e.json(ctx, http.MethodPost, "/_index_template/_simulate_index/"+url.PathEscape(c.Index), nil, &sim)
		if err == nil && len(sim.Template.Mappings) > 0 && string(sim.Template.Mappings) != "{}" {
			return st, fmt.Errorf("an index template matches %s; choose another -prefix", c.Index)
		}
	}
	// Create it explicitly: PUT without a body is Elasticsearch's defaults
	// (plus the template, when one matches).
	if err := e.do(ctx, http.MethodPut, ip, "application/json", c.Create, nil); err != nil {
		return st, err
	}

	var buf []byte
	var sent int64
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := bulkAllCreated(ctx, e, ip+"/_bulk", buf); err != nil {
			return fmt.Errorf("bulk into %s: %w", c.Index, err)
		}
		buf = buf[:0]
		return nil
	}
	err = e.readBackWhere(ctx, stream, nil, func(id string, src json.RawMessage) error {
		if c.Row == nil {
			buf = append(buf, `{"create":{"_id":`...)
			buf = strconv.AppendQuote(buf, id)
			buf = append(buf, "}}\n"...)
			buf = append(buf, src...)
			buf = append(buf, '\n')
		} else {
			var err error
			if buf, err = c.Row(buf, src); err != nil {
				return err
			}
		}
		sent++
		if len(buf) >= 5<<20 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st, err
	}
	st.Took = time.Since(start)

	merged, err := e.compact(ctx, c.Index)
	if err != nil {
		return st, err
	}
	st.Docs, st.Bytes, st.Segments = merged.Docs, merged.Bytes, merged.Segments
	if st.Docs != sent {
		return st, fmt.Errorf("%s holds %d documents, %d were sent", c.Index, st.Docs, sent)
	}
	if c.Create == nil {
		st.Mapping = e.describeMapping(ctx, c.Index)
	}
	if st.Usage, err = e.diskUsage(ctx, c.Index); err != nil {
		return st, err
	}
	log.Info("comparison index measured", "index", c.Index, "docs", st.Docs, "bytes", st.Bytes, "segments", st.Segments, "mapping", st.Mapping)
	return st, nil
}

// describeMapping says how tag.group and burrow_partition.lag were mapped.
func (e *esHTTP) describeMapping(ctx context.Context, index string) string {
	var out map[string]struct {
		Mappings struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"mappings"`
	}
	if err := e.json(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_mapping", nil, &out); err != nil {
		return "unknown"
	}
	type field struct {
		Type   string                     `json:"type"`
		Index  *bool                      `json:"index"`
		Fields map[string]json.RawMessage `json:"fields"`
		Props  map[string]field           `json:"properties"`
	}
	desc := func(f field) string {
		s := f.Type
		for name := range f.Fields {
			var sub field
			_ = json.Unmarshal(f.Fields[name], &sub)
			s += " + ." + name + " " + sub.Type
		}
		if f.Index != nil && !*f.Index {
			s += " (not indexed)"
		}
		return s
	}
	for _, m := range out {
		var tag, bp field
		_ = json.Unmarshal(m.Mappings.Properties["tag"], &tag)
		_ = json.Unmarshal(m.Mappings.Properties["burrow_partition"], &bp)
		return "tags: " + desc(tag.Props["group"]) + "; numbers: " + desc(bp.Props["lag"])
	}
	return "unknown"
}

// Parts of a store that diskUsage reports.
const (
	partSource   = "_source"
	partID       = "_id"
	partMeta     = "_seq_no, _version, _primary_term"
	partTerms    = "other fields: inverted index (terms)"
	partPoints   = "other fields: points (numbers, dates)"
	partDocVals  = "other fields: doc values"
	partStored   = "other fields: stored"
	partNorms    = "other fields: norms"
	partOverhead = "segment files not attributed to a field"
)

var usageParts = []string{partSource, partID, partMeta, partTerms, partPoints, partDocVals, partStored, partNorms, partOverhead}

// diskUsage asks Elasticsearch's analyze-disk-usage API how target's bytes
// split between _source, _id, metadata and the fields' structures.
func (e *esHTTP) diskUsage(ctx context.Context, target string) (map[string]int64, error) {
	type sizes struct {
		Total    int64 `json:"total_in_bytes"`
		Inverted struct {
			Total int64 `json:"total_in_bytes"`
		} `json:"inverted_index"`
		Stored    int64 `json:"stored_fields_in_bytes"`
		DocValues int64 `json:"doc_values_in_bytes"`
		Points    int64 `json:"points_in_bytes"`
		Norms     int64 `json:"norms_in_bytes"`
	}
	var out map[string]json.RawMessage
	if err := e.json(ctx, http.MethodPost, "/"+url.PathEscape(target)+"/_disk_usage?run_expensive_tasks=true", nil, &out); err != nil {
		return nil, err
	}
	u := map[string]int64{}
	for name, raw := range out {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var idx struct {
			Store     int64            `json:"store_size_in_bytes"`
			AllFields sizes            `json:"all_fields"`
			Fields    map[string]sizes `json:"fields"`
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("disk usage of %s: %w", name, err)
		}
		u[partOverhead] += idx.Store - idx.AllFields.Total
		for f, s := range idx.Fields {
			switch f {
			case "_source":
				u[partSource] += s.Total
			case "_id":
				u[partID] += s.Total
			case "_seq_no", "_version", "_primary_term":
				u[partMeta] += s.Total
			default:
				u[partTerms] += s.Inverted.Total
				u[partPoints] += s.Points
				u[partDocVals] += s.DocValues
				u[partStored] += s.Stored
				u[partNorms] += s.Norms
			}
		}
	}
	return u, nil
}

// templateOf returns the settings and mappings of the index template that
// shaped stream, as the body of an index creation.
func (e *esHTTP) templateOf(ctx context.Context, stream string) ([]byte, error) {
	var out struct {
		IndexTemplates []struct {
			IndexTemplate struct {
				Template struct {
					Settings json.RawMessage `json:"settings"`
					Mappings json.RawMessage `json:"mappings"`
				} `json:"template"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := e.json(ctx, http.MethodGet, "/_index_template/"+url.PathEscape(stream), nil, &out); err != nil {
		return nil, err
	}
	if len(out.IndexTemplates) != 1 {
		return nil, fmt.Errorf("index template %s: %d found", stream, len(out.IndexTemplates))
	}
	t := out.IndexTemplates[0].IndexTemplate.Template
	return json.Marshal(map[string]json.RawMessage{"settings": t.Settings, "mappings": t.Mappings})
}

// withSetting returns the index creation body create with settings.index.key
// replaced by value.
func withSetting(create []byte, key string, value any) ([]byte, error) {
	var body struct {
		Settings struct {
			Index map[string]any `json:"index"`
		} `json:"settings"`
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal(create, &body); err != nil {
		return nil, fmt.Errorf("index creation body: %w", err)
	}
	if body.Settings.Index == nil {
		return nil, errors.New("index creation body: no settings.index")
	}
	body.Settings.Index[key] = value
	return json.Marshal(body)
}
