package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// history is what seedHistory wrote: ten collector ticks, 30 s apart, of two
// clusters, with the evaluator's verdicts and incidents beside them.
type history struct {
	names esindex.Names
	ticks []time.Time
	// lastTotalLag is the lagging group's total readable lag at the last
	// tick (a commit marker and an open transaction less than Kafka's).
	lastTotalLag int64
}

const (
	prodCluster  = "prod-eu"
	stageCluster = "stage"
	laggingGroup = "orders-consumer.v2"
	healthyGroup = "billing"
	stageGroup   = "audit"
	seedTicks    = 10
	tickEvery    = 30 * time.Second
)

// testSelection is what the Elasticsearch test selects: names with Lucene
// operators in them, several values for multi-value variables.
var testSelection = selection{"cluster": {prodCluster}, "group": {laggingGroup}, "topic": {"orders", "payments-eu"}}

// multiSelection is the selection of multi-value cluster variables.
var multiSelection = selection{"cluster": {prodCluster, stageCluster}}

var (
	ordersOwner  = snapshot.Member{MemberID: "orders-1-3f2a", ClientID: "orders-1", Host: "/10.0.0.1", Assigned: map[string][]int32{"orders": {0, 1}, "payments-eu": {0}}}
	paymentOwner = snapshot.Member{MemberID: "orders-2-9c1b", ClientID: "orders-2", Host: "/10.0.0.2", Assigned: map[string][]int32{"payments-eu": {1}}}
	billingOwner = snapshot.Member{MemberID: "billing-1-77aa", ClientID: "billing-1", Host: "/10.0.0.3", Assigned: map[string][]int32{"payments-eu": {0, 1}}}
	auditOwner   = snapshot.Member{MemberID: "audit-1-0001", ClientID: "audit-1", Host: "/10.1.0.1", Assigned: map[string][]int32{"audit-log": {0}}}
)

// prodSnapshot is tick i of the prod cluster. The lagging group falls
// behind on orders/0 and orders/1 (whose log start closes in on the
// commit), has stopped on orders/2 (no owner), is caught up on
// payments-eu/0 and has lost messages to retention on payments-eu/1.
func prodSnapshot(at time.Time, i int) snapshot.Snapshot {
	n := int64(i)
	m1, m2, b1 := ordersOwner, paymentOwner, billingOwner
	return snapshot.Snapshot{Cluster: prodCluster, ClusterID: "pK2x", Time: at, Groups: []snapshot.Group{
		{ID: healthyGroup, State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{b1}, Partitions: []snapshot.Partition{
			{Topic: "payments-eu", Partition: 0, Committed: 1995 + 10*n, HasCommitted: true, LogEnd: 2000 + 10*n, HasOffsets: true, Owner: &b1},
			{Topic: "payments-eu", Partition: 1, Committed: 2995 + 10*n, HasCommitted: true, LogEnd: 3000 + 10*n, HasOffsets: true, Owner: &b1},
		}},
		{ID: laggingGroup, State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{m1, m2}, Partitions: []snapshot.Partition{
			{Topic: "orders", Partition: 0, Committed: 900 + 20*n, HasCommitted: true, LogEnd: 1000 + 100*n, HasOffsets: true, Owner: &m1},
			{Topic: "orders", Partition: 1, Committed: 900 + 20*n, HasCommitted: true, LogEnd: 1000 + 100*n, LogStart: 880 + 20*n, HasOffsets: true, Owner: &m1},
			{Topic: "orders", Partition: 2, Committed: 500, HasCommitted: true, Skipped: 1, LogEnd: 500 + 50*n, HasOffsets: true},
			{Topic: "payments-eu", Partition: 0, Committed: 2000 + 10*n, HasCommitted: true, LogEnd: 2000 + 10*n, HasOffsets: true, Owner: &m1},
			{Topic: "payments-eu", Partition: 1, Committed: 2000, HasCommitted: true, LogEnd: 3000 + 10*n, Pending: 7, LogStart: 2500, HasOffsets: true, Owner: &m2},
		}},
	}}
}

func stageSnapshot(at time.Time, i int) snapshot.Snapshot {
	a := auditOwner
	return snapshot.Snapshot{Cluster: stageCluster, ClusterID: "sT9q", Time: at, Groups: []snapshot.Group{
		{ID: stageGroup, State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{a}, Partitions: []snapshot.Partition{
			{Topic: "audit-log", Partition: 0, Committed: 50 + int64(i), HasCommitted: true, LogEnd: 50 + int64(i), HasOffsets: true, Owner: &a},
		}},
	}}
}

// tickDoc is how tick i went for cluster: mostly fine, with a failed
// document, an error, a spooled tick and its replay along the way.
func tickDoc(at time.Time, cluster string, i int) esindex.TickDoc {
	d := esindex.TickDoc{Time: at, Cluster: cluster, Result: "ok", TickDuration: 800*time.Millisecond + time.Duration(i)*50*time.Millisecond,
		ReadDuration: 400 * time.Millisecond, Groups: 2, Partitions: 7, KafkaRequests: 14, Written: 9}
	if cluster != prodCluster {
		return d
	}
	switch i {
	case 2:
		d.PartitionErrors = 1
	case 3:
		d.NegativeLags = 1
	case 4:
		d.Written, d.Failed = 7, 2
	case 5:
		d.Dropped = 1
	case 6:
		d.Result, d.Written, d.GroupErrors, d.Error = "error", 0, 1, "list groups: kafka: request timed out"
	case 7:
		d.Result, d.Written, d.Spooled, d.SpoolSegments, d.SpoolBytes = "spooled", 0, 9, 1, 4096
	case 8:
		d.Written, d.Replayed = 18, 9
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// statusDocs are the evaluator's verdicts at tick i: the lagging group goes
// OK, WARN, ERR (its time lag a lower bound then); the others stay OK.
func statusDocs(at time.Time, i int, prod snapshot.Snapshot) []esindex.StatusDoc {
	var out []esindex.StatusDoc
	for _, g := range prod.Groups {
		sum := g.Summarise()
		d := esindex.StatusDoc{At: at, Cluster: prodCluster, Group: g.ID, Status: "OK", Code: 1, Complete: 1,
			PartitionCount: len(g.Partitions), TotalLag: sum.TotalReadable, WindowSize: seedTicks,
			TimeLagSeconds: ptr(1.0), ConsumeRate: ptr(0.33), ProduceRate: ptr(0.33), CatchUpSeconds: ptr(15.0)}
		if sum.HasMax {
			d.MaxLag = &esindex.MaxLag{Topic: sum.MaxTopic, Partition: sum.MaxPartition, Lag: sum.MaxLag}
		}
		if g.ID == laggingGroup {
			d.TimeLagSeconds, d.ConsumeRate, d.ProduceRate = ptr(5+12*float64(i)), ptr(0.67), ptr(3.3)
			switch {
			case i >= 7:
				// Stopped on orders/2 long enough that the history no
				// longer reaches back to its offset.
				d.Status, d.Code, d.TimeLagLowerBound = "ERR", 3, true
				d.Partitions = []esindex.PartitionStatusDoc{{Topic: "orders", Partition: 2, Status: "STOP", Code: 4, Complete: 1, CurrentLag: 50*int64(i) - 1}}
			case i >= 3:
				d.Status, d.Code = "WARN", 2
			}
			if i >= 5 && i <= 7 {
				d.CatchUpSeconds, d.CatchUpNever = nil, true
			} else {
				d.CatchUpSeconds = ptr(600.0)
			}
		}
		out = append(out, d)
	}
	stage := esindex.StatusDoc{At: at, Cluster: stageCluster, Group: stageGroup, Status: "OK", Code: 1, Complete: 1,
		PartitionCount: 1, WindowSize: seedTicks, TimeLagSeconds: ptr(0.0), ConsumeRate: ptr(0.03), ProduceRate: ptr(0.03)}
	if i == seedTicks-1 {
		// The stage cluster's collector went silent: the latest evaluation
		// keeps the group's verdict, stale.
		stage.Stale, stage.NewestTick, stage.StaleReason = true, at.Add(-3*tickEvery), "no collector tick since then"
	}
	return append(out, stage)
}

// seedHistory writes the history with lagwatch's own writers into a
// namespace unique to this test.
func seedHistory(ctx context.Context, t *testing.T, es *elasticsearch.Client) history {
	t.Helper()
	hist := esindextest.NewWith(ctx, t, "dash", esindex.WriterOptions{Retention: 24 * time.Hour})
	names, c, w := hist.Names, hist.Client, hist.Writer
	if err := c.InstallEvaluator(ctx, 24*time.Hour); err != nil {
		t.Fatalf("InstallEvaluator: %v", err)
	}
	sw := c.NewStatusWriter()
	h := history{names: names}
	last := time.Now().UTC().Truncate(time.Second)
	for i := range seedTicks {
		at := last.Add(-time.Duration(seedTicks-1-i) * tickEvery)
		h.ticks = append(h.ticks, at)
		prod := prodSnapshot(at, i)
		for _, s := range []snapshot.Snapshot{prod, stageSnapshot(at, i)} {
			if res, err := w.Write(ctx, s); err != nil || res.Failed > 0 {
				t.Fatalf("write snapshot %d of %s: %+v, %v", i, s.Cluster, res, err)
			}
			if res, err := w.WriteTick(ctx, tickDoc(at, s.Cluster, i)); err != nil || res.Failed > 0 {
				t.Fatalf("write tick %d of %s: %+v, %v", i, s.Cluster, res, err)
			}
		}
		if res, err := sw.Write(ctx, statusDocs(at, i, prod)); err != nil || res.Failed > 0 {
			t.Fatalf("write status %d: %+v, %v", i, res, err)
		}
		h.lastTotalLag = prod.Groups[1].Summarise().TotalReadable
	}
	incidents := []notify.Incident{
		{Cluster: prodCluster, Group: laggingGroup, Open: true, Status: evaluate.Err, WorstStatus: evaluate.Err, OpenedAt: h.ticks[3],
			LastSentAt: h.ticks[7], Sends: 2, UpdatedAt: h.ticks[7]},
		{Cluster: prodCluster, Group: healthyGroup, Open: false, Status: evaluate.OK, WorstStatus: evaluate.Warn, OpenedAt: h.ticks[0],
			ClosedAt: h.ticks[2], LastSentAt: h.ticks[2], Sends: 2, UpdatedAt: h.ticks[2]},
	}
	for _, inc := range incidents {
		if _, err := c.Incidents().Save(ctx, inc); err != nil {
			t.Fatalf("SaveIncident: %v", err)
		}
	}
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithContext(ctx),
		es.Indices.Refresh.WithIndex(names.Offsets, names.Groups, names.Ticks, names.Status, names.Incidents, names.IncidentLog))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("refresh: %s", res)
	}
	return h
}

// realMapping reads index's mapping from the node, merged over its backing
// indices.
func realMapping(ctx context.Context, t *testing.T, es *elasticsearch.Client, index string) mapping {
	t.Helper()
	res, err := es.Indices.GetMapping(es.Indices.GetMapping.WithContext(ctx), es.Indices.GetMapping.WithIndex(index))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("GET %s/_mapping: %s", index, res)
	}
	var body map[string]struct {
		Mappings struct {
			Properties map[string]any `json:"properties"`
		} `json:"mappings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	m := mapping{}
	for _, idx := range body {
		flattenMapping(idx.Mappings.Properties, "", m)
	}
	if len(m) == 0 {
		t.Fatalf("%s has no mapping", index)
	}
	return m
}

// msearch sends searches as one _msearch request, as Grafana does for a
// panel, and returns each search's response.
func msearch(ctx context.Context, es *elasticsearch.Client, shardRequests int, searches []search) ([]map[string]any, error) {
	var nd bytes.Buffer
	for _, s := range searches {
		for _, line := range []any{s.Header, s.Body} {
			b, err := json.Marshal(line)
			if err != nil {
				return nil, err
			}
			nd.Write(b)
			nd.WriteByte('\n')
		}
	}
	res, err := es.Msearch(&nd, es.Msearch.WithContext(ctx), es.Msearch.WithMaxConcurrentShardRequests(shardRequests))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.IsError() {
		return nil, fmt.Errorf("_msearch: HTTP %d: %s", res.StatusCode, raw)
	}
	var out struct {
		Responses []map[string]any `json:"responses"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	if len(out.Responses) != len(searches) {
		return nil, fmt.Errorf("_msearch: %d responses to %d searches", len(out.Responses), len(searches))
	}
	for i, r := range out.Responses {
		if e, ok := r["error"]; ok {
			return nil, fmt.Errorf("search %d failed: %v", i, e)
		}
	}
	return out.Responses, nil
}

// dataErrors checks that a response holds data: documents for raw data;
// otherwise buckets at every level of aggregation and, for every metric
// but count, a value in some innermost bucket.
func dataErrors(q parsedQuery, resp map[string]any) []error {
	if q.Raw {
		hits, _ := resp["hits"].(map[string]any)
		if docs, _ := hits["hits"].([]any); len(docs) == 0 {
			return []error{fmt.Errorf("no documents")}
		}
		return nil
	}
	var errs []error
	valued := map[string]bool{}
	var walk func(level map[string]any, depth int)
	walk = func(level map[string]any, depth int) {
		if depth == len(q.Buckets) {
			for _, m := range q.Metrics {
				if v, _ := level[m.ID].(map[string]any); v != nil && v["value"] != nil {
					valued[m.ID] = true
				}
			}
			return
		}
		b := q.Buckets[depth]
		node, _ := level[b.ID].(map[string]any)
		buckets, _ := node["buckets"].([]any)
		nonEmpty := 0
		for _, x := range buckets {
			bucket, _ := x.(map[string]any)
			if n, _ := bucket["doc_count"].(float64); n > 0 {
				nonEmpty++
				walk(bucket, depth+1)
			}
		}
		if nonEmpty == 0 {
			errs = append(errs, fmt.Errorf("%s %s (%s) has no bucket with documents", b.Type, b.ID, b.Field))
		}
	}
	aggs, _ := resp["aggregations"].(map[string]any)
	walk(aggs, 0)
	for _, m := range q.Metrics {
		if m.Type != "count" && !valued[m.ID] {
			errs = append(errs, fmt.Errorf("metric %s (%s of %s) has no value in any bucket", m.ID, m.Type, m.Field))
		}
	}
	return errs
}

// rowChecks pin what the "latest tick" tables show: terms on @timestamp,
// newest first and size 1, must pick each bucket's newest document.
var rowChecks = map[string]func(t *testing.T, h history, rows []map[string]any){
	"Latest verdict per group": func(t *testing.T, h history, rows []map[string]any) {
		want := map[string]string{laggingGroup: "ERR", healthyGroup: "OK", stageGroup: "OK"}
		for _, r := range rows {
			g, _ := r["kafka.consumergroup.id"].(string)
			if w, ok := want[g]; ok {
				if r["lagwatch.status.status"] != w {
					t.Errorf("group %s: status %v, want the newest verdict %s", g, r["lagwatch.status.status"], w)
				}
				delete(want, g)
			}
		}
		if len(want) > 0 {
			t.Errorf("no rows for %v in %v", want, rows)
		}
	},
	"Groups lagging most (latest tick)": func(t *testing.T, h history, rows []map[string]any) {
		for _, r := range rows {
			if r["kafka.consumergroup.id"] == laggingGroup {
				if r["Max"] != float64(h.lastTotalLag) {
					t.Errorf("total lag %v, want the last tick's %d", r["Max"], h.lastTotalLag)
				}
				return
			}
		}
		t.Errorf("no row for %s: %v", laggingGroup, rows)
	},
	"Newest collector tick per cluster": func(t *testing.T, h history, rows []map[string]any) {
		newest := float64(h.ticks[len(h.ticks)-1].UnixMilli())
		for _, cluster := range []string{prodCluster, stageCluster} {
			if !slices.ContainsFunc(rows, func(r map[string]any) bool { return r["kafka.cluster.name"] == cluster && r["@timestamp"] == newest }) {
				t.Errorf("no row of %s at its newest tick %v: %v", cluster, newest, rows)
			}
		}
	},
	"Stale clusters (latest evaluation)": func(t *testing.T, h history, rows []map[string]any) {
		want := map[string]any{prodCluster: nil, stageCluster: 1.0}
		for _, r := range rows {
			c, _ := r["kafka.cluster.name"].(string)
			if w, ok := want[c]; ok && r["Max"] == w {
				delete(want, c)
			}
		}
		if len(want) > 0 {
			t.Errorf("rows %v: want prod-eu fresh (no value) and stage stale (1) at their latest evaluation; missing %v", rows, want)
		}
	},
	"Partition owners (latest tick)": func(t *testing.T, h history, rows []map[string]any) {
		owners := map[string]any{}
		for _, r := range rows {
			owners[fmt.Sprintf("%v/%v", r["kafka.topic.name"], r["kafka.partition.id"])] = r["kafka.consumergroup.client.member_id"]
		}
		want := map[string]any{"orders/0": ordersOwner.MemberID, "orders/2": "(unassigned)", "payments-eu/1": paymentOwner.MemberID}
		for k, w := range want {
			if owners[k] != w {
				t.Errorf("%s: owner %v, want %v (all: %v)", k, owners[k], w, owners)
			}
		}
	},
	"Retention risk per partition (latest tick)": func(t *testing.T, h history, rows []map[string]any) {
		for _, r := range rows {
			if r["kafka.topic.name"] == "payments-eu" && r["kafka.partition.id"] == "1" {
				committed, _ := r["Max kafka.consumergroup.offset"].(float64)
				start, _ := r["Max kafka.partition.offset.oldest"].(float64)
				if committed >= start {
					t.Errorf("payments-eu/1: committed %v, log start %v: want below log start", committed, start)
				}
				return
			}
		}
		t.Errorf("no row for payments-eu/1: %v", rows)
	},
}

// TestQueriesAgainstElasticsearch seeds history with lagwatch's writers,
// checks every field each query names against the real mappings, and runs
// every variable and panel query as Grafana sends it, expecting data.
func TestQueriesAgainstElasticsearch(t *testing.T) {
	es := testenv.ESClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	boards := loadBoards(t)
	dss := loadDatasources(t)
	h := seedHistory(ctx, t, es)

	indexOf := streamOf(h.names)
	mappings := map[string]mapping{}
	for uid := range dss {
		if indexOf[uid] == "" {
			t.Fatalf("data source %s: no stream", uid)
		}
		mappings[uid] = realMapping(ctx, t, es, indexOf[uid])
	}
	from, to := h.ticks[0].Add(-time.Hour), h.ticks[len(h.ticks)-1].Add(time.Minute)

	for _, b := range boards {
		sel := selection{}
		for _, v := range b.vars {
			if deref(v.Multi) && multiSelection[v.Name] != nil {
				sel[v.Name] = multiSelection[v.Name]
			} else {
				sel[v.Name] = testSelection[v.Name]
			}
		}
		vars := variablesFor(b, sel)
		for _, v := range b.vars {
			t.Run(b.file+"/variable "+v.Name, func(t *testing.T) {
				vq, s, err := variableRequest(v, dss, indexOf, vars, from, to)
				if err != nil {
					t.Fatal(err)
				}
				uid := deref(v.Datasource.Uid)
				for _, err := range fieldErrors(parsedQuery{Query: vq.Query,
					Buckets: []bucketAgg{{ID: "1", Type: "terms", Field: vq.Field}}}, mappings[uid]) {
					t.Errorf("mapping of %s: %v", indexOf[uid], err)
				}
				resps, err := msearch(ctx, es, dss[uid].JSONData.MaxConcurrentShardRequests, []search{s})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				aggs, _ := resps[0]["aggregations"].(map[string]any)
				terms, _ := aggs["1"].(map[string]any)
				buckets, _ := terms["buckets"].([]any)
				for _, x := range buckets {
					got = append(got, fmt.Sprint(x.(map[string]any)["key"]))
				}
				for _, want := range sel[v.Name] {
					if !slices.Contains(got, want) {
						t.Errorf("offers %q; want %q among them (selection %v)", got, want, sel)
					}
				}
			})
		}
		for _, p := range b.panels {
			t.Run(b.file+"/"+p.title(), func(t *testing.T) {
				var searches []search
				for _, pt := range p.targets {
					if pt.err != nil {
						t.Fatalf("query %s: %v", pt.refID, pt.err)
					}
					for _, err := range fieldErrors(pt.q, mappings[pt.dsUID]) {
						t.Errorf("query %s, mapping of %s: %v", pt.refID, indexOf[pt.dsUID], err)
					}
					s, err := requestFor(pt, dss, indexOf, vars, from, to)
					if err != nil {
						t.Fatalf("query %s: %v", pt.refID, err)
					}
					searches = append(searches, s)
				}
				resps, err := msearch(ctx, es, dss[p.targets[0].dsUID].JSONData.MaxConcurrentShardRequests, searches)
				if err != nil {
					t.Fatal(err)
				}
				for i, pt := range p.targets {
					for _, err := range dataErrors(pt.q, resps[i]) {
						t.Errorf("query %s: %v", pt.refID, err)
					}
					if pt.q.Raw {
						checkRawColumns(t, pt, resps[i], mappings[pt.dsUID])
						continue
					}
					if pt.q.timeSeries() {
						continue
					}
					aggs, _ := resps[i]["aggregations"].(map[string]any)
					rows := tableRows(pt.q, aggs)
					want := tableColumns(pt.q, nil)
					slices.Sort(want)
					for _, r := range rows {
						if got := sortedKeys(r); !slices.Equal(got, want) {
							t.Fatalf("query %s: a row has fields %q; the transformations were checked against %q", pt.refID, got, want)
						}
					}
					if check := rowChecks[p.title()]; check != nil {
						check(t, h, rows)
					}
				}
			})
		}
	}
	for _, b := range boards {
		vars := variablesFor(b, testSelection)
		for _, a := range b.annotations {
			t.Run(b.file+"/annotation "+a.Name, func(t *testing.T) {
				uid := a.Datasource.UID
				for _, err := range annotationErrors(&board{vars: b.vars, annotations: []esAnnotation{a}}, dss, mappings) {
					t.Errorf("real mapping of %s: %v", indexOf[uid], err)
				}
				s, err := annotationSearch(a, indexOf[uid], vars, from, to)
				if err != nil {
					t.Fatal(err)
				}
				resps, err := msearch(ctx, es, dss[uid].JSONData.MaxConcurrentShardRequests, []search{s})
				if err != nil {
					t.Fatal(err)
				}
				// The lagging group's incident, opened at tick 3 and still
				// open, is the one annotation of the selection.
				hits, _ := resps[0]["hits"].(map[string]any)
				docs, _ := hits["hits"].([]any)
				var got []string
				for _, d := range docs {
					src, _ := d.(map[string]any)["_source"].(map[string]any)
					get := func(path string) any {
						var v any = src
						for _, k := range strings.Split(path, ".") {
							m, _ := v.(map[string]any)
							v = m[k]
						}
						return v
					}
					got = append(got, fmt.Sprintf("%v %v %v %v", get(a.TimeField), get(a.TimeEndField), get(a.TextField), get(a.TagsField)))
				}
				want := []string{fmt.Sprintf("%s <nil> ERR ERR", h.ticks[3].UTC().Format("2006-01-02T15:04:05.000Z"))}
				if !slices.Equal(got, want) {
					t.Errorf("annotations %q, want %q", got, want)
				}
			})
		}
	}
	for title := range rowChecks {
		found := false
		for _, b := range boards {
			found = found || slices.ContainsFunc(b.panels, func(p *boardPanel) bool { return p.title() == title })
		}
		if !found {
			t.Errorf("row check for panel %q, which no dashboard has", title)
		}
	}
}

// checkRawColumns: every field of the documents a raw data query returns
// is in the mapping, so the columns the transformations were checked
// against (the mapping's fields) include every real one.
func checkRawColumns(t *testing.T, pt *panelTarget, resp map[string]any, m mapping) {
	t.Helper()
	hits, _ := resp["hits"].(map[string]any)
	docs, _ := hits["hits"].([]any)
	for _, d := range docs {
		src, _ := d.(map[string]any)["_source"].(map[string]any)
		var flat []string
		var walk func(prefix string, v map[string]any)
		walk = func(prefix string, v map[string]any) {
			for k, x := range v {
				if sub, ok := x.(map[string]any); ok {
					walk(prefix+k+".", sub)
					continue
				}
				flat = append(flat, prefix+k)
			}
		}
		walk("", src)
		for _, f := range flat {
			if _, ok := m[f]; !ok {
				t.Errorf("query %s: document field %s is not in the mapping", pt.refID, f)
			}
		}
	}
}
