// Command apibench measures Burrow's HTTP API as `evaluator serve` answers it
// on a large history: it writes -ticks ticks of -groups groups with
// -partitions partitions each into a fresh namespace of a real
// Elasticsearch, the last tick at the present, builds the evaluator, starts
// `evaluator serve` on a free port and measures
//
//   - the walk Telegraf's inputs.burrow makes every interval: /v3/kafka, then
//     per cluster /consumer and /topic, every /consumer/{group}/lag and every
//     /topic/{topic}, at most -concurrency requests at a time (Telegraf's
//     concurrent_connections, 20 by default): its wall time;
//   - /lag latency, p50 and p99, over -n requests one at a time, and over the
//     walk's /lag requests (made -concurrency at a time);
//   - the server's peak RSS (VmHWM) over all of it.
//
// With -trace-es the server talks to Elasticsearch through a proxy in this
// program that counts the requests one sequential /lag makes and their time:
// the floor under that request's latency.
//
//	scripts/testenv up
//	eval "$(scripts/testenv env)"
//	go run ./bench/apibench                                    # 2,000 groups x 25 partitions x 20 ticks
//	go run ./bench/apibench -namespace apibench1 -seed=false   # re-measure on kept data
//	go run ./bench/apibench -namespace apibench1 -seed=false -evaluator /tmp/old/evaluator   # another build
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lagwatch/lagwatch/bench/internal/benchenv"
	"github.com/lagwatch/lagwatch/bench/internal/benchseed"
	"github.com/lagwatch/lagwatch/internal/peakrss"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

type options struct {
	esURL, ns            string
	groups, partitions   int
	ticks, window        int
	seed, newTick        bool
	runs, n, concurrency int
	traceES              bool
	serverLog, evaluator string
	reqTimeout           time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.groups, "groups", 2000, "consumer groups")
	flag.IntVar(&o.partitions, "partitions", 25, "partitions per group")
	flag.IntVar(&o.ticks, "ticks", 20, "documents per partition (ticks of 30 s)")
	flag.IntVar(&o.window, "window", 10, "EVALUATOR_WINDOW_SIZE")
	flag.StringVar(&o.ns, "namespace", fmt.Sprintf("apibench%d", time.Now().Unix()), "data stream namespace")
	flag.BoolVar(&o.seed, "seed", true, "write the history first (its last tick at the present)")
	flag.IntVar(&o.runs, "runs", 3, "Telegraf walks")
	flag.IntVar(&o.n, "n", 200, "sequential /lag requests")
	flag.BoolVar(&o.newTick, "new-tick", true, "at the end, write one more tick and measure how soon the present shows it, with a walk meanwhile")
	flag.IntVar(&o.concurrency, "concurrency", 20, "requests in flight during a walk (Telegraf's concurrent_connections default)")
	flag.BoolVar(&o.traceES, "trace-es", false, "count the Elasticsearch requests of one /lag through a proxy")
	flag.StringVar(&o.serverLog, "server-log", "", "write the server's log to this file")
	flag.StringVar(&o.evaluator, "evaluator", "", "measure this evaluator binary rather than one built from ./cmd/evaluator (e.g. an earlier commit's)")
	flag.DurationVar(&o.reqTimeout, "timeout", 5*time.Second, "client timeout per request (Telegraf's response_timeout default)")
	flag.StringVar(&o.esURL, "es", envOr("ELASTICSEARCH_URL", "http://127.0.0.1:9200"), "Elasticsearch URL")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		log.Fatal(err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, o options) error {
	es, err := esindex.New(esindex.ConnConfig{URLs: []string{o.esURL}}, o.ns)
	if err != nil {
		return err
	}
	docs := o.groups * o.partitions * o.ticks
	var last time.Time
	if o.seed {
		last = time.Now().UTC().Truncate(benchseed.Interval)
		t0 := last.Add(-time.Duration(o.ticks-1) * benchseed.Interval)
		start := time.Now()
		if err := benchseed.Write(ctx, es, t0, o.ticks, o.groups, o.partitions, false); err != nil {
			return err
		}
		fmt.Printf("seeded %d offsets documents (+%d group documents) in %s into namespace %s\n",
			docs, o.groups*o.ticks, time.Since(start).Round(time.Millisecond), o.ns)
	} else {
		// Kept data: its latest tick, so that the server's window reaches it.
		_, last, err = es.Topics(ctx, esindex.TopicQuery{At: time.Now(), Lookback: 365 * 24 * time.Hour, Cluster: benchseed.Cluster})
		if err != nil {
			return err
		}
		if last.IsZero() {
			return fmt.Errorf("namespace %s has no tick of cluster %q in the last year", o.ns, benchseed.Cluster)
		}
	}
	// Fresh answers (no ?at=) are evaluated at the present: the window must
	// reach back to the first of its ticks, however old the data is.
	maxAge := time.Since(last) + time.Duration(o.window)*benchseed.Interval + 10*time.Minute
	maxAge = max(maxAge, time.Hour).Round(time.Minute)

	dir, err := os.MkdirTemp("", "apibench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := benchenv.Program(context.Background(), o.evaluator, dir, "./cmd/evaluator")
	if err != nil {
		return err
	}

	serverES := o.esURL
	var tr *esTrace
	if o.traceES {
		tr, serverES, err = startTrace(o.esURL)
		if err != nil {
			return err
		}
		defer tr.close()
	}
	srv, err := startServer(bin, serverES, o, maxAge, dir)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("\n`evaluator serve` on %s: namespace %s, %d groups x %d partitions, %d documents stored, window %d, max age %s, latest tick %s\n",
		srv.base, o.ns, o.groups, o.partitions, docs, o.window, maxAge, last.Format(time.RFC3339))
	fmt.Printf("GOMAXPROCS %d, load average %s at the start\n\n", runtime.GOMAXPROCS(0), loadAverage())

	cl := &client{base: srv.base, http: &http.Client{Timeout: o.reqTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}}}

	// A load balancer sends requests once /burrow/admin/ready says READY:
	// the server has read the present window into memory by then.
	ready, err := srv.awaitReady(ctx, 5*time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("/burrow/admin/ready answered READY %.2f s after the process started (the present window read into memory)\n\n", ready.Seconds())

	// One sequential pass first, so that the walks do not measure a cold
	// Elasticsearch cache alone.
	groups, err := cl.list(ctx, "/v3/kafka/"+benchseed.Cluster+"/consumer", "consumers")
	if err != nil {
		return err
	}
	if len(groups) != o.groups {
		return fmt.Errorf("/consumer lists %d groups, want %d", len(groups), o.groups)
	}

	fmt.Println("| walk | wall | requests | errors | /lag p50 | /lag p99 | /lag max | /topic p50 | load average |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var walls []time.Duration
	var walkLag []time.Duration
	for r := 1; r <= o.runs; r++ {
		w, err := cl.walk(ctx, o.concurrency)
		if err != nil {
			return err
		}
		walls = append(walls, w.wall)
		walkLag = append(walkLag, w.lat["lag"]...)
		fmt.Printf("| %d | %.2f s | %d | %d | %s | %s | %s | %s | %s |\n", r, w.wall.Seconds(), w.requests, w.errors,
			ms(pct(w.lat["lag"], 50)), ms(pct(w.lat["lag"], 99)), ms(pct(w.lat["lag"], 100)), ms(pct(w.lat["topic"], 50)), loadAverage())
		if w.errors > 0 {
			fmt.Printf("\nfirst error of walk %d: %s\n\n", r, w.firstErr)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	var seq []time.Duration
	for range o.n {
		g := groups[rng.IntN(len(groups))]
		d, err := cl.get(ctx, "/v3/kafka/"+benchseed.Cluster+"/consumer/"+url.PathEscape(g)+"/lag")
		if err != nil {
			return err
		}
		seq = append(seq, d)
	}
	var tickLine string
	if o.newTick {
		if tickLine, err = newTick(ctx, es, cl, o, last, groups[0]); err != nil {
			return err
		}
	}
	rss := srv.watch.Stop()
	srv.watch = nil

	fmt.Printf("\n| /lag | requests | p50 | p99 | max |\n|---|---|---|---|---|\n")
	fmt.Printf("| one at a time | %d | %s | %s | %s |\n", len(seq), ms(pct(seq, 50)), ms(pct(seq, 99)), ms(pct(seq, 100)))
	fmt.Printf("| during the walks (%d in flight) | %d | %s | %s | %s |\n", o.concurrency, len(walkLag), ms(pct(walkLag, 50)), ms(pct(walkLag, 99)), ms(pct(walkLag, 100)))

	if tr != nil {
		tr.reset()
		const probes = 20
		for i := range probes {
			if _, err := cl.get(ctx, "/v3/kafka/"+benchseed.Cluster+"/consumer/"+url.PathEscape(groups[i*len(groups)/probes])+"/lag"); err != nil {
				return err
			}
		}
		fmt.Printf("\nElasticsearch requests of one /lag (mean over %d, one at a time, through the proxy):\n\n", probes)
		tr.report(probes)
	}

	if tickLine != "" {
		fmt.Printf("\n%s\n", tickLine)
	}

	slices.Sort(walls)
	fmt.Printf("\nmedian walk %.2f s (target 5 s), /lag p99 %s one at a time and %s during the walks (target 50 ms), server peak RSS %.0f MiB (target 150 MB), load average %s at the end\n",
		walls[len(walls)/2].Seconds(), ms(pct(seq, 99)), ms(pct(walkLag, 99)), float64(rss)/(1<<20), loadAverage())
	return nil
}

// newTick writes one more tick after last, the next the seed would have
// written, and measures how long after it is due and searchable the
// present answers (a /lag of group) show it, with a Telegraf walk running
// from that moment.
func newTick(ctx context.Context, es *esindex.Client, cl *client, o options, last time.Time, group string) (string, error) {
	t0 := last.Add(-time.Duration(o.ticks-1) * benchseed.Interval)
	snap := benchseed.Snapshot(t0, o.ticks, o.groups, o.partitions, false)
	w, err := es.NewWriter(esindex.WriterOptions{})
	if err != nil {
		return "", err
	}
	if _, err := w.Install(ctx); err != nil {
		return "", err
	}
	start := time.Now()
	if _, err := w.Write(ctx, snap); err != nil {
		return "", fmt.Errorf("write the new tick: %w", err)
	}
	if err := es.Refresh(ctx); err != nil {
		return "", err
	}
	written := time.Since(start)
	// The server reads ticks up to the present: one in the future is due
	// at its time.
	if d := time.Until(snap.Time); d > 0 {
		time.Sleep(d)
	}
	due := time.Now()
	walked := make(chan walkResult, 1)
	go func() {
		w, _ := cl.walk(ctx, o.concurrency)
		walked <- w
	}()
	path := "/v3/kafka/" + benchseed.Cluster + "/consumer/" + url.PathEscape(group) + "/lag"
	var seen time.Duration
	for {
		body, _, err := cl.fetch(ctx, path)
		if err != nil {
			return "", err
		}
		var lag struct {
			Status struct {
				Partitions []struct {
					End struct {
						ObservedAt int64 `json:"observedAt"`
					} `json:"end"`
				} `json:"partitions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(body, &lag); err != nil {
			return "", err
		}
		if ps := lag.Status.Partitions; len(ps) > 0 && ps[0].End.ObservedAt == snap.Time.UnixMilli() {
			seen = time.Since(due)
			break
		}
		if time.Since(due) > 2*time.Minute {
			return "", fmt.Errorf("the new tick did not show in %s within 2 minutes", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wk := <-walked
	return fmt.Sprintf("a new tick (%d documents, written in %.2f s) showed in /lag %.2f s after it was due and searchable; "+
		"a walk started at that moment took %.2f s, /lag p99 %s, %d errors",
		o.groups*o.partitions, written.Seconds(), seen.Seconds(), wk.wall.Seconds(), ms(pct(wk.lat["lag"], 99)), wk.errors), nil
}

// server is the evaluator serving the API.
type server struct {
	started time.Time
	cmd     *exec.Cmd
	base    string
	watch   *peakrss.Watch
	done    chan error
}

func startServer(bin, esURL string, o options, maxAge time.Duration, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "ELASTICSEARCH_URL="+esURL, "ELASTICSEARCH_NAMESPACE="+o.ns,
		fmt.Sprintf("EVALUATOR_WINDOW_SIZE=%d", o.window), "EVALUATOR_MAX_AGE="+maxAge.String(),
		"EVALUATOR_NOTFOUND_LOOKBACK="+max(maxAge, 24*time.Hour).String(),
		"EVALUATOR_HTTP_ADDR="+addr, "EVALUATOR_METRICS_ADDR=", "LOG_FORMAT=json")
	logPath := o.serverLog
	if logPath == "" {
		logPath = filepath.Join(dir, "server.log")
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{started: time.Now(), cmd: cmd, base: "http://" + addr, watch: peakrss.Start(cmd.Process.Pid, 2*time.Millisecond), done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("evaluator serve exited (%v):\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("evaluator serve: no healthy /healthz at %s within 30 s", s.base)
		}
	}
}

// awaitReady polls /burrow/admin/ready until it answers 200, and says how
// long after the start that was.
func (s *server) awaitReady(ctx context.Context, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	for {
		res, err := http.Get(s.base + "/burrow/admin/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(s.started), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("evaluator serve: /burrow/admin/ready not READY within %s", limit)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *server) stop() {
	if s.watch != nil {
		s.watch.Stop()
		s.watch = nil
	}
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// client makes the API requests.
type client struct {
	base string
	http *http.Client
}

// get fetches path and reads the whole body; anything but 200 is an error,
// as Telegraf counts it.
func (c *client) get(ctx context.Context, path string) (time.Duration, error) {
	_, d, err := c.fetch(ctx, path)
	return d, err
}

func (c *client) fetch(ctx context.Context, path string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	res, err := c.http.Do(req)
	if err != nil {
		return nil, time.Since(start), fmt.Errorf("GET %s: %w", path, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(start)
	if err != nil {
		return nil, d, fmt.Errorf("GET %s: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		return b, d, fmt.Errorf("GET %s: %s: %.300s", path, res.Status, b)
	}
	return b, d, nil
}

// list fetches path and returns the string list under field.
func (c *client) list(ctx context.Context, path, field string) ([]string, error) {
	b, _, err := c.fetch(ctx, path)
	if err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	var out []string
	if err := json.Unmarshal(body[field], &out); err != nil {
		return nil, fmt.Errorf("GET %s: %s: %w", path, field, err)
	}
	return out, nil
}

// walkResult is one Telegraf walk.
type walkResult struct {
	wall             time.Duration
	requests, errors int
	firstErr         error
	lat              map[string][]time.Duration // "lag", "topic"
}

// walk makes Telegraf's requests in Telegraf's order (plugins/inputs/burrow,
// gatherServer): the cluster list, then per cluster the topic list and the
// group list side by side, each followed by its topics' or groups' requests
// with at most concurrency in flight (one guard shared by both).
func (c *client) walk(ctx context.Context, concurrency int) (walkResult, error) {
	res := walkResult{lat: map[string][]time.Duration{}}
	var mu sync.Mutex
	var requests, errs atomic.Int64
	record := func(kind string, d time.Duration, err error) {
		requests.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs.Add(1)
			if res.firstErr == nil {
				res.firstErr = err
			}
			return
		}
		if kind != "" {
			res.lat[kind] = append(res.lat[kind], d)
		}
	}
	start := time.Now()
	clusters, err := c.list(ctx, "/v3/kafka", "clusters")
	requests.Add(1)
	if err != nil {
		return res, err
	}
	guard := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	fan := func(listPath, field, kind string, item func(string) string) {
		defer wg.Done()
		items, err := c.list(ctx, listPath, field)
		record("", 0, err)
		var iwg sync.WaitGroup
		for _, it := range items {
			guard <- struct{}{}
			iwg.Add(1)
			go func() {
				defer func() { <-guard; iwg.Done() }()
				d, err := c.get(ctx, item(it))
				record(kind, d, err)
			}()
		}
		iwg.Wait()
	}
	for _, cl := range clusters {
		base := "/v3/kafka/" + url.PathEscape(cl)
		wg.Add(2)
		go fan(base+"/topic", "topics", "topic", func(t string) string { return base + "/topic/" + url.PathEscape(t) })
		go fan(base+"/consumer", "consumers", "lag", func(g string) string { return base + "/consumer/" + url.PathEscape(g) + "/lag" })
	}
	wg.Wait()
	res.wall = time.Since(start)
	res.requests, res.errors = int(requests.Load()), int(errs.Load())
	return res, nil
}

// pct is the p-th percentile of ds (nearest rank); p 100 is the maximum.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// esTrace is a reverse proxy in front of Elasticsearch that times each
// request by kind (the path's last _-prefixed element, and the aggregation
// or operation it is).
type esTrace struct {
	srv *http.Server
	mu  sync.Mutex
	by  map[string]*traceStat
}

type traceStat struct {
	n     int
	total time.Duration
}

func startTrace(esURL string) (*esTrace, string, error) {
	target, err := url.Parse(esURL)
	if err != nil {
		return nil, "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	t := &esTrace{by: map[string]*traceStat{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := traceKind(r)
		start := time.Now()
		proxy.ServeHTTP(w, r)
		t.add(kind, time.Since(start))
	})}
	go func() { _ = t.srv.Serve(l) }()
	return t, "http://" + l.Addr().String(), nil
}

// traceKind names a request by its method and path, without the index,
// and a search by what it asks for (esindex's aggregation names).
func traceKind(r *http.Request) string {
	p := r.URL.Path
	if i := strings.LastIndex(p, "/_"); i >= 0 {
		p = p[i+1:]
	}
	kind := r.Method + " " + p
	if p != "_search" || r.Body == nil {
		return kind
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return kind
	}
	for _, k := range []struct{ has, what string }{
		{`"pit":`, "window page"},
		{`"ticks":{"terms"`, "tick times"},
		{`lagwatch.group.partitions`, "window groups"},
		{`"g":{"composite"`, "known groups"},
		{`"c":{"terms"`, "known clusters"},
		{`"k":{"composite"`, "topic buckets"},
		{`"w":{"composite"`, "window page"},
	} {
		if bytes.Contains(b, []byte(k.has)) {
			return kind + " (" + k.what + ")"
		}
	}
	return kind
}

func (t *esTrace) add(kind string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.by[kind]
	if s == nil {
		s = &traceStat{}
		t.by[kind] = s
	}
	s.n++
	s.total += d
}

func (t *esTrace) reset() {
	t.mu.Lock()
	t.by = map[string]*traceStat{}
	t.mu.Unlock()
}

func (t *esTrace) report(probes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kinds := make([]string, 0, len(t.by))
	for k := range t.by {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var n int
	var total time.Duration
	fmt.Println("| request | per /lag | time per /lag |")
	fmt.Println("|---|---|---|")
	for _, k := range kinds {
		s := t.by[k]
		n += s.n
		total += s.total
		fmt.Printf("| %s | %.1f | %s |\n", k, float64(s.n)/float64(probes), ms(s.total/time.Duration(probes)))
	}
	fmt.Printf("| all | %.1f | %s |\n", float64(n)/float64(probes), ms(total/time.Duration(probes)))
}

func (t *esTrace) close() { _ = t.srv.Close() }

func loadAverage() string {
	if l := benchenv.LoadAverage(" "); l != "" {
		return l
	}
	return "?"
}
