package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLayoutCommits(t *testing.T) {
	tests := []struct {
		name string
		l    layout
	}{
		{"the issue's size: 25 partitions per group, 20 groups per partition",
			layout{Prefix: "lb", Topics: 20, PartitionsPerTopic: 125, Groups: 2000, GroupPartitions: 50000, Messages: 20}},
		{"uneven split: some groups commit to one partition more",
			layout{Prefix: "lb", Topics: 3, PartitionsPerTopic: 7, Groups: 6, GroupPartitions: 40, Messages: 5}},
		{"a group covers every partition, wrapping around",
			layout{Prefix: "lb", Topics: 2, PartitionsPerTopic: 3, Groups: 2, GroupPartitions: 12, Messages: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.l.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			total := 0
			topics := map[string]bool{}
			for _, name := range tc.l.topicNames() {
				topics[name] = true
			}
			for g := 0; g < tc.l.Groups; g++ {
				cs := tc.l.commits(g)
				total += len(cs)
				seen := map[commit]bool{}
				for _, c := range cs {
					key := commit{Topic: c.Topic, Partition: c.Partition}
					if seen[key] {
						t.Fatalf("group %d commits twice to %s/%d", g, c.Topic, c.Partition)
					}
					seen[key] = true
					if !topics[c.Topic] || c.Partition < 0 || c.Partition >= tc.l.PartitionsPerTopic {
						t.Fatalf("group %d commits to %s/%d, outside the layout", g, c.Topic, c.Partition)
					}
					if c.Offset < 0 || c.Offset > tc.l.Messages {
						t.Fatalf("group %d commits offset %d, outside [0, %d]", g, c.Offset, tc.l.Messages)
					}
				}
			}
			if total != tc.l.GroupPartitions {
				t.Errorf("%d commits in all, want %d", total, tc.l.GroupPartitions)
			}
		})
	}
}

func TestLayoutValidate(t *testing.T) {
	ok := layout{Prefix: "lagbench-1", Topics: 1, PartitionsPerTopic: 2, Groups: 2, GroupPartitions: 4, Messages: 1}
	tests := []struct {
		name   string
		change func(*layout)
		want   string // substring of the error; "" for none
	}{
		{"a valid layout", func(*layout) {}, ""},
		{"a prefix Kafka refuses as a topic name", func(l *layout) { l.Prefix = "bad prefix" }, "-prefix"},
		{"fewer group-partitions than groups", func(l *layout) { l.GroupPartitions = 1 }, "at least one per group"},
		{"a group would need more partitions than exist", func(l *layout) { l.GroupPartitions = 6 }, "only 2"},
		{"empty partitions", func(l *layout) { l.Messages = 0 }, "-messages"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := ok
			tc.change(&l)
			err := l.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGroupPatternSelectsOnlyTheBenchmarkGroups(t *testing.T) {
	l := layout{Prefix: "lagbench-a.b", Groups: 3}
	re := regexp.MustCompile(l.groupPattern())
	for _, g := range l.groupNames() {
		if !re.MatchString(g) {
			t.Errorf("%q does not match %s", g, re)
		}
	}
	for _, g := range []string{"lagbench-aXb-g00001", "x-lagbench-a.b-g00001", "lagbench-a.b-g00001-other"} {
		if re.MatchString(g) {
			t.Errorf("%q matches %s, but is not a benchmark group", g, re)
		}
	}
}

func TestParseTickLog(t *testing.T) {
	log := `{"time":"t","level":"INFO","msg":"collector starting","config":{"x":1}}
not json at all
{"time":"t","level":"INFO","msg":"tick","cluster":"lagbench","groups":2000,"partitions":50000,"kafka_requests":2023,"kafka_requests_by_type":{"ApiVersions":4,"ListGroups":1,"DescribeGroups":1,"OffsetFetch":1,"Metadata":1,"ListOffsets":2015},"group_errors":0,"partition_errors":0,"read_duration":"251.1ms","written":52000,"duplicates":0,"failed":0,"spooled":0,"duration":"1.698s"}
`
	l, err := parseTickLog([]byte(log))
	if err != nil {
		t.Fatal(err)
	}
	var r tickResult
	if err := l.fill(&r); err != nil {
		t.Fatal(err)
	}
	if r.Duration != 1698*time.Millisecond || r.ReadDuration != 251100*time.Microsecond || r.KafkaRequests != 2023 ||
		r.Written != 52000 || r.Partitions != 50000 {
		t.Errorf("parsed %+v", r)
	}
	if own := r.OwnByType; own["ListOffsets"] != 2015 || own.Total() != r.KafkaRequests {
		t.Errorf("requests by type %v, want ListOffsets 2015 and a total of kafka_requests %d", own, r.KafkaRequests)
	}
	if got := r.DocsPerSecond(); got < 30623 || got > 30625 {
		t.Errorf("docs/s %.1f, want 52000/1.698", got)
	}

	failed := `{"msg":"tick failed","duration":"2s","written":10,"failed":5,"err":"5 documents rejected"}`
	l, err = parseTickLog([]byte(failed))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.fill(&r); err == nil {
		t.Error("a failed tick was taken as a success")
	}
	if _, err := parseTickLog([]byte(`{"msg":"collector starting"}`)); err == nil {
		t.Error("a log without a tick line parsed")
	}
}

func TestTelegrafDoc(t *testing.T) {
	src := `{"@timestamp":"2026-01-02T03:04:05.678Z","kafka":{"cluster":{"name":"prod","id":"abc"},
	  "consumergroup":{"id":"orders","state":"Stable","offset":90,"consumer_lag":10,"client":{"member_id":"m","id":"c","host":"/10.0.0.1"}},
	  "topic":{"name":"t"},"partition":{"id":3,"offset":{"newest":100,"oldest":0}}}}`
	b, err := appendTelegrafDoc(nil, json.RawMessage(src))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[0] != `{"index":{}}` {
		t.Fatalf("bulk lines %q", lines)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"@timestamp":       "2026-01-02T03:04:05.678Z",
		"measurement_name": "burrow_partition",
		"tag": map[string]any{"cluster": "prod", "group": "orders", "topic": "t", "partition": "3",
			"owner": "/10.0.0.1", "host": telegrafHost},
		"burrow_partition": map[string]any{"lag": 10.0, "offset": 90.0, "status": "OK", "status_code": 1.0,
			"timestamp": float64(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixMilli())},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("row\n got %s\nwant %s", gj, wj)
	}
}

func TestRowCounter(t *testing.T) {
	rc := &rowCounter{prefix: []byte("lb-g")}
	for _, chunk := range []string{"\nGROUP  TOPIC\nlb-g0001 t 0 1", "\n  lb-g0002 t 1 2\nother-g t 0\nlb-g0003 t"} {
		if _, err := rc.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	rc.flush()
	if rc.rows != 3 {
		t.Errorf("%d rows, want 3 (split writes, leading spaces, a last line without newline)", rc.rows)
	}
}

func TestMedianAndFormatting(t *testing.T) {
	if got := median([]time.Duration{3, 1, 2}); got != 2 {
		t.Errorf("median of 3 values: %v", got)
	}
	if got := median([]int64{4, 1, 3, 2}); got != 2 {
		t.Errorf("median of 4 whole numbers: %v (mean of the middle two, truncated)", got)
	}
	if got := median[float64](nil); got != 0 {
		t.Errorf("median of none: %v", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 52000: "52,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := relSize(0.5); got != "2.00× smaller" {
		t.Errorf("relSize(0.5) = %q", got)
	}
}

func TestTailBufferKeepsHeadAndTail(t *testing.T) {
	var short tailBuffer
	_, _ = short.Write([]byte("error: no brokers"))
	if got := short.String(); got != "error: no brokers" {
		t.Errorf("short output %q", got)
	}
	var long tailBuffer
	_, _ = long.Write([]byte("FIRST " + strings.Repeat("x", 5000) + " LAST"))
	got := long.String()
	if !strings.HasPrefix(got, "FIRST") || !strings.HasSuffix(got, "LAST") || !strings.Contains(got, "[...]") || len(got) > 4200 {
		t.Errorf("long output kept %d bytes: %.40q ... %.40q", len(got), got, got[len(got)-40:])
	}
}

func TestWithSetting(t *testing.T) {
	in := []byte(`{"settings":{"index":{"mode":"logsdb","mapping":{"source":{"mode":"synthetic"}}}},"mappings":{"dynamic":"strict"}}`)
	out, err := withSetting(in, "mapping", map[string]any{"source": map[string]any{"mode": "stored"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"settings":{"index":{"mapping":{"source":{"mode":"stored"}},"mode":"logsdb"}},"mappings":{"dynamic":"strict"}}`
	if string(out) != want {
		t.Errorf("withSetting = %s, want %s", out, want)
	}
	if _, err := withSetting([]byte(`{"mappings":{}}`), "mapping", 1); err == nil {
		t.Error("a body without settings.index: no error")
	}
}
