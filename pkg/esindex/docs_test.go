package esindex

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

var docTime = time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("CET", 3600))

// field returns the value at a dotted path of a decoded document.
func field(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func decodeDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if bytes.IndexByte(b, '\n') >= 0 {
		t.Fatalf("document has a newline: %s", b)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, b)
	}
	return m
}

func checkFields(t *testing.T, m map[string]any, want map[string]any, absent []string) {
	t.Helper()
	for path, w := range want {
		got, ok := field(m, path)
		if !ok {
			t.Errorf("%s absent, want %v", path, w)
			continue
		}
		if n, isNum := got.(json.Number); isNum {
			got = n.String()
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	for _, path := range absent {
		if v, ok := field(m, path); ok {
			t.Errorf("%s = %v, want it absent", path, v)
		}
	}
}

func TestOffsetsDocument(t *testing.T) {
	owner := &snapshot.Member{MemberID: "m-1", ClientID: "c-1", Host: "/10.1.2.3"}
	base := snapshot.Partition{Topic: "orders", Partition: 3, Committed: 40, HasCommitted: true, LogEnd: 100, LogStart: 5, HasOffsets: true, Owner: owner}
	common := map[string]any{
		"@timestamp":             "2026-01-02T02:04:05.678Z",
		"kafka.cluster.name":     "prod",
		"kafka.cluster.id":       "kid",
		"kafka.consumergroup.id": "billing", "kafka.consumergroup.state": "Stable", "kafka.consumergroup.type": "consumer",
		"kafka.topic.name": "orders", "kafka.partition.id": "3",
	}
	tests := []struct {
		name   string
		edit   func(p *snapshot.Partition)
		want   map[string]any
		absent []string
	}{
		{"committed, offsets known, owned: every field; no transaction, so readable lag is Kafka's and no stable offset",
			func(p *snapshot.Partition) {},
			map[string]any{"kafka.consumergroup.offset": "40", "kafka.consumergroup.consumer_lag": "60", "lagwatch.readable_lag": "60",
				"kafka.partition.offset.newest": "100", "kafka.partition.offset.oldest": "5",
				"kafka.consumergroup.client.id": "c-1", "kafka.consumergroup.client.host": "/10.1.2.3", "kafka.consumergroup.client.member_id": "m-1"},
			[]string{"kafka.partition.offset.stable", "lagwatch.lag_clamped", "lagwatch.below_log_start", "lagwatch.error"}},
		{"a commit marker after the last record: Kafka's lag 1, readable lag 0",
			func(p *snapshot.Partition) { p.Committed, p.Skipped = 99, 1 },
			map[string]any{"kafka.consumergroup.consumer_lag": "1", "lagwatch.readable_lag": "0"},
			[]string{"kafka.partition.offset.stable"}},
		{"an open transaction: the stable offset stored, its records not readable yet",
			func(p *snapshot.Partition) { p.Pending = 30 },
			map[string]any{"kafka.consumergroup.consumer_lag": "60", "lagwatch.readable_lag": "30",
				"kafka.partition.offset.newest": "100", "kafka.partition.offset.stable": "70"},
			nil},
		{"never committed: no offset and no lag, log offsets kept",
			func(p *snapshot.Partition) { p.HasCommitted, p.Committed = false, 0 },
			map[string]any{"kafka.partition.offset.newest": "100", "kafka.partition.offset.oldest": "5"},
			[]string{"kafka.consumergroup.offset", "kafka.consumergroup.consumer_lag", "lagwatch"}},
		{"log offsets unknown with an error: no newest, oldest, stable, lag; error kept",
			func(p *snapshot.Partition) {
				p.HasOffsets, p.Pending, p.Err = false, 30, errors.New("list offsets: \"timeout\"\n")
			},
			map[string]any{"kafka.consumergroup.offset": "40", "lagwatch.error": "list offsets: \"timeout\"\n"},
			[]string{"kafka.partition.offset", "kafka.consumergroup.consumer_lag", "lagwatch.readable_lag", "lagwatch.lag_clamped", "lagwatch.below_log_start"}},
		{"commit above log end: lag clamped to 0 and flagged",
			func(p *snapshot.Partition) { p.Committed = 120 },
			map[string]any{"kafka.consumergroup.consumer_lag": "0", "lagwatch.readable_lag": "0", "lagwatch.lag_clamped": true},
			[]string{"lagwatch.below_log_start", "lagwatch.error"}},
		{"commit below log start: flagged, lag as Kafka computes it",
			func(p *snapshot.Partition) { p.Committed = 2 },
			map[string]any{"kafka.consumergroup.consumer_lag": "98", "lagwatch.below_log_start": true},
			[]string{"lagwatch.lag_clamped", "lagwatch.error"}},
		{"no owner: no client fields",
			func(p *snapshot.Partition) { p.Owner = nil },
			map[string]any{"kafka.consumergroup.consumer_lag": "60"},
			[]string{"kafka.consumergroup.client"}},
		{"owner with empty client id and host: member id only",
			func(p *snapshot.Partition) { p.Owner = &snapshot.Member{MemberID: "m-2"} },
			map[string]any{"kafka.consumergroup.client.member_id": "m-2"},
			[]string{"kafka.consumergroup.client.id", "kafka.consumergroup.client.host"}},
		{"clamped, below log start and an error together",
			func(p *snapshot.Partition) { p.Committed, p.LogStart, p.Err = 120, 130, errors.New("e") },
			map[string]any{"lagwatch.lag_clamped": true, "lagwatch.below_log_start": true, "lagwatch.error": "e"},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.edit(&p)
			s := snapshot.Snapshot{Cluster: "prod", ClusterID: "kid", Time: docTime}
			g := snapshot.Group{ID: "billing", Type: snapshot.TypeConsumer, State: "Stable", Partitions: []snapshot.Partition{p}}
			m := decodeDoc(t, appendOffsetsDoc(nil, s, s.Time.UTC().Format(timestampLayout), &g, &p))
			checkFields(t, m, common, nil)
			checkFields(t, m, tc.want, tc.absent)
		})
	}
}

func TestOffsetsDocumentOptionalKeywords(t *testing.T) {
	p := snapshot.Partition{Topic: "t", Partition: 0}
	s := snapshot.Snapshot{Cluster: "prod", Time: docTime}
	g := snapshot.Group{ID: "g"}
	m := decodeDoc(t, appendOffsetsDoc(nil, s, "x", &g, &p))
	// Cluster id unknown (metadata failed), group type and state unknown
	// (describe failed) are absent rather than empty keywords.
	checkFields(t, m, map[string]any{"kafka.cluster.name": "prod", "kafka.consumergroup.id": "g"},
		[]string{"kafka.cluster.id", "kafka.consumergroup.type", "kafka.consumergroup.state", "kafka.consumergroup.offset", "kafka.partition.offset", "lagwatch"})
}

func TestGroupDocument(t *testing.T) {
	members := []snapshot.Member{{MemberID: "a"}, {MemberID: "b"}}
	tests := []struct {
		name   string
		g      snapshot.Group
		want   map[string]any
		absent []string
	}{
		{"lags on two topics: sums, the max and its place, topics once each",
			snapshot.Group{ID: "g", Type: snapshot.TypeConsumer, State: "Stable", ProtocolType: "consumer", Members: members, Partitions: []snapshot.Partition{
				{Topic: "a", Partition: 0, Committed: 5, HasCommitted: true, LogEnd: 10, HasOffsets: true},
				{Topic: "a", Partition: 1, Committed: 1, HasCommitted: true, LogEnd: 30, LogStart: 2, HasOffsets: true},
				{Topic: "b", Partition: 0, LogEnd: 10, HasOffsets: true},
			}},
			map[string]any{"kafka.consumergroup.id": "g", "kafka.consumergroup.type": "consumer", "kafka.consumergroup.state": "Stable", "kafka.consumergroup.protocol_type": "consumer",
				"lagwatch.group.members": "2", "lagwatch.group.partitions": "3", "lagwatch.group.topics": []any{"a", "b"},
				"lagwatch.group.total_lag": "34", "lagwatch.group.total_readable_lag": "34", "lagwatch.group.max_lag": "29", "lagwatch.group.max_lag_topic": "a",
				"lagwatch.group.max_lag_partition": "1", "lagwatch.group.below_log_start": "1"},
			[]string{"lagwatch.error"}},
		{"transactions: Kafka's total counts markers and open transactions, the readable total does not",
			snapshot.Group{ID: "g", Partitions: []snapshot.Partition{
				{Topic: "a", Partition: 0, Committed: 20, HasCommitted: true, LogEnd: 21, Skipped: 1, HasOffsets: true},
				{Topic: "a", Partition: 1, Committed: 40, HasCommitted: true, LogEnd: 50, Pending: 6, HasOffsets: true},
			}},
			map[string]any{"lagwatch.group.total_lag": "11", "lagwatch.group.total_readable_lag": "4", "lagwatch.group.max_lag": "10", "lagwatch.group.max_lag_partition": "1"},
			nil},
		{"no partition has a lag: no max fields, totals 0",
			snapshot.Group{ID: "g", State: "Empty", Partitions: []snapshot.Partition{{Topic: "a", LogEnd: 10, HasOffsets: true}}},
			map[string]any{"lagwatch.group.total_lag": "0", "lagwatch.group.total_readable_lag": "0", "lagwatch.group.topics": []any{"a"}, "lagwatch.group.members": "0", "lagwatch.group.below_log_start": "0"},
			[]string{"lagwatch.group.max_lag", "lagwatch.group.max_lag_topic", "lagwatch.group.max_lag_partition", "kafka.consumergroup.protocol_type"}},
		{"a failed group: its error, no topics, no state, no type",
			snapshot.Group{ID: "g", Err: errors.New("describe groups: COORDINATOR_NOT_AVAILABLE")},
			map[string]any{"lagwatch.error": "describe groups: COORDINATOR_NOT_AVAILABLE", "lagwatch.group.partitions": "0"},
			[]string{"kafka.consumergroup.state", "kafka.consumergroup.type", "lagwatch.group.max_lag", "lagwatch.group.topics"}},
		{"a share group: listed, not described: its type and protocol type, no state, no offsets",
			snapshot.Group{ID: "g", Type: snapshot.TypeShare, ProtocolType: "share"},
			map[string]any{"kafka.consumergroup.type": "share", "kafka.consumergroup.protocol_type": "share",
				"lagwatch.group.members": "0", "lagwatch.group.partitions": "0", "lagwatch.group.total_lag": "0"},
			[]string{"kafka.consumergroup.state", "lagwatch.group.topics", "lagwatch.group.max_lag", "lagwatch.error"}},
		{"a classic group of Kafka Connect: type, state and members, no offsets",
			snapshot.Group{ID: "g", Type: snapshot.TypeClassic, State: "Stable", ProtocolType: "connect", Members: members},
			map[string]any{"kafka.consumergroup.type": "classic", "kafka.consumergroup.state": "Stable", "kafka.consumergroup.protocol_type": "connect",
				"lagwatch.group.members": "2", "lagwatch.group.partitions": "0"},
			[]string{"lagwatch.group.topics", "lagwatch.error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := snapshot.Snapshot{Cluster: "prod", ClusterID: "kid", Time: docTime}
			m := decodeDoc(t, appendGroupDoc(nil, s, s.Time.UTC().Format(timestampLayout), &tc.g))
			checkFields(t, m, map[string]any{"@timestamp": "2026-01-02T02:04:05.678Z", "kafka.cluster.name": "prod", "kafka.cluster.id": "kid"}, nil)
			checkFields(t, m, tc.want, tc.absent)
		})
	}
}

func TestErrorIsTruncated(t *testing.T) {
	g := snapshot.Group{ID: "g", Err: errors.New(strings.Repeat("é", 1000))}
	m := decodeDoc(t, appendGroupDoc(nil, snapshot.Snapshot{Cluster: "c"}, "x", &g))
	v, _ := field(m, "lagwatch.error")
	if s, _ := v.(string); len(s) > maxErrorLen || !strings.HasPrefix(strings.Repeat("é", 1000), s) || s == "" {
		t.Errorf("lagwatch.error is %d bytes, want a prefix of at most %d cut on a rune boundary", len(s), maxErrorLen)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnl\ncr\r", "\x00\x01\x1f\x7f",
		"héllo wörld ✓ 🚀", "bad \xff utf8 \xc3", "line\u2028sep\u2029", "<html>&amp;"} {
		got := appendString(nil, s)
		if !json.Valid(got) {
			t.Errorf("appendString(%q) = %s: not valid JSON", s, got)
			continue
		}
		var back, want string
		_ = json.Unmarshal(got, &back)
		std, _ := json.Marshal(s)
		_ = json.Unmarshal(std, &want)
		if back != want {
			t.Errorf("appendString(%q) decodes to %q; encoding/json's to %q", s, back, want)
		}
	}
}

func TestDocumentIDs(t *testing.T) {
	const ms = 1767323045678
	base := offsetsID("prod", "billing", "orders", 3, ms)
	if again := offsetsID("prod", "billing", "orders", 3, ms); again != base {
		t.Fatalf("offsetsID is not stable: %s then %s", base, again)
	}
	// Pinned: an id that changed by accident within a release would store a
	// retried tick twice. (The spool keeps each document's id, so a replay
	// after an upgrade that changes the format stores nothing twice.)
	if want := "0mjwaidke4:prod7:billing6:orders0003"; base != want {
		t.Errorf("offsetsID = %s, pinned %s", base, want)
	}
	// The partition: four base-36 digits, six from 36^4 on.
	for _, tc := range []struct {
		name      string
		partition int32
		suffix    string
	}{
		{"zero", 0, "orders0000"},
		{"two digits in base 36", 36, "orders0010"},
		{"the largest of four digits", 36*36*36*36 - 1, "orderszzzz"},
		{"the smallest of six digits", 36 * 36 * 36 * 36, "orders010000"},
		{"Kafka's largest partition number", 1<<31 - 1, "orderszik0zj"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if id := offsetsID("prod", "billing", "orders", tc.partition, ms); !strings.HasSuffix(id, ":"+tc.suffix) {
				t.Errorf("partition %d: id %s, want it to end with %s", tc.partition, id, tc.suffix)
			}
		})
	}
	// Ids sort by tick time, whatever follows.
	if a, b := offsetsID("zz", "zz", "zz", 9, ms), offsetsID("aa", "aa", "aa", 0, ms+1); a >= b {
		t.Errorf("ids do not sort by time: %s >= %s", a, b)
	}
	if early := offsetsID("a", "b", "c", 0, 0); !strings.HasPrefix(early, "000000000") {
		t.Errorf("time key is not nine zero-padded digits: %s", early)
	}
	// A key too long for a readable id is hashed after the time.
	long := offsetsID("prod", strings.Repeat("g", 300), "orders", 3, ms)
	if !strings.HasPrefix(long, "0mjwaidke#") || len(long) != 9+1+22 || long == offsetsID("prod", strings.Repeat("g", 301), "orders", 3, ms) {
		t.Errorf("long key: id %q, want the time, '#' and 22 base64url characters, distinct per key", long)
	}
	offsets := []struct {
		name string
		id   string
	}{
		{"another cluster", offsetsID("prod2", "billing", "orders", 3, ms)},
		{"another group", offsetsID("prod", "billing2", "orders", 3, ms)},
		{"another topic", offsetsID("prod", "billing", "orders2", 3, ms)},
		{"another partition", offsetsID("prod", "billing", "orders", 4, ms)},
		{"another tick, one millisecond later", offsetsID("prod", "billing", "orders", 3, ms+1)},
		{"a character moved from cluster to group", offsetsID("pro", "dbilling", "orders", 3, ms)},
		{"a character moved from group to topic", offsetsID("prod", "billin", "gorders", 3, ms)},
		{"the group document of the same cluster, group and tick", groupID("prod", "billing", ms)},
	}
	seen := map[string]string{base: "base"}
	for _, tc := range offsets {
		t.Run(tc.name, func(t *testing.T) {
			if prev, dup := seen[tc.id]; dup {
				t.Errorf("id %s equals that of %s", tc.id, prev)
			}
			seen[tc.id] = tc.name
		})
	}

	g := groupID("prod", "billing", ms)
	if g != groupID("prod", "billing", ms) {
		t.Fatal("groupID is not stable")
	}
	if want := "0mjwaidke4:prod7:billing"; g != want {
		t.Errorf("groupID = %s, pinned %s", g, want)
	}
	for _, tc := range []struct{ name, id string }{
		{"another cluster", groupID("prod2", "billing", ms)},
		{"another group", groupID("prod", "billing2", ms)},
		{"another tick", groupID("prod", "billing", ms+1)},
		{"a character moved from cluster to group", groupID("pro", "dbilling", ms)},
	} {
		if tc.id == g {
			t.Errorf("%s: same group id %s", tc.name, g)
		}
	}
}

// encodeSnapshot collects every document of s, each owning its body.
func encodeSnapshot(names Names, s snapshot.Snapshot) []doc {
	var docs []doc
	src := newSnapshotSource(names, &s)
	for d, ok := src.next(); ok; d, ok = src.next() {
		docs = append(docs, owned(d))
	}
	return docs
}

func TestEncodeSnapshot(t *testing.T) {
	s := tickSnapshot(1, 3, 5)
	names, _ := NewNames("default")
	docs := encodeSnapshot(names, s)
	if want := 3 * (1 + 5); len(docs) != want {
		t.Fatalf("%d documents, want %d", len(docs), want)
	}
	ids := map[string]bool{}
	for _, d := range docs {
		decodeDoc(t, d.body)
		if ids[d.id] {
			t.Errorf("id %s twice", d.id)
		}
		ids[d.id] = true
		if d.index != names.Offsets && d.index != names.Groups {
			t.Errorf("document in %s", d.index)
		}
	}
	if docs := encodeSnapshot(names, snapshot.Snapshot{Cluster: "c", Err: errors.New("no cluster")}); docs != nil {
		t.Errorf("a snapshot without groups made %d documents", len(docs))
	}
	if n := snapshotDocs(&s); n != len(docs) {
		t.Errorf("snapshotDocs = %d, the source gave %d", n, len(docs))
	}
}

// BenchmarkEncodeSnapshot encodes a tick of 50,000 offsets documents (100
// groups of 500 partitions) and their 100 group documents into bulk
// request bodies, as a write does.
func BenchmarkEncodeSnapshot(b *testing.B) {
	s := tickSnapshot(1, 100, 500)
	names, _ := NewNames("default")
	b.ReportAllocs()
	var n int
	body := make([]byte, 0, DefaultFlushBytes)
	for b.Loop() {
		n = 0
		src := newSnapshotSource(names, &s)
		for d, ok := src.next(); ok; d, ok = src.next() {
			if len(body)+bulkSize(&d) > DefaultFlushBytes {
				body = body[:0]
			}
			body = appendBulkItem(body, &d)
			n++
		}
	}
	b.ReportMetric(float64(n), "docs/op")
}

// TestSpoolRecords: documents survive the spool's records; a damaged record
// is counted, not fatal; and a record in the form earlier versions wrote
// still reads.
func TestSpoolRecords(t *testing.T) {
	docs := encodeSnapshot(Names{Offsets: "o", Groups: "g"}, tickSnapshot(0, 2, 3))
	recs, err := encodeSpoolRecords(docs)
	if err != nil {
		t.Fatal(err)
	}
	old := []byte(`{"index":"metrics-lagwatch.offsets-t","id":"x-a","body":{"@timestamp":"2026-01-01T00:00:00.000Z"}}`)
	recs = append(recs, []byte("{not json"), []byte(`{"index":"i","id":"","body":{}}`), old)
	got, bad, badErr := decodeSpoolRecords(recs)
	if bad != 2 || badErr == nil || len(got) != len(docs)+1 {
		t.Fatalf("decoded %d documents, %d bad (%v); want %d and 2 bad", len(got), bad, badErr, len(docs)+1)
	}
	for i, d := range docs {
		if got[i].index != d.index || got[i].id != d.id || !bytes.Equal(got[i].body, d.body) {
			t.Errorf("doc %d: read %+v, wrote %+v", i, got[i], d)
		}
	}
	if last := got[len(got)-1]; last.index != "metrics-lagwatch.offsets-t" || last.id != "x-a" || !strings.HasPrefix(string(last.body), `{"@timestamp"`) {
		t.Errorf("old record read as %+v", last)
	}
	if _, err := encodeSpoolRecords([]doc{{index: "i", id: "x", body: []byte("{\n}")}}); err == nil {
		t.Error("a body with a newline was accepted")
	}
}
