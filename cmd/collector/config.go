package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/lagwatch/lagwatch/internal/envconf"
)

// Config is the collector's whole configuration, read from the environment by
// loadConfig. Its String, GoString and LogValue never show a secret.
type Config struct {
	// Clusters in the order they were configured; never empty once valid.
	Clusters      []ClusterConfig
	Elasticsearch envconf.ES

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
	Elasticsearch envconf.ESEnv `split_words:"true"`
	Collector     struct {
		Schedule         string `split_words:"true" default:"@every 30s"`
		TickTimeout      string `split_words:"true" default:"25s"`
		KafkaTimeout     string `split_words:"true" default:"10s"`
		FetchConcurrency string `split_words:"true" default:"16"`
		SpoolDir         string `split_words:"true" default:"lagwatch-spool"`
		SpoolMaxBytes    string `split_words:"true" default:"256MiB"`
		MetricsAddr      string `split_words:"true" default:":9308" keep_empty:"true"`
	} `split_words:"true"`
	Log envconf.LogEnv `split_words:"true"`
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

// Variable names used in messages; the Elasticsearch and logging ones are
// envconf's. Cluster variables are built from ClusterConfig.Prefix.
const (
	envClusters         = "KAFKA_CLUSTERS"
	envClusterName      = "KAFKA_CLUSTER_NAME"
	envSchedule         = "COLLECTOR_SCHEDULE"
	envTickTimeout      = "COLLECTOR_TICK_TIMEOUT"
	envKafkaTimeout     = "COLLECTOR_KAFKA_TIMEOUT"
	envFetchConcurrency = "COLLECTOR_FETCH_CONCURRENCY"
	envSpoolDir         = "COLLECTOR_SPOOL_DIR"
	envSpoolMaxBytes    = "COLLECTOR_SPOOL_MAX_BYTES"
	envMetricsAddr      = "COLLECTOR_METRICS_ADDR"

	singleClusterPrefix = "KAFKA_"
)

// scheduleParser parses COLLECTOR_SCHEDULE (see envconf.ScheduleParser).
var scheduleParser = envconf.ScheduleParser

// saslMechanisms are the accepted KAFKA_SASL_MECHANISM values, upper case.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// clusterNameRE is what a cluster name (a label, and part of a variable name)
// may contain.
var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

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
	envconf.EmptyToDefault(&env)

	var ps envconf.Problems
	cfg := Config{
		Schedule:    env.Collector.Schedule,
		SpoolDir:    env.Collector.SpoolDir,
		MetricsAddr: env.Collector.MetricsAddr,
	}

	clusters, err := loadClusters(env.Kafka.Clusters, env.Kafka.ClusterName, &ps)
	if err != nil {
		return Config{}, err
	}
	cfg.Clusters = clusters

	cfg.Elasticsearch = env.Elasticsearch.Parse(&ps)

	col := env.Collector
	cfg.TickTimeout = envconf.ParseDuration(envTickTimeout, col.TickTimeout, &ps)
	cfg.KafkaTimeout = envconf.ParseDuration(envKafkaTimeout, col.KafkaTimeout, &ps)
	if n, err := strconv.Atoi(strings.TrimSpace(col.FetchConcurrency)); err != nil {
		ps.Add(envFetchConcurrency, "%q is not a whole number", col.FetchConcurrency)
	} else {
		cfg.FetchConcurrency = n
	}
	if n, err := parseBytes(col.SpoolMaxBytes); err != nil {
		ps.Add(envSpoolMaxBytes, "%q %v", col.SpoolMaxBytes, err)
	} else {
		cfg.SpoolMaxBytes = n
	}
	cfg.LogLevel, cfg.LogFormat = env.Log.Parse(&ps)

	// Validate's findings, except for variables that already failed to parse
	// (their zero value would only repeat the news), and except KAFKA_BROKERS
	// when KAFKA_CLUSTERS already explained why there is no cluster.
	noClusters := len(cfg.Clusters) == 0 && ps.Has(envClusters)
	for _, p := range cfg.validate() {
		if !ps.Has(p.Var) && !(noClusters && p.Var == singleClusterPrefix+"BROKERS") {
			ps = append(ps, p)
		}
	}
	return cfg, ps.Err()
}

// loadClusters reads the single cluster (KAFKA_*) or, when KAFKA_CLUSTERS is
// set, each named cluster (KAFKA_<NAME>_*). The error is for failures to
// read the environment at all; bad values go to ps.
func loadClusters(list, singleName string, ps *envconf.Problems) ([]ClusterConfig, error) {
	if strings.TrimSpace(list) == "" {
		var env clusterEnv
		if err := envconfig.Process(strings.TrimSuffix(singleClusterPrefix, "_"), &env); err != nil {
			return nil, fmt.Errorf("read environment: %w", err)
		}
		envconf.EmptyToDefault(&env)
		if env.Brokers == "" {
			ps.Add(singleClusterPrefix+"BROKERS", "required (or list cluster names in %s)", envClusters)
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
			ps.Add(key, "is ambiguous when %s is set; set %s<NAME>_%s for each cluster instead",
				envClusters, singleClusterPrefix, strings.TrimPrefix(key, singleClusterPrefix))
		}
	}
	if os.Getenv(envClusterName) != "" {
		ps.Add(envClusterName, "is ambiguous when %s is set; the names listed there are the labels", envClusters)
	}

	var clusters []ClusterConfig
	seenName := map[string]bool{}
	seenPrefix := map[string]string{} // prefix -> the name that took it
	for _, name := range envconf.SplitList(list) {
		if !clusterNameRE.MatchString(name) {
			ps.Add(envClusters, "cluster name %q may only contain letters, digits, '_' and '-'", name)
			continue
		}
		if seenName[name] {
			ps.Add(envClusters, "cluster %q is listed twice", name)
			continue
		}
		seenName[name] = true
		prefix := clusterPrefix(name)
		if other, ok := seenPrefix[prefix]; ok {
			ps.Add(envClusters, "clusters %q and %q would both read %s* variables", other, name, prefix)
			continue
		}
		seenPrefix[prefix] = name

		var env clusterEnv
		if err := envconfig.Process(strings.TrimSuffix(prefix, "_"), &env); err != nil {
			return nil, fmt.Errorf("read environment: %w", err)
		}
		envconf.EmptyToDefault(&env)
		if env.Brokers == "" {
			ps.Add(prefix+"BROKERS", "required for cluster %q listed in %s", name, envClusters)
		}
		clusters = append(clusters, parseCluster(name, prefix, env, ps))
	}
	if len(clusters) == 0 && !ps.Has(envClusters) {
		ps.Add(envClusters, "lists no cluster names")
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
func parseCluster(name, prefix string, env clusterEnv, ps *envconf.Problems) ClusterConfig {
	c := ClusterConfig{Name: name, Brokers: envconf.SplitList(env.Brokers), Prefix: prefix}

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
				ps.Add(prefix+kv[0], "is set but %sTLS_ENABLED is not true", prefix)
			}
		}
		if insecure {
			ps.Add(prefix+"TLS_INSECURE_SKIP_VERIFY", "is set but %sTLS_ENABLED is not true", prefix)
		}
	}

	if mech := strings.ToUpper(strings.TrimSpace(env.SASL.Mechanism)); mech != "" {
		c.SASL = &SASLConfig{Mechanism: mech, Username: env.SASL.Username, Password: env.SASL.Password}
	} else {
		if env.SASL.Username != "" {
			ps.Add(prefix+"SASL_USERNAME", "is set but %sSASL_MECHANISM is empty", prefix)
		}
		if env.SASL.Password != "" {
			ps.Add(prefix+"SASL_PASSWORD", "is set but %sSASL_MECHANISM is empty", prefix)
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
func (c Config) Validate() error { return c.validate().Err() }

func (c Config) validate() envconf.Problems {
	var ps envconf.Problems

	if len(c.Clusters) == 0 {
		ps.Add(singleClusterPrefix+"BROKERS", "required (or list cluster names in %s)", envClusters)
	}
	names := map[string]bool{}
	for _, cl := range c.Clusters {
		nameVar := envClusters
		if cl.prefix() == singleClusterPrefix {
			nameVar = envClusterName
		}
		switch {
		case !clusterNameRE.MatchString(cl.Name):
			ps.Add(nameVar, "cluster name %q may only contain letters, digits, '_' and '-'", cl.Name)
		case names[cl.Name]:
			ps.Add(nameVar, "cluster %q is configured twice", cl.Name)
		}
		names[cl.Name] = true
		cl.validate(&ps)
	}

	ps = append(ps, c.Elasticsearch.Problems()...)

	if err := envconf.CheckSchedule(c.Schedule); err != nil {
		ps.Add(envSchedule, "%q is not a cron spec: %v", c.Schedule, err)
	}
	if c.TickTimeout <= 0 {
		ps.Add(envTickTimeout, "must be greater than 0, got %v", c.TickTimeout)
	}
	switch {
	case c.KafkaTimeout <= 0:
		ps.Add(envKafkaTimeout, "must be greater than 0, got %v", c.KafkaTimeout)
	case c.TickTimeout > 0 && c.KafkaTimeout > c.TickTimeout:
		ps.Add(envKafkaTimeout, "%v is longer than %s (%v)", c.KafkaTimeout, envTickTimeout, c.TickTimeout)
	}
	if c.FetchConcurrency < 1 || c.FetchConcurrency > 1024 {
		ps.Add(envFetchConcurrency, "must be between 1 and 1024, got %d", c.FetchConcurrency)
	}
	if strings.TrimSpace(c.SpoolDir) == "" {
		ps.Add(envSpoolDir, "must not be empty")
	}
	if c.SpoolMaxBytes <= 0 {
		ps.Add(envSpoolMaxBytes, "must be greater than 0, got %d", c.SpoolMaxBytes)
	}
	if c.MetricsAddr != "" {
		if err := envconf.CheckListenAddr(c.MetricsAddr); err != nil {
			ps.Add(envMetricsAddr, "%q %v (leave it empty to disable the listener)", c.MetricsAddr, err)
		}
	}
	envconf.CheckLogFormat(c.LogFormat, &ps)
	return ps
}

// prefix is c.Prefix, or the single-cluster prefix for a hand-built config.
func (c ClusterConfig) prefix() string {
	if c.Prefix == "" {
		return singleClusterPrefix
	}
	return c.Prefix
}

func (c ClusterConfig) validate(ps *envconf.Problems) {
	p := c.prefix()
	if len(c.Brokers) == 0 {
		ps.Add(p+"BROKERS", "required for cluster %q", c.Name)
	}
	for _, b := range c.Brokers {
		if err := checkHostPort(b); err != nil {
			ps.Add(p+"BROKERS", "%q is not host:port: %v", b, err)
			break
		}
	}
	if c.TLS != nil {
		if _, err := c.TLS.build(p); err != nil {
			var fe *envconf.FieldError
			if errors.As(err, &fe) {
				ps.Add(fe.Var, "%s", fe.Msg)
			} else {
				ps.Add(p+"TLS_ENABLED", "%v", err)
			}
		}
	}
	if s := c.SASL; s != nil {
		if !slices.Contains(saslMechanisms, s.Mechanism) {
			ps.Add(p+"SASL_MECHANISM", "%q is not one of %s", s.Mechanism, strings.Join(saslMechanisms, ", "))
		}
		if s.Username == "" {
			ps.Add(p+"SASL_USERNAME", "required when %sSASL_MECHANISM is set", p)
		}
		if s.Password == "" {
			ps.Add(p+"SASL_PASSWORD", "required when %sSASL_MECHANISM is set", p)
		}
		if s.Username != "" && s.Password != "" {
			var fe *envconf.FieldError
			if _, err := s.mechanism(p); errors.As(err, &fe) && fe.Var != p+"SASL_MECHANISM" {
				*ps = append(*ps, fe)
			}
		}
	}
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

func parseBool(variable, s string, ps *envconf.Problems) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		ps.Add(variable, "%q is not a boolean (true or false)", s)
	}
	return b
}

func parseRegexp(variable, s string, ps *envconf.Problems) *regexp.Regexp {
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		ps.Add(variable, "is not a Go regular expression: %v", err)
	}
	return re
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

// envKeys lists the variable names envconfig reads for spec under prefix.
func envKeys(prefix string, spec any) ([]string, error) {
	var buf bytes.Buffer
	if err := envconfig.Usagef(prefix, spec, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		return nil, fmt.Errorf("list environment variables: %w", err)
	}
	return strings.Fields(buf.String()), nil
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
		slog.String("password", envconf.Redact(s.Password)))
}

// The String and GoString methods make fmt's %v, %+v and %#v show the
// redacted form too.

func (c Config) String() string          { return envconf.LogText(c) }
func (c Config) GoString() string        { return c.String() }
func (c ClusterConfig) String() string   { return envconf.LogText(c) }
func (c ClusterConfig) GoString() string { return c.String() }
func (s SASLConfig) String() string      { return envconf.LogText(s) }
func (s SASLConfig) GoString() string    { return s.String() }
