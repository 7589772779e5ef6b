package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

// Config is the collector's whole configuration, read from the environment by
// loadConfig. Its String, GoString and LogValue never show a secret.
type Config struct {
	// Clusters in the order they were configured; never empty once valid.
	Clusters      []ClusterConfig
	Elasticsearch envconf.ES

	// Schedule is a cron spec for envconf.ScheduleParser.
	Schedule string
	// TickTimeout bounds one whole tick (every cluster, the write included);
	// KafkaTimeout bounds connecting to a broker (TLS and SASL included);
	// KafkaRequestTimeout bounds one Kafka request's round trip.
	TickTimeout, KafkaTimeout, KafkaRequestTimeout time.Duration
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
// saslMechanisms. Its String, GoString and LogValue never show the password.
type SASLConfig struct {
	Mechanism, Username, Password string
}

// The raw environment, every value a string so that each one is parsed, and
// each problem reported, by this file under the variable's own name. Field
// names give the variable names through split_words (no `envconfig` tags:
// those fall back to the unprefixed name); messages take them from vars and
// clusterVars. A set-but-empty variable takes the default, except where
// keep_empty says that empty means something.

// collectorEnv is every variable without a cluster prefix.
type collectorEnv struct {
	Kafka struct {
		Clusters    string `split_words:"true" desc:"comma-separated cluster names; enables KAFKA_<NAME>_* variables"`
		ClusterName string `split_words:"true" default:"default" desc:"label of the single cluster"`
	} `split_words:"true"`
	Elasticsearch envconf.ESEnv `split_words:"true"`
	Collector     struct {
		Schedule            string `split_words:"true" default:"@every 30s" desc:"When to take snapshots, as a cron spec: a descriptor (@every 30s, @hourly), 5 fields (*/5 * * * *: minute, hour, day of month, month, day of week) or 6 fields with a leading seconds field (*/15 * * * * *)."`
		TickTimeout         string `split_words:"true" default:"25s" desc:"Time limit of one whole tick, every cluster and the write included. Each cluster's read has three quarters of it, the rest is for writing what was read."`
		KafkaTimeout        string `split_words:"true" default:"10s" desc:"Time limit of connecting to a broker (TLS and SASL included)."`
		KafkaRequestTimeout string `split_words:"true" default:"10s" desc:"Time limit of one Kafka request, from sending it to its answer. A broker that lets one time out is not asked again in that tick: its groups and partitions are recorded as unknown, the others are read."`
		FetchConcurrency    string `split_words:"true" default:"16" desc:"Most per-group offset fetches in flight at once, per cluster, on brokers before Kafka 3.0 (later brokers answer all of a coordinator's groups in one request)."`
		SpoolDir            string `split_words:"true" default:"lagwatch-spool" desc:"Directory for snapshots not yet written to Elasticsearch."`
		SpoolMaxBytes       string `split_words:"true" default:"256MiB" desc:"Most bytes the spool may hold: a number of bytes, or a number followed by KiB, MiB or GiB (KB, MB, GB are rejected as ambiguous)."`
		MetricsAddr         string `split_words:"true" default:":9308" keep_empty:"true" desc:"Listen address ([host]:port, numeric port) of the Prometheus /metrics and the /healthz endpoints."`
	} `split_words:"true"`
	Log envconf.LogEnv `split_words:"true"`
}

// clusterEnv is one cluster's variables, read under "KAFKA" (single cluster)
// or "KAFKA_<NAME>".
type clusterEnv struct {
	Brokers string `split_words:"true" desc:"Bootstrap brokers, host:port list (IPv6 as [::1]:9092)."`
	TLS     struct {
		Enabled            string `split_words:"true" default:"false" desc:"Connect with TLS (1.2 or later)."`
		CAFile             string `split_words:"true" desc:"PEM file of CA certificates that verify the brokers."`
		CertFile           string `split_words:"true" desc:"PEM client certificate (chain) for mutual TLS."`
		KeyFile            string `split_words:"true" desc:"PEM private key of the client certificate."`
		InsecureSkipVerify string `split_words:"true" default:"false" desc:"Do not verify the brokers' certificates."`
	} `split_words:"true"`
	SASL struct {
		Mechanism string `split_words:"true" desc:"PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case)."`
		Username  string `split_words:"true" desc:"SASL user."`
		Password  string `split_words:"true" desc:"SASL password (secret)."`
	} `split_words:"true"`
	Group struct {
		Allow string `split_words:"true" desc:"Go regular expression: only consumer groups whose id matches are watched."`
		Deny  string `split_words:"true" desc:"Go regular expression: groups whose id matches are not watched, even when allowed."`
	} `split_words:"true"`
}

// vars names the variables without a cluster prefix:
// vars.Collector.TickTimeout is "COLLECTOR_TICK_TIMEOUT".
var vars = envconf.Names[collectorEnv]("")

// clusterVars names a cluster's variables: clusterVars("KAFKA_PROD_").Brokers
// is "KAFKA_PROD_BROKERS".
func clusterVars(prefix string) clusterEnv {
	return envconf.Names[clusterEnv](strings.TrimSuffix(prefix, "_"))
}

const singleClusterPrefix = "KAFKA_"

// saslMechanisms are the accepted KAFKA_SASL_MECHANISM values, upper case.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// clusterNameRE is what a cluster name (a label, and part of a variable name)
// may contain; badClusterName says so.
var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

const badClusterName = "cluster name %q may only contain letters, digits, '_' and '-'"

// loadConfig reads the collector's configuration from the process
// environment and validates it. The error lists every problem found, parse
// errors first, then Validate's, one line each ("VARIABLE: what is wrong");
// it never contains a secret value. The Config is returned even with an
// error, but must not be used then.
func loadConfig() (Config, error) {
	var env collectorEnv
	if err := envconf.Read("", &env); err != nil {
		return Config{}, err
	}
	var ps envconf.Problems
	clusters, err := loadClusters(env.Kafka.Clusters, env.Kafka.ClusterName, &ps)
	if err != nil {
		return Config{}, err
	}
	col, n := env.Collector, vars.Collector
	cfg := Config{
		Clusters:            clusters,
		Elasticsearch:       env.Elasticsearch.Parse(&ps),
		Schedule:            col.Schedule,
		TickTimeout:         envconf.Parse(&ps, n.TickTimeout, col.TickTimeout, envconf.Duration),
		KafkaTimeout:        envconf.Parse(&ps, n.KafkaTimeout, col.KafkaTimeout, envconf.Duration),
		KafkaRequestTimeout: envconf.Parse(&ps, n.KafkaRequestTimeout, col.KafkaRequestTimeout, envconf.Duration),
		FetchConcurrency:    envconf.Parse(&ps, n.FetchConcurrency, col.FetchConcurrency, envconf.Int),
		SpoolDir:            col.SpoolDir,
		SpoolMaxBytes:       envconf.Parse(&ps, n.SpoolMaxBytes, col.SpoolMaxBytes, envconf.Bytes),
		MetricsAddr:         col.MetricsAddr,
	}
	cfg.LogLevel, cfg.LogFormat = env.Log.Parse(&ps)

	found := cfg.validate()
	if len(cfg.Clusters) == 0 && ps.Has(vars.Kafka.Clusters) {
		// KAFKA_CLUSTERS already explained why there is no cluster.
		found = slices.DeleteFunc(found, func(p *envconf.FieldError) bool { return p.Var == clusterVars(singleClusterPrefix).Brokers })
	}
	ps.Merge(found)
	return cfg, ps.Err()
}

// loadClusters reads the single cluster (KAFKA_*) or, when KAFKA_CLUSTERS is
// set, each named cluster (KAFKA_<NAME>_*). The error is for failures to
// read the environment at all; bad values go to ps.
func loadClusters(list, singleName string, ps *envconf.Problems) ([]ClusterConfig, error) {
	if strings.TrimSpace(list) == "" {
		c, err := loadCluster(singleName, singleClusterPrefix, ps)
		return []ClusterConfig{c}, err
	}

	// Several clusters: the single-cluster variables would be ambiguous.
	plain, err := envconf.Variables(strings.TrimSuffix(singleClusterPrefix, "_"), &clusterEnv{})
	if err != nil {
		return nil, err
	}
	for _, v := range plain {
		if os.Getenv(v.Name) != "" {
			ps.Add(v.Name, "is ambiguous when %s is set; set %s<NAME>_%s for each cluster instead",
				vars.Kafka.Clusters, singleClusterPrefix, strings.TrimPrefix(v.Name, singleClusterPrefix))
		}
	}
	if os.Getenv(vars.Kafka.ClusterName) != "" {
		ps.Add(vars.Kafka.ClusterName, "is ambiguous when %s is set; the names listed there are the labels", vars.Kafka.Clusters)
	}

	var clusters []ClusterConfig
	seenName := map[string]bool{}
	seenPrefix := map[string]string{} // prefix -> the name that took it
	for _, name := range envconf.SplitList(list) {
		prefix := clusterPrefix(name)
		other, taken := seenPrefix[prefix]
		switch {
		case !clusterNameRE.MatchString(name):
			ps.Add(vars.Kafka.Clusters, badClusterName, name)
		case seenName[name]:
			ps.Add(vars.Kafka.Clusters, "cluster %q is listed twice", name)
		case taken:
			seenName[name] = true
			ps.Add(vars.Kafka.Clusters, "clusters %q and %q would both read %s* variables", other, name, prefix)
		default:
			seenName[name], seenPrefix[prefix] = true, name
			c, err := loadCluster(name, prefix, ps)
			if err != nil {
				return nil, err
			}
			clusters = append(clusters, c)
		}
	}
	if len(clusters) == 0 && !ps.Has(vars.Kafka.Clusters) {
		ps.Add(vars.Kafka.Clusters, "lists no cluster names")
	}
	return clusters, nil
}

// clusterPrefix is the variable prefix of a named cluster: "eu-west" reads
// KAFKA_EU_WEST_*.
func clusterPrefix(name string) string {
	return singleClusterPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
}

// loadCluster reads one cluster's variables under prefix; what only Validate
// can check (brokers, files, mechanisms) is left to it.
func loadCluster(name, prefix string, ps *envconf.Problems) (ClusterConfig, error) {
	var env clusterEnv
	if err := envconf.Read(strings.TrimSuffix(prefix, "_"), &env); err != nil {
		return ClusterConfig{}, err
	}
	n := clusterVars(prefix)
	c := ClusterConfig{Name: name, Brokers: envconf.SplitList(env.Brokers), Prefix: prefix}

	tlsOn := envconf.Parse(ps, n.TLS.Enabled, env.TLS.Enabled, envconf.Bool)
	insecure := envconf.Parse(ps, n.TLS.InsecureSkipVerify, env.TLS.InsecureSkipVerify, envconf.Bool)
	if tlsOn {
		c.TLS = &TLSConfig{CAFile: env.TLS.CAFile, CertFile: env.TLS.CertFile, KeyFile: env.TLS.KeyFile, InsecureSkipVerify: insecure}
	} else {
		off := n.TLS.Enabled + " is not true"
		envconf.Ignored(ps, off, n.TLS.CAFile, env.TLS.CAFile, n.TLS.CertFile, env.TLS.CertFile, n.TLS.KeyFile, env.TLS.KeyFile)
		if insecure {
			ps.Add(n.TLS.InsecureSkipVerify, "is set but %s", off)
		}
	}

	if mech := strings.ToUpper(strings.TrimSpace(env.SASL.Mechanism)); mech != "" {
		c.SASL = &SASLConfig{Mechanism: mech, Username: env.SASL.Username, Password: env.SASL.Password}
	} else {
		envconf.Ignored(ps, n.SASL.Mechanism+" is empty", n.SASL.Username, env.SASL.Username, n.SASL.Password, env.SASL.Password)
	}

	c.GroupAllow = parseRegexp(ps, n.Group.Allow, env.Group.Allow)
	c.GroupDeny = parseRegexp(ps, n.Group.Deny, env.Group.Deny)
	return c, nil
}

// parseRegexp compiles a group filter; empty is nil. Go's error quotes the
// expression, so the message does not.
func parseRegexp(ps *envconf.Problems, variable, s string) *regexp.Regexp {
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		ps.Add(variable, "is not a Go regular expression: %v", err)
	}
	return re
}

// Validate checks a Config, read or built by hand. The error has one line
// per problem, each naming the variable at fault; it never contains a
// secret. It reads the TLS and CA files, since a file that does not parse
// is better reported at start-up than at the first tick.
func (c Config) Validate() error { return c.validate().Err() }

func (c Config) validate() envconf.Problems {
	var ps envconf.Problems
	if len(c.Clusters) == 0 {
		ClusterConfig{}.validate(&ps)
	}
	names := map[string]bool{}
	for _, cl := range c.Clusters {
		nameVar := vars.Kafka.Clusters
		if cl.prefix() == singleClusterPrefix {
			nameVar = vars.Kafka.ClusterName
		}
		switch {
		case !clusterNameRE.MatchString(cl.Name):
			ps.Add(nameVar, badClusterName, cl.Name)
		case names[cl.Name]:
			ps.Add(nameVar, "cluster %q is configured twice", cl.Name)
		}
		names[cl.Name] = true
		cl.validate(&ps)
	}

	ps = append(ps, c.Elasticsearch.Problems()...)

	n := vars.Collector
	envconf.Schedule(&ps, n.Schedule, c.Schedule)
	envconf.Positive(&ps, n.TickTimeout, c.TickTimeout)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{n.KafkaTimeout, c.KafkaTimeout}, {n.KafkaRequestTimeout, c.KafkaRequestTimeout}} {
		if d.v <= 0 {
			envconf.Positive(&ps, d.name, d.v)
		} else if c.TickTimeout > 0 && d.v > c.TickTimeout {
			ps.Add(d.name, "%v is longer than %s (%v)", d.v, n.TickTimeout, c.TickTimeout)
		}
	}
	envconf.Between(&ps, n.FetchConcurrency, c.FetchConcurrency, 1, 1024)
	if strings.TrimSpace(c.SpoolDir) == "" {
		ps.Add(n.SpoolDir, "must not be empty")
	}
	envconf.Positive(&ps, n.SpoolMaxBytes, c.SpoolMaxBytes)
	envconf.ListenAddr(&ps, n.MetricsAddr, c.MetricsAddr)
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

// validate checks one cluster; the zero ClusterConfig stands for none.
func (c ClusterConfig) validate(ps *envconf.Problems) {
	p := c.prefix()
	n := clusterVars(p)
	switch {
	case len(c.Brokers) > 0:
	case p == singleClusterPrefix:
		ps.Add(n.Brokers, "required (or list cluster names in %s)", vars.Kafka.Clusters)
	default:
		ps.Add(n.Brokers, "required for cluster %q listed in %s", c.Name, vars.Kafka.Clusters)
	}
	for _, b := range c.Brokers {
		if err := checkHostPort(b); err != nil {
			ps.Add(n.Brokers, "%q is not host:port: %v", b, err)
			break
		}
	}
	if c.TLS != nil {
		if _, err := c.TLS.build(p); err != nil {
			var fe *envconf.FieldError
			if errors.As(err, &fe) {
				ps.Add(fe.Var, "%s", fe.Msg)
			} else {
				ps.Add(n.TLS.Enabled, "%v", err)
			}
		}
	}
	if s := c.SASL; s != nil {
		if !slices.Contains(saslMechanisms, s.Mechanism) {
			ps.Add(n.SASL.Mechanism, "%q is not one of %s", s.Mechanism, strings.Join(saslMechanisms, ", "))
		}
		if s.Username == "" {
			ps.Add(n.SASL.Username, "required when %s is set", n.SASL.Mechanism)
		}
		if s.Password == "" {
			ps.Add(n.SASL.Password, "required when %s is set", n.SASL.Mechanism)
		}
		if s.Username != "" && s.Password != "" {
			var fe *envconf.FieldError
			if _, err := s.mechanism(p); errors.As(err, &fe) && fe.Var != n.SASL.Mechanism {
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
		slog.Duration("kafka_request_timeout", c.KafkaRequestTimeout),
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
		slog.Any("password", envconf.Secret(s.Password)))
}

// The String and GoString methods make fmt's %v, %+v and %#v show the
// redacted form too.

func (c Config) String() string          { return envconf.LogText(c) }
func (c Config) GoString() string        { return c.String() }
func (c ClusterConfig) String() string   { return envconf.LogText(c) }
func (c ClusterConfig) GoString() string { return c.String() }
func (s SASLConfig) String() string      { return envconf.LogText(s) }
func (s SASLConfig) GoString() string    { return s.String() }
