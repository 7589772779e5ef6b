package evaluator

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// steppedHistory gives each instant its own windows.
type steppedHistory struct {
	*fakeHistory
	at func(time.Time) []evaluate.GroupWindow
}

func (h steppedHistory) ReadWindows(_ context.Context, q esindex.WindowQuery, fn func(evaluate.GroupWindow) error) (esindex.WindowStats, error) {
	for _, w := range h.at(q.At) {
		if q.Group != "" && w.Group != q.Group {
			continue
		}
		if err := fn(w); err != nil {
			return esindex.WindowStats{}, err
		}
	}
	return esindex.WindowStats{Requests: 1}, nil
}

// TestReport: ten minutes at a one-minute step (eleven evaluations). Group
// "flaky" is stopped from 00:03 to 00:05, OK otherwise; "steady" is OK
// throughout; "gone" is known but has no window (NOTFOUND). The report
// must say how long each spent in each status, the one incident flaky
// would have opened and closed, and the alerts: open and close, a resend
// with a resend interval short enough.
func TestReport(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t)
	h.history.known = []esindex.GroupKey{{Cluster: "c", Group: "gone"}}
	sh := steppedHistory{fakeHistory: h.history, at: func(at time.Time) []evaluate.GroupWindow {
		m := int(at.Sub(t0) / time.Minute)
		return []evaluate.GroupWindow{window("flaky", m >= 3 && m <= 5, at), window("steady", false, at)}
	}}
	run := func(resend time.Duration, q ReportQuery) Report {
		cfg := h.cfg
		cfg.Alert.ResendEvery = resend
		e := New(cfg, Parts{History: sh, Statuses: h.statuses, Incidents: h.store, Log: h.Evaluator.log})
		var out bytes.Buffer
		q.JSON = true
		if err := e.Report(context.Background(), q, &out); err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("report JSON: %v\n%s", err, out.String())
		}
		return rep
	}
	q := ReportQuery{From: t0, To: t0.Add(10 * time.Minute), Step: time.Minute}
	rep := run(time.Hour, q)
	byGroup := map[string]GroupReport{}
	for _, g := range rep.Groups {
		byGroup[g.Group] = g
	}
	flaky := byGroup["flaky"]
	if flaky.Steps != 11 || flaky.Seconds["OK"] != 8*60 || flaky.Seconds["ERR"] != 3*60 || flaky.Worst != evaluate.Err {
		t.Errorf("flaky: %+v; want 11 steps, 8 min OK, 3 min ERR, worst ERR", flaky)
	}
	wantInc := []ReportIncident{{Opened: t0.Add(3 * time.Minute), Closed: t0.Add(6 * time.Minute), Worst: evaluate.Err, Seconds: 180}}
	if !reflect.DeepEqual(flaky.Incidents, wantInc) {
		t.Errorf("flaky incidents %+v, want %+v", flaky.Incidents, wantInc)
	}
	if want := map[notify.Kind]int{notify.Open: 1, notify.Close: 1}; !reflect.DeepEqual(flaky.Alerts, want) {
		t.Errorf("flaky alerts %v, want %v", flaky.Alerts, want)
	}
	if g := byGroup["steady"]; g.Seconds["OK"] != 11*60 || len(g.Incidents) != 0 || len(g.Alerts) != 0 {
		t.Errorf("steady: %+v; want 11 min OK, no incident, no alert", g)
	}
	if g := byGroup["gone"]; g.Seconds["NOTFOUND"] != 11*60 || len(g.Incidents) != 0 {
		t.Errorf("gone: %+v; want 11 min NOTFOUND, no incident", g)
	}
	if tot := rep.Total; tot.Groups != 3 || tot.Incidents != 1 || tot.Alerts[notify.Open] != 1 || tot.Seconds["OK"] != 19*60 {
		t.Errorf("total %+v; want 3 groups, 1 incident, 1 open alert, 19 min OK", tot)
	}
	if rep.Settings.AlertThreshold != "WARN" || rep.Settings.WindowSize != 3 {
		t.Errorf("settings %+v", rep.Settings)
	}

	// Another policy, another answer: resent every minute while open.
	if a := run(time.Minute, q); a.Total.Alerts[notify.Resend] != 2 {
		t.Errorf("with a 1 min resend: alerts %v, want 2 resends (00:04 and 00:05)", a.Total.Alerts)
	}
	// One group, and an incident still open at the end.
	q.Group, q.To = "flaky", t0.Add(4*time.Minute)
	one := run(time.Hour, q)
	if len(one.Groups) != 1 || len(one.Groups[0].Incidents) != 1 || !one.Groups[0].Incidents[0].Closed.IsZero() ||
		one.Groups[0].Incidents[0].Seconds != 120 {
		t.Errorf("flaky to 00:04: %+v; want one incident, open, lasting to the end of the last step (2 min)", one.Groups)
	}

	// The table for people: the settings line, one line per group and a
	// total, then the incidents.
	var table bytes.Buffer
	e := New(h.cfg, Parts{History: sh, Statuses: h.statuses, Incidents: h.store, Log: h.Evaluator.log})
	if err := e.Report(context.Background(), ReportQuery{From: t0, To: t0.Add(10 * time.Minute), Step: time.Minute}, &table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# 2026-05-01T00:00:00Z to 2026-05-01T00:10:00Z every 1m0s", "flaky", "8m0s", "3m0s",
		"TOTAL", "3 groups", "2026-05-01T00:03:00Z  2026-05-01T00:06:00Z  ERR"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table without %q:\n%s", want, table.String())
		}
	}
}
