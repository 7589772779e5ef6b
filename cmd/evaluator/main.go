// Command evaluator classifies every consumer group from the history the
// collector keeps in Elasticsearch, the way Burrow does, writes the verdicts
// back to Elasticsearch and alerts when a group's status changes.
//
//	evaluator                        evaluate on EVALUATOR_SCHEDULE until SIGINT or SIGTERM
//	evaluator --once                 evaluate now, write statuses, send alerts, exit
//	evaluator --at TIME              evaluate one past instant, write its statuses (no alerts)
//	evaluator --from T1 --to T2 --step D
//	                                 backtest: evaluate every step, write that status history
//	evaluator status [--group G] [--cluster C] [--at TIME] [--json]
//	                                 print the verdicts, write nothing
//	evaluator serve                  answer the HTTP API on EVALUATOR_HTTP_ADDR until SIGINT or SIGTERM:
//	                                 no schedule, no alerts, nothing written
//	evaluator report --from T1 --to T2 [--step D] [--cluster C] [--group G] [--json]
//	                                 how the current settings would have judged T1 to T2: time in each
//	                                 status, incidents and alerts per group; writes and sends nothing
//
// Schedule mode serves the same API on EVALUATOR_HTTP_ADDR.
//
// TIME is RFC 3339 (2026-03-01T03:00:00Z) or a date and time in UTC
// (2026-03-01 03:00). Exit status: 0 success, 1 failure, 2 invalid
// configuration or usage.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/evaluator"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError and configuration errors exit with status 2.
type usageError = envconf.UsageError

func exitCode(err error, stderr io.Writer) int { return envconf.ExitCode(err, stderr, "evaluator") }

// options are the command line.
type options struct {
	help           string // a help text to print instead of running
	version        bool
	report         bool
	once           bool
	at, from, to   time.Time
	step           time.Duration
	status         bool
	serve          bool
	group, cluster string
	json, wide     bool
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	if len(args) > 0 && args[0] == "serve" {
		// serve has no flags: each mode of the others has its own command.
		if len(args) == 2 && (args[1] == "--help" || args[1] == "-help" || args[1] == "-h") {
			o.help = helpServe
			return o, nil
		}
		if len(args) > 1 {
			return o, usageError{Err: fmt.Errorf("serve takes no flags or arguments, got %q: it only answers the HTTP API until stopped", strings.Join(args[1:], " "))}
		}
		o.serve = true
		return o, nil
	}
	if len(args) > 0 && args[0] == "report" {
		return parseReport(args[1:])
	}
	if len(args) > 0 && args[0] == "status" {
		return parseStatus(args[1:])
	}
	fs := mainFlags(&o)
	at := fs.Lookup("at").Value.(*timeFlag)
	from := fs.Lookup("from").Value.(*timeFlag)
	to := fs.Lookup("to").Value.(*timeFlag)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = helpMain
			return o, nil
		}
		return o, usageError{Err: fmt.Errorf("%v (evaluator --help lists the commands and flags)", err)}
	}
	if slices.Contains(fs.Args(), "serve") || slices.Contains(fs.Args(), "status") || slices.Contains(fs.Args(), "report") {
		return o, usageError{Err: errors.New("a command (serve, status, report) comes first: `evaluator status --at ...`, not `evaluator --at ... status`")}
	}
	if fs.NArg() > 0 {
		return o, usageError{Err: fmt.Errorf("unexpected arguments: %s (evaluator --help lists the commands and flags)", strings.Join(fs.Args(), " "))}
	}
	if o.version {
		return o, nil
	}
	o.at, o.from, o.to = at.t, from.t, to.t
	backtest := !o.from.IsZero() || !o.to.IsZero() || o.step != 0
	switch {
	case backtest && (o.from.IsZero() || o.to.IsZero() || o.step <= 0):
		return o, usageError{Err: errors.New("a backtest needs --from, --to and a positive --step")}
	case backtest && o.to.Before(o.from):
		return o, usageError{Err: errors.New("--to is before --from")}
	case backtest && (o.once || !o.at.IsZero()):
		return o, usageError{Err: errors.New("--from/--to/--step cannot be combined with --once or --at")}
	case o.once && !o.at.IsZero():
		return o, usageError{Err: errors.New("--once evaluates now; use --at alone for a past instant")}
	case backtest && o.to.Sub(o.from)/o.step > 100000:
		return o, usageError{Err: fmt.Errorf("a backtest of %d steps is too long; use a larger --step", o.to.Sub(o.from)/o.step)}
	}
	return o, nil
}

// Help texts, by command.
const (
	helpMain   = "main"
	helpStatus = "status"
	helpReport = "report"
	helpServe  = "serve"
)

// mainFlags are the flags of the evaluator without a command.
func mainFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("evaluator", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by exitCode
	fs.BoolVar(&o.once, "once", false, "evaluate now, write the statuses, send alerts, and exit")
	fs.Var(&timeFlag{}, "at", "evaluate this past `TIME` and write its statuses; no alerts")
	fs.Var(&timeFlag{}, "from", "backtest: evaluate every --step from this `TIME`, writing the statuses")
	fs.Var(&timeFlag{}, "to", "backtest up to this `TIME` (inclusive)")
	fs.DurationVar(&o.step, "step", 0, "backtest step, e.g. 1m")
	fs.BoolVar(&o.version, "version", false, "print the version and the revision it was built from, and exit")
	return fs
}

// statusFlags are the status command's flags.
func statusFlags(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("evaluator status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.group, "group", "", "only this consumer group")
	fs.StringVar(&o.cluster, "cluster", "", "only this cluster")
	fs.Var(&timeFlag{}, "at", "as of this past `TIME`; default now")
	fs.BoolVar(&o.json, "json", false, "print Burrow's /v3/kafka/(cluster)/consumer/(group)/lag response per group, one per line")
	fs.BoolVar(&o.wide, "wide", false, "print every column: offsets, completeness, consumer id, host and client id")
	return fs
}

// parseStatus reads the status command's flags: status prints and writes
// nothing, so --once, --from, --to and --step are not its flags.
func parseStatus(args []string) (options, error) {
	o := options{status: true}
	fs := statusFlags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = helpStatus
			return o, nil
		}
		return o, usageError{Err: fmt.Errorf("status: %v (evaluator status --help lists its flags)", err)}
	}
	if fs.NArg() > 0 {
		return o, usageError{Err: fmt.Errorf("status: unexpected arguments: %s (evaluator status --help lists its flags)", strings.Join(fs.Args(), " "))}
	}
	if o.json && o.wide {
		return o, usageError{Err: errors.New("status: --wide widens the table, --json prints every field already: give one of them (evaluator status --help lists its flags)")}
	}
	o.at = fs.Lookup("at").Value.(*timeFlag).t
	return o, nil
}

// timeFlag is a flag holding an instant (parseTime's syntax).
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	f.t = t
	return nil
}

// reportFlags are the report command's flags, and where --from and --to go.
func reportFlags(o *options) (fs *flag.FlagSet, from, to *string) {
	fs = flag.NewFlagSet("evaluator report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from = fs.String("from", "", "the report's first `TIME`; required")
	to = fs.String("to", "", "its last `TIME` (inclusive); required")
	fs.DurationVar(&o.step, "step", time.Minute, "time between two evaluations")
	fs.StringVar(&o.group, "group", "", "only this consumer group")
	fs.StringVar(&o.cluster, "cluster", "", "only this cluster")
	fs.BoolVar(&o.json, "json", false, "print one JSON document instead of tables")
	return fs, from, to
}

// parseReport reads the report command's flags.
func parseReport(args []string) (options, error) {
	o := options{report: true}
	fs, from, to := reportFlags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = helpReport
			return o, nil
		}
		return o, usageError{Err: fmt.Errorf("report: %v (evaluator report --help lists its flags)", err)}
	}
	if fs.NArg() > 0 {
		return o, usageError{Err: fmt.Errorf("report: unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	if *from == "" || *to == "" {
		return o, usageError{Err: errors.New("report needs --from and --to")}
	}
	var err error
	if o.from, err = parseTime(*from); err != nil {
		return o, usageError{Err: fmt.Errorf("--from: %w", err)}
	}
	if o.to, err = parseTime(*to); err != nil {
		return o, usageError{Err: fmt.Errorf("--to: %w", err)}
	}
	switch {
	case o.to.Before(o.from):
		return o, usageError{Err: errors.New("report: --to is before --from")}
	case o.step <= 0:
		return o, usageError{Err: fmt.Errorf("report: --step must be positive, got %s", o.step)}
	case o.to.Sub(o.from)/o.step > 100000:
		return o, usageError{Err: fmt.Errorf("a report of %d steps is too long; use a larger --step", o.to.Sub(o.from)/o.step)}
	}
	return o, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-03-01T03:00:00Z) or `2026-03-01 03:00` (UTC)", s)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	if o.help != "" {
		return writeHelp(stdout, o.help)
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, envconf.Version("evaluator"))
		return err
	}
	cfg, err := loadConfig() // validates too
	if err != nil {
		return usageError{Err: err}
	}
	log := envconf.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if o.serve && cfg.HTTPAddr == "" {
		return usageError{Err: fmt.Errorf("serve needs %s: it is empty", vars.Evaluator.HttpAddr)}
	}
	if !o.status && !o.report {
		log.Info("evaluator starting", "config", cfg)
	}
	if o.serve || (!o.status && !o.report && !o.once && o.at.IsZero() && o.from.IsZero()) {
		// The listeners of serve and schedule mode.
		for _, w := range cfg.openWarnings() {
			log.Warn(w, "addr", cfg.HTTPAddr)
		}
	}
	if !o.status && !o.report && !o.serve && o.at.IsZero() && o.from.IsZero() && len(cfg.Sinks()) == 0 {
		log.Info("no alert sink configured: incidents are kept in Elasticsearch and shown on the dashboards, no alert is sent or counted")
	}
	e, err := newEvaluator(cfg, log)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	defer e.Close()
	switch {
	case o.report:
		return e.Report(ctx, evaluator.ReportQuery{From: o.from, To: o.to, Step: o.step, Cluster: o.cluster, Group: o.group, JSON: o.json}, stdout)
	case o.status:
		return e.PrintStatus(ctx, evaluator.StatusQuery{At: o.at, Group: o.group, Cluster: o.cluster, JSON: o.json, Wide: o.wide}, stdout)
	case !o.from.IsZero():
		return unwritten(e, cfg, e.Backtest(ctx, o.from, o.to, o.step))
	case !o.at.IsZero():
		return unwritten(e, cfg, e.Historical(ctx, o.at))
	case o.once:
		return unwritten(e, cfg, e.Live(context.WithoutCancel(ctx)))
	case o.serve:
		return e.ServeAPI(ctx)
	}
	return e.Serve(ctx)
}

// newEvaluator connects to Elasticsearch and builds the evaluator of cfg:
// the history, the status writer and the incident store are that one
// connection's.
func newEvaluator(cfg Config, log *slog.Logger) (*evaluator.Evaluator, error) {
	es, err := esindex.New(esindex.ConnConfig(cfg.Elasticsearch.Conn()), cfg.Elasticsearch.Namespace)
	if err != nil {
		return nil, err
	}
	// Validated by loadConfig: a failure here is a file changed since.
	httpTLS, err := cfg.HTTP.TLS.Config(vars.Evaluator.Http.tlsFiles())
	if err != nil {
		return nil, err
	}
	metricsTLS, err := cfg.Metrics.TLS.Config(vars.Evaluator.Metrics.tlsFiles())
	if err != nil {
		return nil, err
	}
	listener := func(tc *tls.Config) service.ServerOptions {
		return service.ServerOptions{TLS: tc, Metrics: cfg.Metrics.Auth, WriteTimeout: cfg.HTTPWriteTimeout, IdleTimeout: cfg.HTTPIdleTimeout}
	}
	apiOptions := burrowapi.Options{Timeout: cfg.HTTPTimeout, Config: burrowConfig(cfg), Log: log, MaxInFlight: cfg.HTTPMaxInFlight}
	if cfg.HTTP.Auth.Set() {
		apiOptions.Auth = cfg.HTTP.Auth
	}
	settings := evaluator.Settings{
		Rules: cfg.Rules, MaxAge: cfg.MaxAge, NotFoundLookback: cfg.NotFoundLookback, StaleAfter: cfg.StaleAfter, PageSize: cfg.PageSize,
		Shard: cfg.Shard, Timeout: cfg.Timeout, Retention: cfg.Elasticsearch.Retention,
		Alert: notify.Policy{Threshold: cfg.Alert.Threshold, ResendEvery: cfg.Alert.Resend,
			Allow: cfg.Alert.GroupAllow, Deny: cfg.Alert.GroupDeny},
		Namespace: es.Names().Namespace, Schedule: cfg.Schedule, MetricsAddr: cfg.MetricsAddr,
		HTTPAddr: cfg.HTTPAddr, APITimeout: cfg.HTTPTimeout, StateFile: cfg.StateFile,
		HTTPServer: listener(httpTLS), MetricsServer: listener(metricsTLS),
	}
	return evaluator.New(settings, evaluator.Parts{
		History: es, Statuses: es.NewStatusWriter(), Incidents: es.Incidents(), Sinks: cfg.Sinks(), Log: log,
		API: func(src burrowapi.Source) http.Handler {
			return burrowapi.New(src, apiOptions)
		},
	}), nil
}

// burrowConfig is what GET /v3/config shows: the settings that have a
// Burrow name under it (storage.intervals is the window; httpserver the
// API's listener), and lagwatch's own under "lagwatch". No secret is in it.
func burrowConfig(cfg Config) map[string]any {
	return map[string]any{
		"storage":    map[string]any{"intervals": cfg.Rules.WindowSize},
		"httpserver": map[string]any{"address": cfg.HTTPAddr, "timeout": int(cfg.HTTPTimeout.Seconds())},
		"lagwatch": map[string]any{
			"namespace":         cfg.Elasticsearch.Namespace,
			"max-age":           cfg.MaxAge.String(),
			"min-complete":      cfg.Rules.MinComplete,
			"allowed-lag":       cfg.Rules.AllowedLag,
			"notfound-lookback": cfg.NotFoundLookback.String(),
			"stale-after":       staleAfterText(cfg.StaleAfter),
			"retention":         cfg.Elasticsearch.Retention.String(),
		},
	}
}

// unwritten is the outcome of a run that ends the process (--once, --at, a
// backtest): its error, or, when Elasticsearch refused to store what the
// run made, an error that says what is lost with the process and what is
// not. Nothing is lost before that: a refused write is kept in memory (and
// alerts are sent all the same) in case Elasticsearch takes it again
// within the process.
func unwritten(e *evaluator.Evaluator, cfg Config, err error) error {
	if err != nil {
		return logged(err)
	}
	statuses, incidents := e.Unwritten()
	var parts []string
	if statuses > 0 {
		parts = append(parts, fmt.Sprintf("%d status documents were not written (Elasticsearch refused them); "+
			"evaluator --at with the run's instant (\"at\" in its summary line) writes them again", statuses))
	}
	switch {
	case incidents > 0 && cfg.StateFile != "":
		parts = append(parts, fmt.Sprintf("%d incidents whose alert was sent could not be saved; %s keeps them for the next run",
			incidents, vars.Evaluator.StateFile))
	case incidents > 0:
		parts = append(parts, fmt.Sprintf("%d incidents whose alert was sent could not be saved; without %s the next run "+
			"cannot know they were sent, and sends them again", incidents, vars.Evaluator.StateFile))
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}

// logged marks an evaluation's error as reported: the run's summary line
// carries it.
func logged(err error) error {
	if err == nil {
		return nil
	}
	return envconf.Logged{Err: err}
}

// writeHelp prints a command's help: what it does, its flags and, for the
// evaluator itself, its commands and every environment variable (from the
// configuration structs).
func writeHelp(w io.Writer, which string) error {
	var o options
	flags := func(fs *flag.FlagSet) {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	switch which {
	case helpStatus:
		fmt.Fprint(w, `evaluator status prints every group's verdict now (or --at a past instant), as a table in the
spirit of kafka-consumer-groups --describe or, with --json, Burrow's /lag bodies. It writes nothing.
A group asked for with --group that is NOTFOUND exits 1, saying why.
`)
		flags(statusFlags(&o))
		return nil
	case helpReport:
		fmt.Fprint(w, `evaluator report evaluates every --step from --from to --to with the current settings (or
others given in the environment for that run) and prints per group the time spent in each status,
the incidents that would have opened and the alerts that would have been sent. It writes nothing
and sends nothing.
`)
		fs, _, _ := reportFlags(&o)
		flags(fs)
		return nil
	case helpServe:
		_, err := fmt.Fprint(w, `evaluator serve answers Burrow's HTTP API v3, /metrics and /healthz on EVALUATOR_HTTP_ADDR until
SIGINT or SIGTERM: no schedule, no alerts, nothing written. It takes no flags; the environment
below (evaluator --help) configures it.
`)
		return err
	}
	fmt.Fprint(w, `evaluator classifies every consumer group from the history the collector keeps in Elasticsearch,
the way Burrow does, writes the verdicts back and alerts when a group's status changes.

Usage:
  evaluator                    evaluate on EVALUATOR_SCHEDULE until SIGINT or SIGTERM
  evaluator --once             evaluate now, write statuses, send alerts, exit
  evaluator --at TIME          evaluate one past instant, write its statuses (no alerts)
  evaluator --from T1 --to T2 --step D
                               backtest: evaluate every step, write that status history
  evaluator status [flags]     print the verdicts, write nothing (evaluator status --help)
  evaluator report [flags]     how the settings would have judged a span (evaluator report --help)
  evaluator serve              answer the HTTP API alone (evaluator serve --help)
  evaluator --version          print the version and exit
`)
	flags(mainFlags(&o))
	fmt.Fprint(w, "\nEnvironment (the configuration; every variable is optional unless said):\n")
	if err := envconf.WriteVariables(w, "", &evaluatorEnv{}); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, "\nTIME is RFC 3339 (2026-03-01T03:00:00Z) or a date and time in UTC (2026-03-01 03:00).\n"+
		"Exit status: 0 success, 1 failure, 2 invalid configuration or usage.\n")
	return err
}
