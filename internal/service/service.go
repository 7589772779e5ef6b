// Package service is the shell the programs share in schedule mode: a cron
// runner for one job, the HTTP listener for /metrics and /healthz (and an
// API next to them), and the outcome of the last run that /healthz reports.
//
// It owns no Kafka or Elasticsearch client and must not import one, nor any
// package that does: the programs hand it a job, a registry and a noun.
package service

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"
)

// Schedule runs one job on a cron schedule, never two runs at once: a run
// due while the previous one is still going is skipped.
//
// A run that panics does not crash the program and does not stop the
// schedule: the panic is logged at error level with its stack (cron's own
// Recover would log it only through the debug-level logger), and the next
// run happens on time.
type Schedule struct {
	sched cron.Schedule
	log   *slog.Logger
	cron  *cron.Cron
}

// NewSchedule parses spec with envconf.ScheduleParser (five fields, an
// optional leading seconds field, or a descriptor such as @every 30s). The
// error is the parser's; the caller names the variable that held spec.
func NewSchedule(spec string, log *slog.Logger) (*Schedule, error) {
	sched, err := envconf.ScheduleParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	return &Schedule{sched: sched, log: log}, nil
}

// Start schedules job and returns at once. Each run gets a context that
// carries ctx's values but is not cancelled with it: a signal ends the
// schedule, not the run in flight, which finishes within its own timeout.
// Start is called once.
func (s *Schedule) Start(ctx context.Context, job func(context.Context)) {
	logger := cron.VerbosePrintfLogger(slogPrintf{s.log})
	s.cron = cron.New(cron.WithChain(cron.SkipIfStillRunning(logger)))
	runCtx := context.WithoutCancel(ctx)
	s.cron.Schedule(s.sched, cron.FuncJob(func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("scheduled run panicked; the next one runs on schedule", "err", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}()
		job(context.WithValue(runCtx, plannedKey{}, Planned(s.sched, time.Now())))
	}))
	s.cron.Start()
}

type plannedKey struct{}

// Planned is the instant a run that starts at now was scheduled for: the
// schedule's activation in the second before now, whatever the start-up
// delay of this process, so that processes on one schedule aligned to the
// clock (a cron spec such as "*/30 * * * * *") agree on it to the
// millisecond. A schedule not aligned to the clock (@every 30s counts from
// each process's start) has no such activation: the run's own start.
func Planned(sched cron.Schedule, now time.Time) time.Time {
	if p := sched.Next(now.Add(-time.Second)); !p.After(now) {
		return p
	}
	return now
}

// PlannedAt is the instant the scheduled run of ctx was planned for
// (Planned); false outside a scheduled run.
func PlannedAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(plannedKey{}).(time.Time)
	return t, ok
}

// Stop starts no further run and waits for the run in flight, if any.
func (s *Schedule) Stop() {
	if s.cron == nil {
		return
	}
	<-s.cron.Stop().Done()
}

// slogPrintf sends cron's own messages (each scheduled and skipped run) to
// the logger at debug level.
type slogPrintf struct{ log *slog.Logger }

func (s slogPrintf) Printf(format string, args ...any) { s.log.Debug(fmt.Sprintf(format, args...)) }

// NewRegistry returns a Prometheus registry holding cs and the Go runtime
// and process collectors. It panics when cs collide, like MustRegister: that
// is a programming error, found by the first test that builds the metrics.
func NewRegistry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// LastRun is the outcome of the latest run; it answers /healthz. Set Noun
// (and OKNamesRun) before use; the zero time means no run yet. Safe for
// concurrent use.
type LastRun struct {
	// Noun names one run in the answers: "last <Noun> at <time> failed: <err>".
	Noun string
	// OKNamesRun makes a healthy answer name the last run: "ok: last <Noun>
	// at <time>", or "ok: no <Noun> yet" before the first. Without it a
	// healthy answer is "ok".
	OKNamesRun bool

	mu  sync.Mutex
	at  time.Time
	err error
}

// Record stores the outcome of the run that started at at.
func (l *LastRun) Record(at time.Time, err error) {
	l.mu.Lock()
	l.at, l.err = at, err
	l.mu.Unlock()
}

// Last returns what Record stored last: the zero time and nil before any.
func (l *LastRun) Last() (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.at, l.err
}

// ServeHTTP answers 503 when the last run failed, 200 otherwise (before the
// first run too). Times are RFC 3339 in the run's own location.
func (l *LastRun) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	at, err := l.Last()
	switch {
	case err != nil:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "last %s at %s failed: %v\n", l.Noun, at.Format(time.RFC3339), err)
	case !l.OKNamesRun:
		fmt.Fprintln(w, "ok")
	case at.IsZero():
		fmt.Fprintf(w, "ok: no %s yet\n", l.Noun)
	default:
		fmt.Fprintf(w, "ok: last %s at %s\n", l.Noun, at.Format(time.RFC3339))
	}
}

// Server serves /metrics and /healthz, and whatever else it was given.
type Server struct {
	srv  *http.Server
	addr net.Addr
}

// shutdownTimeout bounds Close: requests still open after it are cut.
const shutdownTimeout = 5 * time.Second

// The time limits of every listener. Reading a request (its headers, a
// TLS handshake included, then any body) has readHeaderTimeout and
// readTimeout: the API and /metrics take no body worth waiting for.
// Writing an answer and keeping an idle connection open take
// ServerOptions' limits, DefaultWriteTimeout and DefaultIdleTimeout unless
// given.
const (
	readHeaderTimeout   = 5 * time.Second
	readTimeout         = 10 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultIdleTimeout  = 2 * time.Minute
	// maxHeaderBytes bounds the request line and headers: a longer one is
	// answered 431 before any handler runs. Go's default is 1 MiB.
	maxHeaderBytes = 64 << 10
)

// ServerOptions say how a listener lets clients in. The zero value serves
// plain HTTP to anyone, with the default time limits.
type ServerOptions struct {
	// TLS, when not nil, serves HTTPS only. With ClientAuth set to
	// tls.RequireAndVerifyClientCert (and ClientCAs), a client without a
	// certificate of those CAs fails the handshake.
	TLS *tls.Config
	// Metrics are the credentials /metrics asks for; zero leaves it open.
	// /healthz is always open: probes carry no credentials.
	Metrics Credentials
	// WriteTimeout bounds the time from the end of reading a request to
	// the end of writing its answer; IdleTimeout how long a kept-alive
	// connection waits for its next request. 0 takes the default.
	WriteTimeout, IdleTimeout time.Duration
}

// Listen listens on addr and serves, in the background, /metrics from reg
// and /healthz from health, over plain HTTP to anyone. The listen error
// names envVar, the variable that gave addr. A listener that stops on its
// own is logged; Close stops it.
func Listen(addr, envVar string, reg *prometheus.Registry, health http.Handler, log *slog.Logger) (*Server, error) {
	return ListenWith(addr, envVar, reg, health, nil, ServerOptions{}, log)
}

// ListenWith is Listen with rest, when not nil, answering every path other
// than /metrics and /healthz (an API mounted next to them, which checks
// its own clients), and with o's TLS, credentials and time limits.
func ListenWith(addr, envVar string, reg *prometheus.Registry, health, rest http.Handler, o ServerOptions, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", envVar, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", o.Metrics.Guard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.Handle("/healthz", health)
	if rest != nil {
		mux.Handle("/", rest)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: cmp.Or(o.WriteTimeout, DefaultWriteTimeout), IdleTimeout: cmp.Or(o.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes: maxHeaderBytes,
		// Failed handshakes and malformed requests are the client's
		// business: at debug level, so that a scan does not flood the log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	s := &Server{srv: srv, addr: ln.Addr()}
	serve := func() error { return srv.Serve(ln) }
	if o.TLS != nil {
		srv.TLSConfig = o.TLS
		serve = func() error { return srv.ServeTLS(ln, "", "") } // the certificate is in o.TLS
	}
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener stopped", "addr", addr, "err", err)
		}
	}()
	return s, nil
}

// Addr is the address listened on (the port chosen when addr's was 0).
func (s *Server) Addr() net.Addr { return s.addr }

// Close shuts the server down, waiting up to five seconds for the requests
// in flight. A nil Server (no listener configured) is a no-op.
func (s *Server) Close() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
