package brokerstats_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/bench/internal/brokerstats"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/segmentio/kafka-go"
)

// col is a JmxTool column name of a RequestsPerSec meter.
func col(request, version string) string {
	return `"kafka.network:type=RequestMetrics,name=RequestsPerSec,request=` + request + `,version=` + version + `:Count"`
}

func TestParse(t *testing.T) {
	// What JmxTool printed (standard output) for ObjectName on the test
	// broker, Kafka 4.1.2, after a small lagbench run: the collector (kafka-go)
	// and Kafka's Java clients use other versions of the same types.
	sample, err := os.ReadFile(filepath.Join("testdata", "jmxtool-kafka-4.1.2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    brokerstats.Counts
		wantErr string // substring of the error; "" for none
	}{
		{"Kafka 4.1.2's output: the versions of a type summed, Fetch and its FetchConsumer sub-count kept apart", string(sample),
			brokerstats.Counts{"AllocateProducerIds": 1, "ApiVersions": 94, "BrokerHeartbeat": 138, "BrokerRegistration": 1,
				"ConsumerGroupDescribe": 3, "ControllerRegistration": 1, "CreateTopics": 5, "DeleteGroups": 1, "DeleteTopics": 2,
				"DescribeGroups": 5, "Fetch": 3, "FetchConsumer": 3, "FindCoordinator": 308, "InitProducerId": 2, "JoinGroup": 2,
				"LeaveGroup": 1, "ListGroups": 5, "ListOffsets": 207, "Metadata": 60, "OffsetCommit": 101, "OffsetFetch": 205,
				"Produce": 166, "SyncGroup": 1}, ""},
		{"two versions of one type add up", `"time",` + col("Metadata", "8") + "," + col("Metadata", "13") + "\n1,7,53\n",
			brokerstats.Counts{"Metadata": 60}, ""},
		{"a name without a version key (before Kafka 2.0) counts too",
			`"time","kafka.network:type=RequestMetrics,name=RequestsPerSec,request=Produce:Count"` + "\n1,4\n",
			brokerstats.Counts{"Produce": 4}, ""},
		{"another attribute or MBean is not a request count",
			`"time",` + col("Metadata", "13") + `,"kafka.network:type=RequestMetrics,name=RequestsPerSec,request=Metadata,version=13:OneMinuteRate","kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Metadata:Count"` + "\n1,5,0.2,9\n",
			brokerstats.Counts{"Metadata": 5}, ""},
		{"a line before the header is skipped", "note\n" + `"time",` + col("ApiVersions", "4") + "\n1,2\n",
			brokerstats.Counts{"ApiVersions": 2}, ""},
		{"only the time column: no meter matched", "\"time\"\n1796410611627\n", brokerstats.Counts{}, ""},
		{"a count that is not a whole number", `"time",` + col("Metadata", "13") + "\n1,1.5\n", nil, "not a count"},
		{"values missing for some columns", `"time",` + col("Metadata", "13") + "\n1\n", nil, "1 values for 2 columns"},
		{"no output at all", "", nil, "no header line"},
		{"a header but no values", `"time",` + col("Metadata", "13") + "\n", nil, "no values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := brokerstats.Parse(strings.NewReader(tc.in))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name          string
		after, before brokerstats.Counts
		want          brokerstats.Counts
	}{
		{"grown types only", brokerstats.Counts{"Metadata": 9, "ApiVersions": 4}, brokerstats.Counts{"Metadata": 6, "ApiVersions": 4},
			brokerstats.Counts{"Metadata": 3}},
		{"a type first answered between the snapshots counts from zero", brokerstats.Counts{"OffsetFetch": 2, "Metadata": 1},
			brokerstats.Counts{"Metadata": 1}, brokerstats.Counts{"OffsetFetch": 2}},
		{"a broker restarted in between shows as negative", brokerstats.Counts{"Metadata": 1}, brokerstats.Counts{"Metadata": 5, "Produce": 2},
			brokerstats.Counts{"Metadata": -4, "Produce": -2}},
		{"nothing answered", brokerstats.Counts{"Metadata": 1}, brokerstats.Counts{"Metadata": 1}, brokerstats.Counts{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := brokerstats.Diff(tc.after, tc.before); !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTotalAndSplit(t *testing.T) {
	c := brokerstats.Counts{"Fetch": 5, "FetchConsumer": 3, "FetchFollower": 2, "Metadata": 4, "BrokerHeartbeat": 7}
	// FetchConsumer and FetchFollower count Fetch requests again.
	if got := c.Total(); got != 16 {
		t.Errorf("total %d, want 16 (Fetch 5 + Metadata 4 + BrokerHeartbeat 7)", got)
	}
	clients, internal := c.Split()
	if want := (brokerstats.Counts{"Fetch": 5, "FetchConsumer": 3, "Metadata": 4}); !maps.Equal(clients, want) {
		t.Errorf("clients %v, want %v", clients, want)
	}
	if want := (brokerstats.Counts{"FetchFollower": 2, "BrokerHeartbeat": 7}); !maps.Equal(internal, want) {
		t.Errorf("internal %v, want %v", internal, want)
	}
}

// TestSnapshotCountsRequests sends a known number of Metadata requests to
// the test broker and reads them back from its own counts. It asks for at
// least that many: `go test ./...` runs packages in parallel against the
// same broker, and any of them may send Metadata meanwhile. TestParse pins
// the reading itself exactly.
func TestSnapshotCountsRequests(t *testing.T) {
	addr := testenv.KafkaJMX(t)
	brokers := testenv.Kafka(t)
	tool := brokerstats.JmxTool{Classpath: testenv.KafkaClasspath(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	before, err := tool.Snapshot(ctx, addr)
	if err != nil {
		t.Fatalf("snapshot before: %v", err)
	}
	// A bare connection: one ApiVersions when it first negotiates, then one
	// Metadata per ReadPartitions, and no background refresh.
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	for i := 0; i < n; i++ {
		if _, err := conn.ReadPartitions(); err != nil {
			t.Fatalf("metadata request %d: %v", i+1, err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}

	// The broker counts a request once its answer is sent, which can be a
	// moment after the client has read it.
	for {
		after, err := tool.Snapshot(ctx, addr)
		if err != nil {
			t.Fatalf("snapshot after: %v", err)
		}
		d := brokerstats.Diff(after, before)
		if d["Metadata"] >= n && d["ApiVersions"] >= 1 {
			t.Logf("counted meanwhile: %v", d)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the broker counted %v since the first snapshot; want Metadata >= %d and ApiVersions >= 1", d, n)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func TestSnapshotUnreachable(t *testing.T) {
	// A port nothing listens on fails on the first dial, before JmxTool
	// (which would retry for 10 s) is started: the classpath is never used.
	_, err := brokerstats.JmxTool{Classpath: "unused"}.Snapshot(context.Background(), testenv.FreeAddr(t))
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("error %v, want one saying unreachable", err)
	}
}
