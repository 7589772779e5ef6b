package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestTwoCollectorsStoreEachTickOnce runs two collectors of one cluster on
// one schedule aligned to the clock (every 2 s, on even seconds): they plan
// the same tick times, so they write the same document ids, and
// Elasticsearch keeps one document per group, partition and tick. Each
// collector's summaries count what it wrote and what the other had written
// first (duplicates).
func TestTwoCollectorsStoreEachTickOnce(t *testing.T) {
	group := committedGroup(t, "ha", map[int]int64{0: 4}, 10)
	ns := setCollectorEnv(t, group)
	t.Setenv("COLLECTOR_SCHEDULE", "*/2 * * * * *")
	bin := testenv.BuildProgram(t, ".")
	var procs []*testenv.Process
	for range 2 {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "COLLECTOR_SPOOL_DIR="+t.TempDir())
		procs = append(procs, testenv.StartProcess(t, cmd))
	}
	// Four ticks each.
	for range 4 {
		for _, p := range procs {
			p.WaitFor(t, `"msg":"tick"`, 30*time.Second)
		}
	}
	for _, p := range procs {
		p.Terminate(t, `"msg":"collector stopped"`, 30*time.Second)
	}

	es := testenv.ESClient(t)
	index := "metrics-lagwatch.offsets-" + ns
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index)); err == nil {
		res.Body.Close()
	}
	body := `{"size":0,"query":{"term":{"kafka.consumergroup.id":"` + group + `"}},` +
		`"aggs":{"ticks":{"terms":{"field":"@timestamp","size":100}}}}`
	res, err := es.Search(es.Search.WithIndex(index), es.Search.WithBody(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggregations struct {
			Ticks struct {
				Buckets []struct {
					Key      int64 `json:"key"`
					DocCount int   `json:"doc_count"`
				} `json:"buckets"`
			} `json:"ticks"`
		} `json:"aggregations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	ticks := out.Aggregations.Ticks.Buckets
	if len(ticks) < 4 {
		t.Fatalf("%d tick times stored, want at least 4", len(ticks))
	}
	for _, b := range ticks {
		at := time.UnixMilli(b.Key).UTC()
		if b.DocCount != 1 {
			t.Errorf("tick %s: %d documents of the group's one partition, want 1", at.Format(time.RFC3339Nano), b.DocCount)
		}
		if at.Nanosecond() != 0 || at.Second()%2 != 0 {
			t.Errorf("tick %s: not the planned even second", at.Format(time.RFC3339Nano))
		}
	}
}
