package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/evaluator"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestReportCommand runs `evaluator report` over a history in the real
// Elasticsearch: twelve ticks, 30 s apart, of group "relay", which keeps up,
// stops for ticks 4 to 7 (its offset frozen, no member), then catches up.
// With the default rules and a window of 3, the report must find one
// incident (ERR) that opened and closed inside the span, with its open and
// close alerts; the table with EVALUATOR_ALERT_THRESHOLD=ERR says so in its
// settings line; and nothing may be written: no status document, no
// incident.
func TestReportCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "report")
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	tick := func(i int) time.Time { return t0.Add(time.Duration(i) * 30 * time.Second) }
	var snaps []snapshot.Snapshot
	for i := range 12 {
		end := int64(100 * (i + 1))
		committed, state := end, "Stable"
		var members []snapshot.Member
		if i >= 4 && i <= 7 {
			committed, state = 400, "Empty"
		} else {
			members = []snapshot.Member{{MemberID: "m-1", ClientID: "relay", Host: "/10.0.0.9"}}
		}
		g := snapshot.Group{ID: "relay", State: state, ProtocolType: "consumer", Members: members,
			Partitions: []snapshot.Partition{{Topic: "events", Partition: 0, Committed: committed, HasCommitted: true, LogEnd: end, HasOffsets: true}}}
		if len(members) > 0 {
			g.Partitions[0].Owner = &g.Members[0]
		}
		snaps = append(snaps, snapshot.Snapshot{Cluster: "rep", Time: tick(i), Groups: []snapshot.Group{g}})
	}
	h.Write(ctx, t, snaps...)
	t.Setenv("ELASTICSEARCH_URL", testenv.Elasticsearch(t))
	t.Setenv("ELASTICSEARCH_NAMESPACE", h.Namespace)
	t.Setenv("EVALUATOR_WINDOW_SIZE", "3")
	t.Setenv("EVALUATOR_HTTP_ADDR", "")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")

	var out, stderr bytes.Buffer
	args := []string{"report", "--from", tick(0).Format(time.RFC3339), "--to", tick(11).Format(time.RFC3339), "--step", "30s", "--json"}
	if err := run(ctx, args, &out, &stderr); err != nil {
		t.Fatalf("report: %v\n%s", err, stderr.String())
	}
	var rep evaluator.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.String())
	}
	if len(rep.Groups) != 1 || rep.Groups[0].Group != "relay" || rep.Groups[0].Steps != 12 {
		t.Fatalf("groups %+v, want relay evaluated 12 times", rep.Groups)
	}
	g := rep.Groups[0]
	if len(g.Incidents) != 1 || g.Incidents[0].Worst.String() != "ERR" || g.Incidents[0].Closed.IsZero() ||
		g.Alerts["open"] != 1 || g.Alerts["close"] != 1 {
		t.Errorf("relay: incidents %+v, alerts %v; want one ERR incident, opened and closed, one open and one close alert", g.Incidents, g.Alerts)
	}
	inc := g.Incidents[0]
	if !inc.Opened.After(tick(4)) || inc.Opened.After(tick(8)) || !inc.Closed.After(inc.Opened) {
		t.Errorf("incident %+v: want it opened during the stop (after tick 4, by tick 8) and closed after", inc)
	}
	if g.Seconds["ERR"] == 0 || g.Seconds["OK"] == 0 || g.Seconds["OK"]+g.Seconds["ERR"]+g.Seconds["WARN"] != 12*30 {
		t.Errorf("relay seconds %v: want OK and ERR summing with WARN to 12 steps of 30 s", g.Seconds)
	}

	// The table, with another threshold; a report writes nothing.
	t.Setenv("EVALUATOR_ALERT_THRESHOLD", "ERR")
	out.Reset()
	if err := run(ctx, args[:len(args)-1], &out, &stderr); err != nil {
		t.Fatalf("report (table): %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"alerts from ERR", "relay", "TOTAL", "1 groups", "(open)"} {
		if want == "(open)" {
			if strings.Contains(out.String(), want) {
				t.Errorf("the table shows an incident still open:\n%s", out.String())
			}
			continue
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("table without %q:\n%s", want, out.String())
		}
	}
	for _, index := range []string{h.Names.Status, h.Names.Incidents, h.Names.IncidentLog} {
		res, err := h.ES.Count(h.ES.Count.WithIndex(index), h.ES.Count.WithIgnoreUnavailable(true), h.ES.Count.WithAllowNoIndices(true))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			Count int `json:"count"`
		}
		err = json.NewDecoder(res.Body).Decode(&c)
		res.Body.Close()
		if err != nil || c.Count != 0 {
			t.Errorf("%s holds %d documents after reports (%v), want none", index, c.Count, err)
		}
	}
}

// TestReportUsage: bad report arguments are refused with one line naming
// what is wrong, as usage errors (exit status 2).
func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --to", []string{"report", "--from", "2026-01-01 00:00"}, "report needs --from and --to"},
		{"reversed", []string{"report", "--from", "2026-01-02 00:00", "--to", "2026-01-01 00:00"}, "--to is before --from"},
		{"bad step", []string{"report", "--from", "2026-01-01 00:00", "--to", "2026-01-02 00:00", "--step", "0s"}, "--step must be positive"},
		{"bad time", []string{"report", "--from", "yesterday", "--to", "2026-01-02 00:00"}, `--from: "yesterday" is not a time`},
		{"too many steps", []string{"report", "--from", "2026-01-01 00:00", "--to", "2027-01-01 00:00", "--step", "1s"}, "too long"},
		{"stray argument", []string{"report", "--from", "2026-01-01 00:00", "--to", "2026-01-02 00:00", "extra"}, "unexpected arguments: extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			_, err := parseArgs(tc.args, &stderr)
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
				t.Errorf("parseArgs(%q) = %v, want a usage error with %q", tc.args, err, tc.want)
			}
		})
	}
}
