package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// envOf is a getenv over a fixed map: the process environment (where CI
// exports KAFKA_BROKERS) plays no part.
func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	got, err := parseConfig(nil, envOf(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		Roles:   []string{"producer", "healthy", "slow", "stall", "stop"},
		Brokers: []string{"127.0.0.1:9092"}, Topic: "demo-orders", GroupPrefix: "demo",
		Partitions: 3, Rate: 20, SlowRate: 5, ReadFirst: 30,
		LogLevel: slog.LevelInfo, LogFormat: "json",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults\n got: %+v\nwant: %+v", got, want)
	}
	if g := got.group("stall"); g != "demo-stall" {
		t.Errorf("group(stall) = %q, want demo-stall", g)
	}
}

func TestParseConfigAccepts(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		env    func(string) string
		check  func(config) bool
		reason string
	}{
		{"one role", nil, envOf("DEMO_ROLE", "producer"),
			func(c config) bool { return reflect.DeepEqual(c.Roles, []string{"producer"}) }, "a role alone"},
		{"role list", nil, envOf("DEMO_ROLE", " stop, Healthy ,stop,"),
			func(c config) bool { return reflect.DeepEqual(c.Roles, []string{"healthy", "stop"}) }, "any case, once each, in start order"},
		{"all and one", nil, envOf("DEMO_ROLE", "slow,all"),
			func(c config) bool { return len(c.Roles) == 5 }, "all already holds slow"},
		{"flag wins", []string{"-role", "stall", "-topic", "t1"}, envOf("DEMO_ROLE", "producer", "DEMO_TOPIC", "t0"),
			func(c config) bool { return reflect.DeepEqual(c.Roles, []string{"stall"}) && c.Topic == "t1" }, "the command line overrides the environment"},
		{"empty is default", nil, envOf("DEMO_TOPIC", " ", "DEMO_RATE", ""),
			func(c config) bool { return c.Topic == "demo-orders" && c.Rate == 20 }, "set but empty takes the default"},
		{"brokers", nil, envOf("KAFKA_BROKERS", "kafka:9092, k2:9092,"),
			func(c config) bool { return reflect.DeepEqual(c.Brokers, []string{"kafka:9092", "k2:9092"}) }, "a list like the collector's"},
		{"rates", []string{"-rate", "200", "-slow-rate", "0.5"}, envOf(),
			func(c config) bool { return c.Rate == 200 && c.SlowRate == 0.5 }, "fractional rates"},
		{"prefix", nil, envOf("DEMO_GROUP_PREFIX", "t-1a2b"),
			func(c config) bool { return c.group("stop") == "t-1a2b-stop" }, "tests give unique names"},
		{"text log", nil, envOf("LOG_FORMAT", "TEXT", "LOG_LEVEL", "debug"),
			func(c config) bool { return c.LogFormat == "text" && c.LogLevel == slog.LevelDebug }, "the programs' logging variables"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.args, tc.env, io.Discard)
			if err != nil || !tc.check(got) {
				t.Errorf("%s: parseConfig = %+v, %v", tc.reason, got, err)
			}
		})
	}
}

func TestParseConfigRejects(t *testing.T) {
	cases := []struct {
		name    string
		env     func(string) string
		wantVar string
		reason  string
	}{
		{"unknown role", envOf("DEMO_ROLE", "lazy"), "DEMO_ROLE", "not a role"},
		{"no role", envOf("DEMO_ROLE", ","), "DEMO_ROLE", "an empty list runs nothing"},
		{"no broker", envOf("KAFKA_BROKERS", " , "), "KAFKA_BROKERS", "nowhere to connect"},
		{"topic", envOf("DEMO_TOPIC", "a topic"), "DEMO_TOPIC", "spaces are not allowed in topic names"},
		{"topic dot", envOf("DEMO_TOPIC", ".."), "DEMO_TOPIC", "Kafka rejects . and .."},
		{"prefix", envOf("DEMO_GROUP_PREFIX", "a/b"), "DEMO_GROUP_PREFIX", "plain names only"},
		{"partitions", envOf("DEMO_PARTITIONS", "0"), "DEMO_PARTITIONS", "a topic needs a partition"},
		{"rate", envOf("DEMO_RATE", "fast"), "DEMO_RATE", "not a number"},
		{"rate zero", envOf("DEMO_RATE", "0"), "DEMO_RATE", "nothing would be produced"},
		{"slow keeps up", envOf("DEMO_SLOW_RATE", "20"), "DEMO_SLOW_RATE", "no lag would grow: no WARN"},
		{"read first", envOf("DEMO_READ_FIRST", "-1"), "DEMO_READ_FIRST", "a count"},
		{"log level", envOf("LOG_LEVEL", "loud"), "LOG_LEVEL", "the shared logging rules"},
		{"log format", envOf("LOG_FORMAT", "xml"), "LOG_FORMAT", "the shared logging rules"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(nil, tc.env, io.Discard)
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), tc.wantVar+": ") {
				t.Errorf("%s: parseConfig error = %v, want one line starting %s:", tc.reason, err, tc.wantVar)
			}
		})
	}
}

func TestParseConfigUsage(t *testing.T) {
	var out strings.Builder
	if _, err := parseConfig([]string{"-h"}, envOf(), &out); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "$"+s.env) {
			t.Errorf("usage does not name %s:\n%s", s.env, out.String())
		}
	}
	if _, err := parseConfig([]string{"extra"}, envOf(), io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
	err := run(t.Context(), nil, envOf("DEMO_RATE", "x", "DEMO_ROLE", "y"), io.Discard)
	if code := exitCode(err, io.Discard); code != 2 {
		t.Errorf("bad configuration: exit code %d, want 2", code)
	}
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("every problem is reported, one line each: %v", err)
	}
}
