package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"text/template"
	"time"
)

// The mail templates' defaults: a subject line and a plain-text body with
// the group, its status, the lags, the worst partitions and a link; for a
// stale cluster, since when it sent no lag data and why.
const (
	MailSubjectTemplate = `[lagwatch] {{title .Kind}}: {{if .Stale}}{{.Summary}}{{else}}consumer group {{.Group}} on {{.Cluster}} is {{.Status}}{{end}}`
	MailBodyTemplate    = `{{if .Stale}}{{title .Kind}}: {{.Summary}}.
{{- if ne .Kind "close"}}

Until lag data comes again, the groups of {{.Cluster}} keep the verdicts they had when it turned stale, and their
time lags are lower bounds that grow with the clock.{{end}}
{{- else}}{{title .Kind}}: consumer group {{.Group}} on cluster {{.Cluster}} is {{.Status}}{{since .Alert}}.
{{if .Previous}}Previous status: {{.Previous}}. {{end}}{{if .Worst}}Worst while open: {{.Worst}}.{{end}}

Total lag: {{.TotalLag}} messages{{if .MaxLagTopic}}, the most on {{.MaxLagTopic}}/{{.MaxLagPartition}} ({{.MaxLag}}){{end}}.
{{- if ge .TimeLagSeconds 0.0}}
Time lag: {{duration .TimeLagSeconds}}.{{end}}
{{- if .Partitions}}

Partitions not OK:
{{- range .Partitions}}
  {{.Topic}}/{{.Partition}}: {{.Status}}, lag {{.CurrentLag}}
{{- end}}{{end}}{{end}}
{{- if .Link}}

Dashboard: {{.Link}}{{end}}

Evaluated at {{rfc3339 .At}}{{if not .OpenedAt.IsZero}}; incident opened at {{rfc3339 .OpenedAt}}{{end}}.
`
)

// TLS modes of a mail server connection.
const (
	MailStartTLS = "starttls" // plain connection upgraded with STARTTLS, required
	MailTLS      = "tls"      // TLS from the first byte (implicit TLS, port 465)
	MailNoTLS    = "none"     // no encryption (a relay on the same host)
)

// Mail sends alerts as e-mail through an SMTP server.
type Mail struct {
	// Addr is the server's host:port.
	Addr string
	// TLS is MailStartTLS, MailTLS or MailNoTLS; TLSConfig verifies the
	// server (nil: the system's roots, the host of Addr).
	TLS       string
	TLSConfig *tls.Config
	// Username and Password, when set, log in with PLAIN (only over TLS,
	// or to a server on the same host).
	Username, Password string
	From               string
	To                 []string
	// Subject and Body render an Alert (ParseTemplate's functions, and
	// .Link, the dashboard link).
	Subject, Body *template.Template
	// DashboardURL is Grafana's base URL for the link; empty for none.
	DashboardURL string
	// Timeout bounds one attempt; Retries attempts follow a failed one,
	// Backoff apart at first, doubling.
	Timeout time.Duration
	Retries int
	Backoff time.Duration
}

// Label names the sink.
func (m *Mail) Label() string { return "email" }

// mailView is what the mail templates see: the alert and the link.
type mailView struct {
	Alert
	Link string
}

// Render is the message of a: headers and body, CRLF line ends.
func (m *Mail) Render(a Alert) ([]byte, error) {
	v := mailView{Alert: a}
	if m.DashboardURL != "" {
		v.Link = dashboardLink(m.DashboardURL, a)
	}
	var subj, body bytes.Buffer
	if err := m.Subject.Execute(&subj, v); err != nil {
		return nil, fmt.Errorf("mail subject: %w", err)
	}
	if err := m.Body.Execute(&body, v); err != nil {
		return nil, fmt.Errorf("mail body: %w", err)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	host := "lagwatch"
	if i := strings.LastIndex(m.From, "@"); i >= 0 {
		host = m.From[i+1:]
	}
	var msg bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&msg, "%s: %s\r\n", k, v) }
	header("From", m.From)
	header("To", strings.Join(m.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", strings.TrimSpace(strings.ReplaceAll(subj.String(), "\n", " "))))
	header("Date", a.At.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+host+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	header("X-Lagwatch-Kind", string(a.Kind))
	msg.WriteString("\r\n")
	msg.WriteString(strings.ReplaceAll(strings.ReplaceAll(body.String(), "\r\n", "\n"), "\n", "\r\n"))
	return msg.Bytes(), nil
}

// Send delivers a's message to every recipient, retrying as configured.
func (m *Mail) Send(ctx context.Context, a Alert) error {
	msg, err := m.Render(a)
	if err != nil {
		return err
	}
	if err := withRetries(ctx, m.Retries, m.Backoff, func() (bool, error) { return true, m.deliver(ctx, msg) }); err != nil {
		return fmt.Errorf("email via %s: %w", m.Addr, err)
	}
	return nil
}

// deliver is one SMTP session.
func (m *Mail) deliver(ctx context.Context, msg []byte) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return err
	}
	cfg := m.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if m.TLS == MailTLS {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if m.TLS == MailStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS (EVALUATOR_SMTP_TLS=starttls)")
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if m.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// dashboardLink is the Consumer group dashboard of a's group, or for a
// stale cluster the Collector health dashboard of the cluster.
func dashboardLink(base string, a Alert) string {
	if a.Stale != nil {
		return strings.TrimRight(base, "/") + "/d/lagwatch-collector?var-cluster=" + urlQueryEscape(a.Cluster)
	}
	return strings.TrimRight(base, "/") + "/d/lagwatch-group?var-cluster=" + urlQueryEscape(a.Cluster) + "&var-group=" + urlQueryEscape(a.Group)
}
