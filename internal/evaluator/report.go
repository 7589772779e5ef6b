package evaluator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// ReportQuery asks how the rules and the alert policy of the evaluator's
// settings would have judged the history from From to To (inclusive), one
// evaluation every Step, of one cluster or group when set.
type ReportQuery struct {
	From, To       time.Time
	Step           time.Duration
	Cluster, Group string
	JSON           bool
}

// Report is what a report found: per group, and in total.
type Report struct {
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	Step     string         `json:"step"`
	Settings ReportSettings `json:"settings"`
	Groups   []GroupReport  `json:"groups"`
	Total    ReportTotal    `json:"total"`
}

// ReportSettings are the settings the report ran with, so that two reports
// can be told apart.
type ReportSettings struct {
	WindowSize     int     `json:"window_size"`
	MinComplete    float64 `json:"min_complete"`
	AllowedLag     int64   `json:"allowed_lag"`
	MaxAge         string  `json:"max_age"`
	AlertThreshold string  `json:"alert_threshold"`
	AlertResend    string  `json:"alert_resend"`
}

// GroupReport is one group over the report's span. A group is counted from
// its first evaluation (a window, or NOTFOUND within the lookback).
type GroupReport struct {
	Cluster string `json:"cluster"`
	Group   string `json:"group"`
	// Steps are the evaluations of the group; each stands for Step.
	Steps int `json:"steps"`
	// Seconds is the time spent in each group status (OK, WARN, ERR,
	// NOTFOUND): steps in it times Step.
	Seconds   map[string]float64 `json:"seconds"`
	Worst     evaluate.Status    `json:"worst"`
	Incidents []ReportIncident   `json:"incidents"`
	// Alerts counts the alerts that would have been sent, by kind (open,
	// update, resend, close).
	Alerts map[notify.Kind]int `json:"alerts"`
}

// ReportIncident is an incident that would have opened.
type ReportIncident struct {
	Opened time.Time `json:"opened"`
	// Closed is zero for an incident still open at the end.
	Closed time.Time       `json:"closed"`
	Worst  evaluate.Status `json:"worst"`
	// Seconds the incident lasted, up to the end of the report when still
	// open.
	Seconds float64 `json:"seconds"`
}

// ReportTotal sums the groups.
type ReportTotal struct {
	Groups    int                 `json:"groups"`
	Steps     int                 `json:"steps"`
	Seconds   map[string]float64  `json:"seconds"`
	Incidents int                 `json:"incidents"`
	Alerts    map[notify.Kind]int `json:"alerts"`
}

// reportStatuses are the group statuses, in the report's column order.
var reportStatuses = []evaluate.Status{evaluate.OK, evaluate.Warn, evaluate.Err, evaluate.NotFound}

// Report evaluates every Step from From to To exactly as runs at those
// instants would (the same windows, rules and NOTFOUND), without writing
// anything or sending anything, and runs the alert policy over the
// verdicts from no incident at all: the incidents that would have opened
// and the alerts that would have gone out. It writes a table, or with JSON
// one Report document. Time lags beyond the window are not looked up: no
// verdict or incident depends on them.
func (e *Evaluator) Report(ctx context.Context, q ReportQuery, w io.Writer) error {
	if q.Step <= 0 || q.To.Before(q.From) {
		return fmt.Errorf("report: need From <= To and a positive Step, got %s to %s every %s", q.From, q.To, q.Step)
	}
	type state struct {
		rep *GroupReport
		inc notify.Incident
	}
	groups := map[[2]string]*state{}
	start := time.Now()
	steps := 0
	for at := q.From.UTC(); !at.After(q.To); at = at.Add(q.Step) {
		steps++
		_, err := e.evaluate(ctx, at, q.Cluster, q.Group, false, esindex.Shard{}, func(r evaluate.GroupResult) error {
			k := [2]string{r.Cluster, r.Group}
			st := groups[k]
			if st == nil {
				st = &state{rep: &GroupReport{Cluster: r.Cluster, Group: r.Group, Seconds: map[string]float64{}, Alerts: map[notify.Kind]int{}}}
				groups[k] = st
			}
			g := st.rep
			g.Steps++
			g.Seconds[r.Status.String()] += q.Step.Seconds()
			g.Worst = max(g.Worst, r.Status)
			if !e.cfg.Alert.Covers(r.Group) {
				return nil // no incident, no alert
			}
			next, kind := notify.Decide(st.inc, r.Cluster, r.Group, r.Status, at, e.cfg.Alert)
			if kind == notify.None {
				return nil // the stored incident changes only with an alert
			}
			g.Alerts[kind]++
			switch {
			case kind == notify.Open && !st.inc.Open:
				g.Incidents = append(g.Incidents, ReportIncident{Opened: at})
			case kind == notify.Close:
				inc := &g.Incidents[len(g.Incidents)-1]
				inc.Closed, inc.Seconds = at, at.Sub(inc.Opened).Seconds()
			}
			if len(g.Incidents) > 0 && next.Open {
				g.Incidents[len(g.Incidents)-1].Worst = next.WorstStatus
			}
			st.inc = notify.Delivered(next, kind, true, at)
			return nil
		})
		if err != nil {
			return fmt.Errorf("report: evaluation at %s: %w", at.Format(time.RFC3339), err)
		}
	}
	end := q.From.Add(time.Duration(steps) * q.Step)
	rep := Report{From: q.From.UTC(), To: q.To.UTC(), Step: q.Step.String(),
		Settings: ReportSettings{WindowSize: e.cfg.Rules.WindowSize, MinComplete: e.cfg.Rules.MinComplete, AllowedLag: e.cfg.Rules.AllowedLag,
			MaxAge: e.cfg.MaxAge.String(), AlertThreshold: threshold(e.cfg.Alert).String(), AlertResend: e.cfg.Alert.ResendEvery.String()},
		Total: ReportTotal{Seconds: map[string]float64{}, Alerts: map[notify.Kind]int{}}}
	for _, st := range groups {
		g := st.rep
		for i := range g.Incidents {
			if inc := &g.Incidents[i]; inc.Closed.IsZero() {
				inc.Seconds = end.Sub(inc.Opened).Seconds()
			}
		}
		if g.Incidents == nil {
			g.Incidents = []ReportIncident{}
		}
		rep.Groups = append(rep.Groups, *g)
		rep.Total.Groups++
		rep.Total.Steps += g.Steps
		rep.Total.Incidents += len(g.Incidents)
		for s, v := range g.Seconds {
			rep.Total.Seconds[s] += v
		}
		for k, n := range g.Alerts {
			rep.Total.Alerts[k] += n
		}
	}
	slices.SortFunc(rep.Groups, func(a, b GroupReport) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Group, b.Group))
	})
	if rep.Groups == nil {
		rep.Groups = []GroupReport{}
	}
	e.log.Info("report", "from", rep.From, "to", rep.To, "step", q.Step, "evaluations", steps, "groups", rep.Total.Groups,
		"incidents", rep.Total.Incidents, "duration", time.Since(start))
	if q.JSON {
		enc := json.NewEncoder(w)
		return enc.Encode(rep)
	}
	return writeReport(w, rep)
}

// threshold is the policy's effective threshold (WARN when unset).
func threshold(p notify.Policy) evaluate.Status {
	if p.Threshold == evaluate.NotFound {
		return evaluate.Warn
	}
	return p.Threshold
}

// alertKinds are the alert kinds, in the report's column order.
var alertKinds = []notify.Kind{notify.Open, notify.Update, notify.Resend, notify.Close}

// writeReport prints rep for people: one line per group and a total, then
// the incidents.
func writeReport(w io.Writer, rep Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	s := rep.Settings
	fmt.Fprintf(tw, "# %s to %s every %s; window %d, min complete %g, allowed lag %d, max age %s; alerts from %s, resent every %s\n",
		rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), rep.Step, s.WindowSize, s.MinComplete, s.AllowedLag, s.MaxAge,
		s.AlertThreshold, s.AlertResend)
	fmt.Fprintln(tw, "CLUSTER\tGROUP\tOK\tWARN\tERR\tNOTFOUND\tWORST\tINCIDENTS\tOPEN\tUPDATE\tRESEND\tCLOSE")
	line := func(cluster, group string, seconds map[string]float64, worst string, incidents int, alerts map[notify.Kind]int) {
		fmt.Fprintf(tw, "%s\t%s", cluster, group)
		for _, st := range reportStatuses {
			fmt.Fprintf(tw, "\t%s", span(seconds[st.String()]))
		}
		fmt.Fprintf(tw, "\t%s\t%d", worst, incidents)
		for _, k := range alertKinds {
			fmt.Fprintf(tw, "\t%d", alerts[k])
		}
		fmt.Fprintln(tw)
	}
	worst := evaluate.NotFound
	for _, g := range rep.Groups {
		line(g.Cluster, g.Group, g.Seconds, g.Worst.String(), len(g.Incidents), g.Alerts)
		worst = max(worst, g.Worst)
	}
	t := rep.Total
	line("TOTAL", fmt.Sprintf("%d groups", t.Groups), t.Seconds, worst.String(), t.Incidents, t.Alerts)
	if err := tw.Flush(); err != nil {
		return err
	}
	if t.Incidents == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "CLUSTER\tGROUP\tOPENED\tCLOSED\tWORST\tDURATION")
	for _, g := range rep.Groups {
		for _, inc := range g.Incidents {
			closed := "(open)"
			if !inc.Closed.IsZero() {
				closed = inc.Closed.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Cluster, g.Group, inc.Opened.Format(time.RFC3339), closed, inc.Worst, span(inc.Seconds))
		}
	}
	return tw.Flush()
}

// span prints seconds as a duration, "0" for none.
func span(seconds float64) string {
	if seconds == 0 {
		return "0"
	}
	return (time.Duration(seconds * float64(time.Second))).String()
}
