package dashboards

// This file rebuilds what Grafana's Elasticsearch data source does with a
// query (Grafana 11 and 12): the _msearch request its backend builds for a
// panel target (pkg/tsdb/elasticsearch), the terms request of a template
// variable, the Lucene formatting of template variables, and the names of the
// fields of the table Grafana makes of a response, which transformations and
// overrides refer to. Only what the dashboards may use is supported; anything
// else is an error, so a dashboard cannot quietly rely on more.

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	esq "github.com/grafana/grafana-foundation-sdk/go/elasticsearch"
)

// metricAgg is one metric of a target, decoded from the SDK's union type.
type metricAgg struct {
	ID, Type, Field string
	// Missing is the metric's "missing" setting, "" when none.
	Missing string
	// Size is the number of documents of a raw_data metric.
	Size int
}

// bucketAgg is one bucket aggregation of a target.
type bucketAgg struct {
	ID, Type, Field string
	Terms           esq.ElasticsearchTermsSettings
	DateHistogram   esq.ElasticsearchDateHistogramSettings
}

// defaultSize is Grafana's default for a terms size and a raw_data size.
const defaultSize = 500

// metricOf decodes m. Only the aggregations that Grafana sends and that
// Elasticsearch's core has are allowed: no pipeline aggregations, no
// x-pack analytics (top_metrics, rate), no scripts.
func metricOf(m esq.MetricAggregation) (metricAgg, error) {
	field := func(f *string) string {
		if f == nil {
			return ""
		}
		return *f
	}
	withSettings := func(typ string, id string, f *string, script *esq.InlineScript, missing *string) (metricAgg, error) {
		if script != nil {
			return metricAgg{}, fmt.Errorf("metric %s (%s) uses a script: the cluster may have no Painless", id, typ)
		}
		a := metricAgg{ID: id, Type: typ, Field: field(f)}
		if missing != nil {
			a.Missing = *missing
		}
		if a.Field == "" {
			return metricAgg{}, fmt.Errorf("metric %s (%s) has no field", id, typ)
		}
		return a, nil
	}
	switch {
	case m.Count != nil:
		return metricAgg{ID: m.Count.Id, Type: "count"}, nil
	case m.Max != nil:
		s := m.Max.Settings
		if s == nil {
			s = &esq.ElasticsearchMaxSettings{}
		}
		return withSettings("max", m.Max.Id, m.Max.Field, s.Script, s.Missing)
	case m.Min != nil:
		s := m.Min.Settings
		if s == nil {
			s = &esq.ElasticsearchMinSettings{}
		}
		return withSettings("min", m.Min.Id, m.Min.Field, s.Script, s.Missing)
	case m.Average != nil:
		s := m.Average.Settings
		if s == nil {
			s = &esq.ElasticsearchAverageSettings{}
		}
		return withSettings("avg", m.Average.Id, m.Average.Field, s.Script, s.Missing)
	case m.Sum != nil:
		s := m.Sum.Settings
		if s == nil {
			s = &esq.ElasticsearchSumSettings{}
		}
		return withSettings("sum", m.Sum.Id, m.Sum.Field, s.Script, s.Missing)
	case m.RawData != nil:
		a := metricAgg{ID: m.RawData.Id, Type: "raw_data", Size: defaultSize}
		if s := m.RawData.Settings; s != nil && s.Size != nil {
			n, err := strconv.Atoi(*s.Size)
			if err != nil || n <= 0 || n > 10000 {
				return metricAgg{}, fmt.Errorf("raw_data %s: size %q is not 1 to 10000 (index.max_result_window)", a.ID, *s.Size)
			}
			a.Size = n
		}
		return a, nil
	}
	raw, _ := json.Marshal(m)
	var typ struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &typ)
	return metricAgg{}, fmt.Errorf("metric aggregation %q is not allowed: only count, min, max, avg, sum and raw_data "+
		"(no pipeline aggregations, top_metrics or rate: the cluster may lack them)", typ.Type)
}

// bucketOf decodes b: only terms and date_histogram are allowed.
func bucketOf(b esq.BucketAggregation) (bucketAgg, error) {
	switch {
	case b.Terms != nil:
		a := bucketAgg{ID: b.Terms.Id, Type: "terms"}
		if b.Terms.Field != nil {
			a.Field = *b.Terms.Field
		}
		if b.Terms.Settings != nil {
			a.Terms = *b.Terms.Settings
		}
		if a.Field == "" {
			return bucketAgg{}, fmt.Errorf("terms %s has no field", a.ID)
		}
		return a, nil
	case b.DateHistogram != nil:
		a := bucketAgg{ID: b.DateHistogram.Id, Type: "date_histogram"}
		if b.DateHistogram.Field != nil {
			a.Field = *b.DateHistogram.Field
		}
		if b.DateHistogram.Settings != nil {
			a.DateHistogram = *b.DateHistogram.Settings
		}
		return a, nil
	}
	raw, _ := json.Marshal(b)
	return bucketAgg{}, fmt.Errorf("bucket aggregation %s is not allowed: only terms and date_histogram", raw)
}

// parsedQuery is a target's aggregations, decoded and checked.
type parsedQuery struct {
	Metrics []metricAgg
	Buckets []bucketAgg
	// Raw is true for a raw_data query: documents, no aggregations.
	Raw bool
	// Query is the Lucene query before interpolation.
	Query string
}

func parseQuery(q *esq.Dataquery) (parsedQuery, error) {
	var p parsedQuery
	if q.Query != nil {
		p.Query = *q.Query
	}
	var errs []error
	ids := map[string]bool{}
	for _, m := range q.Metrics {
		a, err := metricOf(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ids[a.ID] {
			errs = append(errs, fmt.Errorf("metric id %s is used twice", a.ID))
		}
		ids[a.ID] = true
		p.Metrics = append(p.Metrics, a)
	}
	for _, b := range q.BucketAggs {
		a, err := bucketOf(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ids[a.ID] {
			errs = append(errs, fmt.Errorf("aggregation id %s is used twice", a.ID))
		}
		ids[a.ID] = true
		p.Buckets = append(p.Buckets, a)
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	switch {
	case len(p.Metrics) == 0:
		return p, errors.New("no metric")
	case p.Metrics[0].Type == "raw_data":
		if len(p.Metrics) != 1 || len(p.Buckets) != 0 {
			return p, errors.New("a raw_data query has exactly one metric and no bucket aggregation (Grafana ignores the rest)")
		}
		p.Raw = true
	case len(p.Buckets) == 0:
		return p, errors.New("a metric query needs a bucket aggregation")
	}
	for i, b := range p.Buckets {
		if b.Type == "date_histogram" && i != len(p.Buckets)-1 {
			return p, fmt.Errorf("date_histogram %s must be the last bucket aggregation (Grafana draws a series per bucket of the ones above it)", b.ID)
		}
	}
	for _, m := range p.Metrics[1:] {
		if m.Type == "raw_data" {
			return p, errors.New("raw_data must be the only metric")
		}
	}
	return p, nil
}

// timeSeries reports whether Grafana turns the response into time series
// (the last bucket aggregation is a date histogram) rather than a table.
func (p parsedQuery) timeSeries() bool {
	return !p.Raw && p.Buckets[len(p.Buckets)-1].Type == "date_histogram"
}

// search is one search of an _msearch request: header line and body line.
type search struct {
	Header map[string]any `json:"header"`
	Body   map[string]any `json:"body"`
}

// searchParams are what Grafana adds to a target: the data source's index and
// time field, the time range, the interval and the interpolated query.
type searchParams struct {
	Index, TimeField string
	From, To         time.Time
	Interval         time.Duration
	Query            string
}

func msearchHeader(index string) map[string]any {
	return map[string]any{"search_type": "query_then_fetch", "ignore_unavailable": true, "index": index}
}

// rangeFilter is the time range on the data source's time field.
func rangeFilter(p searchParams) map[string]any {
	return map[string]any{"range": map[string]any{p.TimeField: map[string]any{
		"gte": p.From.UnixMilli(), "lte": p.To.UnixMilli(), "format": "epoch_millis"}}}
}

func queryStringFilter(q string) map[string]any {
	return map[string]any{"query_string": map[string]any{"analyze_wildcard": true, "query": q}}
}

// backendFilter is the bool query Grafana's backend puts around a panel
// query: the time range, then the Lucene query unless it is blank. Its
// BoolQuery marshals a single filter as an object, several as a list.
func backendFilter(p searchParams) map[string]any {
	if strings.TrimSpace(p.Query) == "" {
		return map[string]any{"bool": map[string]any{"filter": rangeFilter(p)}}
	}
	return map[string]any{"bool": map[string]any{"filter": []any{rangeFilter(p), queryStringFilter(p.Query)}}}
}

// frontendFilter is the bool query of the frontend's terms query for a
// variable: always a list.
func frontendFilter(p searchParams) map[string]any {
	filter := []any{rangeFilter(p)}
	if p.Query != "" {
		filter = append(filter, queryStringFilter(p.Query))
	}
	return map[string]any{"bool": map[string]any{"filter": filter}}
}

var leadingMetricID = regexp.MustCompile(`^\d+`)

// buildSearch is the search Grafana's backend sends for q.
func buildSearch(q parsedQuery, p searchParams) (search, error) {
	body := map[string]any{"query": backendFilter(p)}
	if q.Raw {
		// processDocumentQuery: newest first (the builder keeps sort in a
		// map), the time field as doc value.
		body["size"] = q.Metrics[0].Size
		body["sort"] = map[string]any{
			p.TimeField: map[string]any{"order": "desc", "unmapped_type": "boolean"},
			"_doc":      map[string]any{"order": "desc"},
		}
		body["docvalue_fields"] = []string{p.TimeField}
		body["script_fields"] = map[string]any{}
		return search{Header: msearchHeader(p.Index), Body: body}, nil
	}
	body["size"] = 0
	root := map[string]any{}
	level := root
	for _, b := range q.Buckets {
		node := map[string]any{}
		children := map[string]any{}
		switch b.Type {
		case "date_histogram":
			agg, err := dateHistogram(b, p)
			if err != nil {
				return search{}, err
			}
			node["date_histogram"] = agg
		case "terms":
			agg, err := termsAgg(b, q.Metrics, children)
			if err != nil {
				return search{}, err
			}
			node["terms"] = agg
		}
		node["aggs"] = children
		level[b.ID] = node
		level = children
	}
	for _, m := range q.Metrics {
		if m.Type == "count" {
			continue // Grafana reads doc_count
		}
		level[m.ID] = metricJSON(m)
	}
	pruneEmptyAggs(root)
	body["aggs"] = root
	return search{Header: msearchHeader(p.Index), Body: body}, nil
}

func metricJSON(m metricAgg) map[string]any {
	agg := map[string]any{"field": m.Field}
	if m.Missing != "" {
		agg["missing"] = m.Missing
	}
	return map[string]any{m.Type: agg}
}

// pruneEmptyAggs drops the "aggs" of aggregations that have none, as
// Grafana's builder omits them.
func pruneEmptyAggs(level map[string]any) {
	for _, v := range level {
		node, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if children, ok := node["aggs"].(map[string]any); ok {
			if len(children) == 0 {
				delete(node, "aggs")
			} else {
				pruneEmptyAggs(children)
			}
		}
	}
}

func dateHistogram(b bucketAgg, p searchParams) (map[string]any, error) {
	s := b.DateHistogram
	field := b.Field
	if field == "" {
		field = p.TimeField
	}
	agg := map[string]any{"field": field, "format": "epoch_millis",
		"extended_bounds": map[string]any{"min": p.From.UnixMilli(), "max": p.To.UnixMilli()}}
	interval := "auto"
	if s.Interval != nil && *s.Interval != "" {
		interval = *s.Interval
	}
	switch {
	case interval == "auto":
		// Grafana writes "$__interval_msms" and replaces $__interval_ms.
		agg["fixed_interval"] = strconv.FormatInt(p.Interval.Milliseconds(), 10) + "ms"
	case interval == "$__interval":
		// Grafana's request encoder writes the interval as a Go duration.
		agg["fixed_interval"] = p.Interval.String()
	case slices.Contains([]string{"1w", "1M", "1q", "1y"}, interval):
		agg["calendar_interval"] = interval
	default:
		if _, err := time.ParseDuration(interval); err != nil {
			return nil, fmt.Errorf("date_histogram %s: interval %q is not auto, $__interval or a fixed interval", b.ID, interval)
		}
		agg["fixed_interval"] = interval
	}
	minDocs := 0
	if s.MinDocCount != nil {
		n, err := strconv.Atoi(*s.MinDocCount)
		if err != nil {
			return nil, fmt.Errorf("date_histogram %s: min_doc_count %q: %w", b.ID, *s.MinDocCount, err)
		}
		minDocs = n
	}
	agg["min_doc_count"] = minDocs
	if (s.Offset != nil && *s.Offset != "") || (s.TimeZone != nil && *s.TimeZone != "" && *s.TimeZone != "utc") {
		return nil, fmt.Errorf("date_histogram %s: offset and time zone are not supported here", b.ID)
	}
	return agg, nil
}

// termsAgg is Grafana's addTermsAgg. Ordering by a metric adds that metric
// to the terms aggregation's children, as Grafana does.
func termsAgg(b bucketAgg, metrics []metricAgg, children map[string]any) (map[string]any, error) {
	s := b.Terms
	size := defaultSize
	if s.Size != nil {
		n, err := strconv.Atoi(*s.Size)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("terms %s: size %q is not a number", b.ID, *s.Size)
		}
		if n > 0 {
			size = n
		}
	}
	order := map[string]any{}
	agg := map[string]any{"field": b.Field, "size": size, "order": order}
	if s.MinDocCount != nil {
		n, err := strconv.Atoi(*s.MinDocCount)
		if err != nil {
			return nil, fmt.Errorf("terms %s: min_doc_count %q: %w", b.ID, *s.MinDocCount, err)
		}
		agg["min_doc_count"] = n
	}
	if s.Missing != nil {
		agg["missing"] = *s.Missing
	}
	if s.OrderBy != nil {
		dir := "desc"
		if s.Order != nil {
			dir = string(*s.Order)
		}
		by := *s.OrderBy
		switch id := leadingMetricID.FindString(by); {
		case id != "":
			i := slices.IndexFunc(metrics, func(m metricAgg) bool { return m.ID == id })
			if i < 0 {
				return nil, fmt.Errorf("terms %s is ordered by metric %s, which the query does not have", b.ID, id)
			}
			if metrics[i].Type == "count" {
				order["_count"] = dir
			} else {
				order[by] = dir
				children[id] = metricJSON(metrics[i])
			}
		case by == "_term":
			order["_key"] = dir // the aggregation builder renames it
		case by == "_key" || by == "_count":
			order[by] = dir
		default:
			return nil, fmt.Errorf("terms %s: orderBy %q is not _key, _term, _count or a metric id", b.ID, by)
		}
	}
	return agg, nil
}

// variableQuery is the JSON query of an Elasticsearch template variable.
type variableQuery struct {
	Find    string `json:"find"`
	Field   string `json:"field"`
	Query   string `json:"query,omitempty"`
	Size    int    `json:"size,omitempty"`
	OrderBy string `json:"orderBy,omitempty"`
	Order   string `json:"order,omitempty"`
}

func parseVariableQuery(s string) (variableQuery, error) {
	var v variableQuery
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("variable query %s: %w", s, err)
	}
	if v.Find != "terms" || v.Field == "" {
		return v, fmt.Errorf(`variable query %s: want {"find": "terms", "field": ...}`, s)
	}
	return v, nil
}

// buildVariableSearch is Grafana's getTermsQuery for a variable; p.Query is
// the variable's interpolated query.
func buildVariableSearch(v variableQuery, p searchParams) (search, error) {
	size := defaultSize
	if v.Size > 0 {
		size = v.Size
	}
	by, dir := v.OrderBy, v.Order
	if by == "" {
		by = "key"
	}
	if dir == "" {
		dir = "asc"
		if by == "doc_count" {
			dir = "desc"
		}
	}
	order := map[string]any{}
	switch by {
	case "key", "term":
		order["_key"] = dir
	case "doc_count":
		order["_count"] = dir
	default:
		return search{}, fmt.Errorf("variable orderBy %q", by)
	}
	body := map[string]any{"size": 0, "query": frontendFilter(p),
		"aggs": map[string]any{"1": map[string]any{"terms": map[string]any{"field": v.Field, "size": size, "order": order}}}}
	return search{Header: msearchHeader(p.Index), Body: body}, nil
}

// variable is a template variable's selection while a query runs.
type variable struct {
	Values []string
	// Multi formats the values as a Lucene OR list, even one value.
	Multi bool
	// All is the All option: AllValue, unformatted (Grafana skips the
	// format of a custom all value).
	All      bool
	AllValue string
}

var varRef = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// variableRefs lists the names of the template variables s refers to.
func variableRefs(s string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// interpolateLucene replaces template variables with Grafana's "lucene"
// format, as the Elasticsearch data source does for queries.
func interpolateLucene(s string, vars map[string]variable) (string, error) {
	var errs []error
	out := varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := vars[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("unknown variable $%s", name))
			return ref
		case v.All:
			return v.AllValue
		case !v.Multi && len(v.Values) == 1:
			return luceneEscape(v.Values[0])
		case len(v.Values) == 0:
			return "__empty__"
		}
		quoted := make([]string, len(v.Values))
		for i, s := range v.Values {
			quoted[i] = `"` + luceneEscape(s) + `"`
		}
		return "(" + strings.Join(quoted, " OR ") + ")"
	})
	return out, errors.Join(errs...)
}

var luceneSpecial = regexp.MustCompile(`([!*+\-=<>\s&|()\[\]{}^~?:\\/"])`)

// luceneEscape is Grafana's luceneEscape: numbers as they are, otherwise a
// backslash before each Lucene operator character.
func luceneEscape(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return luceneSpecial.ReplaceAllString(s, `\$1`)
}

// rawMetaColumns are the fields Grafana adds to every raw_data row.
var rawMetaColumns = []string{"_id", "_index", "_type", "highlight", "sort"}

// metricColumn is the name Grafana gives a metric's column in a table: the
// metric's name, followed by its field when the query has another metric
// of the same type.
func metricColumn(m metricAgg, all []metricAgg) string {
	name := map[string]string{"count": "Count", "avg": "Average", "sum": "Sum", "min": "Min", "max": "Max"}[m.Type]
	n := 0
	for _, o := range all {
		if o.Type == m.Type {
			n++
		}
	}
	if n > 1 {
		name += " " + m.Field
	}
	return name
}

// tableColumns are the fields of the table Grafana makes of an aggregation
// query whose last bucket aggregation is terms: one per bucket aggregation
// (named by its field) and one per metric. For raw data the fields are the
// documents' own: mapped (the flattened mapping) plus rawMetaColumns.
func tableColumns(q parsedQuery, mapped []string) []string {
	if q.Raw {
		return append(slices.Clone(mapped), rawMetaColumns...)
	}
	var cols []string
	for _, b := range q.Buckets {
		cols = append(cols, b.Field)
	}
	for _, m := range q.Metrics {
		cols = append(cols, metricColumn(m, q.Metrics))
	}
	return cols
}

// tableRows turns an aggregation response into the rows of Grafana's table:
// above the last bucket aggregation a key is a string (key_as_string when
// there is one), at the last one it is the key itself; metrics are their
// value, count the doc_count.
func tableRows(q parsedQuery, aggs map[string]any) []map[string]any {
	var rows []map[string]any
	var walk func(level map[string]any, depth int, props map[string]any)
	walk = func(level map[string]any, depth int, props map[string]any) {
		b := q.Buckets[depth]
		node, _ := level[b.ID].(map[string]any)
		buckets, _ := node["buckets"].([]any)
		for _, x := range buckets {
			bucket, _ := x.(map[string]any)
			if depth < len(q.Buckets)-1 {
				next := map[string]any{}
				for k, v := range props {
					next[k] = v
				}
				key := bucket["key"]
				if s, ok := bucket["key_as_string"].(string); ok {
					key = s
				} else if f, ok := key.(float64); ok {
					key = strconv.FormatInt(int64(f), 10)
				}
				next[b.Field] = key
				walk(bucket, depth+1, next)
				continue
			}
			row := map[string]any{}
			for k, v := range props {
				row[k] = v
			}
			row[b.Field] = bucket["key"]
			for _, m := range q.Metrics {
				name := metricColumn(m, q.Metrics)
				if m.Type == "count" {
					row[name] = bucket["doc_count"]
					continue
				}
				v, _ := bucket[m.ID].(map[string]any)
				row[name] = v["value"]
			}
			rows = append(rows, row)
		}
	}
	walk(aggs, 0, map[string]any{})
	return rows
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
