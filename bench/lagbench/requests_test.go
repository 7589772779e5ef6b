package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/bench/internal/brokerstats"
)

func TestRequestTable(t *testing.T) {
	cols := []requestColumn{
		{label: "collector", runs: []brokerstats.Counts{{"Metadata": 2, "OffsetFetch": 1}, {"Metadata": 1, "OffsetFetch": 1}}},
		{label: "tool", runs: []brokerstats.Counts{{"FindCoordinator": 1001, "OffsetFetch": 1000}}},
		{label: "no runs"},
	}
	got := requestTable(cols)
	want := `| request type | collector | tool | no runs |
|---|---|---|---|
| FindCoordinator | 0 | 1,001 | ? |
| Metadata | 1.5 | 0 | ? |
| OffsetFetch | 1 | 1,000 | ? |
| **total** | **2.5** | **2,001** | ? |

`
	// Medians of two runs end in .5 rather than being cut; a type a program
	// never sent is 0; a program without runs is unknown, not 0.
	if got != want {
		t.Errorf("table\n%s\nwant\n%s", got, want)
	}
}

func TestAgreement(t *testing.T) {
	tests := []struct {
		name        string
		broker, own brokerstats.Counts
		want        string
	}{
		{"the same counts", brokerstats.Counts{"Metadata": 1, "ListGroups": 1}, brokerstats.Counts{"ListGroups": 1, "Metadata": 1}, "yes"},
		{"a background metadata refresh after the read, seen by the broker only",
			brokerstats.Counts{"Metadata": 2, "ListGroups": 1}, brokerstats.Counts{"Metadata": 1, "ListGroups": 1},
			"no: Metadata: broker 2, collector 1"},
		{"a type only one side saw", brokerstats.Counts{"ListGroups": 1}, brokerstats.Counts{"ApiVersions": 1, "ListGroups": 1},
			"no: ApiVersions: broker 0, collector 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := agreement(tc.broker, tc.own); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestsMarkdown(t *testing.T) {
	l := layout{GroupPartitions: 500}
	ticks := []tickResult{{Run: 1, OwnByType: brokerstats.Counts{"ListGroups": 1, "Metadata": 1},
		Broker: brokerstats.Counts{"ListGroups": 1, "Metadata": 1, "BrokerHeartbeat": 1}}}
	tests := []struct {
		name string
		r    report
		want []string // substrings of the section
	}{
		{"broker counts: the client types in the table, the broker's own requests to its controller per run only",
			report{layout: l, ticks: ticks, toolAll: []toolResult{
				{Rows: 500, Broker: brokerstats.Counts{"OffsetFetch": 101, "BrokerHeartbeat": 2}},
				{Rows: 10, Broker: brokerstats.Counts{"OffsetFetch": 9}}, // incomplete: left out of the median
			}},
			[]string{"RequestMetrics", "| request type | collector tick, 1 run | `--all-groups`, 1 run |",
				"| OffsetFetch | 0 | 101 |", "| **total** | **2** | **101** |",
				"| collector tick 1 | ListGroups 1, Metadata 1 (2) | BrokerHeartbeat 1 (1) | ListGroups 1, Metadata 1 (2) | yes |"}},
		{"no broker counts: said, and the collector's own counts instead",
			report{layout: l, ticks: ticks, brokerCountsErr: errors.New("TESTENV_KAFKA_JMX is not set")},
			[]string{"not available: TESTENV_KAFKA_JMX is not set", "| request type | collector tick, its own count, 1 run |",
				"| Metadata | 1 |", "| **total** | **2** |"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.requestsMarkdown()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, got)
				}
			}
			if strings.Contains(strings.Split(got, "Per run")[0], "BrokerHeartbeat |") {
				t.Errorf("BrokerHeartbeat has a row in the table:\n%s", got)
			}
		})
	}
}
