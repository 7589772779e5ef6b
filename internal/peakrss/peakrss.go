// Package peakrss measures the peak resident set size of a child process on
// Linux, from VmHWM in /proc/<pid>/status, for the benchmarks.
//
// A child's own rusage (ru_maxrss from wait4) is not its peak on Linux: at
// exec the kernel folds the high-water mark of the image being replaced into
// the new process's record, and Go starts children with vfork semantics, so
// that image is the spawner's. A benchmark that spawns the program it
// measures after building up memory of its own would report its own peak.
// VmHWM belongs to the program image and starts from zero at exec.
//
// It imports nothing of lagwatch.
package peakrss

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Watch polls one process's VmHWM until Stop.
type Watch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// Start polls the VmHWM of process pid every interval (and once at once).
// The last polls before the process exits may miss growth in its last
// interval; VmHWM is a high-water mark, so nothing earlier is missed.
func Start(pid int, every time.Duration) *Watch {
	w := &Watch{stop: make(chan struct{}), done: make(chan struct{})}
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if n, err := VmHWM(path); err == nil && n > w.peak.Load() {
				w.peak.Store(n)
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// Stop ends the polling and returns the highest VmHWM seen, in bytes: 0 when
// none could be read (no /proc, or the process ended first).
func (w *Watch) Stop() int64 {
	close(w.stop)
	<-w.done
	return w.peak.Load()
}

// VmHWM reads the VmHWM line of a /proc/<pid>/status file, in bytes. A
// process that has exited but is not yet reaped has no such line.
func VmHWM(statusPath string) (int64, error) {
	b, err := os.ReadFile(statusPath)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%s: VmHWM line %q", statusPath, sc.Text())
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: VmHWM: %w", statusPath, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%s: no VmHWM line", statusPath)
}
