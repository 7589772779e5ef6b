package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// Alert is what a template sees.
type Alert struct {
	Kind           Kind
	Cluster, Group string
	// Status is the group's status now; Previous the one last stored (""
	// for a new incident); Worst the worst while open.
	Status, Previous, Worst string
	At                      time.Time
	OpenedAt                time.Time
	TotalLag                int64
	MaxLagTopic             string
	MaxLagPartition         int
	MaxLag                  int64
	// TimeLagSeconds is the group's time lag; negative when unknown.
	TimeLagSeconds float64
	// Partitions are the partitions that are not OK.
	Partitions []AlertPartition
	// Stale is set on a cluster's alert (NewStaleAlert): no lag data from
	// the cluster since NewestTick. Group is empty then, and the lags are
	// zero. Nil on a group's alert.
	Stale *StaleAlert
}

// NewAlert is the alert of kind about result r at instant at, the incident
// having been prev before and next after.
func NewAlert(kind Kind, r evaluate.GroupResult, prev, next Incident, at time.Time) Alert {
	a := Alert{
		Kind: kind, Cluster: r.Cluster, Group: r.Group, Status: r.Status.String(), Previous: statusName(prev.Status),
		Worst: statusName(next.WorstStatus), At: at, OpenedAt: next.OpenedAt, TotalLag: r.TotalLag, TimeLagSeconds: -1,
	}
	if r.MaxLag != nil {
		a.MaxLagTopic, a.MaxLagPartition, a.MaxLag = r.MaxLag.Topic, int(r.MaxLag.Partition), r.MaxLag.CurrentLag
	}
	if r.TimeLag.Known {
		a.TimeLagSeconds = r.TimeLag.Duration.Seconds()
	}
	for _, p := range r.NonOK() {
		a.Partitions = append(a.Partitions, AlertPartition{Topic: p.Topic, Partition: int(p.Partition), Status: p.Status.String(), CurrentLag: p.CurrentLag})
	}
	return a
}

// statusName is an incident status as an alert shows it: "" for one not
// set yet (the zero value, NOTFOUND, which no incident records).
func statusName(s evaluate.Status) string {
	if s == evaluate.NotFound {
		return ""
	}
	return s.String()
}

// AlertPartition is one non-OK partition of an alert.
type AlertPartition struct {
	Topic      string
	Partition  int
	Status     string
	CurrentLag int64
}

// GenericTemplate is the default webhook body: the alert as JSON.
const GenericTemplate = `{"kind":{{json .Kind}},"cluster":{{json .Cluster}},"group":{{json .Group}},` +
	`"status":{{json .Status}},"previous":{{json .Previous}},"worst":{{json .Worst}},` +
	`"at":{{json (rfc3339 .At)}},"opened_at":{{json (rfc3339 .OpenedAt)}},"total_lag":{{.TotalLag}},` +
	`"max_lag":{"topic":{{json .MaxLagTopic}},"partition":{{.MaxLagPartition}},"lag":{{.MaxLag}}},` +
	`"time_lag_seconds":{{if lt .TimeLagSeconds 0.0}}null{{else}}{{printf "%.1f" .TimeLagSeconds}}{{end}},` +
	`"partitions":[{{range $i, $p := .Partitions}}{{if $i}},{{end}}` +
	`{"topic":{{json $p.Topic}},"partition":{{$p.Partition}},"status":{{json $p.Status}},"current_lag":{{$p.CurrentLag}}}{{end}}]` +
	`{{with .Stale}},"stale":{"newest_tick":{{if .NewestTick.IsZero}}null{{else}}{{json (rfc3339 .NewestTick)}}{{end}},` +
	`"reason":{{json .Reason}},"summary":{{json $.Summary}}}{{end}}}`

// SlackTemplate is a body for a Slack incoming webhook (or anything that
// takes Slack's {"text": ...}).
const SlackTemplate = `{{- if .Stale -}}
{"text":{{json (printf "%s *%s* %s." (icon .Kind ":warning:") (title .Kind) .Summary)}}}
{{else -}}
{{- $icon := ":large_green_circle:" -}}
{{- if eq .Status "WARN" }}{{ $icon = ":large_yellow_circle:" }}{{ else if eq .Status "ERR" }}{{ $icon = ":red_circle:" }}{{ end -}}
{"text":{{json (printf "%s *%s* consumer group ` + "`%s`" + ` on ` + "`%s`" + ` is %s%s. Total lag %d, max %d on %s/%d%s.%s"
  $icon (title .Kind) .Group .Cluster .Status (since .) .TotalLag .MaxLag .MaxLagTopic .MaxLagPartition (timelag .TimeLagSeconds) (parts .Partitions))}}}
{{end -}}
`

// Webhook posts alerts to a URL, with the body rendered from a template.
type Webhook struct {
	// Name labels the sink in logs and metrics.
	Name string
	URL  string
	// Headers are added to every request (an Authorization header, say).
	Headers map[string]string
	// Body renders an Alert.
	Body *template.Template
	// Timeout bounds one attempt; Retries is how many more attempts follow
	// a failure (a network error, 429 or 5xx), Backoff the first pause
	// (doubled each time).
	Timeout time.Duration
	Retries int
	Backoff time.Duration
	// Client sends the requests; nil is http.DefaultClient.
	Client *http.Client
}

// ParseTemplate parses a body template with the functions the templates
// above use: json (JSON-encode a value), rfc3339, title, since, timelag,
// duration (seconds as 1m30s), parts, icon (its second argument, or a green
// circle for a close). An alert's Summary is a method: {{.Summary}}.
func ParseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"rfc3339": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"icon": func(k Kind, open string) string {
			if k == Close {
				return ":large_green_circle:"
			}
			return open
		},
		"title": func(k Kind) string {
			return map[Kind]string{Open: "Opened", Update: "Changed", Resend: "Still open", Close: "Resolved"}[k]
		},
		"since": func(a Alert) string {
			if a.Kind == Close || a.OpenedAt.IsZero() {
				return ""
			}
			return fmt.Sprintf(" since %s", a.OpenedAt.UTC().Format("2006-01-02 15:04 MST"))
		},
		"timelag": func(s float64) string {
			if s < 0 {
				return ""
			}
			return fmt.Sprintf(", %s behind", (time.Duration(s) * time.Second).String())
		},
		"duration": func(s float64) string {
			if s < 0 {
				return "unknown"
			}
			return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
		},
		"parts": func(ps []AlertPartition) string {
			if len(ps) == 0 {
				return ""
			}
			var b strings.Builder
			for i, p := range ps {
				if i == 10 {
					fmt.Fprintf(&b, "\n… and %d more", len(ps)-10)
					break
				}
				fmt.Fprintf(&b, "\n• %s/%d %s (lag %d)", p.Topic, p.Partition, p.Status, p.CurrentLag)
			}
			return b.String()
		},
	}).Parse(text)
}

// Render is the request body for a.
func (w *Webhook) Render(a Alert) ([]byte, error) {
	var buf bytes.Buffer
	if err := w.Body.Execute(&buf, a); err != nil {
		return nil, fmt.Errorf("webhook %s: render body: %w", w.Name, err)
	}
	return buf.Bytes(), nil
}

// Send posts a, retrying network errors, 429 and 5xx. The error names the
// sink and the last failure, never the URL's credentials.
func (w *Webhook) Send(ctx context.Context, a Alert) error {
	body, err := w.Render(a)
	if err != nil {
		return err
	}
	return w.deliver(ctx, body)
}

// Label names the sink in logs and metrics.
func (w *Webhook) Label() string { return w.Name }

// deliver posts body, retrying as the sink says.
func (w *Webhook) deliver(ctx context.Context, body []byte) error {
	if err := withRetries(ctx, w.Retries, w.Backoff, func() (bool, error) { return w.post(ctx, body) }); err != nil {
		return fmt.Errorf("webhook %s: %w", w.Name, err)
	}
	return nil
}

// withRetries runs attempt, then up to retries more times while it fails
// with retry true, pausing backoff (1 s when 0) before the first retry and
// doubling it each time. The error is the last attempt's, or the context's
// with the last failure.
func withRetries(ctx context.Context, retries int, backoff time.Duration, attempt func() (retry bool, err error)) error {
	if backoff <= 0 {
		backoff = time.Second
	}
	var last error
	for n := 0; n <= retries; n++ {
		if n > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last failure: %v)", ctx.Err(), last)
			case <-t.C:
			}
			backoff *= 2
		}
		retry, err := attempt()
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return last
}

func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("invalid request: " + redact(err.Error(), w.URL))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lagwatch-evaluator")
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return true, errors.New(redact(err.Error(), w.URL))
	}
	defer res.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(res.Body, 300))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("HTTP %d: %s", res.StatusCode, strings.TrimSpace(string(excerpt)))
	return res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500, err
}

// redact removes the URL (which may carry a token, as Slack's do) from an
// error text.
func redact(s, url string) string {
	if url == "" {
		return s
	}
	return strings.ReplaceAll(s, url, "[webhook URL]")
}
