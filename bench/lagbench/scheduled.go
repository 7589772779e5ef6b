package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// scheduledTick is one tick of a collector running on its schedule: what
// its tick line says, with the transaction reads (Fetch requests) that only
// a second tick of the same process can make.
type scheduledTick struct {
	Tick     int
	Duration time.Duration
	Requests int64
	ByType   map[string]int64
	TxnReads int
	Err      string
}

// runScheduled runs the collector on a schedule of one tick every `every`
// until it has logged n tick lines, then stops it with SIGTERM. Unlike
// --once, the process keeps its connections and what it remembers between
// ticks, as in production.
func runScheduled(ctx context.Context, bin string, env tickEnv, n int, every time.Duration) ([]scheduledTick, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n+2)*(every+env.TickTimeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(env.environ(), "COLLECTOR_SCHEDULE=@every "+every.String())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the collector: %w", err)
	}
	var out []scheduledTick
	var tail []string
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for len(out) < n && sc.Scan() {
		tail = append(tail, sc.Text())
		if len(tail) > 20 {
			tail = tail[1:]
		}
		var l tickLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || !tickMessages[l.Msg] {
			continue
		}
		t := scheduledTick{Tick: len(out) + 1, Requests: l.KafkaRequests, ByType: l.KafkaRequestsByType, TxnReads: l.TxnReads, Err: l.Err}
		t.Duration, _ = time.ParseDuration(l.Duration)
		out = append(out, t)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	werr := cmd.Wait()
	if len(out) < n {
		return out, fmt.Errorf("the scheduled collector logged %d of %d ticks (%v); log tail:\n%s", len(out), n, werr, strings.Join(tail, "\n"))
	}
	return out, nil
}
