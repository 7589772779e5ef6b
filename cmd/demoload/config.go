package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

// config is the demo workload's whole configuration.
type config struct {
	// Roles to run, in a fixed order, each once.
	Roles   []string
	Brokers []string
	Topic   string
	// GroupPrefix names the consumer groups: <prefix>-healthy, -slow,
	// -stall and -stop.
	GroupPrefix string
	// Partitions is the partition count of the topic when demoload creates
	// it; an existing topic is used as it is.
	Partitions int
	// Rate is what the producer writes, SlowRate what the slow consumer
	// reads, both in messages per second.
	Rate, SlowRate float64
	// ReadFirst is how many messages the stall and stop consumers read (at
	// least one from every partition) before they stall or leave.
	ReadFirst int
	LogLevel  slog.Level
	// LogFormat is "json" or "text".
	LogFormat string
}

// roles in the order they start; "all" stands for every one of them.
var roles = []string{"producer", "healthy", "slow", "stall", "stop"}

// group is the consumer group of a consumer role.
func (c config) group(role string) string { return c.GroupPrefix + "-" + role }

// setting is one configuration value: its variable, its flag and its
// built-in default. A flag given on the command line wins over the variable.
type setting struct {
	env, flag, def, usage string
}

var settings = []setting{
	{"DEMO_ROLE", "role", "all", "comma-separated roles: producer, healthy, slow, stall, stop, or all"},
	{"KAFKA_BROKERS", "brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers, host:port"},
	{"DEMO_TOPIC", "topic", "demo-orders", "topic to produce to and consume from"},
	{"DEMO_GROUP_PREFIX", "group-prefix", "demo", "consumer groups are <prefix>-healthy, -slow, -stall and -stop"},
	{"DEMO_PARTITIONS", "partitions", "3", "partitions of the topic when it is created"},
	{"DEMO_RATE", "rate", "20", "messages per second the producer writes"},
	{"DEMO_SLOW_RATE", "slow-rate", "5", "messages per second the slow consumer reads; below the producer's rate"},
	{"DEMO_READ_FIRST", "read-first", "30", "messages the stall and stop consumers read before they stall or leave"},
	{envconf.LogVars.Level, "log-level", "info", "debug, info, warn or error"},
	{envconf.LogVars.Format, "log-format", "json", "json or text"},
}

// topicRE is what Kafka accepts as a topic name; consumer group ids are
// free-form, but the prefix is held to the same so that names stay plain.
var topicRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// parseConfig reads the command line and, for what it does not give, the
// environment through getenv; a variable set but empty takes the default.
// Every problem is reported, one line each, naming the variable.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("demoload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := make(map[string]*string, len(settings))
	for _, s := range settings {
		v := strings.TrimSpace(getenv(s.env))
		if v == "" {
			v = s.def
		}
		raw[s.env] = fs.String(s.flag, v, s.usage+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	get := func(env string) string { return strings.TrimSpace(*raw[env]) }

	var ps envconf.Problems
	c := config{
		Brokers:     envconf.SplitList(get("KAFKA_BROKERS")),
		Topic:       get("DEMO_TOPIC"),
		GroupPrefix: get("DEMO_GROUP_PREFIX"),
	}
	for _, r := range envconf.SplitList(get("DEMO_ROLE")) {
		switch r = strings.ToLower(r); {
		case r == "all":
			c.Roles = append(c.Roles, roles...)
		case slices.Contains(roles, r):
			c.Roles = append(c.Roles, r)
		default:
			ps.Add("DEMO_ROLE", "%q is not one of %s or all", r, strings.Join(roles, ", "))
		}
	}
	c.Roles = slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return !slices.Contains(c.Roles, r) })
	if len(c.Roles) == 0 && !ps.Has("DEMO_ROLE") {
		ps.Add("DEMO_ROLE", "names no role")
	}
	if len(c.Brokers) == 0 {
		ps.Add("KAFKA_BROKERS", "names no broker")
	}
	if !topicRE.MatchString(c.Topic) || c.Topic == "." || c.Topic == ".." {
		ps.Add("DEMO_TOPIC", "%q is not a Kafka topic name (letters, digits, '.', '_', '-')", c.Topic)
	}
	if !topicRE.MatchString(c.GroupPrefix) {
		ps.Add("DEMO_GROUP_PREFIX", "%q may only contain letters, digits, '.', '_' and '-'", c.GroupPrefix)
	}
	c.Partitions = parseInt(&ps, "DEMO_PARTITIONS", get("DEMO_PARTITIONS"), 1, 1000)
	c.ReadFirst = parseInt(&ps, "DEMO_READ_FIRST", get("DEMO_READ_FIRST"), 1, 1_000_000)
	c.Rate = parseRate(&ps, "DEMO_RATE", get("DEMO_RATE"))
	c.SlowRate = parseRate(&ps, "DEMO_SLOW_RATE", get("DEMO_SLOW_RATE"))
	if c.Rate > 0 && c.SlowRate >= c.Rate {
		ps.Add("DEMO_SLOW_RATE", "%v must be below DEMO_RATE (%v), or the slow group keeps up", c.SlowRate, c.Rate)
	}
	c.LogLevel, c.LogFormat = envconf.LogEnv{Level: get(envconf.LogVars.Level), Format: get(envconf.LogVars.Format)}.Parse(&ps)
	envconf.CheckLogFormat(c.LogFormat, &ps)
	return c, ps.Err()
}

func parseInt(ps *envconf.Problems, env, s string, lo, hi int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		ps.Add(env, "%q is not a whole number from %d to %d", s, lo, hi)
	}
	return n
}

// parseRate accepts a number of messages per second, more than 0 and at
// most 100000 (the producer is one goroutine).
func parseRate(ps *envconf.Problems, env, s string) float64 {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || !(r > 0 && r <= 100_000) {
		ps.Add(env, "%q is not a rate above 0 and at most 100000 messages per second", s)
		return 0
	}
	return r
}
