package testenv

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Process is a program under test whose standard error is read line by line.
type Process struct {
	Cmd   *exec.Cmd
	lines chan string
	log   []string
}

// StartProcess starts cmd, killing it when the test ends.
func StartProcess(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	p := &Process{Cmd: cmd, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

// WaitFor reads standard error until a line contains substr, and fails the
// test when the process ends first or within passes.
func (p *Process) WaitFor(t testing.TB, substr string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited before logging %q:\n%s", p.Cmd.Path, substr, strings.Join(p.log, "\n"))
			}
			p.log = append(p.log, l)
			if strings.Contains(l, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q within %s:\n%s", substr, within, strings.Join(p.log, "\n"))
		}
	}
}

// Wait reads standard error to its end and waits for the process to exit.
func (p *Process) Wait() error {
	for l := range p.lines {
		p.log = append(p.log, l)
	}
	return p.Cmd.Wait()
}
