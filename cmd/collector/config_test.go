package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/envconf/envconftest"
)

// unset in an env map removes the variable instead of setting it.
const unset = envconftest.Unset

// prefixes cover every variable the collector could read.
var prefixes = []string{"KAFKA_", "ELASTICSEARCH_", "COLLECTOR_", "LOG_"}

// minimal is the smallest valid environment.
func minimal() map[string]string {
	return map[string]string{
		"KAFKA_BROKERS":     "127.0.0.1:9092",
		"ELASTICSEARCH_URL": "http://127.0.0.1:9200",
	}
}

// with returns minimal() changed by kv pairs (unset removes).
func with(kv ...string) map[string]string { return envconftest.With(minimal(), kv...) }

// TestVarNames: variable names in messages come from the structs.
func TestVarNames(t *testing.T) {
	for _, pair := range [][2]string{
		{vars.Kafka.Clusters, "KAFKA_CLUSTERS"},
		{vars.Kafka.ClusterName, "KAFKA_CLUSTER_NAME"},
		{vars.Collector.SpoolMaxBytes, "COLLECTOR_SPOOL_MAX_BYTES"},
		{vars.Elasticsearch.URL, "ELASTICSEARCH_URL"},
		{clusterVars(singleClusterPrefix).Brokers, "KAFKA_BROKERS"},
		{clusterVars(clusterPrefix("eu-west")).TLS.InsecureSkipVerify, "KAFKA_EU_WEST_TLS_INSECURE_SKIP_VERIFY"},
		{clusterVars("KAFKA_PROD_").SASL.Password, "KAFKA_PROD_SASL_PASSWORD"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("name %q, want %q", pair[0], pair[1])
		}
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	got := envconftest.Load(t, prefixes, minimal(), loadConfig)
	want := Config{
		Clusters: []ClusterConfig{{Name: "default", Brokers: []string{"127.0.0.1:9092"}, Prefix: "KAFKA_"}},
		Elasticsearch: envconf.ES{
			URLs:      []string{"http://127.0.0.1:9200"},
			Namespace: "default",
			Retention: 30 * 24 * time.Hour,
		},
		Schedule:            "@every 30s",
		TickTimeout:         25 * time.Second,
		KafkaTimeout:        10 * time.Second,
		KafkaRequestTimeout: 10 * time.Second,
		FetchConcurrency:    16,
		SpoolDir:            "lagwatch-spool",
		SpoolMaxBytes:       256 << 20,
		MetricsAddr:         ":9308",
		LogLevel:            slog.LevelInfo,
		LogFormat:           "json",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loadConfig()\n got: %s\nwant: %s", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate of a loaded config: %v", err)
	}
}

// TestLoadConfigEmptyMeansDefault: a set-but-empty variable (say, from an
// unset ${VAR} in a compose file) takes the default, which envconfig alone
// would not do; COLLECTOR_METRICS_ADDR is the exception, empty disables.
func TestLoadConfigEmptyMeansDefault(t *testing.T) {
	env := minimal()
	for _, k := range []string{
		"KAFKA_CLUSTERS", "KAFKA_CLUSTER_NAME", "KAFKA_TLS_ENABLED", "KAFKA_SASL_MECHANISM",
		"ELASTICSEARCH_NAMESPACE", "ELASTICSEARCH_RETENTION", "COLLECTOR_SCHEDULE",
		"COLLECTOR_TICK_TIMEOUT", "COLLECTOR_KAFKA_TIMEOUT", "COLLECTOR_KAFKA_REQUEST_TIMEOUT", "COLLECTOR_FETCH_CONCURRENCY",
		"COLLECTOR_SPOOL_DIR", "COLLECTOR_SPOOL_MAX_BYTES", "COLLECTOR_METRICS_ADDR",
		"LOG_LEVEL", "LOG_FORMAT",
	} {
		env[k] = ""
	}
	got := envconftest.Load(t, prefixes, env, loadConfig)
	if got.Clusters[0].Name != "default" || got.Schedule != "@every 30s" || got.SpoolMaxBytes != 256<<20 ||
		got.Elasticsearch.Retention != 30*24*time.Hour || got.LogFormat != "json" || got.FetchConcurrency != 16 ||
		got.KafkaRequestTimeout != 10*time.Second {
		t.Errorf("empty variables did not take their defaults: %s", got)
	}
	if got.MetricsAddr != "" {
		t.Errorf("MetricsAddr = %q, want empty (disabled)", got.MetricsAddr)
	}
}

func TestLoadConfigClusters(t *testing.T) {
	pki := writeTestPKI(t)
	cfg := envconftest.Load(t, prefixes, map[string]string{
		"KAFKA_CLUSTERS":    " prod, eu-west ,",
		"ELASTICSEARCH_URL": "https://es1:9200,https://es2:9200",

		"KAFKA_PROD_BROKERS":        "p1:9092, p2:9092",
		"KAFKA_PROD_SASL_MECHANISM": "scram-sha-512",
		"KAFKA_PROD_SASL_USERNAME":  "lagwatch",
		"KAFKA_PROD_SASL_PASSWORD":  "pw",
		"KAFKA_PROD_GROUP_ALLOW":    "^orders-",
		"KAFKA_PROD_GROUP_DENY":     "-test$",

		"KAFKA_EU_WEST_BROKERS":       "[::1]:9093",
		"KAFKA_EU_WEST_TLS_ENABLED":   "true",
		"KAFKA_EU_WEST_TLS_CA_FILE":   pki.caFile,
		"KAFKA_EU_WEST_TLS_CERT_FILE": pki.clientCert,
		"KAFKA_EU_WEST_TLS_KEY_FILE":  pki.clientKey,
	}, loadConfig)
	if len(cfg.Clusters) != 2 {
		t.Fatalf("got %d clusters, want 2: %s", len(cfg.Clusters), cfg)
	}
	prod, eu := cfg.Clusters[0], cfg.Clusters[1]

	if prod.Name != "prod" || prod.Prefix != "KAFKA_PROD_" || !reflect.DeepEqual(prod.Brokers, []string{"p1:9092", "p2:9092"}) {
		t.Errorf("prod = %s", prod)
	}
	if want := (SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "lagwatch", Password: "pw"}); prod.SASL == nil || *prod.SASL != want {
		t.Errorf("prod SASL = %v, want %v", prod.SASL, want)
	}
	if prod.TLS != nil {
		t.Errorf("prod TLS = %v, want nil (not enabled)", prod.TLS)
	}
	if prod.GroupAllow == nil || prod.GroupAllow.String() != "^orders-" || prod.GroupDeny == nil || prod.GroupDeny.String() != "-test$" {
		t.Errorf("prod group filters = %v, %v", prod.GroupAllow, prod.GroupDeny)
	}

	// The label is the name as written; the prefix upper-cases it and turns '-' into '_'.
	if eu.Name != "eu-west" || eu.Prefix != "KAFKA_EU_WEST_" || !reflect.DeepEqual(eu.Brokers, []string{"[::1]:9093"}) {
		t.Errorf("eu-west = %s", eu)
	}
	if want := (TLSConfig{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}); eu.TLS == nil || *eu.TLS != want {
		t.Errorf("eu-west TLS = %+v, want %+v", eu.TLS, want)
	}
	if eu.SASL != nil || eu.GroupAllow != nil || eu.GroupDeny != nil {
		t.Errorf("eu-west has settings of another cluster: %s", eu)
	}
	if !reflect.DeepEqual(cfg.Elasticsearch.URLs, []string{"https://es1:9200", "https://es2:9200"}) {
		t.Errorf("URLs = %q", cfg.Elasticsearch.URLs)
	}
}

// TestLoadConfigAccepts: values at the edges of what is valid.
func TestLoadConfigAccepts(t *testing.T) {
	envconftest.Accepts(t, prefixes, loadConfig, []envconftest.Accept[Config]{
		{
			Name: "seconds field", Env: with("COLLECTOR_SCHEDULE", "*/15 * * * * *"),
			Reason: "a 6-field spec starts with seconds",
			Check:  field(func(c Config) any { return c.Schedule }, "*/15 * * * * *"),
		},
		{
			Name: "every descriptor", Env: with("COLLECTOR_SCHEDULE", "@every 1m"),
			Reason: "descriptors are accepted",
			Check:  field(func(c Config) any { return c.Schedule }, "@every 1m"),
		},
		{
			Name: "five fields", Env: with("COLLECTOR_SCHEDULE", "*/5 * * * *"),
			Reason: "a classic cron spec runs on minutes",
			Check:  field(func(c Config) any { return c.Schedule }, "*/5 * * * *"),
		},
		{
			Name: "time zone and every", Env: with("COLLECTOR_SCHEDULE", "CRON_TZ=UTC @every 30s"),
			Reason: "a time zone prefix does not hide the @every duration",
			Check:  field(func(c Config) any { return c.Schedule }, "CRON_TZ=UTC @every 30s"),
		},
		{
			Name: "hourly", Env: with("COLLECTOR_SCHEDULE", "@hourly"),
			Reason: "named descriptors are accepted",
			Check:  field(func(c Config) any { return c.Schedule }, "@hourly"),
		},
		{
			Name: "retention forever", Env: with("ELASTICSEARCH_RETENTION", "0"),
			Reason: "0 keeps history forever",
			Check:  field(func(c Config) any { return c.Elasticsearch.Retention }, time.Duration(0)),
		},
		{
			Name: "retention days", Env: with("ELASTICSEARCH_RETENTION", "7d"),
			Reason: "a d suffix counts days",
			Check:  field(func(c Config) any { return c.Elasticsearch.Retention }, 7*24*time.Hour),
		},
		{
			Name: "retention go duration", Env: with("ELASTICSEARCH_RETENTION", "36h"),
			Reason: "Go durations are accepted",
			Check:  field(func(c Config) any { return c.Elasticsearch.Retention }, 36*time.Hour),
		},
		{
			Name: "spool plain bytes", Env: with("COLLECTOR_SPOOL_MAX_BYTES", "1024"),
			Reason: "no suffix means bytes",
			Check:  field(func(c Config) any { return c.SpoolMaxBytes }, int64(1024)),
		},
		{
			Name: "spool KiB", Env: with("COLLECTOR_SPOOL_MAX_BYTES", "64KiB"),
			Reason: "KiB is 1024 bytes",
			Check:  field(func(c Config) any { return c.SpoolMaxBytes }, int64(64<<10)),
		},
		{
			Name: "spool GiB with space", Env: with("COLLECTOR_SPOOL_MAX_BYTES", "2 GiB"),
			Reason: "a space before the suffix is allowed",
			Check:  field(func(c Config) any { return c.SpoolMaxBytes }, int64(2<<30)),
		},
		{
			Name: "spool lower case", Env: with("COLLECTOR_SPOOL_MAX_BYTES", "512mib"),
			Reason: "the suffix is case-insensitive",
			Check:  field(func(c Config) any { return c.SpoolMaxBytes }, int64(512<<20)),
		},
		{
			Name: "metrics disabled", Env: with("COLLECTOR_METRICS_ADDR", ""),
			Reason: "set but empty disables the listener",
			Check:  field(func(c Config) any { return c.MetricsAddr }, ""),
		},
		{
			Name: "metrics loopback", Env: with("COLLECTOR_METRICS_ADDR", "127.0.0.1:0"),
			Reason: "host and port 0 are a valid listen address",
			Check:  field(func(c Config) any { return c.MetricsAddr }, "127.0.0.1:0"),
		},
		{
			Name:   "sasl lower case",
			Env:    with("KAFKA_SASL_MECHANISM", "plain", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", "p"),
			Reason: "the mechanism is case-insensitive and stored upper case",
			Check:  field(func(c Config) any { return c.Clusters[0].SASL.Mechanism }, "PLAIN"),
		},
		{
			Name: "brokers list", Env: with("KAFKA_BROKERS", " a:9092 ,b:9093,, "),
			Reason: "spaces and empty entries are dropped",
			Check:  field(func(c Config) any { return c.Clusters[0].Brokers }, []string{"a:9092", "b:9093"}),
		},
		{
			Name: "cluster name", Env: with("KAFKA_CLUSTER_NAME", "prod-eu_1"),
			Reason: "the single cluster's label",
			Check:  field(func(c Config) any { return c.Clusters[0].Name }, "prod-eu_1"),
		},
		{
			Name: "log level upper case", Env: with("LOG_LEVEL", "DEBUG", "LOG_FORMAT", "Text"),
			Reason: "level and format are case-insensitive",
			Check: func(c Config) error {
				if c.LogLevel != slog.LevelDebug || c.LogFormat != "text" {
					return fmt.Errorf("level %v format %q", c.LogLevel, c.LogFormat)
				}
				return nil
			},
		},
		{
			Name: "es api key", Env: with("ELASTICSEARCH_API_KEY", "k"),
			Reason: "an API key alone is enough",
			Check:  field(func(c Config) any { return c.Elasticsearch.APIKey }, envconf.Secret("k")),
		},
		{
			Name: "es basic auth", Env: with("ELASTICSEARCH_USERNAME", "u", "ELASTICSEARCH_PASSWORD", "p"),
			Reason: "username and password together",
			Check:  field(func(c Config) any { return c.Elasticsearch.Username }, "u"),
		},
		{
			Name: "es url with path", Env: with("ELASTICSEARCH_URL", "https://proxy.example:443/es"),
			Reason: "a path prefix behind a proxy is allowed",
			Check:  field(func(c Config) any { return c.Elasticsearch.URLs }, []string{"https://proxy.example:443/es"}),
		},
		{
			Name: "namespace", Env: with("ELASTICSEARCH_NAMESPACE", "prod_eu.1"),
			Reason: "lowercase with '_' and '.' is a valid namespace",
			Check:  field(func(c Config) any { return c.Elasticsearch.Namespace }, "prod_eu.1"),
		},
		{
			Name: "tls off explicitly", Env: with("KAFKA_TLS_ENABLED", "false", "KAFKA_TLS_INSECURE_SKIP_VERIFY", "false"),
			Reason: "false settings with TLS off are harmless",
			Check:  field(func(c Config) any { return c.Clusters[0].TLS == nil }, true),
		},
		{
			Name: "tls system roots", Env: with("KAFKA_TLS_ENABLED", "1"),
			Reason: "TLS without files uses the system roots",
			Check:  field(func(c Config) any { return *c.Clusters[0].TLS }, TLSConfig{}),
		},
	})
}

// field is a Check on one value of the loaded configuration.
var field = envconftest.Field[Config]

// TestLoadConfigRejects: each bad value alone gives exactly one line, which
// names the variable at fault.
func TestLoadConfigRejects(t *testing.T) {
	pki := writeTestPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tlsOn := func(kv ...string) map[string]string {
		return with(append([]string{"KAFKA_TLS_ENABLED", "true"}, kv...)...)
	}
	twoClusters := func(kv ...string) map[string]string {
		return with(append([]string{"KAFKA_BROKERS", unset, "KAFKA_CLUSTERS", "prod,staging",
			"KAFKA_PROD_BROKERS", "p:9092", "KAFKA_STAGING_BROKERS", "s:9092"}, kv...)...)
	}

	envconftest.Rejects(t, prefixes, loadConfig, []envconftest.Reject{
		// Schedule.
		{"cron words", with("COLLECTOR_SCHEDULE", "every 30s"), "COLLECTOR_SCHEDULE", `"every 30s" is not a cron spec`, "not a spec at all"},
		{"cron seven fields", with("COLLECTOR_SCHEDULE", "0 0 0 * * * *"), "COLLECTOR_SCHEDULE", "not a cron spec", "more fields than seconds..weekday"},
		{"cron out of range", with("COLLECTOR_SCHEDULE", "0 25 * * *"), "COLLECTOR_SCHEDULE", "not a cron spec", "hour 25"},
		{"cron every too short", with("COLLECTOR_SCHEDULE", "@every 500ms"), "COLLECTOR_SCHEDULE", "at least 1s", "cron would silently run every second"},
		{"cron every fraction", with("COLLECTOR_SCHEDULE", "@every 1500ms"), "COLLECTOR_SCHEDULE", "whole number of seconds", "cron would silently truncate to 1s"},
		{"cron tz only", with("COLLECTOR_SCHEDULE", "CRON_TZ=UTC"), "COLLECTOR_SCHEDULE", "needs a schedule after it", "robfig/cron panics on this; it must be an error"},
		{"cron bad tz", with("COLLECTOR_SCHEDULE", "CRON_TZ=Nowhere/Town * * * * *"), "COLLECTOR_SCHEDULE", "not a cron spec", "unknown time zone"},
		{"cron never fires", with("COLLECTOR_SCHEDULE", "0 0 30 2 *"), "COLLECTOR_SCHEDULE", "never fires", "30 February"},

		// Timeouts and limits.
		{"tick timeout zero", with("COLLECTOR_TICK_TIMEOUT", "0s"), "COLLECTOR_TICK_TIMEOUT", "greater than 0", "a tick needs time"},
		{"tick timeout negative", with("COLLECTOR_TICK_TIMEOUT", "-5s"), "COLLECTOR_TICK_TIMEOUT", "greater than 0", "negative"},
		{"tick timeout no unit", with("COLLECTOR_TICK_TIMEOUT", "25"), "COLLECTOR_TICK_TIMEOUT", "not a duration", "units are required"},
		{"kafka timeout zero", with("COLLECTOR_KAFKA_TIMEOUT", "0"), "COLLECTOR_KAFKA_TIMEOUT", "greater than 0", "a connection needs time"},
		{"kafka timeout negative", with("COLLECTOR_KAFKA_TIMEOUT", "-1m"), "COLLECTOR_KAFKA_TIMEOUT", "greater than 0", "negative"},
		{"kafka timeout over tick", with("COLLECTOR_KAFKA_TIMEOUT", "30s"), "COLLECTOR_KAFKA_TIMEOUT", "longer than COLLECTOR_TICK_TIMEOUT", "one connection cannot outlast the tick"},
		{"request timeout zero", with("COLLECTOR_KAFKA_REQUEST_TIMEOUT", "0"), "COLLECTOR_KAFKA_REQUEST_TIMEOUT", "greater than 0", "a request needs time"},
		{"request timeout no unit", with("COLLECTOR_KAFKA_REQUEST_TIMEOUT", "10"), "COLLECTOR_KAFKA_REQUEST_TIMEOUT", "not a duration", "units are required"},
		{"request timeout over tick", with("COLLECTOR_KAFKA_REQUEST_TIMEOUT", "26s"), "COLLECTOR_KAFKA_REQUEST_TIMEOUT", "longer than COLLECTOR_TICK_TIMEOUT", "one request cannot outlast the tick"},
		{"concurrency zero", with("COLLECTOR_FETCH_CONCURRENCY", "0"), "COLLECTOR_FETCH_CONCURRENCY", "between 1 and 1024", "nothing would be fetched"},
		{"concurrency too high", with("COLLECTOR_FETCH_CONCURRENCY", "1025"), "COLLECTOR_FETCH_CONCURRENCY", "between 1 and 1024", "upper bound"},
		{"concurrency word", with("COLLECTOR_FETCH_CONCURRENCY", "many"), "COLLECTOR_FETCH_CONCURRENCY", "not a whole number", "not a number"},
		{"spool size SI", with("COLLECTOR_SPOOL_MAX_BYTES", "256MB"), "COLLECTOR_SPOOL_MAX_BYTES", "KiB, MiB or GiB", "MB is ambiguous"},
		{"spool size zero", with("COLLECTOR_SPOOL_MAX_BYTES", "0"), "COLLECTOR_SPOOL_MAX_BYTES", "greater than 0", "an empty spool holds nothing"},
		{"spool size overflow", with("COLLECTOR_SPOOL_MAX_BYTES", "99999999999GiB"), "COLLECTOR_SPOOL_MAX_BYTES", "too large", "does not fit in int64"},
		{"spool size negative", with("COLLECTOR_SPOOL_MAX_BYTES", "-1"), "COLLECTOR_SPOOL_MAX_BYTES", "not a size", "negative"},
		{"metrics addr no port", with("COLLECTOR_METRICS_ADDR", "9308"), "COLLECTOR_METRICS_ADDR", "not [host]:port", "the colon is required"},
		{"metrics addr bad port", with("COLLECTOR_METRICS_ADDR", ":http"), "COLLECTOR_METRICS_ADDR", "not a number", "numeric ports only"},
		{"log level", with("LOG_LEVEL", "verbose"), "LOG_LEVEL", "not one of debug, info, warn, error", "unknown level"},
		{"log format", with("LOG_FORMAT", "xml"), "LOG_FORMAT", "not json or text", "unknown format"},

		// Elasticsearch.
		{"es url missing", with("ELASTICSEARCH_URL", unset), "ELASTICSEARCH_URL", "required", "required variable"},
		{"es url empty", with("ELASTICSEARCH_URL", " , "), "ELASTICSEARCH_URL", "required", "set but empty is not set"},
		{"es url scheme", with("ELASTICSEARCH_URL", "ftp://es:9200"), "ELASTICSEARCH_URL", "not an http or https URL", "wrong scheme"},
		{"es url no scheme", with("ELASTICSEARCH_URL", "es:9200"), "ELASTICSEARCH_URL", "not an http or https URL", "host:port is not a URL"},
		{"es url no host", with("ELASTICSEARCH_URL", "http://"), "ELASTICSEARCH_URL", "has no host", "no host"},
		{"es url unparsable", with("ELASTICSEARCH_URL", "http://[::1"), "ELASTICSEARCH_URL", "not a URL", "broken IPv6 literal"},
		{"es url second entry", with("ELASTICSEARCH_URL", "http://a:9200,b:9200"), "ELASTICSEARCH_URL", "entry 2", "the bad entry is located"},
		{"es url credentials", with("ELASTICSEARCH_URL", "http://u:p@es:9200"), "ELASTICSEARCH_URL", "credentials in the URL are not allowed", "secrets belong in their own variables"},
		{"es key and user", with("ELASTICSEARCH_API_KEY", "k", "ELASTICSEARCH_USERNAME", "u", "ELASTICSEARCH_PASSWORD", "p"), "ELASTICSEARCH_API_KEY", "use one or the other", "two kinds of credentials"},
		{"es user without password", with("ELASTICSEARCH_USERNAME", "u"), "ELASTICSEARCH_PASSWORD", "required when ELASTICSEARCH_USERNAME", "half of basic auth"},
		{"es password without user", with("ELASTICSEARCH_PASSWORD", "p"), "ELASTICSEARCH_USERNAME", "required when ELASTICSEARCH_PASSWORD", "half of basic auth"},
		{"es ca missing", with("ELASTICSEARCH_CA_FILE", missing), "ELASTICSEARCH_CA_FILE", "no such file", "file must exist"},
		{"es ca not pem", with("ELASTICSEARCH_CA_FILE", notPEM), "ELASTICSEARCH_CA_FILE", "no PEM certificates", "file must parse"},
		{"namespace upper", with("ELASTICSEARCH_NAMESPACE", "Prod"), "ELASTICSEARCH_NAMESPACE", "must be lowercase", "index names are lowercase"},
		{"namespace dash", with("ELASTICSEARCH_NAMESPACE", "prod-eu"), "ELASTICSEARCH_NAMESPACE", `must not contain "-"`, "'-' separates data stream name parts"},
		{"namespace space", with("ELASTICSEARCH_NAMESPACE", "prod eu"), "ELASTICSEARCH_NAMESPACE", `must not contain " "`, "forbidden character"},
		{"namespace star", with("ELASTICSEARCH_NAMESPACE", "prod*"), "ELASTICSEARCH_NAMESPACE", `must not contain "*"`, "forbidden character"},
		{"namespace many", with("ELASTICSEARCH_NAMESPACE", "A-B"), "ELASTICSEARCH_NAMESPACE", `lowercase; must not contain "-"`, "all reasons on the one line"},
		{"namespace long", with("ELASTICSEARCH_NAMESPACE", strings.Repeat("a", 101)), "ELASTICSEARCH_NAMESPACE", "at most 100 bytes", "length limit"},
		{"retention unit", with("ELASTICSEARCH_RETENTION", "30x"), "ELASTICSEARCH_RETENTION", "not a duration", "unknown unit"},
		{"retention negative", with("ELASTICSEARCH_RETENTION", "-1h"), "ELASTICSEARCH_RETENTION", "must not be negative", "negative duration"},
		{"retention negative days", with("ELASTICSEARCH_RETENTION", "-3d"), "ELASTICSEARCH_RETENTION", "not a number of days", "negative days"},
		{"retention mixed", with("ELASTICSEARCH_RETENTION", "1d12h"), "ELASTICSEARCH_RETENTION", "not a duration", "days and hours do not mix"},

		// Single Kafka cluster.
		{"brokers missing", with("KAFKA_BROKERS", unset), "KAFKA_BROKERS", "required (or list cluster names in KAFKA_CLUSTERS)", "required variable"},
		{"brokers empty", with("KAFKA_BROKERS", ""), "KAFKA_BROKERS", "required", "set but empty is not set"},
		{"broker no port", with("KAFKA_BROKERS", "kafka1"), "KAFKA_BROKERS", `"kafka1" is not host:port`, "the port is required"},
		{"broker bad port", with("KAFKA_BROKERS", "kafka1:99999"), "KAFKA_BROKERS", "from 1 to 65535", "port out of range"},
		{"broker no host", with("KAFKA_BROKERS", ":9092"), "KAFKA_BROKERS", "missing host", "a broker needs a host"},
		{"cluster name", with("KAFKA_CLUSTER_NAME", "prod.eu"), "KAFKA_CLUSTER_NAME", "letters, digits", "labels follow the cluster name rule"},
		{"group allow", with("KAFKA_GROUP_ALLOW", "orders-("), "KAFKA_GROUP_ALLOW", "not a Go regular expression", "unbalanced parenthesis"},
		{"group deny", with("KAFKA_GROUP_DENY", "[a-"), "KAFKA_GROUP_DENY", "not a Go regular expression", "unterminated class"},
		{"sasl mechanism", with("KAFKA_SASL_MECHANISM", "GSSAPI", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", "p"), "KAFKA_SASL_MECHANISM", `"GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`, "Kerberos is not supported"},
		{"sasl no password", with("KAFKA_SASL_MECHANISM", "PLAIN", "KAFKA_SASL_USERNAME", "u"), "KAFKA_SASL_PASSWORD", "required when KAFKA_SASL_MECHANISM is set", "a mechanism needs credentials"},
		{"sasl empty password", with("KAFKA_SASL_MECHANISM", "PLAIN", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", ""), "KAFKA_SASL_PASSWORD", "required", "set but empty is not set"},
		{"sasl no username", with("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256", "KAFKA_SASL_PASSWORD", "p"), "KAFKA_SASL_USERNAME", "required", "a mechanism needs credentials"},
		{"sasl password without mechanism", with("KAFKA_SASL_PASSWORD", "p"), "KAFKA_SASL_PASSWORD", "KAFKA_SASL_MECHANISM is empty", "a password that would never be sent"},
		{"sasl scram bad password", with("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", "p\x07w"), "KAFKA_SASL_PASSWORD", "SASLprep", "SCRAM cannot send a control character"},
		{"tls enabled word", with("KAFKA_TLS_ENABLED", "yes"), "KAFKA_TLS_ENABLED", "not a boolean", "strconv.ParseBool words only"},
		{"tls file without tls", with("KAFKA_TLS_CA_FILE", pki.caFile), "KAFKA_TLS_CA_FILE", "KAFKA_TLS_ENABLED is not true", "a CA file that would be ignored"},
		{"tls insecure without tls", with("KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"), "KAFKA_TLS_INSECURE_SKIP_VERIFY", "KAFKA_TLS_ENABLED is not true", "a setting that would be ignored"},
		{"tls cert without key", tlsOn("KAFKA_TLS_CERT_FILE", pki.clientCert), "KAFKA_TLS_KEY_FILE", "required when KAFKA_TLS_CERT_FILE is set", "both or neither"},
		{"tls key without cert", tlsOn("KAFKA_TLS_KEY_FILE", pki.clientKey), "KAFKA_TLS_CERT_FILE", "required when KAFKA_TLS_KEY_FILE is set", "both or neither"},
		{"tls ca missing", tlsOn("KAFKA_TLS_CA_FILE", missing), "KAFKA_TLS_CA_FILE", "no such file", "file must exist"},
		{"tls ca not pem", tlsOn("KAFKA_TLS_CA_FILE", notPEM), "KAFKA_TLS_CA_FILE", "no PEM certificates", "file must parse"},
		{"tls key mismatch", tlsOn("KAFKA_TLS_CERT_FILE", pki.clientCert, "KAFKA_TLS_KEY_FILE", pki.otherKey), "KAFKA_TLS_KEY_FILE", "does not match", "key of another certificate"},

		// Several clusters.
		{"clusters and brokers", twoClusters("KAFKA_BROKERS", "x:9092"), "KAFKA_BROKERS", "ambiguous when KAFKA_CLUSTERS is set", "which cluster would it be?"},
		{"clusters and plain sasl", twoClusters("KAFKA_SASL_MECHANISM", "PLAIN"), "KAFKA_SASL_MECHANISM", "set KAFKA_<NAME>_SASL_MECHANISM", "plain settings are not shared defaults"},
		{"clusters and name", twoClusters("KAFKA_CLUSTER_NAME", "x"), "KAFKA_CLUSTER_NAME", "the names listed there are the labels", "names come from KAFKA_CLUSTERS"},
		{"clusters duplicate", twoClusters("KAFKA_CLUSTERS", "prod,staging,prod"), "KAFKA_CLUSTERS", `"prod" is listed twice`, "duplicate name"},
		{"clusters same prefix", twoClusters("KAFKA_CLUSTERS", "eu-west,eu_west", "KAFKA_EU_WEST_BROKERS", "e:9092"), "KAFKA_CLUSTERS", "would both read KAFKA_EU_WEST_*", "two names, one set of variables"},
		{"clusters same prefix case", twoClusters("KAFKA_CLUSTERS", "prod,Prod"), "KAFKA_CLUSTERS", "would both read KAFKA_PROD_*", "case folds into one prefix"},
		{"clusters bad name", twoClusters("KAFKA_CLUSTERS", "prod,stag.ing"), "KAFKA_CLUSTERS", `"stag.ing" may only contain`, "a name is part of variable names"},
		{"clusters empty list", twoClusters("KAFKA_CLUSTERS", ","), "KAFKA_CLUSTERS", "lists no cluster names", "a list of nothing"},
		{"cluster missing brokers", twoClusters("KAFKA_STAGING_BROKERS", unset), "KAFKA_STAGING_BROKERS", `required for cluster "staging" listed in KAFKA_CLUSTERS`, "every named cluster needs brokers"},
		{"cluster bad broker", twoClusters("KAFKA_STAGING_BROKERS", "staging"), "KAFKA_STAGING_BROKERS", "not host:port", "per-cluster brokers are checked"},
		{"cluster sasl", twoClusters("KAFKA_PROD_SASL_MECHANISM", "OAUTHBEARER", "KAFKA_PROD_SASL_USERNAME", "u", "KAFKA_PROD_SASL_PASSWORD", "p"), "KAFKA_PROD_SASL_MECHANISM", "is not one of", "per-cluster mechanism"},
		{"cluster tls", twoClusters("KAFKA_PROD_TLS_ENABLED", "true", "KAFKA_PROD_TLS_CA_FILE", notPEM), "KAFKA_PROD_TLS_CA_FILE", "no PEM certificates", "per-cluster files"},
		{"cluster regexp", twoClusters("KAFKA_STAGING_GROUP_DENY", "*"), "KAFKA_STAGING_GROUP_DENY", "not a Go regular expression", "per-cluster filter"},
	})
}

// TestLoadConfigReportsAll: every problem at once, one line each, so that
// one run shows everything to fix.
func TestLoadConfigReportsAll(t *testing.T) {
	envconftest.ReportsAll(t, prefixes, map[string]string{
		"COLLECTOR_SCHEDULE":     "nope",
		"COLLECTOR_TICK_TIMEOUT": "-1s",
		"LOG_FORMAT":             "xml",
	}, loadConfig, []string{"KAFKA_BROKERS", "ELASTICSEARCH_URL", "COLLECTOR_SCHEDULE", "COLLECTOR_TICK_TIMEOUT", "LOG_FORMAT"})
}

// TestValidateHandBuilt: Validate on a Config built in code names the
// single-cluster variables when no prefix is set.
func TestValidateHandBuilt(t *testing.T) {
	envconftest.Validates(t, prefixes, minimal(), loadConfig, []envconftest.Edit[Config]{
		{"no clusters", func(c *Config) { c.Clusters = nil }, "KAFKA_BROKERS", "at least one cluster"},
		{"duplicate names", func(c *Config) { c.Clusters = append(c.Clusters, c.Clusters[0]) }, "KAFKA_CLUSTER_NAME", "labels must be unique"},
		{"no prefix", func(c *Config) { c.Clusters[0].Prefix = ""; c.Clusters[0].Brokers = nil }, "KAFKA_BROKERS", "an empty prefix reads as KAFKA_"},
		{"zero value", func(c *Config) { c.FetchConcurrency = 0 }, "COLLECTOR_FETCH_CONCURRENCY", "zero is not a default"},
		{"spool dir", func(c *Config) { c.SpoolDir = " " }, "COLLECTOR_SPOOL_DIR", "blank directory"},
		{"retention", func(c *Config) { c.Elasticsearch.Retention = -time.Hour }, "ELASTICSEARCH_RETENTION", "negative retention"},
	})
}

// TestSecretsNeverShown: no secret value appears in an error, in the log
// output of a config, or in fmt's rendering of it.
func TestSecretsNeverShown(t *testing.T) {
	const (
		saslPW = "sasl-S3cret-value"
		esPW   = "es-S3cret-value"
		esKey  = "key-S3cret-value"
		urlPW  = "url-S3cret-value"
		ctrlPW = "ctl-S3cret\x01value"
		prodPW = "prod-S3cret-value"
	)
	all := []string{saslPW, esPW, esKey, urlPW, ctrlPW, prodPW}

	t.Run("errors", func(t *testing.T) {
		envconftest.HidesSecrets(t, prefixes, loadConfig, renderAll, all, []envconftest.Refusal{
			{"bad mechanism", with("KAFKA_SASL_MECHANISM", "KERBEROS", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", saslPW), "the password rides along with a bad mechanism"},
			{"password without mechanism", with("KAFKA_SASL_PASSWORD", saslPW), "a stray password"},
			{"scram rejects password", with("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", ctrlPW), "the SCRAM library quotes the password in its error"},
			{"es password without user", with("ELASTICSEARCH_PASSWORD", esPW), "half of basic auth"},
			{"es key with user", with("ELASTICSEARCH_API_KEY", esKey, "ELASTICSEARCH_USERNAME", "u", "ELASTICSEARCH_PASSWORD", esPW), "two kinds of credentials"},
			{"url with credentials", with("ELASTICSEARCH_URL", "http://elastic:"+urlPW+"@es:9200"), "a password inside a URL"},
			{"broken url with credentials", with("ELASTICSEARCH_URL", "http://elastic:"+urlPW+"@[::1"), "a URL that does not even parse"},
			{"named cluster", with("KAFKA_BROKERS", unset, "KAFKA_CLUSTERS", "prod", "KAFKA_PROD_SASL_MECHANISM", "x", "KAFKA_PROD_SASL_PASSWORD", prodPW), "per-cluster password"},
			{"plain password with clusters", with("KAFKA_CLUSTERS", "prod", "KAFKA_PROD_BROKERS", "p:1", "KAFKA_SASL_PASSWORD", saslPW), "an ambiguous plain password"},
		})
	})

	t.Run("valid config", func(t *testing.T) {
		cfg := envconftest.Load(t, prefixes, map[string]string{
			"KAFKA_CLUSTERS":            "prod",
			"KAFKA_PROD_BROKERS":        "p:9092",
			"KAFKA_PROD_SASL_MECHANISM": "PLAIN",
			"KAFKA_PROD_SASL_USERNAME":  "lagwatch",
			"KAFKA_PROD_SASL_PASSWORD":  prodPW,
			"ELASTICSEARCH_URL":         "http://es:9200",
			"ELASTICSEARCH_API_KEY":     esKey,
		}, loadConfig)
		out := renderAll(cfg)
		envconftest.NoSecret(t, "rendered config", out, all)
		for _, want := range []string{"[REDACTED]", "lagwatch", "p:9092", "http://es:9200"} {
			if !strings.Contains(out, want) {
				t.Errorf("rendered config lacks %q; it shows:\n%s", want, out)
			}
		}
	})
}

// renderAll renders a config every way it could reach a log or a terminal.
func renderAll(cfg Config) string {
	var buf bytes.Buffer
	envconftest.Render(&buf, "config", cfg)
	for _, c := range cfg.Clusters {
		envconftest.Render(&buf, "cluster", c)
		if c.SASL != nil {
			fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", c.SASL, *c.SASL, *c.SASL)
		}
	}
	fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", cfg.Elasticsearch, cfg.Elasticsearch, &cfg.Elasticsearch)
	return buf.String()
}

// TestDocsListEveryVariable: docs/configuration.md has a table row for every
// variable the collector reads, with the default the code uses.
func TestDocsListEveryVariable(t *testing.T) {
	envconftest.EachDocsFile(t, func(t *testing.T, file string, docs envconftest.Docs) {
		docs.ListEvery(t, file, envconftest.Variables(t, "", &collectorEnv{}))
		docs.ListEvery(t, file, envconftest.Variables(t, "KAFKA", &clusterEnv{}))
	})
}
