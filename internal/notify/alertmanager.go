package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Sink receives alerts. Label names it in logs and metrics.
type Sink interface {
	Label() string
	Send(ctx context.Context, a Alert) error
}

// Refresher is a sink that must hear again about an open incident while
// nothing changes (Alertmanager resolves an alert whose endsAt passed).
type Refresher interface {
	Sink
	Refresh(ctx context.Context, a Alert) error
}

// AlertName is the alertname label of every group's alert lagwatch posts;
// StaleAlertName that of a stale cluster's.
const (
	AlertName      = "KafkaConsumerGroupStatus"
	StaleAlertName = "KafkaLagDataStale"
)

// Alertmanager posts incidents to Prometheus Alertmanager's API v2
// (POST /api/v2/alerts), to every URL, as Prometheus does with the members
// of an Alertmanager cluster.
//
// Each incident is an alert with labels alertname, cluster, group, status
// and severity (warning for WARN, critical for ERR), and annotations with a
// summary, the lags, the worst partition and, when a dashboard URL is set,
// a link to the group's dashboard. The status is a label, so a change of
// status resolves the alert of the old status and fires the new one; a
// close resolves it. A firing alert ends, for Alertmanager, at endsAt
// (ResolveAfter from now): Refresh posts it again at every evaluation while
// the incident is open, well before that.
type Alertmanager struct {
	// Targets are one webhook per Alertmanager: URL ending in
	// /api/v2/alerts, timeout, retries, client.
	Targets []*Webhook
	// DashboardURL is Grafana's base URL; empty for no link.
	DashboardURL string
	// ResolveAfter is how long a firing alert stays firing without being
	// posted again; 5 minutes when 0.
	ResolveAfter time.Duration
}

// Label names the sink.
func (am *Alertmanager) Label() string { return "alertmanager" }

// AlertmanagerAPI is the path alerts are posted to, below an
// Alertmanager's base URL.
const AlertmanagerAPI = "/api/v2/alerts"

// postableAlert is Alertmanager's PostableAlert.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Send posts what alert a means for Alertmanager: the alert firing (open,
// resend), firing under its new status with the old one resolved (update),
// or resolved (close).
func (am *Alertmanager) Send(ctx context.Context, a Alert) error {
	var alerts []postableAlert
	switch a.Kind {
	case Close:
		alerts = append(alerts, am.alert(a, a.Previous, true))
	case Update:
		if a.Previous != "" && a.Previous != a.Status {
			alerts = append(alerts, am.alert(a, a.Previous, true))
		}
		alerts = append(alerts, am.alert(a, a.Status, false))
	default:
		alerts = append(alerts, am.alert(a, a.Status, false))
	}
	return am.post(ctx, alerts)
}

// Refresh posts an open incident's alert again, firing.
func (am *Alertmanager) Refresh(ctx context.Context, a Alert) error {
	return am.post(ctx, []postableAlert{am.alert(a, a.Status, false)})
}

func (am *Alertmanager) post(ctx context.Context, alerts []postableAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range am.Targets {
		if err := t.deliver(ctx, body); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// Severity is the severity label of a group status, or of StaleStatus:
// a monitor gone blind is as grave as a group in ERR.
func Severity(status string) string {
	if status == "ERR" || status == StaleStatus {
		return "critical"
	}
	return "warning"
}

// alert is a's alert under status, firing or resolved (endsAt now).
func (am *Alertmanager) alert(a Alert, status string, resolved bool) postableAlert {
	after := am.ResolveAfter
	if after <= 0 {
		after = 5 * time.Minute
	}
	p := postableAlert{
		Labels: map[string]string{"alertname": AlertName, "cluster": a.Cluster, "group": a.Group,
			"status": status, "severity": Severity(status)},
		Annotations: map[string]string{
			"summary":   fmt.Sprintf("Consumer group %s on %s is %s", a.Group, a.Cluster, a.Status),
			"total_lag": strconv.FormatInt(a.TotalLag, 10),
		},
		StartsAt: a.OpenedAt,
		EndsAt:   a.At.Add(after),
	}
	if a.Stale != nil {
		// A cluster's alert: no group, no lag; one alert per cluster.
		p.Labels = map[string]string{"alertname": StaleAlertName, "cluster": a.Cluster, "status": status, "severity": Severity(status)}
		p.Annotations = map[string]string{"summary": a.Summary()}
		if !a.Stale.NewestTick.IsZero() {
			p.Annotations["newest_tick"] = a.Stale.NewestTick.UTC().Format(time.RFC3339)
		}
	}
	if a.OpenedAt.IsZero() {
		p.StartsAt = a.At
	}
	if resolved {
		p.EndsAt = a.At
	}
	if a.TimeLagSeconds >= 0 {
		p.Annotations["time_lag"] = (time.Duration(a.TimeLagSeconds * float64(time.Second))).Round(time.Second).String()
	}
	if a.MaxLagTopic != "" {
		p.Annotations["worst_partition"] = fmt.Sprintf("%s/%d (lag %d)", a.MaxLagTopic, a.MaxLagPartition, a.MaxLag)
	}
	if am.DashboardURL != "" {
		link := dashboardLink(am.DashboardURL, a)
		p.Annotations["dashboard"] = link
		p.GeneratorURL = link
	}
	return p
}
