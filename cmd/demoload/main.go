// Command demoload runs a small Kafka workload whose consumer groups show
// every verdict lagwatch gives: a producer writes to one topic at a steady
// rate and four consumer groups read it.
//
//	<prefix>-healthy  keeps up: OK
//	<prefix>-slow     reads slower than the producer writes; its commits
//	                  move while its lag grows: WARN
//	<prefix>-stall    reads a little, then stops reading while it stays a
//	                  member of its group (heartbeats go on): STALL, ERR
//	<prefix>-stop     reads a little, then leaves its group for good; its
//	                  commits stay behind: STOP, ERR
//
// It creates the topic when it is missing. Roles are chosen with DEMO_ROLE
// (or -role): one, several comma-separated, or all (the default), which runs
// every role in this one process. It runs until SIGINT or SIGTERM; the stop
// role alone ends by itself once it has left its group.
//
//	demoload -h        lists every setting, its variable and its default
//
// Exit status: 0 success, 1 failure, 2 invalid configuration or usage.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

func main() {
	envconf.Main(func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Getenv, os.Stderr) },
		func(err error) int { return exitCode(err, os.Stderr) })
}

// usageError exits with status 2.
type usageError = envconf.UsageError

func exitCode(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return envconf.ExitCode(err, stderr, "demoload")
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usageError{Err: err}
	}
	log := envconf.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	log.Info("demoload starting", "roles", cfg.Roles, "brokers", cfg.Brokers, "topic", cfg.Topic,
		"group_prefix", cfg.GroupPrefix, "rate", cfg.Rate, "slow_rate", cfg.SlowRate)
	if err := runWorkload(ctx, cfg, log); err != nil {
		log.Error("demoload failed", "err", err)
		return err
	}
	log.Info("demoload stopped")
	return nil
}
