// Command collector snapshots every consumer group of every configured Kafka
// cluster on a cron schedule and writes the snapshots to Elasticsearch.
//
//	collector            run on COLLECTOR_SCHEDULE until SIGINT or SIGTERM
//	collector --once     take one tick and exit: 0 when it succeeded
//	collector --help     the commands, flags and every environment variable
//	collector --version  the version and the revision it was built from
//
// Exit status: 0 success, 1 failure, 2 invalid configuration or usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

func main() {
	envconf.Main(func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) },
		func(err error) int { return exitCode(err, os.Stderr) })
}

// usageError and configuration errors exit with status 2.
type usageError = envconf.UsageError

func exitCode(err error, stderr io.Writer) int { return envconf.ExitCode(err, stderr, "collector") }

// defaultMemoryLimit is the soft memory limit (runtime/debug.SetMemoryLimit)
// when GOMEMLIMIT is not set or empty (the Go runtime ignores an empty one,
// so it must not switch the default off either): the garbage collector then
// works harder as the heap nears it, which keeps a tick of 50,000 partitions
// under 150 MB of resident memory (docs/BENCHMARKS.md; without it, 158 to
// 163 MiB). It is soft: a larger snapshot still gets the memory it needs.
// GOMEMLIMIT (e.g. GOMEMLIMIT=off) overrides it.
const defaultMemoryLimit = 100 << 20

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by exitCode
	once := fs.Bool("once", false, "take one tick and exit; the exit status says whether it succeeded")
	version := fs.Bool("version", false, "print the version and the revision it was built from, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return writeHelp(stdout, fs)
		}
		return usageError{Err: fmt.Errorf("%v (collector --help lists the flags)", err)}
	}
	if fs.NArg() > 0 {
		return usageError{Err: fmt.Errorf("unexpected arguments: %v (collector takes only flags; --help lists them)", fs.Args())}
	}
	if *version {
		_, err := fmt.Fprintln(stdout, envconf.Version("collector"))
		return err
	}
	cfg, err := loadConfig() // validates too
	if err != nil {
		return usageError{Err: err}
	}
	log := envconf.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	log.Info("collector starting", "config", cfg)

	c, err := newCollector(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	defer c.close()
	if *once {
		return c.once(ctx)
	}
	return c.serve(ctx)
}

// writeHelp prints the commands, the flags and every environment variable,
// from the configuration structs.
func writeHelp(w io.Writer, fs *flag.FlagSet) error {
	fmt.Fprint(w, `collector snapshots every consumer group of every configured Kafka cluster
on a cron schedule and writes the snapshots to Elasticsearch.

Usage:
  collector            run on COLLECTOR_SCHEDULE until SIGINT or SIGTERM
  collector --once     take one tick and exit: 0 when it succeeded
  collector --version  print the version and exit
  collector --help     this text

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, "\nEnvironment (the configuration; every variable is optional unless said):\n")
	if err := envconf.WriteVariables(w, "", &collectorEnv{}); err != nil {
		return err
	}
	fmt.Fprint(w, "\nPer cluster: KAFKA_<NAME>_<VARIABLE> for each name in KAFKA_CLUSTERS, or, for one cluster, these:\n")
	if err := envconf.WriteVariables(w, "KAFKA", &clusterEnv{}); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, "\nExit status: 0 success, 1 failure, 2 invalid configuration or usage.\n")
	return err
}
