package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/robfig/cron/v3"
)

// Config is the collector's whole configuration, read from the environment by
// loadConfig. Its String, GoString and LogValue never show a secret.
type Config struct {
	// Clusters in the order they were configured; never empty once valid.
	Clusters      []ClusterConfig
	Elasticsearch ESConfig

	// Schedule is a cron spec for scheduleParser.
	Schedule string
	// TickTimeout bounds one whole tick (every cluster, the write included);
	// KafkaTimeout bounds one Kafka request.
	TickTimeout, KafkaTimeout time.Duration
	// FetchConcurrency bounds the per-group offset fetches in flight at once
	// for one cluster.
	FetchConcurrency int
	// SpoolDir holds snapshots that could not be written yet, at most
	// SpoolMaxBytes bytes.
	SpoolDir      string
	SpoolMaxBytes int64
	// MetricsAddr is the listen address for /metrics and /healthz; empty
	// disables the listener.
	MetricsAddr string
	LogLevel    slog.Level
	// LogFormat is "json" or "text".
	LogFormat string
}

// ClusterConfig is one Kafka cluster to watch.
type ClusterConfig struct {
	// Name is the label stored with every document of this cluster.
	Name    string
	Brokers []string
	TLS     *TLSConfig  // nil: plaintext
	SASL    *SASLConfig // nil: no authentication
	// GroupAllow and GroupDeny are matched (unanchored) against group ids;
	// nil means not set. See GroupFilter.
	GroupAllow, GroupDeny *regexp.Regexp
	// Prefix is the environment prefix the cluster was read from,
	// "KAFKA_" or "KAFKA_<NAME>_", used to name variables in errors.
	Prefix string
}

// TLSConfig names the PEM files for a TLS connection to Kafka. Empty CAFile
// means the system roots; CertFile and KeyFile are set together or not at all.
type TLSConfig struct {
	CAFile, CertFile, KeyFile string
	InsecureSkipVerify        bool
}

// SASLConfig is SASL authentication to Kafka. Mechanism is upper case: one of
// saslMechanisms.
type SASLConfig struct {
	Mechanism, Username, Password string
}

// ESConfig is the Elasticsearch connection and where history is kept.
type ESConfig struct {
	URLs []string
	// APIKey, or Username and Password; both empty: no authentication.
	APIKey, Username, Password string
	// CAFile is a PEM file of CA certificates for https; empty: system roots.
	CAFile string
	// Namespace is the data stream namespace.
	Namespace string
	// Retention is how long history is kept; 0 keeps it forever.
	Retention time.Duration
}

// The raw environment, every value a string so that each one is parsed, and
// each problem reported, by this file under the variable's own name. Field
// names give the variable names through split_words (no `envconfig` tags:
// those fall back to the unprefixed name). A set-but-empty variable takes the
// default, except where keep_empty says that empty means something.

// collectorEnv is every variable without a cluster prefix.
type collectorEnv struct {
	Kafka struct {
		Clusters    string `split_words:"true" desc:"comma-separated cluster names; enables KAFKA_<NAME>_* variables"`
		ClusterName string `split_words:"true" default:"default" desc:"label of the single cluster"`
	} `split_words:"true"`
	Elasticsearch struct {
		URL       string `split_words:"true" desc:"comma-separated http(s) URLs"`
		APIKey    string `split_words:"true"`
		Username  string `split_words:"true"`
		Password  string `split_words:"true"`
		CAFile    string `split_words:"true"`
		Namespace string `split_words:"true" default:"default"`
		Retention string `split_words:"true" default:"30d"`
	} `split_words:"true"`
	Collector struct {
		Schedule         string `split_words:"true" default:"@every 30s"`
		TickTimeout      string `split_words:"true" default:"25s"`
		KafkaTimeout     string `split_words:"true" default:"10s"`
		FetchConcurrency string `split_words:"true" default:"16"`
		SpoolDir         string `split_words:"true" default:"lagwatch-spool"`
		SpoolMaxBytes    string `split_words:"true" default:"256MiB"`
		MetricsAddr      string `split_words:"true" default:":9308" keep_empty:"true"`
	} `split_words:"true"`
	Log struct {
		Level  string `split_words:"true" default:"info"`
		Format string `split_words:"true" default:"json"`
	} `split_words:"true"`
}

// clusterEnv is one cluster's variables, read under "KAFKA" (single cluster)
// or "KAFKA_<NAME>".
type clusterEnv struct {
	Brokers string `split_words:"true"`
	TLS     struct {
		Enabled            string `split_words:"true" default:"false"`
		CAFile             string `split_words:"true"`
		CertFile           string `split_words:"true"`
		KeyFile            string `split_words:"true"`
		InsecureSkipVerify string `split_words:"true" default:"false"`
	} `split_words:"true"`
	SASL struct {
		Mechanism string `split_words:"true"`
		Username  string `split_words:"true"`
		Password  string `split_words:"true"`
	} `split_words:"true"`
	Group struct {
		Allow string `split_words:"true"`
		Deny  string `split_words:"true"`
	} `split_words:"true"`
}

// Variable names used in messages. Cluster variables are built from
// ClusterConfig.Prefix.
const (
	envClusters         = "KAFKA_CLUSTERS"
	envClusterName      = "KAFKA_CLUSTER_NAME"
	envESURL            = "ELASTICSEARCH_URL"
	envESAPIKey         = "ELASTICSEARCH_API_KEY"
	envESUsername       = "ELASTICSEARCH_USERNAME"
	envESPassword       = "ELASTICSEARCH_PASSWORD"
	envESCAFile         = "ELASTICSEARCH_CA_FILE"
	envESNamespace      = "ELASTICSEARCH_NAMESPACE"
	envESRetention      = "ELASTICSEARCH_RETENTION"
	envSchedule         = "COLLECTOR_SCHEDULE"
	envTickTimeout      = "COLLECTOR_TICK_TIMEOUT"
	envKafkaTimeout     = "COLLECTOR_KAFKA_TIMEOUT"
	envFetchConcurrency = "COLLECTOR_FETCH_CONCURRENCY"
	envSpoolDir         = "COLLECTOR_SPOOL_DIR"
	envSpoolMaxBytes    = "COLLECTOR_SPOOL_MAX_BYTES"
	envMetricsAddr      = "COLLECTOR_METRICS_ADDR"
	envLogLevel         = "LOG_LEVEL"
	envLogFormat        = "LOG_FORMAT"

	singleClusterPrefix = "KAFKA_"
)

// scheduleParser parses COLLECTOR_SCHEDULE: descriptors (@every 30s,
// @hourly), 5-field specs, and 6-field specs whose first field is seconds.
// Give the same parser to cron.New (cron.WithParser) so that what was
// validated is what runs.
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// saslMechanisms are the accepted KAFKA_SASL_MECHANISM values, upper case.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// clusterNameRE is what a cluster name (a label, and part of a variable name)
// may contain.
var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// fieldError is one invalid setting: the variable and what is wrong with it.
// Msg never contains a secret.
type fieldError struct{ Var, Msg string }

func (e *fieldError) Error() string { return e.Var + ": " + e.Msg }

// problems collects fieldErrors; err joins them, one per line.
type problems []*fieldError

func (ps *problems) add(variable, format string, args ...any) {
	*ps = append(*ps, &fieldError{Var: variable, Msg: fmt.Sprintf(format, args...)})
}

func (ps problems) has(variable string) bool {
	return slices.ContainsFunc(ps, func(e *fieldError) bool { return e.Var == variable })
}

func (ps problems) err() error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...) // nil when empty
}

// loadConfig reads the collector's configuration from the process
// environment and validates it. The error lists every problem found, parse
// errors and Validate's alike, one line each ("VARIABLE: what is wrong");
// it never contains a secret value. The Config is returned even with an
// error, but must not be used then.
func loadConfig() (Config, error) {
	var env collectorEnv
	if err := envconfig.Process("", &env); err != nil {
		// Only string fields: this is a programming error, not bad input.
		return Config{}, fmt.Errorf("read environment: %w", err)
	}
	emptyToDefault(&env)

	var ps problems
	cfg := Config{
		Schedule:    env.Collector.Schedule,
		SpoolDir:    env.Collector.SpoolDir,
		MetricsAddr: env.Collector.MetricsAddr,
		LogFormat:   strings.ToLower(env.Log.Format),
	}

	clusters, err := loadClusters(env.Kafka.Clusters, env.Kafka.ClusterName, &ps)
	if err != nil {
		return Config{}, err
	}
	cfg.Clusters = clusters

	es := env.Elasticsearch
	cfg.Elasticsearch = ESConfig{
		URLs:      splitList(es.URL),
		APIKey:    es.APIKey,
		Username:  es.Username,
		Password:  es.Password,
		CAFile:    es.CAFile,
		Namespace: es.Namespace,
	}
	if d, err := parseRetention(es.Retention); err != nil {
		ps.add(envESRetention, "%q %v", es.Retention, err)
	} else {
		cfg.Elasticsearch.Retention = d
	}

	col := env.Collector
	cfg.TickTimeout = parseDuration(envTickTimeout, col.TickTimeout, &ps)
	cfg.KafkaTimeout = parseDuration(envKafkaTimeout, col.KafkaTimeout, &ps)
	if n, err := strconv.Atoi(strings.TrimSpace(col.FetchConcurrency)); err != nil {
		ps.add(envFetchConcurrency, "%q is not a whole number", col.FetchConcurrency)
	} else {
		cfg.FetchConcurrency = n
	}
	if n, err := parseBytes(col.SpoolMaxBytes); err != nil {
		ps.add(envSpoolMaxBytes, "%q %v", col.SpoolMaxBytes, err)
	} else {
		cfg.SpoolMaxBytes = n
	}
	if l, err := parseLevel(env.Log.Level); err != nil {
		ps.add(envLogLevel, "%v", err)
	} else {
		cfg.LogLevel = l
	}

	// Validate's findings, except for variables that already failed to parse
	// (their zero value would only repeat the news), and except KAFKA_BROKERS
	// when KAFKA_CLUSTERS already explained why there is no cluster.
	noClusters := len(cfg.Clusters) == 0 && ps.has(envClusters)
	for _, p := range cfg.validate() {
		if !ps.has(p.Var) && !(noClusters && p.Var == singleClusterPrefix+"BROKERS") {
			ps = append(ps, p)
		}
	}
	return cfg, ps.err()
}

// loadClusters reads the single cluster (KAFKA_*) or, when KAFKA_CLUSTERS is
// set, each named cluster (KAFKA_<NAME>_*). The error is for failures to
// read the environment at all; bad values go to ps.
func loadClusters(list, singleName string, ps *problems) ([]ClusterConfig, error) {
	if strings.TrimSpace(list) == "" {
		var env clusterEnv
		if err := envconfig.Process(strings.TrimSuffix(singleClusterPrefix, "_"), &env); err != nil {
			return nil, fmt.Errorf("read environment: %w", err)
		}
		emptyToDefault(&env)
		if env.Brokers == "" {
			ps.add(singleClusterPrefix+"BROKERS", "required (or list cluster names in %s)", envClusters)
		}
		return []ClusterConfig{parseCluster(singleName, singleClusterPrefix, env, ps)}, nil
	}

	// Several clusters: the single-cluster variables would be ambiguous.
	plain, err := envKeys(strings.TrimSuffix(singleClusterPrefix, "_"), &clusterEnv{})
	if err != nil {
		return nil, err
	}
	for _, key := range plain {
		if os.Getenv(key) != "" {
			ps.add(key, "is ambiguous when %s is set; set %s<NAME>_%s for each cluster instead",
				envClusters, singleClusterPrefix, strings.TrimPrefix(key, singleClusterPrefix))
		}
	}
	if os.Getenv(envClusterName) != "" {
		ps.add(envClusterName, "is ambiguous when %s is set; the names listed there are the labels", envClusters)
	}

	var clusters []ClusterConfig
	seenName := map[string]bool{}
	seenPrefix := map[string]string{} // prefix -> the name that took it
	for _, name := range splitList(list) {
		if !clusterNameRE.MatchString(name) {
			ps.add(envClusters, "cluster name %q may only contain letters, digits, '_' and '-'", name)
			continue
		}
		if seenName[name] {
			ps.add(envClusters, "cluster %q is listed twice", name)
			continue
		}
		seenName[name] = true
		prefix := clusterPrefix(name)
		if other, ok := seenPrefix[prefix]; ok {
			ps.add(envClusters, "clusters %q and %q would both read %s* variables", other, name, prefix)
			continue
		}
		seenPrefix[prefix] = name

		var env clusterEnv
		if err := envconfig.Process(strings.TrimSuffix(prefix, "_"), &env); err != nil {
			return nil, fmt.Errorf("read environment: %w", err)
		}
		emptyToDefault(&env)
		if env.Brokers == "" {
			ps.add(prefix+"BROKERS", "required for cluster %q listed in %s", name, envClusters)
		}
		clusters = append(clusters, parseCluster(name, prefix, env, ps))
	}
	if len(clusters) == 0 && !ps.has(envClusters) {
		ps.add(envClusters, "lists no cluster names")
	}
	return clusters, nil
}

// clusterPrefix is the variable prefix of a named cluster: "eu-west" reads
// KAFKA_EU_WEST_*.
func clusterPrefix(name string) string {
	return singleClusterPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
}

// parseCluster turns one cluster's raw variables into a ClusterConfig; what
// only Validate can check (files, mechanisms, addresses) is left to it.
func parseCluster(name, prefix string, env clusterEnv, ps *problems) ClusterConfig {
	c := ClusterConfig{Name: name, Brokers: splitList(env.Brokers), Prefix: prefix}

	tlsOn := parseBool(prefix+"TLS_ENABLED", env.TLS.Enabled, ps)
	insecure := parseBool(prefix+"TLS_INSECURE_SKIP_VERIFY", env.TLS.InsecureSkipVerify, ps)
	if tlsOn {
		c.TLS = &TLSConfig{
			CAFile:             env.TLS.CAFile,
			CertFile:           env.TLS.CertFile,
			KeyFile:            env.TLS.KeyFile,
			InsecureSkipVerify: insecure,
		}
	} else {
		// Settings that would silently do nothing are more likely a
		// forgotten TLS_ENABLED than intended.
		for _, kv := range [][2]string{
			{"TLS_CA_FILE", env.TLS.CAFile},
			{"TLS_CERT_FILE", env.TLS.CertFile},
			{"TLS_KEY_FILE", env.TLS.KeyFile},
		} {
			if kv[1] != "" {
				ps.add(prefix+kv[0], "is set but %sTLS_ENABLED is not true", prefix)
			}
		}
		if insecure {
			ps.add(prefix+"TLS_INSECURE_SKIP_VERIFY", "is set but %sTLS_ENABLED is not true", prefix)
		}
	}

	if mech := strings.ToUpper(strings.TrimSpace(env.SASL.Mechanism)); mech != "" {
		c.SASL = &SASLConfig{Mechanism: mech, Username: env.SASL.Username, Password: env.SASL.Password}
	} else {
		if env.SASL.Username != "" {
			ps.add(prefix+"SASL_USERNAME", "is set but %sSASL_MECHANISM is empty", prefix)
		}
		if env.SASL.Password != "" {
			ps.add(prefix+"SASL_PASSWORD", "is set but %sSASL_MECHANISM is empty", prefix)
		}
	}

	c.GroupAllow = parseRegexp(prefix+"GROUP_ALLOW", env.Group.Allow, ps)
	c.GroupDeny = parseRegexp(prefix+"GROUP_DENY", env.Group.Deny, ps)
	return c
}

// Validate checks a Config, read or built by hand. The error has one line
// per problem, each naming the variable at fault; it never contains a
// secret. It reads the TLS and CA files, since a file that does not parse
// is better reported at start-up than at the first tick.
func (c Config) Validate() error { return c.validate().err() }

func (c Config) validate() problems {
	var ps problems

	if len(c.Clusters) == 0 {
		ps.add(singleClusterPrefix+"BROKERS", "required (or list cluster names in %s)", envClusters)
	}
	names := map[string]bool{}
	for _, cl := range c.Clusters {
		nameVar := envClusters
		if cl.prefix() == singleClusterPrefix {
			nameVar = envClusterName
		}
		switch {
		case !clusterNameRE.MatchString(cl.Name):
			ps.add(nameVar, "cluster name %q may only contain letters, digits, '_' and '-'", cl.Name)
		case names[cl.Name]:
			ps.add(nameVar, "cluster %q is configured twice", cl.Name)
		}
		names[cl.Name] = true
		cl.validate(&ps)
	}

	c.Elasticsearch.validate(&ps)

	if err := checkSchedule(c.Schedule); err != nil {
		ps.add(envSchedule, "%q is not a cron spec: %v", c.Schedule, err)
	}
	if c.TickTimeout <= 0 {
		ps.add(envTickTimeout, "must be greater than 0, got %v", c.TickTimeout)
	}
	switch {
	case c.KafkaTimeout <= 0:
		ps.add(envKafkaTimeout, "must be greater than 0, got %v", c.KafkaTimeout)
	case c.TickTimeout > 0 && c.KafkaTimeout > c.TickTimeout:
		ps.add(envKafkaTimeout, "%v is longer than %s (%v)", c.KafkaTimeout, envTickTimeout, c.TickTimeout)
	}
	if c.FetchConcurrency < 1 || c.FetchConcurrency > 1024 {
		ps.add(envFetchConcurrency, "must be between 1 and 1024, got %d", c.FetchConcurrency)
	}
	if strings.TrimSpace(c.SpoolDir) == "" {
		ps.add(envSpoolDir, "must not be empty")
	}
	if c.SpoolMaxBytes <= 0 {
		ps.add(envSpoolMaxBytes, "must be greater than 0, got %d", c.SpoolMaxBytes)
	}
	if c.MetricsAddr != "" {
		if err := checkListenAddr(c.MetricsAddr); err != nil {
			ps.add(envMetricsAddr, "%q %v (leave it empty to disable the listener)", c.MetricsAddr, err)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		ps.add(envLogFormat, "%q is not json or text", c.LogFormat)
	}
	return ps
}

// prefix is c.Prefix, or the single-cluster prefix for a hand-built config.
func (c ClusterConfig) prefix() string {
	if c.Prefix == "" {
		return singleClusterPrefix
	}
	return c.Prefix
}

func (c ClusterConfig) validate(ps *problems) {
	p := c.prefix()
	if len(c.Brokers) == 0 {
		ps.add(p+"BROKERS", "required for cluster %q", c.Name)
	}
	for _, b := range c.Brokers {
		if err := checkHostPort(b); err != nil {
			ps.add(p+"BROKERS", "%q is not host:port: %v", b, err)
			break
		}
	}
	if c.TLS != nil {
		if _, err := c.TLS.build(p); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				ps.add(fe.Var, "%s", fe.Msg)
			} else {
				ps.add(p+"TLS_ENABLED", "%v", err)
			}
		}
	}
	if s := c.SASL; s != nil {
		if !slices.Contains(saslMechanisms, s.Mechanism) {
			ps.add(p+"SASL_MECHANISM", "%q is not one of %s", s.Mechanism, strings.Join(saslMechanisms, ", "))
		}
		if s.Username == "" {
			ps.add(p+"SASL_USERNAME", "required when %sSASL_MECHANISM is set", p)
		}
		if s.Password == "" {
			ps.add(p+"SASL_PASSWORD", "required when %sSASL_MECHANISM is set", p)
		}
		if s.Username != "" && s.Password != "" {
			var fe *fieldError
			if _, err := s.mechanism(p); errors.As(err, &fe) && fe.Var != p+"SASL_MECHANISM" {
				*ps = append(*ps, fe)
			}
		}
	}
}

func (e ESConfig) validate(ps *problems) {
	if len(e.URLs) == 0 {
		ps.add(envESURL, "required: one or more http or https URLs, comma-separated")
	}
	for i, raw := range e.URLs {
		if err := checkESURL(raw); err != nil {
			ps.add(envESURL, "entry %d: %v", i+1, err)
			break
		}
	}
	switch {
	case e.APIKey != "" && (e.Username != "" || e.Password != ""):
		ps.add(envESAPIKey, "is set together with %s/%s; use one or the other", envESUsername, envESPassword)
	case e.Username != "" && e.Password == "":
		ps.add(envESPassword, "required when %s is set", envESUsername)
	case e.Password != "" && e.Username == "":
		ps.add(envESUsername, "required when %s is set", envESPassword)
	}
	if e.CAFile != "" {
		if _, err := loadCAPool(e.CAFile); err != nil {
			ps.add(envESCAFile, "%v", err)
		}
	}
	if reasons := namespaceProblems(e.Namespace); len(reasons) > 0 {
		ps.add(envESNamespace, "%q %s", e.Namespace, strings.Join(reasons, "; "))
	}
	if e.Retention < 0 {
		ps.add(envESRetention, "must not be negative, got %v", e.Retention)
	}
}

// checkESURL accepts an absolute http or https URL without credentials.
// The URL is shown in the message only when it cannot hold credentials.
func checkESURL(raw string) error {
	if strings.Contains(raw, "@") {
		return fmt.Errorf("credentials in the URL are not allowed (value not shown); use %s or %s and %s",
			envESAPIKey, envESUsername, envESPassword)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http or https URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// namespaceProblems lists what is wrong with a data stream namespace: the
// rules of Elasticsearch index names, plus no '-' (it separates the parts of
// a data stream name) and at most 100 bytes.
func namespaceProblems(ns string) []string {
	var r []string
	if ns == "" {
		return []string{"must not be empty"}
	}
	if ns != strings.ToLower(ns) {
		r = append(r, "must be lowercase")
	}
	if strings.Contains(ns, "-") {
		r = append(r, `must not contain "-"`)
	}
	if i := strings.IndexAny(ns, "\\/*?\"<>|,# :"); i >= 0 {
		r = append(r, fmt.Sprintf(`must not contain %q (none of \ / * ? " < > | , # : or space)`, ns[i:i+1]))
	}
	if len(ns) > 100 {
		r = append(r, "must be at most 100 bytes long")
	}
	return r
}

// checkSchedule parses spec as the scheduler will, and rejects specs that
// would not run as written.
func checkSchedule(spec string) (err error) {
	// robfig/cron v3.0.1 panics on a time zone prefix without a spec
	// ("CRON_TZ=UTC"), checked below; the recover is for what else may.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return errors.New("a time zone prefix needs a schedule after it")
	}
	s, err := scheduleParser.Parse(spec)
	if err != nil {
		return err
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok {
		// Every() raises a delay below 1s to 1s and truncates to whole
		// seconds; say so rather than run at another pace than written.
		rest := spec
		if strings.HasPrefix(rest, "TZ=") || strings.HasPrefix(rest, "CRON_TZ=") {
			_, rest, _ = strings.Cut(rest, " ")
		}
		every, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "@every")))
		if every != d.Delay {
			return fmt.Errorf("@every needs a whole number of seconds, at least 1s")
		}
		return nil
	}
	if s.Next(time.Now()).IsZero() {
		return errors.New("never fires")
	}
	return nil
}

// checkHostPort accepts host:port with a non-empty host and a numeric port.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// checkListenAddr accepts [host]:port with a numeric port (0 picks a free
// one).
func checkListenAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("is not [host]:port: %v", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty entries (a trailing comma is harmless).
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseBool(variable, s string, ps *problems) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		ps.add(variable, "%q is not a boolean (true or false)", s)
	}
	return b
}

func parseDuration(variable, s string, ps *problems) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		ps.add(variable, "%q is not a duration like 10s or 1m30s", s)
	}
	return d
}

func parseRegexp(variable, s string, ps *problems) *regexp.Regexp {
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		ps.add(variable, "is not a Go regular expression: %v", err)
	}
	return re
}

// parseLevel accepts debug, info, warn or error, in any case.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// parseRetention accepts a Go duration (720h; "0" keeps forever) or a whole
// number of days (30d).
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 {
			return 0, errors.New("is not a number of days like 30d, nor a duration like 720h (0 keeps history forever)")
		}
		if n > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, errors.New("is too long")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("is not a duration like 720h, nor a number of days like 30d (0 keeps history forever)")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// parseBytes accepts a whole number of bytes, optionally followed by KiB,
// MiB or GiB (any case, spaces allowed before the suffix).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, suffix := s, ""
	if i >= 0 {
		num, suffix = s[:i], strings.TrimSpace(s[i:])
	}
	var mult int64
	switch strings.ToLower(suffix) {
	case "":
		mult = 1
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, errors.New("is not a size: use a number of bytes, or a number followed by KiB, MiB or GiB")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New("is not a size: use a number of bytes, or a number followed by KiB, MiB or GiB")
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("is too large")
	}
	return n * mult, nil
}

// emptyToDefault gives every string field of spec (a pointer to a struct,
// nested structs included) that is empty its `default` tag, unless the
// field is tagged keep_empty. envconfig applies defaults only to unset
// variables; here set-but-empty counts as unset.
func emptyToDefault(spec any) {
	v := reflect.ValueOf(spec).Elem()
	for i := range v.NumField() {
		f, ft := v.Field(i), v.Type().Field(i)
		switch {
		case f.Kind() == reflect.Struct:
			emptyToDefault(f.Addr().Interface())
		case f.Kind() == reflect.String && f.String() == "" && ft.Tag.Get("keep_empty") != "true":
			f.SetString(ft.Tag.Get("default"))
		}
	}
}

// envKeys lists the variable names envconfig reads for spec under prefix.
func envKeys(prefix string, spec any) ([]string, error) {
	var buf bytes.Buffer
	if err := envconfig.Usagef(prefix, spec, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		return nil, fmt.Errorf("list environment variables: %w", err)
	}
	return strings.Fields(buf.String()), nil
}

// redacted stands for a secret that is set.
const redacted = "[REDACTED]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// redactURL hides the user information of a URL, even of one that does not
// parse. Validate rejects such URLs, but a Config returned with its error
// may still hold one.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	} else {
		scheme += "://"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	return scheme + redacted + rest[at:]
}

// LogValue implements slog.LogValuer: every setting, secrets replaced by
// [REDACTED] (empty when unset). Clusters are grouped by name.
func (c Config) LogValue() slog.Value {
	clusters := make([]slog.Attr, len(c.Clusters))
	for i, cl := range c.Clusters {
		clusters[i] = slog.Any(cl.Name, cl)
	}
	return slog.GroupValue(
		slog.Attr{Key: "clusters", Value: slog.GroupValue(clusters...)},
		slog.Any("elasticsearch", c.Elasticsearch),
		slog.String("schedule", c.Schedule),
		slog.Duration("tick_timeout", c.TickTimeout),
		slog.Duration("kafka_timeout", c.KafkaTimeout),
		slog.Int("fetch_concurrency", c.FetchConcurrency),
		slog.String("spool_dir", c.SpoolDir),
		slog.Int64("spool_max_bytes", c.SpoolMaxBytes),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
	)
}

// LogValue implements slog.LogValuer without the SASL password.
func (c ClusterConfig) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", c.Name),
		slog.String("brokers", strings.Join(c.Brokers, ",")),
		slog.String("prefix", c.Prefix),
	}
	if t := c.TLS; t != nil {
		attrs = append(attrs, slog.Group("tls",
			slog.String("ca_file", t.CAFile),
			slog.String("cert_file", t.CertFile),
			slog.String("key_file", t.KeyFile),
			slog.Bool("insecure_skip_verify", t.InsecureSkipVerify)))
	}
	if c.SASL != nil {
		attrs = append(attrs, slog.Any("sasl", *c.SASL))
	}
	if c.GroupAllow != nil {
		attrs = append(attrs, slog.String("group_allow", c.GroupAllow.String()))
	}
	if c.GroupDeny != nil {
		attrs = append(attrs, slog.String("group_deny", c.GroupDeny.String()))
	}
	return slog.GroupValue(attrs...)
}

// LogValue implements slog.LogValuer without the password.
func (s SASLConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mechanism", s.Mechanism),
		slog.String("username", s.Username),
		slog.String("password", redact(s.Password)))
}

// LogValue implements slog.LogValuer without the API key and password.
func (e ESConfig) LogValue() slog.Value {
	urls := make([]string, len(e.URLs))
	for i, u := range e.URLs {
		urls[i] = redactURL(u)
	}
	return slog.GroupValue(
		slog.String("urls", strings.Join(urls, ",")),
		slog.String("api_key", redact(e.APIKey)),
		slog.String("username", e.Username),
		slog.String("password", redact(e.Password)),
		slog.String("ca_file", e.CAFile),
		slog.String("namespace", e.Namespace),
		slog.Duration("retention", e.Retention))
}

// The String and GoString methods make fmt's %v, %+v and %#v show the
// redacted form too.

func (c Config) String() string          { return logText(c) }
func (c Config) GoString() string        { return c.String() }
func (c ClusterConfig) String() string   { return logText(c) }
func (c ClusterConfig) GoString() string { return c.String() }
func (s SASLConfig) String() string      { return logText(s) }
func (s SASLConfig) GoString() string    { return s.String() }
func (e ESConfig) String() string        { return logText(e) }
func (e ESConfig) GoString() string      { return e.String() }

// logText renders a LogValuer as slog's text handler would, key=value pairs
// with dotted group names, without time, level or message.
func logText(v slog.LogValuer) string {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "", 0)
	r.AddAttrs(slog.Any("", v)) // an empty group key inlines the group
	_ = h.Handle(context.Background(), r)
	return strings.TrimSpace(buf.String())
}
