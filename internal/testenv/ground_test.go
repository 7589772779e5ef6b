package testenv

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestKafkaGroundLagMatchesKafkaTool commits offsets for a group that never
// joined, reads them back with kafka-go, computes lag from the log-end
// offsets, and checks every number against Kafka's own consumer-groups tool.
func TestKafkaGroundLagMatchesKafkaTool(t *testing.T) {
	c := KafkaClient(t)
	topic := CreateTopic(t, "ground", 3)
	Produce(t, topic, 0, 10)
	Produce(t, topic, 1, 25)
	group := Name(t, "ground-group")
	// Partition 2 is never committed.
	Commit(t, group, topic, map[int]int64{0: 4, 1: 25})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fetched, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	if fetched.Error != nil {
		t.Fatalf("offset fetch: %v", fetched.Error)
	}
	committed := map[int]int64{}
	for _, p := range fetched.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	want := map[int]int64{0: 4, 1: 25, 2: -1}
	for p, o := range want {
		if committed[p] != o {
			t.Errorf("partition %d: committed offset read back %d, want %d", p, committed[p], o)
		}
	}

	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)},
	}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	logEnd := map[int]int64{}
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets partition %d: %v", p.Partition, p.Error)
		}
		logEnd[p.Partition] = p.LastOffset
	}

	rows, err := ParseDescribe(ConsumerGroups(ctx, t, "--describe", "--group", group))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, r := range rows {
		if r.Topic != topic {
			t.Errorf("unexpected topic %q in the tool's output", r.Topic)
			continue
		}
		seen[r.Partition] = true
		if r.Committed != committed[r.Partition] || r.LogEnd != logEnd[r.Partition] {
			t.Errorf("partition %d: tool says committed %d, log-end %d; kafka-go read %d, %d",
				r.Partition, r.Committed, r.LogEnd, committed[r.Partition], logEnd[r.Partition])
		}
		if lag := logEnd[r.Partition] - committed[r.Partition]; r.Lag != lag {
			t.Errorf("partition %d: tool's lag %d, ours %d", r.Partition, r.Lag, lag)
		}
	}
	if !seen[0] || !seen[1] {
		t.Errorf("the tool did not list the committed partitions 0 and 1: %+v", rows)
	}
}

// TestElasticsearchGround exercises what the product relies on in the real
// node: the client's product check, an index template making a data stream
// on first write, bulk create with a deterministic id (a repeat answers 409),
// search, composite and top_hits aggregations, and a point in time paged with
// search_after.
func TestElasticsearchGround(t *testing.T) {
	es := ESClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Any request runs the client's product check; an unknown server fails it.
	res, err := es.Cluster.Health(es.Cluster.Health.WithContext(ctx))
	if err != nil {
		t.Fatalf("cluster health (product check): %v", err)
	}
	MustOK(t, res.StatusCode, res.Body, "cluster health")

	name := Name(t, "lagwatch-ground")
	DeleteDataStreamsOnCleanup(t, name, name)
	tmpl := `{"index_patterns":["` + name + `"],"data_stream":{},"priority":500,
	  "template":{"mappings":{"dynamic":"strict","properties":{
	    "@timestamp":{"type":"date"},"group":{"type":"keyword"},"lag":{"type":"long"}}}}}`
	res, err = es.Indices.PutIndexTemplate(name, strings.NewReader(tmpl), es.Indices.PutIndexTemplate.WithContext(ctx))
	if err != nil {
		t.Fatalf("put index template: %v", err)
	}
	MustOK(t, res.StatusCode, res.Body, "put index template")

	bulk := `{"create":{"_id":"a"}}
{"@timestamp":"2026-01-01T00:00:00Z","group":"g1","lag":5}
{"create":{"_id":"b"}}
{"@timestamp":"2026-01-01T00:00:30Z","group":"g1","lag":7}
{"create":{"_id":"c"}}
{"@timestamp":"2026-01-01T00:00:30Z","group":"g2","lag":1}
{"create":{"_id":"a"}}
{"@timestamp":"2026-01-01T00:00:00Z","group":"g1","lag":5}
`
	res, err = es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex(name), es.Bulk.WithRefresh("true"), es.Bulk.WithContext(ctx))
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	var br struct {
		Items []map[string]struct {
			Status int `json:"status"`
		} `json:"items"`
	}
	DecodeBody(t, res.StatusCode, res.Body, "bulk", &br)
	var statuses []int
	for _, it := range br.Items {
		statuses = append(statuses, it["create"].Status)
	}
	if want := []int{201, 201, 201, 409}; !slices.Equal(statuses, want) {
		t.Fatalf("bulk item statuses %v, want %v (a repeated id must answer 409)", statuses, want)
	}

	// Composite over groups with the newest document of each.
	q := `{"size":0,"aggs":{"g":{"composite":{"size":1,"sources":[{"group":{"terms":{"field":"group"}}}]},
	  "aggs":{"latest":{"top_hits":{"size":1,"sort":[{"@timestamp":"desc"}]}},"maxlag":{"max":{"field":"lag"}}}}}}`
	res, err = es.Search(es.Search.WithIndex(name), es.Search.WithBody(strings.NewReader(q)), es.Search.WithContext(ctx))
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	var sr struct {
		Aggregations struct {
			G struct {
				AfterKey map[string]string `json:"after_key"`
				Buckets  []struct {
					Key    map[string]string       `json:"key"`
					MaxLag struct{ Value float64 } `json:"maxlag"`
					Latest struct {
						Hits struct {
							Hits []struct {
								Source struct{ Lag int64 } `json:"_source"`
							} `json:"hits"`
						} `json:"hits"`
					} `json:"latest"`
				} `json:"buckets"`
			} `json:"g"`
		} `json:"aggregations"`
	}
	DecodeBody(t, res.StatusCode, res.Body, "composite search", &sr)
	b := sr.Aggregations.G.Buckets
	if len(b) != 1 || b[0].Key["group"] != "g1" || b[0].MaxLag.Value != 7 || len(b[0].Latest.Hits.Hits) != 1 || b[0].Latest.Hits.Hits[0].Source.Lag != 7 {
		t.Fatalf("first composite page: %+v, want g1 with max lag 7 and newest lag 7", b)
	}
	if sr.Aggregations.G.AfterKey["group"] != "g1" {
		t.Fatalf("composite after_key %v, want g1", sr.Aggregations.G.AfterKey)
	}

	// Point in time, paged with search_after one hit at a time.
	res, err = es.OpenPointInTime([]string{name}, "1m", es.OpenPointInTime.WithContext(ctx))
	if err != nil {
		t.Fatalf("open point in time: %v", err)
	}
	var pit struct {
		ID string `json:"id"`
	}
	DecodeBody(t, res.StatusCode, res.Body, "open point in time", &pit)
	if pit.ID == "" {
		t.Fatal("open point in time returned no id")
	}
	defer func() {
		res, err := es.ClosePointInTime(es.ClosePointInTime.WithBody(strings.NewReader(`{"id":"`+pit.ID+`"}`)), es.ClosePointInTime.WithContext(ctx))
		if err != nil {
			t.Errorf("close point in time: %v", err)
			return
		}
		MustOK(t, res.StatusCode, res.Body, "close point in time")
	}()
	var after json.RawMessage
	var lags []int64
	for page := 0; page < 10; page++ {
		body := map[string]any{"size": 1, "pit": map[string]any{"id": pit.ID, "keep_alive": "1m"},
			"sort": []any{map[string]string{"@timestamp": "asc"}, map[string]string{"group": "asc"}}}
		if after != nil {
			body["search_after"] = after
		}
		raw, _ := json.Marshal(body)
		res, err := es.Search(es.Search.WithBody(strings.NewReader(string(raw))), es.Search.WithContext(ctx))
		if err != nil {
			t.Fatalf("pit search: %v", err)
		}
		var pr struct {
			Hits struct {
				Hits []struct {
					Source struct{ Lag int64 } `json:"_source"`
					Sort   json.RawMessage     `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		DecodeBody(t, res.StatusCode, res.Body, "pit search", &pr)
		if len(pr.Hits.Hits) == 0 {
			break
		}
		lags = append(lags, pr.Hits.Hits[0].Source.Lag)
		after = pr.Hits.Hits[0].Sort
	}
	if want := []int64{5, 7, 1}; !slices.Equal(lags, want) {
		t.Fatalf("point-in-time pages gave lags %v, want %v", lags, want)
	}
}

// TestUnreachableServerIsAnError checks the promise that a missing server
// fails rather than skips: the checks behind Kafka(t) and Elasticsearch(t)
// report a closed port as an error.
func TestUnreachableServerIsAnError(t *testing.T) {
	if err := checkKafka("127.0.0.1:1"); err == nil {
		t.Error("a closed Kafka port was taken as reachable")
	}
	if err := checkElasticsearch("http://127.0.0.1:1"); err == nil {
		t.Error("a closed Elasticsearch port was taken as reachable")
	}
}
