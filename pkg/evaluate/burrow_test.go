package evaluate

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/golden"
)

// burrowGroup is a group with one partition of each interesting kind.
func burrowGroup() GroupWindow {
	stop := gone(repeat(100, 10), ramp(150, 10, 10))
	warn := live(ramp(0, 10, 10), ramp(80, 20, 10)) // WARN, time lag interpolated: 253.5s
	for i := range warn {
		warn[i].ClientID, warn[i].Host = "billing-worker", "/10.0.0.7"
	}
	noCommit := live(repeat(0, 10), ramp(0, 5, 10))
	for i := range noCommit {
		noCommit[i].HasCommitted, noCommit[i].HasLag = false, false
	}
	behind := live(repeat(900, 3), ints(1000, 1100, 1200)) // STALL, time lag a lower bound
	return GroupWindow{
		Cluster: "prod-eu",
		Group:   "billing v2/eu",
		Partitions: []PartitionWindow{
			part("payments", 1, warn),
			part("payments", 0, okWindow),
			part("invoices", 0, stop),
			part("invoices", 1, noCommit),
			part("invoices", 2, behind),
		},
	}
}

func TestBurrowGolden(t *testing.T) {
	now := after(okWindow)
	lag := func(g GroupResult) BurrowLagResponse { return g.BurrowLag() }
	status := func(g GroupResult) BurrowLagResponse { return g.BurrowStatus() }
	staleLag := func(g GroupResult) BurrowLagResponse {
		newest := okWindow[len(okWindow)-1].Time
		g.MarkStale(Freshness{NewestTick: newest, Stale: true, After: 5 * tick, StaleAt: newest.Add(5 * tick),
			Reason: "no collector tick since " + newest.Format(time.RFC3339)}, newest.Add(20*time.Minute))
		return g.BurrowLag()
	}
	cases := []struct {
		name   string
		reason string
		group  GroupWindow
		view   func(GroupResult) BurrowLagResponse
		file   string
	}{
		{"lag of a group with problems", "/lag: every partition, maxlag, totallag, time lag", burrowGroup(), lag, "burrow_lag.json"},
		{"status of a group with problems", "/status: only the partitions worse than OK", burrowGroup(), status, "burrow_status.json"},
		{"status all OK", "partitions is [] (not null) when all are OK; maxlag still set", GroupWindow{Cluster: "prod-eu", Group: "quiet", Partitions: []PartitionWindow{part("t", 0, okWindow)}}, status, "burrow_status_ok.json"},
		{"lag not found", "Burrow's NOTFOUND body: error false, status NOTFOUND, complete 1, partitions [], maxlag null, totallag 0", GroupWindow{Cluster: "prod-eu", Group: "gone"}, lag, "burrow_lag_notfound.json"},
		{"lag of a stale cluster's group", "Burrow's fields unchanged but time lags grown as lower bounds; lagwatch says stale, since when and why", burrowGroup(), staleLag, "burrow_lag_stale.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.MarshalIndent(tc.view(EvaluateGroup(tc.group, Rules{}, now)), "", "  ")
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", tc.file), got, "the body ("+tc.reason+")")
		})
	}
}

// TestBurrowShape checks the view against the field names Burrow's clients
// read, independently of the golden file.
func TestBurrowShape(t *testing.T) {
	g := EvaluateGroup(burrowGroup(), Rules{}, after(okWindow))
	b, err := json.Marshal(g.BurrowStatus())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Error   *bool   `json:"error"`
		Message *string `json:"message"`
		Status  struct {
			Cluster, Group, Status string
			Complete               *float64
			Partitions             []map[string]json.RawMessage
			PartitionCount         *int `json:"partition_count"`
			MaxLag                 map[string]json.RawMessage
			TotalLag               *int64 `json:"totallag"`
		} `json:"status"`
		Request map[string]string `json:"request"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		reason string
		ok     bool
	}{
		{"error false", "a found group", v.Error != nil && !*v.Error},
		{"message", "Burrow's text", v.Message != nil && *v.Message == "consumer status returned"},
		{"status ERR", "STOP and STALL map to ERR", v.Status.Status == "ERR"},
		{"partition_count counts all", "5 partitions with documents", v.Status.PartitionCount != nil && *v.Status.PartitionCount == 5},
		{"partitions lists the non-OK ones", "WARN, STOP, STALL", len(v.Status.Partitions) == 3},
		{"totallag", "170 + 140 + 300", v.Status.TotalLag != nil && *v.Status.TotalLag == 610},
		{"maxlag", "invoices/2 has 300", string(v.Status.MaxLag["topic"]) == `"invoices"` && string(v.Status.MaxLag["partition"]) == "2"},
		{"request url escapes the group", "space and slash", v.Request["url"] == "/v3/kafka/prod-eu/consumer/billing%20v2%2Feu/status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("%s; got %s", tc.reason, b)
			}
		})
	}
	for _, p := range v.Status.Partitions {
		for _, k := range []string{"topic", "partition", "owner", "client_id", "status", "start", "end", "current_lag", "complete", "time_lag_seconds"} {
			if _, ok := p[k]; !ok {
				t.Errorf("partition %s lacks %q", p["topic"], k)
			}
		}
	}
}

// TestBurrowNotFound checks Burrow's answer for an unknown group field by
// field, as the real Burrow gave it: HTTP 404, error false.
func TestBurrowNotFound(t *testing.T) {
	g := EvaluateGroup(GroupWindow{Cluster: "prod-eu", Group: "nosuchgroup"}, Rules{}, t0)
	for _, view := range []struct {
		name string
		resp BurrowLagResponse
	}{{"lag", g.BurrowLag()}, {"status", g.BurrowStatus()}} {
		t.Run(view.name, func(t *testing.T) {
			b, err := json.Marshal(view.resp)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			st, _ := v["status"].(map[string]any)
			cases := []struct {
				name, reason string
				ok           bool
			}{
				{"http 404", "Burrow answers NOTFOUND with 404", g.HTTPStatus() == 404},
				{"error false", "Burrow sets error false even on 404", v["error"] == false},
				{"message", "Burrow's text", v["message"] == "consumer status returned"},
				{"status object", "present, not omitted", st != nil},
				{"status NOTFOUND", "Burrow's string", st["status"] == "NOTFOUND"},
				{"complete 1", "Burrow's evaluator answers complete", st["complete"] == 1.0},
				{"partitions []", "an empty list, not null", fmt.Sprint(st["partitions"]) == "[]" && st["partitions"] != nil},
				{"partition_count 0", "no partition", st["partition_count"] == 0.0},
				{"maxlag null", "no partition", st["maxlag"] == nil},
				{"totallag 0", "no lag", st["totallag"] == 0.0},
				{"cluster and group echoed", "as requested", st["cluster"] == "prod-eu" && st["group"] == "nosuchgroup"},
			}
			for _, tc := range cases {
				if !tc.ok {
					t.Errorf("%s: %s; got %s", tc.name, tc.reason, b)
				}
			}
		})
	}
}
