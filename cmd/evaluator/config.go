package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// Config is the evaluator's whole configuration, read from the environment by
// loadConfig. Its String, GoString and LogValue never show a secret.
type Config struct {
	Elasticsearch envconf.ES

	// Schedule is a cron spec for envconf.ScheduleParser (schedule mode only).
	Schedule string
	// Rules are the evaluation's tunables. Rules.WindowSize is also the
	// number of documents read per partition.
	Rules evaluate.Rules
	// MaxAge: observations older than this are left out of a window.
	MaxAge time.Duration
	// NotFoundLookback is how far back a group without observations within
	// MaxAge must have been seen to be reported NOTFOUND; groups seen only
	// before that are forgotten. Never shorter than MaxAge.
	NotFoundLookback time.Duration
	// StaleAfter is how old a cluster's newest tick that read may be
	// before the cluster is stale; 0 (auto): evaluate.StaleIntervals
	// collector intervals as the history shows them. Never longer than
	// MaxAge.
	StaleAfter time.Duration
	// PageSize is the number of documents per search request.
	PageSize int
	// Shard is the part of the groups this evaluator's runs evaluate.
	Shard esindex.Shard
	// Timeout bounds one evaluation run, or one backtest step.
	Timeout time.Duration
	Alert   AlertConfig
	// Webhooks are the alert sinks: none, the generic webhook, the Slack
	// one, or both in that order.
	Webhooks []WebhookConfig
	// Alertmanagers are the base URLs of the Alertmanagers alerts are
	// posted to (each one of them); none for no Alertmanager sink. They
	// may carry credentials.
	Alertmanagers []envconf.Secret
	// GrafanaURL is Grafana's base URL for dashboard links in alerts; empty
	// for none.
	GrafanaURL string
	// Mail is the e-mail sink; nil without EVALUATOR_SMTP_ADDR.
	Mail *MailConfig
	// DeliveryTimeout and DeliveryRetries bound each sink's attempts to
	// deliver an alert (EVALUATOR_WEBHOOK_TIMEOUT and _RETRIES); the
	// webhooks carry their own copy.
	DeliveryTimeout time.Duration
	DeliveryRetries int
	// MetricsAddr is the listen address for /metrics and /healthz in
	// schedule mode; empty disables the listener.
	MetricsAddr string
	// HTTPAddr is the listen address of the API, /metrics and /healthz in
	// schedule and serve mode; empty disables it (serve mode refuses to
	// start then).
	HTTPAddr string
	// HTTPTimeout bounds the Elasticsearch reads of one API request.
	HTTPTimeout time.Duration
	// StateFile keeps the incidents whose alert was sent while the store
	// refused to save them, across processes; "" keeps them in memory.
	StateFile string
	// HTTP is the listener on HTTPAddr: its TLS, and the credentials the
	// API asks for. Metrics is the listener on MetricsAddr: its TLS when it
	// is a listener of its own (on HTTPAddr, HTTP's TLS serves /metrics
	// too), and the credentials /metrics asks for on either listener.
	// /healthz asks for none.
	HTTP, Metrics Listener
	// HTTPWriteTimeout and HTTPIdleTimeout bound writing an answer and
	// an idle kept-alive connection, on both listeners.
	HTTPWriteTimeout, HTTPIdleTimeout time.Duration
	// HTTPMaxInFlight bounds the API requests answered at once.
	HTTPMaxInFlight int
	LogLevel        slog.Level
	// LogFormat is "json" or "text".
	LogFormat string
}

// Listener is how one listener lets clients in: its certificate and
// client CAs (zero: plain HTTP), and credentials (zero: none).
type Listener struct {
	TLS  envconf.ServerTLS
	Auth service.Credentials
}

// AlertConfig says when incidents open and how often they are re-sent.
type AlertConfig struct {
	// Threshold is the least group status that opens an incident: WARN or
	// ERR.
	Threshold evaluate.Status
	// Resend is the interval at which an open, unchanged incident is sent
	// again; 0 never re-sends.
	Resend time.Duration
	// GroupAllow and GroupDeny select the groups that alert (see
	// notify.Policy); nil for no restriction.
	GroupAllow, GroupDeny *regexp.Regexp
}

// WebhookConfig is one alert sink.
type WebhookConfig struct {
	// Name is webhookGeneric or webhookSlack; it labels the sink in logs and
	// metrics and says which variables it was read from.
	Name string
	// URL may hold a token (Slack's always do).
	URL envconf.Secret
	// Headers are added to every request; canonical names, secret values.
	Headers map[string]envconf.Secret
	// Template renders the request body; parsed by notify.ParseTemplate.
	Template *template.Template
	// Timeout bounds one attempt; Retries is how many attempts follow a
	// failed one.
	Timeout time.Duration
	Retries int
}

// MailConfig is the e-mail sink's settings.
type MailConfig struct {
	Addr, From string
	To         []string
	// TLS is notify.MailStartTLS, MailTLS or MailNoTLS; CAFile, when set,
	// holds the CA certificates that verify the server.
	TLS, CAFile         string
	Username            string
	Password            envconf.Secret
	Subject, Body       *template.Template
	SubjectSet, BodySet bool // not the built-in ones
}

// Sink names, in the order Config.Webhooks holds them.
const (
	webhookGeneric = "webhook"
	webhookSlack   = "slack"
)

// webhookBackoff is the pause before a sink's first retry, doubled before
// each further one.
const webhookBackoff = time.Second

// Sinks builds the alert sinks: the webhooks in the order of c.Webhooks
// (each with its own copy of the headers), then Alertmanager.
func (c Config) Sinks() []notify.Sink {
	var sinks []notify.Sink
	for _, w := range c.Webhooks {
		var headers map[string]string
		if w.Headers != nil {
			headers = make(map[string]string, len(w.Headers))
		}
		for name, v := range w.Headers {
			headers[name] = string(v)
		}
		sinks = append(sinks, &notify.Webhook{
			Name:    w.Name,
			URL:     string(w.URL),
			Headers: headers,
			Body:    w.Template,
			Timeout: w.Timeout,
			Retries: w.Retries,
			Backoff: webhookBackoff,
		})
	}
	if c.Mail != nil {
		sinks = append(sinks, c.mailSink())
	}
	if len(c.Alertmanagers) > 0 {
		am := &notify.Alertmanager{DashboardURL: c.GrafanaURL, ResolveAfter: resolveAfter(c.Schedule, time.Now())}
		for _, u := range c.Alertmanagers {
			am.Targets = append(am.Targets, &notify.Webhook{Name: "alertmanager",
				URL:     strings.TrimRight(string(u), "/") + notify.AlertmanagerAPI,
				Timeout: c.DeliveryTimeout, Retries: c.DeliveryRetries, Backoff: webhookBackoff})
		}
		sinks = append(sinks, am)
	}
	return sinks
}

// resolveAfter is how long an alert posted to Alertmanager stays firing
// without being posted again: three intervals of the schedule, at least 5
// minutes, so that one late or failed evaluation does not resolve it.
func resolveAfter(schedule string, now time.Time) time.Duration {
	const least = 5 * time.Minute
	sched, err := envconf.ScheduleParser.Parse(schedule)
	if err != nil {
		return least
	}
	next := sched.Next(now)
	return max(least, 3*sched.Next(next).Sub(next))
}

// mailSink is the e-mail sink of c.Mail (not nil). A CA file that does not
// load leaves the system roots (loadConfig reported it).
func (c Config) mailSink() *notify.Mail {
	m := c.Mail
	s := &notify.Mail{Addr: m.Addr, TLS: m.TLS, Username: m.Username, Password: string(m.Password), From: m.From,
		To: m.To, Subject: m.Subject, Body: m.Body, DashboardURL: c.GrafanaURL,
		Timeout: c.DeliveryTimeout, Retries: c.DeliveryRetries, Backoff: webhookBackoff}
	if m.CAFile != "" {
		if pool, err := envconf.LoadCAPool(m.CAFile); err == nil {
			s.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
	}
	return s
}

// evaluatorEnv is the raw environment, every value a string so that each one
// is parsed, and each problem reported, by this file under the variable's
// own name. Field names give the variable names through split_words (no
// `envconfig` tags: those fall back to the unprefixed name; NotfoundLookback
// is spelled so to read NOTFOUND, not NOT_FOUND). A set-but-empty variable
// takes the default, except where keep_empty says that empty means
// something.
type evaluatorEnv struct {
	Elasticsearch envconf.ESEnv `split_words:"true"`
	Evaluator     struct {
		Schedule            string `split_words:"true" default:"@every 1m" desc:"When to evaluate in schedule mode (no --once, --at, backtest or status)."`
		WindowSize          string `split_words:"true" default:"10" desc:"Observations of a partition that make a complete window (Burrow's stored intervals): the newest this many are evaluated."`
		MaxAge              string `split_words:"true" default:"1h" desc:"Observations older than this are left out of a window."`
		MinComplete         string `split_words:"true" default:"0" desc:"Share of a complete window, 0 to 1, below which a partition is OK without further checks."`
		AllowedLag          string `split_words:"true" default:"0" desc:"Lag, in messages, that still counts as caught up."`
		NotfoundLookback    string `split_words:"true" default:"24h" desc:"A group without observations within EVALUATOR_MAX_AGE is reported NOTFOUND when it was seen within this time; a group seen only earlier is forgotten."`
		StaleAfter          string `split_words:"true" default:"auto" desc:"A cluster whose newest collector tick that read lag data is this old is stale: its groups keep their verdicts, marked stale, and one incident says so. auto: five collector intervals as the history shows them (at most EVALUATOR_MAX_AGE)."`
		PageSize            string `split_words:"true" default:"10000" desc:"Documents per search request when reading windows."`
		Shards              string `split_words:"true" default:"1" desc:"Evaluators sharing one history, each evaluating (writing statuses, alerting) its own part of the groups, by a hash of cluster and group id. status, report and the API still answer for every group."`
		Shard               string `split_words:"true" default:"0" desc:"This evaluator's part, 0 to EVALUATOR_SHARDS - 1."`
		Timeout             string `split_words:"true" default:"5m" desc:"Time limit of one evaluation run (reading, writing the statuses, sending the alerts), or of one backtest step."`
		AlertThreshold      string `split_words:"true" default:"WARN" desc:"Least group status that opens an incident: WARN (WARN and ERR groups alert) or ERR (any case)."`
		AlertResend         string `split_words:"true" default:"1h" desc:"How often an open incident whose status did not change is sent again."`
		AlertGroupAllow     string `split_words:"true" desc:"Regular expression: only matching groups alert."`
		AlertGroupDeny      string `split_words:"true" desc:"Regular expression: matching groups never alert."`
		WebhookURL          string `split_words:"true" desc:"Generic webhook (secret: it may hold a token): alerts are POSTed here, http:// or https://."`
		WebhookTemplateFile string `split_words:"true" desc:"Go text/template file that renders the generic webhook's body."`
		WebhookHeaders      string `split_words:"true" desc:"Headers of the generic webhook's requests (secret): Name: value pairs separated by ;, or one a line."`
		SlackWebhookURL     string `split_words:"true" desc:"Slack incoming webhook URL (secret), or anything that takes Slack's {'text': ...}."`
		SmtpAddr            string `split_words:"true" desc:"Mail server, host:port: alerts are also sent as e-mail."`
		SmtpFrom            string `split_words:"true" desc:"Sender address."`
		SmtpTo              string `split_words:"true" desc:"Recipient addresses, a list."`
		SmtpUsername        string `split_words:"true" desc:"Login (SMTP AUTH PLAIN)."`
		SmtpPassword        string `split_words:"true" desc:"Password of that login (secret)."`
		SmtpTls             string `split_words:"true" default:"starttls" desc:"starttls, tls (implicit, port 465) or none."`
		SmtpCaFile          string `split_words:"true" desc:"PEM file of CA certificates that verify the mail server."`
		SmtpSubject         string `split_words:"true" desc:"Go text/template of the subject line."`
		SmtpTemplateFile    string `split_words:"true" desc:"Go text/template file of the plain-text body."`
		AlertmanagerUrl     string `split_words:"true" desc:"Prometheus Alertmanager base URLs, a list (secret): every alert is posted to each one's /api/v2/alerts."`
		GrafanaUrl          string `split_words:"true" desc:"Grafana's base URL, for the dashboard link in alerts."`
		WebhookTimeout      string `split_words:"true" default:"5s" desc:"Time limit of one attempt to deliver an alert, for every webhook."`
		WebhookRetries      string `split_words:"true" default:"3" desc:"Further attempts after one fails with a network error, HTTP 429 or 5xx, pausing 1s, 2s, 4s, ..."`
		MetricsAddr         string `split_words:"true" default:":9309" keep_empty:"true" desc:"Listen address ([host]:port, numeric port) of the Prometheus /metrics and the /healthz endpoints in schedule and serve mode."`
		HttpAddr            string `split_words:"true" default:":8000" keep_empty:"true" desc:"Listen address of the HTTP API, with /metrics and /healthz, in schedule and serve mode. Empty: no API (serve mode refuses to start)."`
		HttpTimeout         string `split_words:"true" default:"10s" desc:"Time limit of the Elasticsearch reads of one API request."`
		StateFile           string `split_words:"true" desc:"File that keeps, from one run to the next, the alerts sent while Elasticsearch refused to save their incidents, so that a later run (--once, or after a restart) does not send them again. Empty: kept in memory, enough for one process in schedule mode."`
		HttpWriteTimeout    string `split_words:"true" default:"30s" desc:"Time limit of writing one answer, on both listeners; longer than EVALUATOR_HTTP_TIMEOUT."`
		HttpIdleTimeout     string `split_words:"true" default:"2m" desc:"How long a kept-alive connection may wait for its next request, on both listeners."`
		HttpMaxInFlight     string `split_words:"true" default:"64" desc:"Most API requests answered at once; one more is answered 503."`

		// How each listener lets clients in: EVALUATOR_HTTP_TLS_CERT_FILE,
		// EVALUATOR_METRICS_BEARER_TOKEN, ...
		Http    listenerEnv `split_words:"true"`
		Metrics listenerEnv `split_words:"true"`
	} `split_words:"true"`
	Log envconf.LogEnv `split_words:"true"`
}

// listenerEnv is how a listener lets clients in, read under EVALUATOR_HTTP_
// (the API's listener; the API's credentials) and EVALUATOR_METRICS_ (the
// metrics listener; the credentials of /metrics on either).
type listenerEnv struct {
	TlsCertFile     string `split_words:"true" desc:"PEM certificate (chain) of the listener: it serves HTTPS only."`
	TlsKeyFile      string `split_words:"true" desc:"PEM private key of that certificate."`
	TlsClientCaFile string `split_words:"true" desc:"PEM CA certificates: the listener's clients must present a certificate they signed (mutual TLS)."`
	BearerToken     string `split_words:"true" desc:"Token asked for (secret), as Authorization: Bearer <token>: by the API (HTTP), by /metrics (METRICS)."`
	Username        string `split_words:"true" desc:"User asked for with HTTP basic authentication (Telegraf's username for the API); needs the password."`
	Password        string `split_words:"true" desc:"Password of that user (secret)."`
}

// parse is the Listener of e.
func (e listenerEnv) parse() Listener {
	return Listener{
		TLS:  e.tlsFiles(),
		Auth: service.Credentials{Token: envconf.Secret(e.BearerToken), Username: e.Username, Password: envconf.Secret(e.Password)},
	}
}

// tlsFiles are the TLS files of e; on vars' listenerEnvs, the names of
// their variables, for ServerTLS.Config.
func (e listenerEnv) tlsFiles() envconf.ServerTLS {
	return envconf.ServerTLS{CertFile: e.TlsCertFile, KeyFile: e.TlsKeyFile, ClientCAFile: e.TlsClientCaFile}
}

// vars names the variables: vars.Evaluator.MaxAge is "EVALUATOR_MAX_AGE".
var vars = envconf.Names[evaluatorEnv]("")

// Limits of the numeric settings.
const (
	minWindowSize, maxWindowSize = 2, 1000
	// Elasticsearch answers at most index.max_result_window (10000) hits
	// per request.
	minPageSize, maxPageSize = 100, 10000
	maxShards                = 1024
	maxWebhookRetries        = 10
	maxInFlight              = 10000
)

// loadConfig reads the evaluator's configuration from the process
// environment and validates it. The error lists every problem found, parse
// errors first, then Validate's, one line each ("VARIABLE: what is wrong");
// it never contains a secret value. The Config is returned even with an
// error, but must not be used then.
func loadConfig() (Config, error) {
	var env evaluatorEnv
	if err := envconf.Read("", &env); err != nil {
		return Config{}, err
	}
	var ps envconf.Problems
	e, n := env.Evaluator, vars.Evaluator
	cfg := Config{
		Elasticsearch: env.Elasticsearch.Parse(&ps),
		Schedule:      e.Schedule,
		MetricsAddr:   e.MetricsAddr,
		HTTPAddr:      e.HttpAddr,
		StateFile:     strings.TrimSpace(e.StateFile),
		HTTP:          e.Http.parse(),
		Metrics:       e.Metrics.parse(),
	}
	cfg.Rules.WindowSize = envconf.Parse(&ps, n.WindowSize, e.WindowSize, envconf.Int)
	cfg.MaxAge = envconf.Parse(&ps, n.MaxAge, e.MaxAge, envconf.Duration)
	cfg.Rules.MinComplete = envconf.Parse(&ps, n.MinComplete, e.MinComplete, parseShare)
	cfg.Rules.AllowedLag = envconf.Parse(&ps, n.AllowedLag, e.AllowedLag, parseMessages)
	cfg.NotFoundLookback = envconf.Parse(&ps, n.NotfoundLookback, e.NotfoundLookback, envconf.Duration)
	cfg.StaleAfter = envconf.Parse(&ps, n.StaleAfter, e.StaleAfter, parseStaleAfter)
	cfg.PageSize = envconf.Parse(&ps, n.PageSize, e.PageSize, envconf.Int)
	cfg.Shard.Count = envconf.Parse(&ps, n.Shards, e.Shards, envconf.Int)
	cfg.Shard.Index = envconf.Parse(&ps, n.Shard, e.Shard, envconf.Int)
	cfg.Timeout = envconf.Parse(&ps, n.Timeout, e.Timeout, envconf.Duration)
	cfg.HTTPTimeout = envconf.Parse(&ps, n.HttpTimeout, e.HttpTimeout, envconf.Duration)
	cfg.HTTPWriteTimeout = envconf.Parse(&ps, n.HttpWriteTimeout, e.HttpWriteTimeout, envconf.Duration)
	cfg.HTTPIdleTimeout = envconf.Parse(&ps, n.HttpIdleTimeout, e.HttpIdleTimeout, envconf.Duration)
	cfg.HTTPMaxInFlight = envconf.Parse(&ps, n.HttpMaxInFlight, e.HttpMaxInFlight, envconf.Int)
	cfg.Alert.Threshold = envconf.Parse(&ps, n.AlertThreshold, e.AlertThreshold, parseThreshold)
	cfg.Alert.Resend = envconf.Parse(&ps, n.AlertResend, e.AlertResend, envconf.Duration)
	cfg.Alert.GroupAllow = parseGroupRegexp(&ps, n.AlertGroupAllow, e.AlertGroupAllow)
	cfg.Alert.GroupDeny = parseGroupRegexp(&ps, n.AlertGroupDeny, e.AlertGroupDeny)

	// The shared delivery settings are checked even when no webhook is set,
	// so that a bad value does not wait for the day one is.
	timeout := envconf.Parse(&ps, n.WebhookTimeout, e.WebhookTimeout, envconf.Duration)
	retries := envconf.Parse(&ps, n.WebhookRetries, e.WebhookRetries, envconf.Int)
	checkDelivery(&ps, timeout, retries)
	if u := strings.TrimSpace(e.WebhookURL); u != "" {
		cfg.Webhooks = append(cfg.Webhooks, WebhookConfig{
			Name: webhookGeneric, URL: envconf.Secret(u), Headers: notify.ParseHeaders[envconf.Secret](&ps, n.WebhookHeaders, e.WebhookHeaders),
			Template: notify.LoadTemplate(&ps, n.WebhookTemplateFile, webhookGeneric, e.WebhookTemplateFile), Timeout: timeout, Retries: retries,
		})
	} else {
		envconf.Ignored(&ps, n.WebhookURL+" is empty", n.WebhookTemplateFile, e.WebhookTemplateFile,
			n.WebhookHeaders, strings.TrimSpace(e.WebhookHeaders))
	}
	if u := strings.TrimSpace(e.SlackWebhookURL); u != "" {
		cfg.Webhooks = append(cfg.Webhooks, WebhookConfig{
			Name: webhookSlack, URL: envconf.Secret(u), Template: notify.MustParse(webhookSlack, notify.SlackTemplate),
			Timeout: timeout, Retries: retries,
		})
	}
	if addr := strings.TrimSpace(e.SmtpAddr); addr != "" {
		m := &MailConfig{Addr: addr, From: strings.TrimSpace(e.SmtpFrom), To: envconf.SplitList(e.SmtpTo),
			TLS: strings.ToLower(strings.TrimSpace(e.SmtpTls)), CAFile: strings.TrimSpace(e.SmtpCaFile),
			Username: strings.TrimSpace(e.SmtpUsername), Password: envconf.Secret(e.SmtpPassword)}
		m.Subject = parseMailTemplate(&ps, n.SmtpSubject, "subject", e.SmtpSubject, notify.MailSubjectTemplate)
		m.SubjectSet = strings.TrimSpace(e.SmtpSubject) != ""
		body := notify.MailBodyTemplate
		if f := strings.TrimSpace(e.SmtpTemplateFile); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				ps.Add(n.SmtpTemplateFile, "%v", err)
			}
			body, m.BodySet = string(b), true
		}
		m.Body = parseMailTemplate(&ps, n.SmtpTemplateFile, "body", body, notify.MailBodyTemplate)
		if m.CAFile != "" {
			if _, err := envconf.LoadCAPool(m.CAFile); err != nil {
				ps.Add(n.SmtpCaFile, "%v", err)
			}
		}
		cfg.Mail = m
	} else {
		envconf.Ignored(&ps, n.SmtpAddr+" is empty", n.SmtpFrom, e.SmtpFrom, n.SmtpTo, e.SmtpTo, n.SmtpUsername, e.SmtpUsername,
			n.SmtpPassword, e.SmtpPassword, n.SmtpCaFile, e.SmtpCaFile, n.SmtpSubject, e.SmtpSubject, n.SmtpTemplateFile, e.SmtpTemplateFile)
	}
	for _, u := range envconf.SplitList(e.AlertmanagerUrl) {
		cfg.Alertmanagers = append(cfg.Alertmanagers, envconf.Secret(u))
	}
	cfg.GrafanaURL = strings.TrimSpace(e.GrafanaUrl)
	cfg.DeliveryTimeout, cfg.DeliveryRetries = timeout, retries
	cfg.LogLevel, cfg.LogFormat = env.Log.Parse(&ps)
	ps.Merge(cfg.validate())
	return cfg, ps.Err()
}

// parseGroupRegexp compiles a group pattern; nil when blank.
func parseGroupRegexp(ps *envconf.Problems, variable, s string) *regexp.Regexp {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		ps.Add(variable, "is not a regular expression: %v", err)
		return nil
	}
	return re
}

// parseMailTemplate parses a mail template (text, or def when blank),
// recording a failure under variable.
func parseMailTemplate(ps *envconf.Problems, variable, name, text, def string) *template.Template {
	if strings.TrimSpace(text) == "" {
		text = def
	}
	t, err := notify.ParseTemplate("mail "+name, text)
	if err != nil {
		ps.Add(variable, "does not parse: %v", err)
		return nil
	}
	return t
}

// parseShare, parseMessages and parseThreshold are the syntax of
// EVALUATOR_MIN_COMPLETE, EVALUATOR_ALLOWED_LAG and
// EVALUATOR_ALERT_THRESHOLD, for envconf.Parse; validate checks the ranges.
func parseShare(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errors.New("is not a number from 0 to 1")
	}
	return f, nil
}

func parseMessages(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, errors.New("is not a whole number of messages")
	}
	return n, nil
}

// parseStaleAfter is the syntax of EVALUATOR_STALE_AFTER: auto (0), or a
// duration.
func parseStaleAfter(s string) (time.Duration, error) {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		return 0, nil
	}
	d, err := envconf.Duration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("is not auto or a positive duration")
	}
	return d, nil
}

func parseThreshold(s string) (evaluate.Status, error) {
	st, err := evaluate.ParseStatus(strings.ToUpper(strings.TrimSpace(s)))
	if err != nil {
		return 0, errors.New("is not WARN or ERR")
	}
	return st, nil
}

// Validate checks a Config, read or built by hand. The error has one line
// per problem, each naming the variable at fault; it never contains a
// secret. It reads the Elasticsearch CA file and renders each webhook
// template once, since a template that cannot render an alert is better
// reported at start-up than at the first incident.
func (c Config) Validate() error { return c.validate().Err() }

func (c Config) validate() envconf.Problems {
	ps := c.Elasticsearch.Problems()
	n := vars.Evaluator
	envconf.Schedule(&ps, n.Schedule, c.Schedule)
	// Stricter than evaluate's own rules, which take 0 for the default.
	envconf.Between(&ps, n.WindowSize, c.Rules.WindowSize, minWindowSize, maxWindowSize)
	if err := c.Rules.Validate(); err != nil {
		ruleVars := map[string]string{"WindowSize": n.WindowSize, "MinComplete": n.MinComplete, "AllowedLag": n.AllowedLag}
		for _, err := range err.(interface{ Unwrap() []error }).Unwrap() {
			var re *evaluate.RuleError
			if errors.As(err, &re) && !ps.Has(ruleVars[re.Field]) {
				ps.Add(ruleVars[re.Field], "%s", re.Msg)
			}
		}
	}
	envconf.Positive(&ps, n.MaxAge, c.MaxAge)
	if c.NotFoundLookback <= 0 {
		envconf.Positive(&ps, n.NotfoundLookback, c.NotFoundLookback)
	} else if c.MaxAge > 0 && c.NotFoundLookback < c.MaxAge {
		ps.Add(n.NotfoundLookback, "%v is shorter than %s (%v)", c.NotFoundLookback, n.MaxAge, c.MaxAge)
	}
	switch {
	case c.StaleAfter < 0:
		ps.Add(n.StaleAfter, "must not be negative, got %v (0 is auto: five collector intervals)", c.StaleAfter)
	case c.MaxAge > 0 && c.StaleAfter > c.MaxAge:
		ps.Add(n.StaleAfter, "%v is longer than %s (%v): a silent cluster's groups would go NOTFOUND before it is stale", c.StaleAfter, n.MaxAge, c.MaxAge)
	}
	envconf.Between(&ps, n.PageSize, c.PageSize, minPageSize, maxPageSize)
	envconf.Between(&ps, n.Shards, c.Shard.Count, 1, maxShards)
	if c.Shard.Count >= 1 {
		envconf.Between(&ps, n.Shard, c.Shard.Index, 0, c.Shard.Count-1)
	}
	envconf.Positive(&ps, n.Timeout, c.Timeout)
	if t := c.Alert.Threshold; t != evaluate.Warn && t != evaluate.Err {
		ps.Add(n.AlertThreshold, "%q is not WARN or ERR", t.String())
	}
	if c.Alert.Resend < 0 {
		ps.Add(n.AlertResend, "must not be negative, got %v (0 never re-sends)", c.Alert.Resend)
	}
	seen := map[string]bool{}
	for _, w := range c.Webhooks {
		if seen[w.Name] {
			ps.Add(w.urlVar(), "webhook %q is configured twice", w.Name)
		}
		seen[w.Name] = true
		w.validate(&ps)
	}
	if c.Mail != nil {
		m := c.mailSink()
		notify.CheckMail(&ps, notify.MailVars{Addr: n.SmtpAddr, From: n.SmtpFrom, To: n.SmtpTo, TLS: n.SmtpTls,
			Subject: n.SmtpSubject, Template: n.SmtpTemplateFile}, m)
		if c.Mail.Password != "" && c.Mail.Username == "" {
			ps.Add(n.SmtpPassword, "is set but %s is empty", n.SmtpUsername)
		}
	}
	for i, u := range c.Alertmanagers {
		if err := notify.CheckURL(string(u)); err != nil {
			ps.Add(n.AlertmanagerUrl, "entry %d %v", i+1, err)
		}
	}
	if c.GrafanaURL != "" {
		if err := notify.CheckURL(c.GrafanaURL); err != nil {
			ps.Add(n.GrafanaUrl, "%v", err)
		}
	}
	envconf.ListenAddr(&ps, n.MetricsAddr, c.MetricsAddr)
	envconf.ListenAddr(&ps, n.HttpAddr, c.HTTPAddr)
	envconf.Positive(&ps, n.HttpTimeout, c.HTTPTimeout)
	if c.StateFile != "" {
		if fi, err := os.Stat(filepath.Dir(c.StateFile)); err != nil || !fi.IsDir() {
			ps.Add(n.StateFile, "%q: its folder must exist", c.StateFile)
		}
	}
	c.validateListeners(&ps)
	envconf.CheckLogFormat(c.LogFormat, &ps)
	return ps
}

// metricsListener reports whether /metrics and /healthz have a listener of
// their own, on MetricsAddr.
func (c Config) metricsListener() bool { return c.MetricsAddr != "" && c.MetricsAddr != c.HTTPAddr }

// validateListeners checks how the listeners let clients in: TLS files
// that load, whole credentials, and no setting for a listener that is not
// there. It reads the certificates, keys and CA files.
func (c Config) validateListeners(ps *envconf.Problems) {
	n := vars.Evaluator
	if c.HTTPAddr != "" {
		c.HTTP.checkTLS(ps, n.Http)
		c.HTTP.checkAuth(ps, n.Http)
	} else {
		c.HTTP.ignoredTLS(ps, n.Http, n.HttpAddr+" is empty")
		c.HTTP.ignoredAuth(ps, n.Http, n.HttpAddr+" is empty")
	}
	switch {
	case c.metricsListener():
		c.Metrics.checkTLS(ps, n.Metrics)
	case c.MetricsAddr == "":
		c.Metrics.ignoredTLS(ps, n.Metrics, n.MetricsAddr+" is empty")
	default:
		c.Metrics.ignoredTLS(ps, n.Metrics, fmt.Sprintf("%s is %s: one listener, with %s and the other files of that one",
			n.MetricsAddr, n.HttpAddr, n.Http.TlsCertFile))
	}
	if c.MetricsAddr != "" || c.HTTPAddr != "" {
		c.Metrics.checkAuth(ps, n.Metrics)
	} else {
		c.Metrics.ignoredAuth(ps, n.Metrics, "both "+n.MetricsAddr+" and "+n.HttpAddr+" are empty")
	}
	if c.HTTPAddr != "" || c.MetricsAddr != "" {
		if c.HTTPWriteTimeout <= 0 {
			envconf.Positive(ps, n.HttpWriteTimeout, c.HTTPWriteTimeout)
		} else if c.HTTPTimeout > 0 && c.HTTPWriteTimeout <= c.HTTPTimeout {
			ps.Add(n.HttpWriteTimeout, "%v is not longer than %s (%v): an answer that takes its whole time would be cut off",
				c.HTTPWriteTimeout, n.HttpTimeout, c.HTTPTimeout)
		}
		envconf.Positive(ps, n.HttpIdleTimeout, c.HTTPIdleTimeout)
		envconf.Between(ps, n.HttpMaxInFlight, c.HTTPMaxInFlight, 1, maxInFlight)
	}
}

// checkTLS records what keeps the TLS files, named by names, from loading.
func (l Listener) checkTLS(ps *envconf.Problems, names listenerEnv) {
	var fe *envconf.FieldError
	if _, err := l.TLS.Config(names.tlsFiles()); errors.As(err, &fe) {
		ps.Add(fe.Var, "%s", fe.Msg)
	}
}

// checkAuth records half a user and password, and a token or user that
// cannot travel in a header as given. Values are never shown.
func (l Listener) checkAuth(ps *envconf.Problems, names listenerEnv) {
	c := l.Auth
	switch {
	case c.Username != "" && c.Password == "":
		ps.Add(names.Password, "required when %s is set", names.Username)
	case c.Password != "" && c.Username == "":
		ps.Add(names.Username, "required when %s is set", names.Password)
	case strings.Contains(c.Username, ":"):
		ps.Add(names.Username, "must not contain a colon: basic authentication ends the user at the first one")
	}
	if strings.IndexFunc(string(c.Token), func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		ps.Add(names.BearerToken, "must not contain spaces or control characters (value not shown)")
	}
}

// ignoredTLS and ignoredAuth record each variable that is set, saying why
// it would do nothing.
func (l Listener) ignoredTLS(ps *envconf.Problems, names listenerEnv, reason string) {
	envconf.Ignored(ps, reason, names.TlsCertFile, l.TLS.CertFile, names.TlsKeyFile, l.TLS.KeyFile,
		names.TlsClientCaFile, l.TLS.ClientCAFile)
}

func (l Listener) ignoredAuth(ps *envconf.Problems, names listenerEnv, reason string) {
	envconf.Ignored(ps, reason, names.BearerToken, string(l.Auth.Token), names.Username, l.Auth.Username,
		names.Password, string(l.Auth.Password))
}

// openWarnings are the start-up warnings about what a listener on an
// address other hosts can reach answers to anyone: the API without
// credentials or client certificates; /metrics on the API's listener
// without credentials of its own while the API has some.
func (c Config) openWarnings() []string {
	if c.HTTPAddr == "" || loopback(c.HTTPAddr) {
		return nil
	}
	n := vars.Evaluator
	certs := c.HTTP.TLS.ClientCAFile != ""
	switch {
	case !c.HTTP.Auth.Set() && !certs:
		return []string{fmt.Sprintf("the API answers anyone who reaches %s: %s is not a loopback address and neither credentials (%s, or %s and %s) nor client certificates (%s) are asked for",
			c.HTTPAddr, n.HttpAddr, n.Http.BearerToken, n.Http.Username, n.Http.Password, n.Http.TlsClientCaFile)}
	case !c.Metrics.Auth.Set() && !certs:
		return []string{fmt.Sprintf("/metrics on %s answers anyone, with the names of every group: set %s, or %s and %s",
			c.HTTPAddr, n.Metrics.BearerToken, n.Metrics.Username, n.Metrics.Password)}
	}
	return nil
}

// loopback reports whether a listen address is reachable from this host
// only: localhost or a loopback IP. An empty host is every interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDelivery checks the timeout and retries that every sink shares,
// once: not for a variable that already has a problem.
func checkDelivery(ps *envconf.Problems, timeout time.Duration, retries int) {
	n := vars.Evaluator
	if !ps.Has(n.WebhookTimeout) {
		envconf.Positive(ps, n.WebhookTimeout, timeout)
	}
	if !ps.Has(n.WebhookRetries) {
		envconf.Between(ps, n.WebhookRetries, retries, 0, maxWebhookRetries)
	}
}

// urlVar is the variable w's URL is read from.
func (w WebhookConfig) urlVar() string {
	if w.Name == webhookSlack {
		return vars.Evaluator.SlackWebhookURL
	}
	return vars.Evaluator.WebhookURL
}

// validate checks one sink. The timeout and retries are shared by every
// sink: each problem with them is reported once.
func (w WebhookConfig) validate(ps *envconf.Problems) {
	n := vars.Evaluator
	v := notify.WebhookVars{URL: w.urlVar(), Headers: n.WebhookHeaders, Template: n.WebhookTemplateFile}
	if w.Name == webhookSlack {
		v.Template = n.SlackWebhookURL // its template is built in
	}
	notify.CheckWebhook(ps, v, w.Name, string(w.URL), w.Headers, w.Template)
	checkDelivery(ps, w.Timeout, w.Retries)
}

// LogValue implements slog.LogValuer: every setting, secrets replaced by
// [REDACTED] (empty when unset). Webhooks are grouped by name.
func (c Config) LogValue() slog.Value {
	hooks := make([]slog.Attr, len(c.Webhooks))
	for i, w := range c.Webhooks {
		hooks[i] = slog.Any(w.Name, w)
	}
	return slog.GroupValue(
		slog.Any("elasticsearch", c.Elasticsearch),
		slog.String("schedule", c.Schedule),
		slog.Group("rules",
			slog.Int("window_size", c.Rules.WindowSize),
			slog.Float64("min_complete", c.Rules.MinComplete),
			slog.Int64("allowed_lag", c.Rules.AllowedLag)),
		slog.Duration("max_age", c.MaxAge),
		slog.Duration("notfound_lookback", c.NotFoundLookback),
		slog.String("stale_after", staleAfterText(c.StaleAfter)),
		slog.Int("page_size", c.PageSize),
		slog.String("shard", fmt.Sprintf("%d of %d", c.Shard.Index, c.Shard.Count)),
		slog.Duration("timeout", c.Timeout),
		slog.Group("alert",
			slog.String("threshold", c.Alert.Threshold.String()),
			slog.Duration("resend", c.Alert.Resend),
			slog.String("group_allow", regexpText(c.Alert.GroupAllow)),
			slog.String("group_deny", regexpText(c.Alert.GroupDeny))),
		slog.Attr{Key: "webhooks", Value: slog.GroupValue(hooks...)},
		slog.Any("alertmanagers", redactedURLs(c.Alertmanagers)),
		slog.Any("email", c.Mail),
		slog.Group("delivery",
			slog.Duration("timeout", c.DeliveryTimeout),
			slog.Int("retries", c.DeliveryRetries)),
		slog.String("grafana_url", c.GrafanaURL),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("http_addr", c.HTTPAddr),
		slog.Duration("http_timeout", c.HTTPTimeout),
		slog.String("state_file", c.StateFile),
		slog.Duration("http_write_timeout", c.HTTPWriteTimeout),
		slog.Duration("http_idle_timeout", c.HTTPIdleTimeout),
		slog.Int("http_max_in_flight", c.HTTPMaxInFlight),
		slog.Any("http", c.HTTP),
		slog.Any("metrics", c.Metrics),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

// LogValue implements slog.LogValuer: the URL shows only its scheme and
// host, the headers only their number.
func (w WebhookConfig) LogValue() slog.Value {
	tmpl := ""
	if w.Template != nil {
		tmpl = w.Template.Name()
	}
	return slog.GroupValue(
		slog.String("url", notify.RedactURL(string(w.URL))),
		slog.Int("headers", len(w.Headers)),
		slog.String("template", tmpl),
		slog.Duration("timeout", w.Timeout),
		slog.Int("retries", w.Retries))
}

// LogValue implements slog.LogValuer: the files, the user, and the token
// and password only as set or not.
func (l Listener) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Group("tls", slog.String("cert_file", l.TLS.CertFile), slog.String("key_file", l.TLS.KeyFile),
			slog.String("client_ca_file", l.TLS.ClientCAFile)),
		slog.Group("auth", slog.Any("bearer_token", l.Auth.Token), slog.String("username", l.Auth.Username),
			slog.Any("password", l.Auth.Password)))
}

// staleAfterText is EVALUATOR_STALE_AFTER as it was given: auto, or the
// duration.
func staleAfterText(d time.Duration) string {
	if d == 0 {
		return "auto"
	}
	return d.String()
}

func regexpText(re *regexp.Regexp) string {
	if re == nil {
		return ""
	}
	return re.String()
}

// redactedURLs shows only the scheme and host of each URL.
func redactedURLs(us []envconf.Secret) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = notify.RedactURL(string(u))
	}
	return out
}

// LogValue implements slog.LogValuer: the password only as set or not.
func (m *MailConfig) LogValue() slog.Value {
	if m == nil {
		return slog.StringValue("")
	}
	return slog.GroupValue(
		slog.String("addr", m.Addr), slog.String("from", m.From), slog.Any("to", m.To), slog.String("tls", m.TLS),
		slog.String("ca_file", m.CAFile), slog.String("username", m.Username), slog.Any("password", m.Password),
		slog.Bool("subject_set", m.SubjectSet), slog.Bool("template_set", m.BodySet))
}

// The String and GoString methods make fmt's %v, %+v and %#v show the
// redacted form too.

func (c Config) String() string          { return envconf.LogText(c) }
func (c Config) GoString() string        { return c.String() }
func (w WebhookConfig) String() string   { return envconf.LogText(w) }
func (w WebhookConfig) GoString() string { return w.String() }
