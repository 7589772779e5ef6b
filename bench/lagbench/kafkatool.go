package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/lagwatch/lagwatch/bench/internal/brokerstats"
)

// toolResult is one run of Kafka's consumer-groups tool.
type toolResult struct {
	Label string
	Wall  time.Duration
	// Rows counts the partition rows of the benchmark's groups in its
	// output: the tool described everything when it equals the layout's
	// group-partitions.
	Rows int
	// Lines counts every line of its standard output; Stderr keeps the end
	// of its standard error.
	Lines  int
	Stderr string
	MaxRSS int64
	Err    error
	// Broker is what the broker counted while the tool ran, nil when the
	// broker's counts are not available; BrokerErr says why a snapshot
	// failed.
	Broker    brokerstats.Counts
	BrokerErr error
}

// runKafkaTool runs the tool with args against brokers and counts the rows
// of the benchmark's groups (lines that start with groupPrefix).
func runKafkaTool(ctx context.Context, tool, brokers, groupPrefix, label string, args []string) toolResult {
	r := toolResult{Label: label}
	cmd := exec.CommandContext(ctx, tool, append([]string{"--bootstrap-server", brokers}, args...)...)
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+brokers)
	rc := &rowCounter{prefix: []byte(groupPrefix)}
	var stderr tailBuffer
	cmd.Stdout, cmd.Stderr = rc, &stderr
	var err error
	r.Wall, r.MaxRSS, err = runMeasured(cmd)
	rc.flush()
	r.Rows, r.Lines, r.Stderr = rc.rows, rc.lines, strings.TrimSpace(stderr.String())
	if err != nil {
		r.Err = fmt.Errorf("%s: %w: %s", tool, err, strings.TrimSpace(stderr.String()))
	}
	return r
}

// kafkaVersion asks the tool for Kafka's version.
func kafkaVersion(ctx context.Context, tool string) string {
	out, err := exec.CommandContext(ctx, tool, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// rowCounter counts lines that start with prefix, without keeping the
// output.
type rowCounter struct {
	prefix []byte
	line   []byte
	rows   int
	lines  int
}

func (c *rowCounter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.line = append(c.line, b...)
			break
		}
		c.line = append(c.line, b[:i]...)
		c.flush()
		b = b[i+1:]
	}
	return n, nil
}

func (c *rowCounter) flush() {
	if len(c.line) > 0 {
		c.lines++
	}
	if bytes.HasPrefix(bytes.TrimLeft(c.line, " "), c.prefix) {
		c.rows++
	}
	c.line = c.line[:0]
}

// tailBuffer keeps the first and the last 2 KiB written to it: the tool's
// reason to stop comes first, and its last words last.
type tailBuffer struct {
	head, tail []byte
	cut        bool // bytes between head and tail were dropped
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := 2048 - len(t.head); room > 0 {
		k := min(room, len(p))
		t.head = append(t.head, p[:k]...)
		p = p[k:]
	}
	t.tail = append(t.tail, p...)
	if len(t.tail) > 2048 {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-2048:]...)
		t.cut = true
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	if !t.cut {
		return string(t.head) + string(t.tail)
	}
	return string(t.head) + "\n[...]\n" + string(t.tail)
}
