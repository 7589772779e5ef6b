// Command evalbench measures the evaluator on a large history: it writes
// -ticks snapshots of -groups groups with -partitions partitions each into a
// fresh namespace of a real Elasticsearch, then runs the evaluator binary once
// at the last tick and reports its wall time, peak RSS, documents read and
// Elasticsearch requests.
//
//	scripts/testenv up
//	go run ./bench/evalbench                      # 2,000 groups x 25 partitions x 20 ticks
//	go run ./bench/evalbench -namespace evalbench1 -seed=false   # re-measure on kept data
//	go run ./bench/evalbench -namespace evalbench1 -seed=false -shards 2   # two evaluators sharing the history
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/lagwatch/lagwatch/bench/internal/benchenv"
	"github.com/lagwatch/lagwatch/bench/internal/benchseed"
	"github.com/lagwatch/lagwatch/internal/peakrss"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

func main() {
	groups := flag.Int("groups", 2000, "consumer groups")
	partitions := flag.Int("partitions", 25, "partitions per group")
	ticks := flag.Int("ticks", 20, "documents per partition (ticks of 30 s)")
	window := flag.Int("window", 10, "EVALUATOR_WINDOW_SIZE")
	ns := flag.String("namespace", fmt.Sprintf("evalbench%d", time.Now().Unix()), "data stream namespace")
	seed := flag.Bool("seed", true, "write the history first")
	lagging := flag.Bool("lagging", false, "every group stuck before the window (time lag from the history), rather than the mix of OK, STOP and WARN")
	evaluator := flag.String("evaluator", "", "measure this evaluator binary rather than one built from ./cmd/evaluator (e.g. an earlier commit's)")
	runs := flag.Int("runs", 3, "evaluator runs")
	shards := flag.Int("shards", 1, "evaluators per run, at once, each its own EVALUATOR_SHARD of this many")
	esURL := flag.String("es", envOr("ELASTICSEARCH_URL", "http://127.0.0.1:9200"), "Elasticsearch URL")
	flag.Parse()
	if err := run(*esURL, *ns, *groups, *partitions, *ticks, *window, *runs, *shards, *seed, *lagging, *evaluator); err != nil {
		log.Fatal(err)
	}
}

// orDash is v, or "-" for a summary without it (an older evaluator's);
// whole numbers print whole.
func orDash(v any) any {
	switch n := v.(type) {
	case nil:
		return "-"
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return v
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// t0 is the first tick's time: evalbench evaluates a fixed past instant.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func run(esURL, ns string, groups, partitions, ticks, window, runs, shards int, seed, lagging bool, bin string) error {
	if shards < 1 {
		return fmt.Errorf("-shards must be at least 1")
	}
	ctx := context.Background()
	es, err := esindex.New(esindex.ConnConfig{URLs: []string{esURL}}, ns)
	if err != nil {
		return err
	}
	docs := groups * partitions * ticks
	if seed {
		start := time.Now()
		if err := benchseed.Write(ctx, es, t0, ticks, groups, partitions, lagging); err != nil {
			return err
		}
		fmt.Printf("seeded %d offsets documents (+%d group documents) in %s into namespace %s\n",
			docs, groups*ticks, time.Since(start).Round(time.Millisecond), ns)
	}

	dir, err := os.MkdirTemp("", "evalbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin, err = benchenv.Program(ctx, bin, dir, "./cmd/evaluator"); err != nil {
		return err
	}
	at := t0.Add(time.Duration(ticks-1) * benchseed.Interval)
	fmt.Printf("\nevaluator --at %s, window %d, %d groups x %d partitions, %d documents stored\n\n",
		at.Format(time.RFC3339), window, groups, partitions, docs)
	if shards > 1 {
		fmt.Printf("%d evaluators at once, EVALUATOR_SHARDS=%d, each with its EVALUATOR_SHARD: the run's wall is the slowest's, its peak RSS each one's\n\n", shards, shards)
	}
	fmt.Println("| run | wall | Elasticsearch's own search time (took) | peak RSS | documents read | pages | Elasticsearch requests | time lag lookups | groups OK / WARN / ERR |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var walls []time.Duration
	var rsss []int64
	for r := 1; r <= runs; r++ {
		results := make([]evalRun, shards)
		done := make(chan struct{})
		for i := range shards {
			go func() {
				defer func() { done <- struct{}{} }()
				env := append(os.Environ(), "ELASTICSEARCH_URL="+esURL, "ELASTICSEARCH_NAMESPACE="+ns,
					fmt.Sprintf("EVALUATOR_WINDOW_SIZE=%d", window), "EVALUATOR_MAX_AGE=1h", "EVALUATOR_METRICS_ADDR=", "LOG_FORMAT=json",
					fmt.Sprintf("EVALUATOR_SHARDS=%d", shards), fmt.Sprintf("EVALUATOR_SHARD=%d", i))
				results[i] = runEvaluator(bin, at, env)
			}()
		}
		for range shards {
			<-done
		}
		var wall time.Duration
		var rss int64
		for i, res := range results {
			if res.err != nil {
				return fmt.Errorf("evaluator (shard %d): %w", i, res.err)
			}
			wall, rss = max(wall, res.wall), max(rss, res.rss)
			sm := res.summary
			label := fmt.Sprint(r)
			if shards > 1 {
				label = fmt.Sprintf("%d, shard %d", r, i)
			}
			fmt.Printf("| %s | %.2f s | %v | %.0f MiB | %v | %v | %v | %v | %v / %v / %v |\n", label, res.wall.Seconds(), orDash(sm["es_search_took"]), float64(res.rss)/1024,
				orDash(sm["documents_read"]), orDash(sm["pages"]), orDash(sm["es_requests"]), orDash(sm["time_lag_lookups"]), orDash(sm["ok"]), orDash(sm["warn"]), orDash(sm["err"]))
		}
		walls, rsss = append(walls, wall), append(rsss, rss)
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	sort.Slice(rsss, func(i, j int) bool { return rsss[i] < rsss[j] })
	fmt.Printf("\nmedian wall %.2f s (target 5 s), median peak RSS %.0f MiB (target 150 MB: 143 MiB)\n",
		walls[len(walls)/2].Seconds(), float64(rsss[len(rsss)/2])/1024)
	return nil
}

// evalRun is one evaluator process's run.
type evalRun struct {
	wall    time.Duration
	rss     int64 // KiB
	summary map[string]any
	err     error
}

// runEvaluator runs `bin --at at` with env and reads its evaluation
// summary line.
func runEvaluator(bin string, at time.Time, env []string) evalRun {
	cmd := exec.Command(bin, "--at", at.Format(time.RFC3339))
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return evalRun{err: err}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return evalRun{err: err}
	}
	// Its own peak: see package peakrss for why not its rusage.
	watch := peakrss.Start(cmd.Process.Pid, 2*time.Millisecond)
	var out evalRun
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "evaluation" {
			out.summary = m
		}
	}
	err = cmd.Wait()
	out.wall = time.Since(start)
	out.rss = watch.Stop() >> 10
	switch {
	case err != nil:
		out.err = fmt.Errorf("%v\n%s", err, strings.Join(lines, "\n"))
	case out.summary == nil:
		out.err = fmt.Errorf("no evaluation summary in the evaluator's log:\n%s", strings.Join(lines, "\n"))
	}
	return out
}
