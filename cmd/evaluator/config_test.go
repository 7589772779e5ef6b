package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/envconf/envconftest"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// unsetVar in an env map removes the variable instead of setting it.
const unsetVar = envconftest.Unset

// prefixes cover every variable the evaluator could read.
var prefixes = []string{"ELASTICSEARCH_", "EVALUATOR_", "LOG_"}

// envWith is the smallest valid environment changed by kv pairs (unsetVar
// removes).
func envWith(kv ...string) map[string]string {
	return envconftest.With(map[string]string{"ELASTICSEARCH_URL": "http://127.0.0.1:9200"}, kv...)
}

// mailWith is envWith plus a mail sink.
func mailWith(kv ...string) map[string]string {
	return envWith(append([]string{"EVALUATOR_SMTP_ADDR", "127.0.0.1:25", "EVALUATOR_SMTP_FROM", "lagwatch@example.com",
		"EVALUATOR_SMTP_TO", "oncall@example.com"}, kv...)...)
}

// hookWith is envWith plus a generic webhook.
func hookWith(kv ...string) map[string]string {
	return envWith(append([]string{"EVALUATOR_WEBHOOK_URL", "http://127.0.0.1:9/hook"}, kv...)...)
}

func TestLoadConfigDefaults(t *testing.T) {
	got := envconftest.Load(t, prefixes, envWith(), loadConfig)
	want := Config{
		Elasticsearch: envconf.ES{
			URLs:      []string{"http://127.0.0.1:9200"},
			Namespace: "default",
			Retention: 30 * 24 * time.Hour,
		},
		Schedule:         "@every 1m",
		Rules:            evaluate.Rules{WindowSize: 10, MinComplete: 0, AllowedLag: 0},
		MaxAge:           time.Hour,
		NotFoundLookback: 24 * time.Hour,
		PageSize:         10000,
		Shard:            esindex.Shard{Count: 1},
		Timeout:          5 * time.Minute,
		Alert:            AlertConfig{Threshold: evaluate.Warn, Resend: time.Hour},
		DeliveryTimeout:  5 * time.Second,
		DeliveryRetries:  3,
		MetricsAddr:      ":9309",
		HTTPAddr:         ":8000",
		HTTPTimeout:      10 * time.Second,
		HTTPWriteTimeout: 30 * time.Second,
		HTTPIdleTimeout:  2 * time.Minute,
		HTTPMaxInFlight:  64,
		LogLevel:         slog.LevelInfo,
		LogFormat:        "json",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loadConfig()\n got: %s\nwant: %s", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate of a loaded config: %v", err)
	}
	if s := got.Sinks(); len(s) != 0 {
		t.Errorf("Sinks() = %d sinks, want none without a webhook URL", len(s))
	}
}

// TestEnvNames: the variables read are exactly the documented ones (split_words
// would turn NotFound into NOT_FOUND).
func TestEnvNames(t *testing.T) {
	var buf bytes.Buffer
	if err := envconfig.Usagef("", &evaluatorEnv{}, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ELASTICSEARCH_URL", "ELASTICSEARCH_API_KEY", "ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD",
		"ELASTICSEARCH_CA_FILE", "ELASTICSEARCH_NAMESPACE", "ELASTICSEARCH_RETENTION",
		"EVALUATOR_SCHEDULE", "EVALUATOR_WINDOW_SIZE", "EVALUATOR_MAX_AGE", "EVALUATOR_MIN_COMPLETE",
		"EVALUATOR_ALLOWED_LAG", "EVALUATOR_NOTFOUND_LOOKBACK", "EVALUATOR_STALE_AFTER", "EVALUATOR_PAGE_SIZE", "EVALUATOR_SHARDS", "EVALUATOR_SHARD", "EVALUATOR_TIMEOUT",
		"EVALUATOR_ALERT_THRESHOLD", "EVALUATOR_ALERT_RESEND", "EVALUATOR_ALERT_GROUP_ALLOW", "EVALUATOR_ALERT_GROUP_DENY",
		"EVALUATOR_WEBHOOK_URL", "EVALUATOR_WEBHOOK_TEMPLATE_FILE",
		"EVALUATOR_WEBHOOK_HEADERS", "EVALUATOR_SLACK_WEBHOOK_URL",
		"EVALUATOR_SMTP_ADDR", "EVALUATOR_SMTP_FROM", "EVALUATOR_SMTP_TO", "EVALUATOR_SMTP_USERNAME", "EVALUATOR_SMTP_PASSWORD",
		"EVALUATOR_SMTP_TLS", "EVALUATOR_SMTP_CA_FILE", "EVALUATOR_SMTP_SUBJECT", "EVALUATOR_SMTP_TEMPLATE_FILE",
		"EVALUATOR_ALERTMANAGER_URL", "EVALUATOR_GRAFANA_URL",
		"EVALUATOR_WEBHOOK_TIMEOUT", "EVALUATOR_WEBHOOK_RETRIES",
		"EVALUATOR_METRICS_ADDR", "EVALUATOR_HTTP_ADDR", "EVALUATOR_HTTP_TIMEOUT", "EVALUATOR_STATE_FILE",
		"EVALUATOR_HTTP_WRITE_TIMEOUT", "EVALUATOR_HTTP_IDLE_TIMEOUT", "EVALUATOR_HTTP_MAX_IN_FLIGHT",
		"EVALUATOR_HTTP_TLS_CERT_FILE", "EVALUATOR_HTTP_TLS_KEY_FILE", "EVALUATOR_HTTP_TLS_CLIENT_CA_FILE",
		"EVALUATOR_HTTP_BEARER_TOKEN", "EVALUATOR_HTTP_USERNAME", "EVALUATOR_HTTP_PASSWORD",
		"EVALUATOR_METRICS_TLS_CERT_FILE", "EVALUATOR_METRICS_TLS_KEY_FILE", "EVALUATOR_METRICS_TLS_CLIENT_CA_FILE",
		"EVALUATOR_METRICS_BEARER_TOKEN", "EVALUATOR_METRICS_USERNAME", "EVALUATOR_METRICS_PASSWORD",
		"LOG_LEVEL", "LOG_FORMAT",
	}
	if got := strings.Fields(buf.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("variables read\n got: %q\nwant: %q", got, want)
	}
	// Messages name the same variables.
	n := vars.Evaluator
	got := []string{vars.Elasticsearch.URL, n.NotfoundLookback, n.SlackWebhookURL, n.WebhookTemplateFile, vars.Log.Format}
	if w := []string{"ELASTICSEARCH_URL", "EVALUATOR_NOTFOUND_LOOKBACK", "EVALUATOR_SLACK_WEBHOOK_URL", "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "LOG_FORMAT"}; !reflect.DeepEqual(got, w) {
		t.Errorf("names in messages\n got: %q\nwant: %q", got, w)
	}
}

// TestLoadConfigEmptyMeansDefault: a set-but-empty variable takes the
// default; EVALUATOR_METRICS_ADDR and EVALUATOR_HTTP_ADDR are the
// exceptions, empty disables.
func TestLoadConfigEmptyMeansDefault(t *testing.T) {
	env := envWith()
	for _, k := range []string{
		"ELASTICSEARCH_NAMESPACE", "ELASTICSEARCH_RETENTION", "EVALUATOR_SCHEDULE", "EVALUATOR_WINDOW_SIZE",
		"EVALUATOR_MAX_AGE", "EVALUATOR_MIN_COMPLETE", "EVALUATOR_ALLOWED_LAG", "EVALUATOR_NOTFOUND_LOOKBACK", "EVALUATOR_STALE_AFTER",
		"EVALUATOR_PAGE_SIZE", "EVALUATOR_SHARDS", "EVALUATOR_SHARD", "EVALUATOR_TIMEOUT", "EVALUATOR_ALERT_THRESHOLD", "EVALUATOR_ALERT_RESEND",
		"EVALUATOR_WEBHOOK_URL", "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "EVALUATOR_WEBHOOK_HEADERS",
		"EVALUATOR_SLACK_WEBHOOK_URL", "EVALUATOR_WEBHOOK_TIMEOUT", "EVALUATOR_WEBHOOK_RETRIES",
		"EVALUATOR_METRICS_ADDR", "EVALUATOR_HTTP_ADDR", "EVALUATOR_HTTP_TIMEOUT", "EVALUATOR_HTTP_WRITE_TIMEOUT",
		"EVALUATOR_HTTP_IDLE_TIMEOUT", "EVALUATOR_HTTP_MAX_IN_FLIGHT", "LOG_LEVEL", "LOG_FORMAT",
	} {
		env[k] = ""
	}
	got := envconftest.Load(t, prefixes, env, loadConfig)
	if got.Schedule != "@every 1m" || got.Rules.WindowSize != 10 || got.PageSize != 10000 || got.Shard != (esindex.Shard{Count: 1}) || got.Timeout != 5*time.Minute ||
		got.Alert.Threshold != evaluate.Warn || got.NotFoundLookback != 24*time.Hour || got.StaleAfter != 0 || got.LogFormat != "json" {
		t.Errorf("empty variables did not take their defaults: %s", got)
	}
	if got.MetricsAddr != "" || got.HTTPAddr != "" || len(got.Webhooks) != 0 {
		t.Errorf("MetricsAddr = %q, HTTPAddr = %q, webhooks %d; want both empty (disabled) and none", got.MetricsAddr, got.HTTPAddr, len(got.Webhooks))
	}
	if got.HTTPTimeout != 10*time.Second || got.HTTPWriteTimeout != 30*time.Second || got.HTTPIdleTimeout != 2*time.Minute || got.HTTPMaxInFlight != 64 {
		t.Errorf("HTTP timeouts %v, %v, %v, in flight %d; want the defaults 10s, 30s, 2m and 64", got.HTTPTimeout, got.HTTPWriteTimeout,
			got.HTTPIdleTimeout, got.HTTPMaxInFlight)
	}
}

// TestLoadConfigAccepts: values at the edges of what is valid.
func TestLoadConfigAccepts(t *testing.T) {
	pki := writeServerPKI(t)
	// The example of docs/configuration.md.
	good := envconftest.WriteFile(t, "body.tmpl", `{"message": {{json (printf "%s: group %s on %s is %s (lag %d)" (title .Kind) .Group .Cluster .Status .TotalLag)}}}`+"\n")
	envconftest.Accepts(t, prefixes, loadConfig, []envconftest.Accept[Config]{
		{
			Name: "seconds field", Env: envWith("EVALUATOR_SCHEDULE", "*/20 * * * * *"),
			Reason: "the collector's cron rules: a 6-field spec starts with seconds",
			Check:  field(func(c Config) any { return c.Schedule }, "*/20 * * * * *"),
		},
		{
			Name: "window bounds low", Env: envWith("EVALUATOR_WINDOW_SIZE", "2"),
			Reason: "two observations make the smallest window",
			Check:  field(func(c Config) any { return c.Rules.WindowSize }, 2),
		},
		{
			Name: "window bounds high", Env: envWith("EVALUATOR_WINDOW_SIZE", "1000"),
			Reason: "upper bound included",
			Check:  field(func(c Config) any { return c.Rules.WindowSize }, 1000),
		},
		{
			Name: "min complete one", Env: envWith("EVALUATOR_MIN_COMPLETE", "1"),
			Reason: "only full windows are judged",
			Check:  field(func(c Config) any { return c.Rules.MinComplete }, 1.0),
		},
		{
			Name: "min complete fraction", Env: envWith("EVALUATOR_MIN_COMPLETE", " 0.5 "),
			Reason: "a share of the window, spaces ignored",
			Check:  field(func(c Config) any { return c.Rules.MinComplete }, 0.5),
		},
		{
			Name: "allowed lag", Env: envWith("EVALUATOR_ALLOWED_LAG", "9000000000"),
			Reason: "lags are int64",
			Check:  field(func(c Config) any { return c.Rules.AllowedLag }, int64(9000000000)),
		},
		{
			Name: "lookback equals max age", Env: envWith("EVALUATOR_MAX_AGE", "2h", "EVALUATOR_NOTFOUND_LOOKBACK", "2h"),
			Reason: "the lookback may be as short as the window's age",
			Check:  field(func(c Config) any { return c.NotFoundLookback }, 2*time.Hour),
		},
		{
			Name: "stale after auto", Env: envWith("EVALUATOR_STALE_AFTER", " AUTO "),
			Reason: "five collector intervals as the history shows them, any case, spaces ignored",
			Check:  field(func(c Config) any { return c.StaleAfter }, time.Duration(0)),
		},
		{
			Name: "stale after a duration", Env: envWith("EVALUATOR_STALE_AFTER", "10m"),
			Reason: "a duration overrides the intervals",
			Check:  field(func(c Config) any { return c.StaleAfter }, 10*time.Minute),
		},
		{
			Name: "stale after the max age", Env: envWith("EVALUATOR_MAX_AGE", "2h", "EVALUATOR_STALE_AFTER", "2h"),
			Reason: "stale at the latest when the window would empty",
			Check:  field(func(c Config) any { return c.StaleAfter }, 2*time.Hour),
		},
		{
			Name: "page size low", Env: envWith("EVALUATOR_PAGE_SIZE", "100"),
			Reason: "lower bound included",
			Check:  field(func(c Config) any { return c.PageSize }, 100),
		},
		{
			Name: "page size high", Env: envWith("EVALUATOR_PAGE_SIZE", "10000"),
			Reason: "Elasticsearch's max result window",
			Check:  field(func(c Config) any { return c.PageSize }, 10000),
		},
		{
			Name: "the last of three shards", Env: envWith("EVALUATOR_SHARDS", "3", "EVALUATOR_SHARD", "2"),
			Reason: "shards count from 0",
			Check:  field(func(c Config) any { return c.Shard }, esindex.Shard{Index: 2, Count: 3}),
		},
		{
			Name: "threshold err lower case", Env: envWith("EVALUATOR_ALERT_THRESHOLD", "err"),
			Reason: "the threshold is case-insensitive",
			Check:  field(func(c Config) any { return c.Alert.Threshold }, evaluate.Err),
		},
		{
			Name: "resend never", Env: envWith("EVALUATOR_ALERT_RESEND", "0s"),
			Reason: "0 never re-sends",
			Check:  field(func(c Config) any { return c.Alert.Resend }, time.Duration(0)),
		},
		{
			Name: "metrics disabled", Env: envWith("EVALUATOR_METRICS_ADDR", ""),
			Reason: "set but empty disables the listener",
			Check:  field(func(c Config) any { return c.MetricsAddr }, ""),
		},
		{
			Name: "http disabled", Env: envWith("EVALUATOR_HTTP_ADDR", ""),
			Reason: "set but empty: no API listener",
			Check:  field(func(c Config) any { return c.HTTPAddr }, ""),
		},
		{
			Name: "http on a host", Env: envWith("EVALUATOR_HTTP_ADDR", "127.0.0.1:8080"),
			Reason: "[host]:port",
			Check:  field(func(c Config) any { return c.HTTPAddr }, "127.0.0.1:8080"),
		},
		{
			Name: "http timeout", Env: envWith("EVALUATOR_HTTP_TIMEOUT", "2s"),
			Reason: "a Go duration",
			Check:  field(func(c Config) any { return c.HTTPTimeout }, 2*time.Second),
		},
		{
			Name: "state file", Env: envWith("EVALUATOR_STATE_FILE", filepath.Join(os.TempDir(), "lagwatch-state.json")),
			Reason: "a file in a folder that exists; the file itself need not",
			Check:  field(func(c Config) any { return c.StateFile }, filepath.Join(os.TempDir(), "lagwatch-state.json")),
		},
		{
			Name: "mutual TLS", Env: envWith("EVALUATOR_HTTP_TLS_CERT_FILE", pki.cert, "EVALUATOR_HTTP_TLS_KEY_FILE", pki.key,
				"EVALUATOR_HTTP_TLS_CLIENT_CA_FILE", pki.ca),
			Reason: "a certificate, its key, and the CAs of the clients",
			Check:  field(func(c Config) any { return c.HTTP.TLS }, envconf.ServerTLS{CertFile: pki.cert, KeyFile: pki.key, ClientCAFile: pki.ca}),
		},
		{
			Name: "metrics TLS on a listener of its own", Env: envWith("EVALUATOR_METRICS_TLS_CERT_FILE", pki.cert, "EVALUATOR_METRICS_TLS_KEY_FILE", pki.key),
			Reason: "the metrics listener has its own certificate",
			Check:  field(func(c Config) any { return c.Metrics.TLS }, envconf.ServerTLS{CertFile: pki.cert, KeyFile: pki.key}),
		},
		{
			Name: "token and basic", Env: envWith("EVALUATOR_HTTP_BEARER_TOKEN", "t0k3n", "EVALUATOR_HTTP_USERNAME", "telegraf",
				"EVALUATOR_HTTP_PASSWORD", "pass word"),
			Reason: "either lets a client in; a password may hold a space",
			Check: field(func(c Config) any { return c.HTTP.Auth },
				service.Credentials{Token: "t0k3n", Username: "telegraf", Password: "pass word"}),
		},
		{
			Name: "metrics credentials with the API's listener only", Env: envWith("EVALUATOR_METRICS_ADDR", "", "EVALUATOR_METRICS_BEARER_TOKEN", "m"),
			Reason: "/metrics is still served on EVALUATOR_HTTP_ADDR",
			Check:  field(func(c Config) any { return c.Metrics.Auth.Token }, envconf.Secret("m")),
		},
		{
			Name: "write timeout just longer", Env: envWith("EVALUATOR_HTTP_TIMEOUT", "10s", "EVALUATOR_HTTP_WRITE_TIMEOUT", "11s"),
			Reason: "room to write an answer that took its whole time",
			Check:  field(func(c Config) any { return c.HTTPWriteTimeout }, 11*time.Second),
		},
		{
			Name: "one request at a time", Env: envWith("EVALUATOR_HTTP_MAX_IN_FLIGHT", "1"),
			Reason: "lower bound included",
			Check:  field(func(c Config) any { return c.HTTPMaxInFlight }, 1),
		},
		{
			Name: "retries zero", Env: envWith("EVALUATOR_WEBHOOK_RETRIES", "0"),
			Reason: "one attempt only",
			Check:  func(Config) error { return nil },
		},
		{
			Name:   "generic webhook",
			Env:    hookWith("EVALUATOR_WEBHOOK_TIMEOUT", "2s", "EVALUATOR_WEBHOOK_RETRIES", "10"),
			Reason: "the generic template by default, with the shared timeout and retries",
			Check: func(c Config) error {
				if len(c.Webhooks) != 1 {
					return fmt.Errorf("%d webhooks, want 1", len(c.Webhooks))
				}
				w := c.Webhooks[0]
				if w.Name != "webhook" || string(w.URL) != "http://127.0.0.1:9/hook" || w.Template == nil || w.Template.Name() != "webhook" ||
					w.Timeout != 2*time.Second || w.Retries != 10 || w.Headers != nil {
					return fmt.Errorf("got %s", w)
				}
				return nil
			},
		},
		{
			Name:   "headers on one line",
			Env:    hookWith("EVALUATOR_WEBHOOK_HEADERS", "authorization: Bearer abc ; X-Env:prod;"),
			Reason: "';' separates pairs; names are canonicalised, spaces and empty entries dropped",
			Check: field(func(c Config) any { return c.Webhooks[0].Headers },
				map[string]envconf.Secret{"Authorization": "Bearer abc", "X-Env": "prod"}),
		},
		{
			Name:   "headers on lines",
			Env:    hookWith("EVALUATOR_WEBHOOK_HEADERS", "Cookie: a=1; b=2\r\n\nX-Token: t:1\n"),
			Reason: "lines separate pairs, so ';' and ':' belong to values",
			Check: field(func(c Config) any { return c.Webhooks[0].Headers },
				map[string]envconf.Secret{"Cookie": "a=1; b=2", "X-Token": "t:1"}),
		},
		{
			Name:   "content type override",
			Env:    hookWith("EVALUATOR_WEBHOOK_HEADERS", "Content-Type: text/plain"),
			Reason: "the sink's own Content-Type may be replaced",
			Check:  field(func(c Config) any { return c.Webhooks[0].Headers["Content-Type"] }, envconf.Secret("text/plain")),
		},
		{
			Name:   "template file",
			Env:    hookWith("EVALUATOR_WEBHOOK_TEMPLATE_FILE", good),
			Reason: "a template that parses and renders; named after its file",
			Check: func(c Config) error {
				if name := c.Webhooks[0].Template.Name(); name != good {
					return fmt.Errorf("template named %q, want the file %q", name, good)
				}
				body, err := c.Sinks()[0].(*notify.Webhook).Render(notify.Alert{Kind: notify.Open, Cluster: "prod", Group: "billing", Status: "WARN", TotalLag: 7})
				var msg struct{ Message string }
				if err != nil || json.Unmarshal(body, &msg) != nil || msg.Message != "Opened: group billing on prod is WARN (lag 7)" {
					return fmt.Errorf("body %s (%v)", body, err)
				}
				return nil
			},
		},
		{
			Name:   "slack only",
			Env:    envWith("EVALUATOR_SLACK_WEBHOOK_URL", "https://hooks.slack.test/services/T/B/x"),
			Reason: "Slack alone, with its own template",
			Check: func(c Config) error {
				if len(c.Webhooks) != 1 || c.Webhooks[0].Name != "slack" || c.Webhooks[0].Template.Name() != "slack" {
					return fmt.Errorf("got %s", c)
				}
				return nil
			},
		},
		{
			Name:   "both sinks",
			Env:    hookWith("EVALUATOR_SLACK_WEBHOOK_URL", "https://hooks.slack.test/services/T/B/x"),
			Reason: "generic first, then Slack",
			Check: func(c Config) error {
				if len(c.Webhooks) != 2 || c.Webhooks[0].Name != "webhook" || c.Webhooks[1].Name != "slack" {
					return fmt.Errorf("got %s", c)
				}
				return nil
			},
		},
	})
}

// field is a Check on one value of the loaded configuration.
var field = envconftest.Field[Config]

// TestLoadConfigRejects: each bad value alone gives exactly one line, which
// names the variable at fault.
func TestLoadConfigRejects(t *testing.T) {
	pki := writeServerPKI(t)
	notPEM := envconftest.WriteFile(t, "not.pem", "hello\n")
	badSyntax := envconftest.WriteFile(t, "syntax.tmpl", `{"group":{{json .Group}`)
	badFunc := envconftest.WriteFile(t, "func.tmpl", `{{upper .Group}}`)
	badField := envconftest.WriteFile(t, "field.tmpl", `{{.Consumer}}`)
	missing := filepath.Join(t.TempDir(), "missing.tmpl")

	envconftest.Rejects(t, prefixes, loadConfig, []envconftest.Reject{
		// Shared with the collector.
		{"es url missing", envWith("ELASTICSEARCH_URL", unsetVar), "ELASTICSEARCH_URL", "required", "required variable"},
		{"es url scheme", envWith("ELASTICSEARCH_URL", "es:9200"), "ELASTICSEARCH_URL", "not an http or https URL", "host:port is not a URL"},
		{"es half basic auth", envWith("ELASTICSEARCH_USERNAME", "u"), "ELASTICSEARCH_PASSWORD", "required when ELASTICSEARCH_USERNAME", "half of basic auth"},
		{"es ca", envWith("ELASTICSEARCH_CA_FILE", notPEM), "ELASTICSEARCH_CA_FILE", "no PEM certificates", "the file must parse"},
		{"es namespace", envWith("ELASTICSEARCH_NAMESPACE", "Prod"), "ELASTICSEARCH_NAMESPACE", "lowercase", "index names are lowercase"},
		{"es retention", envWith("ELASTICSEARCH_RETENTION", "1d12h"), "ELASTICSEARCH_RETENTION", "not a duration", "days and hours do not mix"},
		{"log level", envWith("LOG_LEVEL", "verbose"), "LOG_LEVEL", "not one of debug, info, warn, error", "unknown level"},
		{"log format", envWith("LOG_FORMAT", "xml"), "LOG_FORMAT", "not json or text", "unknown format"},

		// Schedule and evaluation.
		{"cron words", envWith("EVALUATOR_SCHEDULE", "every minute"), "EVALUATOR_SCHEDULE", `"every minute" is not a cron spec`, "not a spec"},
		{"cron fraction", envWith("EVALUATOR_SCHEDULE", "@every 1500ms"), "EVALUATOR_SCHEDULE", "whole number of seconds", "the collector's rules"},
		{"cron tz only", envWith("EVALUATOR_SCHEDULE", "CRON_TZ=UTC"), "EVALUATOR_SCHEDULE", "needs a schedule after it", "robfig/cron panics on this"},
		{"window one", envWith("EVALUATOR_WINDOW_SIZE", "1"), "EVALUATOR_WINDOW_SIZE", "between 2 and 1000, got 1", "one observation has no trend"},
		{"window zero", envWith("EVALUATOR_WINDOW_SIZE", "0"), "EVALUATOR_WINDOW_SIZE", "between 2 and 1000", "0 would mean evaluate's default, silently"},
		{"window large", envWith("EVALUATOR_WINDOW_SIZE", "1001"), "EVALUATOR_WINDOW_SIZE", "between 2 and 1000", "upper bound"},
		{"window word", envWith("EVALUATOR_WINDOW_SIZE", "ten"), "EVALUATOR_WINDOW_SIZE", `"ten" is not a whole number`, "not a number"},
		{"max age zero", envWith("EVALUATOR_MAX_AGE", "0s"), "EVALUATOR_MAX_AGE", "greater than 0", "an empty window"},
		{"max age no unit", envWith("EVALUATOR_MAX_AGE", "60"), "EVALUATOR_MAX_AGE", "not a duration", "units are required"},
		{"min complete high", envWith("EVALUATOR_MIN_COMPLETE", "1.5"), "EVALUATOR_MIN_COMPLETE", "between 0 and 1, got 1.5", "a share"},
		{"min complete negative", envWith("EVALUATOR_MIN_COMPLETE", "-0.1"), "EVALUATOR_MIN_COMPLETE", "between 0 and 1", "a share"},
		{"min complete nan", envWith("EVALUATOR_MIN_COMPLETE", "NaN"), "EVALUATOR_MIN_COMPLETE", "between 0 and 1", "NaN compares false with everything"},
		{"min complete percent", envWith("EVALUATOR_MIN_COMPLETE", "50%"), "EVALUATOR_MIN_COMPLETE", "not a number from 0 to 1", "a fraction, not a percentage"},
		{"allowed lag negative", envWith("EVALUATOR_ALLOWED_LAG", "-1"), "EVALUATOR_ALLOWED_LAG", "must not be negative", "a lag is never negative"},
		{"allowed lag fraction", envWith("EVALUATOR_ALLOWED_LAG", "1.5"), "EVALUATOR_ALLOWED_LAG", "not a whole number", "messages are counted"},
		{"lookback short", envWith("EVALUATOR_NOTFOUND_LOOKBACK", "30m"), "EVALUATOR_NOTFOUND_LOOKBACK", "shorter than EVALUATOR_MAX_AGE (1h0m0s)", "a group in the window must count as seen"},
		{"lookback zero", envWith("EVALUATOR_NOTFOUND_LOOKBACK", "0"), "EVALUATOR_NOTFOUND_LOOKBACK", "greater than 0", "zero lookback"},
		{"lookback unit", envWith("EVALUATOR_NOTFOUND_LOOKBACK", "1d"), "EVALUATOR_NOTFOUND_LOOKBACK", "not a duration", "Go durations have no days"},
		{"stale after long", envWith("EVALUATOR_STALE_AFTER", "90m"), "EVALUATOR_STALE_AFTER", "longer than EVALUATOR_MAX_AGE (1h0m0s)", "the groups would go NOTFOUND in silence first"},
		{"stale after zero", envWith("EVALUATOR_STALE_AFTER", "0s"), "EVALUATOR_STALE_AFTER", "not auto or a positive duration", "every cluster would be stale"},
		{"stale after negative", envWith("EVALUATOR_STALE_AFTER", "-5m"), "EVALUATOR_STALE_AFTER", "not auto or a positive duration", "negative"},
		{"stale after never", envWith("EVALUATOR_STALE_AFTER", "never"), "EVALUATOR_STALE_AFTER", `"never" is not auto or a positive duration`, "the monitor must not be told to go blind"},
		{"page size small", envWith("EVALUATOR_PAGE_SIZE", "99"), "EVALUATOR_PAGE_SIZE", "between 100 and 10000", "lower bound"},
		{"page size large", envWith("EVALUATOR_PAGE_SIZE", "10001"), "EVALUATOR_PAGE_SIZE", "between 100 and 10000", "Elasticsearch's max result window"},
		{"shard beyond the shards", envWith("EVALUATOR_SHARDS", "2", "EVALUATOR_SHARD", "2"), "EVALUATOR_SHARD", "between 0 and 1", "shards count from 0"},
		{"shard negative", envWith("EVALUATOR_SHARD", "-1"), "EVALUATOR_SHARD", "between 0 and 0", "no negative part"},
		{"no shards", envWith("EVALUATOR_SHARDS", "0"), "EVALUATOR_SHARDS", "between 1 and 1024", "at least one evaluator"},
		{"timeout zero", envWith("EVALUATOR_TIMEOUT", "0s"), "EVALUATOR_TIMEOUT", "greater than 0", "a run needs time"},
		{"timeout negative", envWith("EVALUATOR_TIMEOUT", "-1m"), "EVALUATOR_TIMEOUT", "greater than 0", "negative"},
		{"threshold ok", envWith("EVALUATOR_ALERT_THRESHOLD", "ok"), "EVALUATOR_ALERT_THRESHOLD", `"OK" is not WARN or ERR`, "every group would alert"},
		{"threshold stop", envWith("EVALUATOR_ALERT_THRESHOLD", "STOP"), "EVALUATOR_ALERT_THRESHOLD", "not WARN or ERR", "a partition status, never a group's"},
		{"threshold word", envWith("EVALUATOR_ALERT_THRESHOLD", "critical"), "EVALUATOR_ALERT_THRESHOLD", `"critical" is not WARN or ERR`, "not a status"},
		{"resend negative", envWith("EVALUATOR_ALERT_RESEND", "-1h"), "EVALUATOR_ALERT_RESEND", "must not be negative", "negative"},
		{"metrics addr", envWith("EVALUATOR_METRICS_ADDR", "9309"), "EVALUATOR_METRICS_ADDR", "not [host]:port", "the colon is required"},
		{"http addr no colon", envWith("EVALUATOR_HTTP_ADDR", "8000"), "EVALUATOR_HTTP_ADDR", "not [host]:port", "the colon is required"},
		{"http addr port", envWith("EVALUATOR_HTTP_ADDR", ":http"), "EVALUATOR_HTTP_ADDR", `port "http" is not a number`, "numeric ports only"},
		{"http timeout zero", envWith("EVALUATOR_HTTP_TIMEOUT", "0s"), "EVALUATOR_HTTP_TIMEOUT", "greater than 0", "every read needs a bound"},
		{"http timeout unit", envWith("EVALUATOR_HTTP_TIMEOUT", "10"), "EVALUATOR_HTTP_TIMEOUT", "not a duration", "units are required"},
		{"state file folder", envWith("EVALUATOR_STATE_FILE", filepath.Join(missing, "state.json")), "EVALUATOR_STATE_FILE", "its folder must exist",
			"a file that could never be written"},

		// The listeners' TLS, credentials and bounds.
		{"tls key missing", envWith("EVALUATOR_HTTP_TLS_CERT_FILE", pki.cert), "EVALUATOR_HTTP_TLS_KEY_FILE", "required when EVALUATOR_HTTP_TLS_CERT_FILE is set", "half a key pair"},
		{"tls cert missing", envWith("EVALUATOR_HTTP_TLS_KEY_FILE", pki.key), "EVALUATOR_HTTP_TLS_CERT_FILE", "required when EVALUATOR_HTTP_TLS_KEY_FILE is set", "half a key pair"},
		{"tls cert not PEM", envWith("EVALUATOR_HTTP_TLS_CERT_FILE", notPEM, "EVALUATOR_HTTP_TLS_KEY_FILE", pki.key), "EVALUATOR_HTTP_TLS_CERT_FILE", "no PEM certificate", "the file must parse"},
		{"tls key of another", envWith("EVALUATOR_HTTP_TLS_CERT_FILE", pki.cert, "EVALUATOR_HTTP_TLS_KEY_FILE", pki.other), "EVALUATOR_HTTP_TLS_KEY_FILE", "private key does not match", "the key must be the certificate's"},
		{"tls cert file missing", envWith("EVALUATOR_HTTP_TLS_CERT_FILE", missing, "EVALUATOR_HTTP_TLS_KEY_FILE", pki.key), "EVALUATOR_HTTP_TLS_CERT_FILE", "no such file", "the file must exist"},
		{"client ca without tls", envWith("EVALUATOR_HTTP_TLS_CLIENT_CA_FILE", pki.ca), "EVALUATOR_HTTP_TLS_CLIENT_CA_FILE", "EVALUATOR_HTTP_TLS_CERT_FILE is empty", "client certificates need TLS"},
		{"client ca not PEM", envWith("EVALUATOR_HTTP_TLS_CERT_FILE", pki.cert, "EVALUATOR_HTTP_TLS_KEY_FILE", pki.key, "EVALUATOR_HTTP_TLS_CLIENT_CA_FILE", notPEM), "EVALUATOR_HTTP_TLS_CLIENT_CA_FILE", "no PEM certificates", "the file must parse"},
		{"tls without the API", envWith("EVALUATOR_HTTP_ADDR", "", "EVALUATOR_HTTP_TLS_CERT_FILE", pki.cert), "EVALUATOR_HTTP_TLS_CERT_FILE", "is set but EVALUATOR_HTTP_ADDR is empty", "a certificate nothing serves"},
		{"metrics tls on the API's listener", envWith("EVALUATOR_METRICS_ADDR", ":8000", "EVALUATOR_METRICS_TLS_CERT_FILE", pki.cert), "EVALUATOR_METRICS_TLS_CERT_FILE", "one listener, with EVALUATOR_HTTP_TLS_CERT_FILE", "one listener has one certificate"},
		{"metrics tls without a listener", envWith("EVALUATOR_METRICS_ADDR", "", "EVALUATOR_METRICS_TLS_CLIENT_CA_FILE", pki.ca), "EVALUATOR_METRICS_TLS_CLIENT_CA_FILE", "is set but EVALUATOR_METRICS_ADDR is empty", "nothing to serve it on"},
		{"metrics key missing", envWith("EVALUATOR_METRICS_TLS_CERT_FILE", pki.cert), "EVALUATOR_METRICS_TLS_KEY_FILE", "required when EVALUATOR_METRICS_TLS_CERT_FILE", "half a key pair"},
		{"user without password", envWith("EVALUATOR_HTTP_USERNAME", "telegraf"), "EVALUATOR_HTTP_PASSWORD", "required when EVALUATOR_HTTP_USERNAME is set", "half of basic auth"},
		{"password without user", envWith("EVALUATOR_METRICS_PASSWORD", "x"), "EVALUATOR_METRICS_USERNAME", "required when EVALUATOR_METRICS_PASSWORD is set", "half of basic auth"},
		{"user with a colon", envWith("EVALUATOR_HTTP_USERNAME", "a:b", "EVALUATOR_HTTP_PASSWORD", "x"), "EVALUATOR_HTTP_USERNAME", "must not contain a colon", "RFC 7617 ends the user there"},
		{"token with a space", envWith("EVALUATOR_HTTP_BEARER_TOKEN", "two words"), "EVALUATOR_HTTP_BEARER_TOKEN", "must not contain spaces", "a header value would split it"},
		{"token without the API", envWith("EVALUATOR_HTTP_ADDR", "", "EVALUATOR_HTTP_BEARER_TOKEN", "t"), "EVALUATOR_HTTP_BEARER_TOKEN", "is set but EVALUATOR_HTTP_ADDR is empty", "credentials nothing asks for"},
		{"metrics token without listeners", envWith("EVALUATOR_HTTP_ADDR", "", "EVALUATOR_METRICS_ADDR", "", "EVALUATOR_METRICS_BEARER_TOKEN", "t"), "EVALUATOR_METRICS_BEARER_TOKEN", "both EVALUATOR_METRICS_ADDR and EVALUATOR_HTTP_ADDR are empty", "no /metrics at all"},
		{"write timeout short", envWith("EVALUATOR_HTTP_WRITE_TIMEOUT", "10s"), "EVALUATOR_HTTP_WRITE_TIMEOUT", "not longer than EVALUATOR_HTTP_TIMEOUT (10s)", "an answer that took its time would be cut"},
		{"write timeout zero", envWith("EVALUATOR_HTTP_WRITE_TIMEOUT", "0s"), "EVALUATOR_HTTP_WRITE_TIMEOUT", "greater than 0", "no answer could be written"},
		{"idle timeout unit", envWith("EVALUATOR_HTTP_IDLE_TIMEOUT", "90"), "EVALUATOR_HTTP_IDLE_TIMEOUT", "not a duration", "units are required"},
		{"in flight zero", envWith("EVALUATOR_HTTP_MAX_IN_FLIGHT", "0"), "EVALUATOR_HTTP_MAX_IN_FLIGHT", "between 1 and 10000", "no request would be answered"},
		{"in flight huge", envWith("EVALUATOR_HTTP_MAX_IN_FLIGHT", "1000000"), "EVALUATOR_HTTP_MAX_IN_FLIGHT", "between 1 and 10000", "that is no bound"},

		// Webhooks.
		{"webhook scheme", envWith("EVALUATOR_WEBHOOK_URL", "ftp://h/x"), "EVALUATOR_WEBHOOK_URL", "not an http or https URL (value not shown)", "wrong scheme"},
		{"alertmanager scheme", envWith("EVALUATOR_ALERTMANAGER_URL", "http://am-1:9093,am-2:9093"), "EVALUATOR_ALERTMANAGER_URL", "entry 2 is not an http or https URL (value not shown)", "a host without scheme"},
		{"group allow", envWith("EVALUATOR_ALERT_GROUP_ALLOW", "prod-("), "EVALUATOR_ALERT_GROUP_ALLOW", "is not a regular expression", "unbalanced"},
		{"group deny", envWith("EVALUATOR_ALERT_GROUP_DENY", "*x"), "EVALUATOR_ALERT_GROUP_DENY", "is not a regular expression", "nothing to repeat"},
		{"smtp addr", mailWith("EVALUATOR_SMTP_ADDR", "mail.example"), "EVALUATOR_SMTP_ADDR", `"mail.example" is not host:port`, "no port"},
		{"smtp from", mailWith("EVALUATOR_SMTP_FROM", "lagwatch"), "EVALUATOR_SMTP_FROM", `"lagwatch" is not an e-mail address`, "no domain"},
		{"smtp no to", mailWith("EVALUATOR_SMTP_TO", ""), "EVALUATOR_SMTP_TO", "needs at least one address when EVALUATOR_SMTP_ADDR is set", "nobody to write to"},
		{"smtp bad to", mailWith("EVALUATOR_SMTP_TO", "a@example.com, b"), "EVALUATOR_SMTP_TO", `entry 2, "b", is not an e-mail address`, "the second address"},
		{"smtp tls", mailWith("EVALUATOR_SMTP_TLS", "ssl"), "EVALUATOR_SMTP_TLS", `"ssl" is not starttls, tls or none`, "an unknown mode"},
		{"smtp subject", mailWith("EVALUATOR_SMTP_SUBJECT", "{{.Nope}}"), "EVALUATOR_SMTP_SUBJECT", "does not render an alert", "a field alerts lack"},
		{"smtp password alone", mailWith("EVALUATOR_SMTP_PASSWORD", "x"), "EVALUATOR_SMTP_PASSWORD", "is set but EVALUATOR_SMTP_USERNAME is empty", "half a login"},
		{"smtp without addr", envWith("EVALUATOR_SMTP_TO", "a@example.com"), "EVALUATOR_SMTP_TO", "is set but EVALUATOR_SMTP_ADDR is empty", "mail settings that would not be used"},
		{"grafana url", envWith("EVALUATOR_GRAFANA_URL", "grafana:3000"), "EVALUATOR_GRAFANA_URL", "not an http or https URL", "no scheme"},
		{"webhook no host", envWith("EVALUATOR_WEBHOOK_URL", "https:///x"), "EVALUATOR_WEBHOOK_URL", "has no host", "no host"},
		{"webhook unparsable", envWith("EVALUATOR_WEBHOOK_URL", "http://[::1/x"), "EVALUATOR_WEBHOOK_URL", "not a URL (value not shown)", "broken IPv6 literal"},
		{"slack scheme", envWith("EVALUATOR_SLACK_WEBHOOK_URL", "hooks.slack.com/services/x"), "EVALUATOR_SLACK_WEBHOOK_URL", "not an http or https URL", "no scheme"},
		{"template missing", hookWith("EVALUATOR_WEBHOOK_TEMPLATE_FILE", missing), "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "no such file", "the file must exist"},
		{"template syntax", hookWith("EVALUATOR_WEBHOOK_TEMPLATE_FILE", badSyntax), "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "does not parse", "unclosed action"},
		{"template function", hookWith("EVALUATOR_WEBHOOK_TEMPLATE_FILE", badFunc), "EVALUATOR_WEBHOOK_TEMPLATE_FILE", `function "upper" not defined`, "only notify's functions exist"},
		{"template field", hookWith("EVALUATOR_WEBHOOK_TEMPLATE_FILE", badField), "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "does not render an alert", "parses, but Alert has no such field"},
		{"template without url", envWith("EVALUATOR_WEBHOOK_TEMPLATE_FILE", badSyntax), "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "EVALUATOR_WEBHOOK_URL is empty", "a template that would never be used"},
		{"headers without url", envWith("EVALUATOR_WEBHOOK_HEADERS", "X-A: b"), "EVALUATOR_WEBHOOK_HEADERS", "EVALUATOR_WEBHOOK_URL is empty", "headers that would never be sent"},
		{"header no colon", hookWith("EVALUATOR_WEBHOOK_HEADERS", "X-A: b; Bearer xyz"), "EVALUATOR_WEBHOOK_HEADERS", `entry 2 is not "Name: value"`, "the bad entry is located"},
		{"header bad name", hookWith("EVALUATOR_WEBHOOK_HEADERS", "X A: b"), "EVALUATOR_WEBHOOK_HEADERS", "entry 1: the header name is not an HTTP token", "a space in a name"},
		{"header empty name", hookWith("EVALUATOR_WEBHOOK_HEADERS", ": b"), "EVALUATOR_WEBHOOK_HEADERS", "not an HTTP token", "no name"},
		{"header empty value", hookWith("EVALUATOR_WEBHOOK_HEADERS", "X-A:"), "EVALUATOR_WEBHOOK_HEADERS", "value is empty", "a header without value"},
		{"header control", hookWith("EVALUATOR_WEBHOOK_HEADERS", "X-A: b\x01c"), "EVALUATOR_WEBHOOK_HEADERS", "control character", "a control character cannot be sent"},
		{"header host", hookWith("EVALUATOR_WEBHOOK_HEADERS", "host: x"), "EVALUATOR_WEBHOOK_HEADERS", "Host is set by the HTTP client", "net/http ignores it"},
		{"header duplicate", hookWith("EVALUATOR_WEBHOOK_HEADERS", "X-A: 1; x-a: 2"), "EVALUATOR_WEBHOOK_HEADERS", "entries 1 and 2 set the same header", "one would silently win"},
		{"webhook timeout zero", envWith("EVALUATOR_WEBHOOK_TIMEOUT", "0s"), "EVALUATOR_WEBHOOK_TIMEOUT", "greater than 0", "checked even without a webhook"},
		{"webhook timeout word", hookWith("EVALUATOR_WEBHOOK_TIMEOUT", "soon"), "EVALUATOR_WEBHOOK_TIMEOUT", "not a duration", "not a duration"},
		{"webhook retries high", hookWith("EVALUATOR_WEBHOOK_RETRIES", "11"), "EVALUATOR_WEBHOOK_RETRIES", "between 0 and 10, got 11", "upper bound"},
		{"webhook retries negative", envWith("EVALUATOR_WEBHOOK_RETRIES", "-1"), "EVALUATOR_WEBHOOK_RETRIES", "between 0 and 10", "checked even without a webhook"},
		{"two sinks one timeout", hookWith("EVALUATOR_SLACK_WEBHOOK_URL", "https://s/x", "EVALUATOR_WEBHOOK_TIMEOUT", "-1s"), "EVALUATOR_WEBHOOK_TIMEOUT", "greater than 0", "shared by both sinks, reported once"},
	})
}

// TestLoadConfigReportsAll: every problem at once, one line each, parse
// errors first, then Validate's.
func TestLoadConfigReportsAll(t *testing.T) {
	envconftest.ReportsAll(t, prefixes, map[string]string{
		"EVALUATOR_WINDOW_SIZE":     "many",
		"EVALUATOR_SCHEDULE":        "nope",
		"EVALUATOR_PAGE_SIZE":       "5",
		"EVALUATOR_ALERT_THRESHOLD": "ok",
		"LOG_FORMAT":                "xml",
	}, loadConfig, []string{"EVALUATOR_WINDOW_SIZE", "ELASTICSEARCH_URL", "EVALUATOR_SCHEDULE", "EVALUATOR_PAGE_SIZE", "EVALUATOR_ALERT_THRESHOLD", "LOG_FORMAT"})
}

// TestValidateHandBuilt: Validate on a Config built or changed in code.
func TestValidateHandBuilt(t *testing.T) {
	env := hookWith("EVALUATOR_SLACK_WEBHOOK_URL", "https://hooks.slack.test/x")
	envconftest.Validates(t, prefixes, env, loadConfig, []envconftest.Edit[Config]{
		{"zero window", func(c *Config) { c.Rules.WindowSize = 0 }, "EVALUATOR_WINDOW_SIZE", "zero is not a default here"},
		{"lookback", func(c *Config) { c.NotFoundLookback = time.Minute }, "EVALUATOR_NOTFOUND_LOOKBACK", "shorter than the max age"},
		{"stale after", func(c *Config) { c.StaleAfter = 2 * time.Hour }, "EVALUATOR_STALE_AFTER", "longer than the max age"},
		{"stale after negative", func(c *Config) { c.StaleAfter = -time.Minute }, "EVALUATOR_STALE_AFTER", "0 is auto; below is nothing"},
		{"threshold", func(c *Config) { c.Alert.Threshold = evaluate.NotFound }, "EVALUATOR_ALERT_THRESHOLD", "the zero status is not a threshold"},
		{"es", func(c *Config) { c.Elasticsearch.Namespace = "" }, "ELASTICSEARCH_NAMESPACE", "shared validation applies"},
		{"no template", func(c *Config) { c.Webhooks[0].Template = nil }, "EVALUATOR_WEBHOOK_TEMPLATE_FILE", "a sink needs a body"},
		{"slack no template", func(c *Config) { c.Webhooks[1].Template = nil }, "EVALUATOR_SLACK_WEBHOOK_URL", "Slack's template is built in"},
		{"bad header", func(c *Config) { c.Webhooks[0].Headers = map[string]envconf.Secret{"Bad Name": "v"} }, "EVALUATOR_WEBHOOK_HEADERS", "names are checked in maps too"},
		{"retries", func(c *Config) { c.Webhooks[0].Retries, c.Webhooks[1].Retries = 11, 11 }, "EVALUATOR_WEBHOOK_RETRIES", "reported once for both sinks"},
		{"twice", func(c *Config) { c.Webhooks[1] = c.Webhooks[0] }, "EVALUATOR_WEBHOOK_URL", "one sink per name"},
		{"empty url", func(c *Config) { c.Webhooks[1].URL = "" }, "EVALUATOR_SLACK_WEBHOOK_URL", "a sink needs a URL"},
	})
}

// TestSecretsNeverShown: no webhook URL, header value, Elasticsearch
// password or API key appears in an error, in the log output of a config,
// or in fmt's rendering of it.
func TestSecretsNeverShown(t *testing.T) {
	const (
		hookTok  = "hook-S3cret-token"
		slackTok = "slack-S3cret-token"
		userTok  = "user-S3cret-token"
		hdrTok   = "hdr-S3cret-token"
		esPW     = "es-S3cret-value"
		esKey    = "key-S3cret-value"
		apiTok   = "api-S3cret-token"
		apiPW    = "apiS3cret-pw-value"
		scrapeTk = "scrape-S3cret-token"
	)
	all := []string{hookTok, slackTok, userTok, hdrTok, esPW, esKey, apiTok, apiPW, scrapeTk}
	hook := "https://alerts.example/hooks/" + hookTok + "?token=" + hookTok
	slack := "https://hooks.slack.test/services/T0/B0/" + slackTok

	t.Run("errors", func(t *testing.T) {
		envconftest.HidesSecrets(t, prefixes, loadConfig, renderConfig, all, []envconftest.Refusal{

			{"webhook scheme", envWith("EVALUATOR_WEBHOOK_URL", "ftp://x/"+hookTok), "a token in a rejected URL"},
			{"webhook unparsable", envWith("EVALUATOR_WEBHOOK_URL", "https://[::1/"+hookTok), "net/url quotes the URL in its errors"},
			{"webhook control char", envWith("EVALUATOR_WEBHOOK_URL", "https://h/"+hookTok+"\x7f"), "net/url quotes the URL in its errors"},
			{"webhook user info", envWith("EVALUATOR_WEBHOOK_URL", "https://u:"+userTok+"@h/x", "EVALUATOR_WEBHOOK_RETRIES", "99"), "credentials in an accepted URL, another variable at fault"},
			{"alertmanager user info", envWith("EVALUATOR_ALERTMANAGER_URL", "https://u:"+userTok+"@am:9093", "EVALUATOR_WEBHOOK_RETRIES", "99"), "credentials in an accepted Alertmanager URL"},
			{"alertmanager no scheme", envWith("EVALUATOR_ALERTMANAGER_URL", userTok), "a bare token where a URL goes"},
			{"slack no scheme", envWith("EVALUATOR_SLACK_WEBHOOK_URL", slackTok), "a bare token"},
			{"slack no host", envWith("EVALUATOR_SLACK_WEBHOOK_URL", "https:"+slackTok), "an opaque URL"},
			{"header no colon", hookWith("EVALUATOR_WEBHOOK_HEADERS", "Authorization Bearer "+hdrTok), "a pair without its colon"},
			{"header bad name", hookWith("EVALUATOR_WEBHOOK_HEADERS", hdrTok+" x: y"), "the token where the name goes"},
			{"header control", hookWith("EVALUATOR_WEBHOOK_HEADERS", "Authorization: "+hdrTok+"\x01"), "a value with a control character"},
			{"header duplicate", hookWith("EVALUATOR_WEBHOOK_HEADERS", "Authorization: "+hdrTok+"; authorization: "+hdrTok), "a repeated header"},
			{"headers without url", envWith("EVALUATOR_WEBHOOK_HEADERS", "Authorization: "+hdrTok), "headers that would not be sent"},
			{"es password without user", envWith("ELASTICSEARCH_PASSWORD", esPW), "half of basic auth"},
			{"es key with user", envWith("ELASTICSEARCH_API_KEY", esKey, "ELASTICSEARCH_USERNAME", "u", "ELASTICSEARCH_PASSWORD", esPW), "two kinds of credentials"},
			{"es url credentials", envWith("ELASTICSEARCH_URL", "http://elastic:"+esPW+"@es:9200"), "a password inside a URL"},
			{"api token with a space", envWith("EVALUATOR_HTTP_BEARER_TOKEN", apiTok+" x"), "a token refused"},
			{"api password without user", envWith("EVALUATOR_HTTP_PASSWORD", apiPW), "half of basic auth"},
			{"api token without listener", envWith("EVALUATOR_HTTP_ADDR", "", "EVALUATOR_HTTP_BEARER_TOKEN", apiTok), "credentials nothing asks for"},
			{"metrics token, another variable at fault", envWith("EVALUATOR_METRICS_BEARER_TOKEN", scrapeTk, "EVALUATOR_HTTP_MAX_IN_FLIGHT", "0"), "an accepted token"},
		})
	})

	t.Run("valid config", func(t *testing.T) {
		cfg := envconftest.Load(t, prefixes, map[string]string{
			"ELASTICSEARCH_URL":              "http://es:9200",
			"ELASTICSEARCH_API_KEY":          esKey,
			"EVALUATOR_WEBHOOK_URL":          hook,
			"EVALUATOR_WEBHOOK_HEADERS":      "Authorization: Bearer " + hdrTok + "; X-Team: lag",
			"EVALUATOR_SLACK_WEBHOOK_URL":    slack,
			"EVALUATOR_ALERTMANAGER_URL":     "https://u:" + userTok + "@am:9093",
			"EVALUATOR_SMTP_ADDR":            "mail.example:587",
			"EVALUATOR_SMTP_FROM":            "lagwatch@example.com",
			"EVALUATOR_SMTP_TO":              "oncall@example.com",
			"EVALUATOR_SMTP_USERNAME":        "lagwatch",
			"EVALUATOR_SMTP_PASSWORD":        userTok,
			"EVALUATOR_HTTP_BEARER_TOKEN":    apiTok,
			"EVALUATOR_HTTP_USERNAME":        "telegraf",
			"EVALUATOR_HTTP_PASSWORD":        apiPW,
			"EVALUATOR_METRICS_BEARER_TOKEN": scrapeTk,
		}, loadConfig)
		out := renderConfig(cfg)
		envconftest.NoSecret(t, "rendered config", out, all)
		for _, want := range []string{"[REDACTED]", "https://alerts.example/[REDACTED]", "https://hooks.slack.test/[REDACTED]", "headers=2", "http://es:9200",
			"https://[REDACTED]@am:9093", "email.password=[REDACTED]", "email.addr=mail.example:587",
			"http.auth.bearer_token=[REDACTED]", "http.auth.username=telegraf", "http.auth.password=[REDACTED]", "metrics.auth.bearer_token=[REDACTED]"} {
			if !strings.Contains(out, want) {
				t.Errorf("rendered config lacks %q; it shows:\n%s", want, out)
			}
		}
	})
}

// renderConfig renders a config every way it could reach a log or a
// terminal.
func renderConfig(cfg Config) string {
	var buf bytes.Buffer
	envconftest.Render(&buf, "config", cfg)
	for _, w := range cfg.Webhooks {
		envconftest.Render(&buf, "webhook", w)
		fmt.Fprintf(&buf, "%v\n", &w)
	}
	fmt.Fprintf(&buf, "%v\n%+v\n", cfg.Webhooks, cfg.Webhooks)
	return buf.String()
}

// TestSinks: the sinks post to their URLs with the configured headers and
// bodies, the generic one as JSON, the Slack one as {"text": ...}.
func TestSinks(t *testing.T) {
	type request struct {
		path, auth, contentType string
		body                    []byte
	}
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)

	cfg := envconftest.Load(t, prefixes, envWith(
		"EVALUATOR_WEBHOOK_URL", srv.URL+"/generic",
		"EVALUATOR_WEBHOOK_HEADERS", "Authorization: Bearer t",
		"EVALUATOR_SLACK_WEBHOOK_URL", srv.URL+"/slack",
		"EVALUATOR_WEBHOOK_TIMEOUT", "3s",
		"EVALUATOR_WEBHOOK_RETRIES", "2",
	), loadConfig)
	var sinks []*notify.Webhook
	for _, s := range cfg.Sinks() {
		if w, ok := s.(*notify.Webhook); ok {
			sinks = append(sinks, w)
		}
	}
	if len(sinks) != 2 || len(cfg.Sinks()) != 2 || sinks[0].Name != "webhook" || sinks[1].Name != "slack" {
		t.Fatalf("Sinks() = %d sinks: %v", len(sinks), cfg.Webhooks)
	}
	for _, s := range sinks {
		if s.Timeout != 3*time.Second || s.Retries != 2 || s.Backoff != webhookBackoff || s.Body == nil {
			t.Errorf("sink %s: timeout %v retries %d backoff %v body %v", s.Name, s.Timeout, s.Retries, s.Backoff, s.Body != nil)
		}
	}
	sinks[0].Headers["Authorization"] = "changed"
	if cfg.Webhooks[0].Headers["Authorization"] != "Bearer t" {
		t.Error("a sink shares its headers map with the Config")
	}
	sinks[0].Headers["Authorization"] = "Bearer t"

	a := notify.Alert{Kind: notify.Open, Cluster: "c", Group: "g", Status: "WARN", At: time.Now(), TotalLag: 5, TimeLagSeconds: -1}
	for _, s := range sinks {
		if err := s.Send(context.Background(), a); err != nil {
			t.Fatalf("sink %s: %v", s.Name, err)
		}
	}
	if len(got) != 2 {
		t.Fatalf("server got %d requests, want 2", len(got))
	}
	var generic struct{ Group, Status string }
	if err := json.Unmarshal(got[0].body, &generic); err != nil || got[0].path != "/generic" || got[0].auth != "Bearer t" ||
		generic.Group != "g" || generic.Status != "WARN" || got[0].contentType != "application/json" {
		t.Errorf("generic request %s auth %q: %s (%v)", got[0].path, got[0].auth, got[0].body, err)
	}
	var slack struct{ Text string }
	if err := json.Unmarshal(got[1].body, &slack); err != nil || got[1].path != "/slack" || got[1].auth != "" || !strings.Contains(slack.Text, "`g`") {
		t.Errorf("slack request %s auth %q: %s (%v)", got[1].path, got[1].auth, got[1].body, err)
	}
}

// TestDocsListEveryVariable: docs/configuration.md has a table row for every
// variable the evaluator reads, with the default the code uses; the
// evaluator's own variables are in its part, "# Configuring the evaluator".
func TestDocsListEveryVariable(t *testing.T) {
	const part = "# Configuring the evaluator"
	envconftest.EachDocsFile(t, func(t *testing.T, file string, docs envconftest.Docs) {
		vars := envconftest.Variables(t, "", &evaluatorEnv{})
		docs.ListEvery(t, file, vars)
		for _, v := range vars {
			_, listed := docs.Default[v.Name] // ListEvery reports those that are not
			if listed && strings.HasPrefix(v.Name, "EVALUATOR_") && !slices.Contains(docs.Under[v.Name], part) {
				t.Errorf("docs/configuration.md: %s is not under %s", v.Name, part)
			}
		}
	})
}

// TestResolveAfter: alerts posted to Alertmanager outlive three intervals
// of the schedule, and five minutes at least.
func TestResolveAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		schedule string
		want     time.Duration
	}{
		{"@every 1m", 5 * time.Minute},
		{"*/30 * * * * *", 5 * time.Minute},
		{"*/10 * * * *", 30 * time.Minute},
		{"@hourly", 3 * time.Hour},
	} {
		if got := resolveAfter(tc.schedule, now); got != tc.want {
			t.Errorf("resolveAfter(%q) = %s, want %s", tc.schedule, got, tc.want)
		}
	}
}

// serverPKI are the files of a listener's TLS.
type serverPKI struct{ cert, key, ca, other string }

// writeServerPKI writes testenv's PKI with the server's certificate and key
// as files.
func writeServerPKI(t *testing.T) serverPKI {
	t.Helper()
	p := testenv.WritePKI(t)
	return serverPKI{cert: p.ServerCert, key: p.ServerKey, ca: p.CAFile, other: p.OtherKey}
}

// TestOpenWarnings: a warning at start for what answers anyone on an
// address other hosts reach.
func TestOpenWarnings(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string // in the one warning; "" for none
	}{
		{"defaults", func(*Config) {}, "the API answers anyone who reaches :8000"},
		{"every interface, IPv6", func(c *Config) { c.HTTPAddr = "[::]:8000" }, "the API answers anyone"},
		{"loopback", func(c *Config) { c.HTTPAddr = "127.0.0.1:8000" }, ""},
		{"loopback, IPv6", func(c *Config) { c.HTTPAddr = "[::1]:8000" }, ""},
		{"localhost", func(c *Config) { c.HTTPAddr = "localhost:8000" }, ""},
		{"no API", func(c *Config) { c.HTTPAddr = "" }, ""},
		{"TLS alone authenticates no client", func(c *Config) { c.HTTP.TLS = envconf.ServerTLS{CertFile: "c", KeyFile: "k"} }, "the API answers anyone"},
		{"client certificates", func(c *Config) { c.HTTP.TLS = envconf.ServerTLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"} }, ""},
		{"a token, /metrics open beside it", func(c *Config) { c.HTTP.Auth.Token = "t" }, "/metrics on :8000 answers anyone"},
		{"a token and metrics credentials", func(c *Config) { c.HTTP.Auth.Token, c.Metrics.Auth.Username = "t", "p" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := envconftest.Load(t, prefixes, envWith(), loadConfig)
			tc.edit(&cfg)
			got := cfg.openWarnings()
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("warnings %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("warnings %q, want one with %q", got, tc.want)
			}
		})
	}
}
