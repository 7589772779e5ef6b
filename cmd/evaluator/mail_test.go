package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// mailpitMessage is a message as Mailpit's API lists it.
type mailpitMessage struct {
	ID      string `json:"ID"`
	Subject string `json:"Subject"`
	From    struct {
		Address string `json:"Address"`
	} `json:"From"`
	To []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

// setMailEnv points the evaluator's mail sink at the SMTP server at addr,
// without TLS, from lagwatch@example.com to the addresses to.
func setMailEnv(t *testing.T, addr, to string) {
	t.Helper()
	t.Setenv("EVALUATOR_SMTP_ADDR", addr)
	t.Setenv("EVALUATOR_SMTP_TLS", "none")
	t.Setenv("EVALUATOR_SMTP_FROM", "lagwatch@example.com")
	t.Setenv("EVALUATOR_SMTP_TO", to)
}

// mailsAbout lists, oldest first, the messages on the real SMTP server
// whose subject names group, with their plain-text bodies.
func mailsAbout(t *testing.T, api, group string) (msgs []mailpitMessage, bodies []string) {
	t.Helper()
	get := func(path string, v any) {
		t.Helper()
		res, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", path, res.Status, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var list struct {
		Messages []mailpitMessage `json:"messages"`
	}
	get("/api/v1/search?query="+url.QueryEscape(`subject:"`+group+`"`), &list)
	for i := len(list.Messages) - 1; i >= 0; i-- { // newest first there
		m := list.Messages[i]
		var full struct {
			Text string `json:"Text"`
		}
		get("/api/v1/message/"+m.ID, &full)
		msgs, bodies = append(msgs, m), append(bodies, full.Text)
	}
	return msgs, bodies
}

// TestMailSink runs the evaluator as a batch job against the real SMTP
// server: a stopped group's incident arrives as a mail (subject, sender,
// recipients, a body with the lags, the worst partition and the dashboard
// link), its recovery as a second one.
func TestMailSink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := newAlertGroup(ctx, t, "mail")
	smtpAddr, api := testenv.SMTP(t)
	setMailEnv(t, smtpAddr, "oncall@example.com, team@example.com")
	t.Setenv("EVALUATOR_SMTP_USERNAME", "lagwatch")
	t.Setenv("EVALUATOR_SMTP_PASSWORD", "any")
	t.Setenv("EVALUATOR_GRAFANA_URL", "http://grafana.example:3000")
	evaluate := func(step string) {
		t.Helper()
		if log := runOnce(ctx, t, step); !strings.Contains(log, `"alerts_sent":1`) {
			t.Fatalf("%s: the run did not count one alert sent:\n%s", step, log)
		}
	}
	g.stop()
	evaluate("stopped")
	msgs, bodies := mailsAbout(t, api, g.name)
	if len(msgs) != 1 {
		t.Fatalf("%d mails about %s, want 1", len(msgs), g.name)
	}
	m := msgs[0]
	if want := "[lagwatch] Opened: consumer group " + g.name + " on alerts is ERR"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if m.From.Address != "lagwatch@example.com" || len(m.To) != 2 || m.To[0].Address != "oncall@example.com" || m.To[1].Address != "team@example.com" {
		t.Errorf("from %q to %+v", m.From.Address, m.To)
	}
	for _, want := range []string{"is ERR", "Total lag: 17 messages, the most on orders/0 (17)", "orders/0: STOP, lag 17",
		"Dashboard: http://grafana.example:3000/d/lagwatch-group?var-cluster=alerts&var-group=" + url.QueryEscape(g.name)} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("body without %q:\n%s", want, bodies[0])
		}
	}

	g.catchUp()
	evaluate("recovered")
	msgs, _ = mailsAbout(t, api, g.name)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[1].Subject, "[lagwatch] Resolved: consumer group "+g.name) {
		t.Errorf("mails %+v, want the open then the close", msgs)
	}
}

// TestSinkDownLosesNothing: while the mail server is unreachable, the
// open and then the close of an incident fail (counted); each is sent by
// the next evaluation that reaches the server, once.
func TestSinkDownLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := newAlertGroup(ctx, t, "maildown")
	smtpAddr, api := testenv.SMTP(t)
	down := testenv.FreeAddr(t) // nothing listens there
	setMailEnv(t, down, "oncall@example.com")
	t.Setenv("EVALUATOR_WEBHOOK_RETRIES", "0")
	evaluate := func(step, addr, want string) {
		t.Helper()
		t.Setenv("EVALUATOR_SMTP_ADDR", addr)
		if log := runOnce(ctx, t, step); !strings.Contains(log, want) {
			t.Fatalf("%s: summary without %s:\n%s", step, want, log)
		}
	}
	subjects := func() []string {
		msgs, _ := mailsAbout(t, api, g.name)
		var out []string
		for _, m := range msgs {
			out = append(out, strings.Fields(m.Subject)[1])
		}
		return out
	}
	g.stop()
	evaluate("stopped, server down", down, `"alerts_sent":0,"alerts_failed":1`)
	evaluate("server back", smtpAddr, `"alerts_sent":1,"alerts_failed":0`)
	g.catchUp()
	evaluate("recovered, server down", down, `"alerts_sent":0,"alerts_failed":1`)
	evaluate("server back again", smtpAddr, `"alerts_sent":1,"alerts_failed":0`)
	evaluate("nothing owed", smtpAddr, `"alerts_sent":0,"alerts_failed":0`)
	if got := subjects(); len(got) != 2 || got[0] != "Opened:" || got[1] != "Resolved:" {
		t.Errorf("mails %v, want the open and the close, once each", got)
	}
}
