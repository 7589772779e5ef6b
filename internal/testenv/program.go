package testenv

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BuildProgram builds the main package in dir (as `go build` names it,
// e.g. "." or "../collector") into the test's temporary directory and
// returns the binary's path.
func BuildProgram(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(abs))
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// Terminate sends SIGTERM, waits (within the given time) for the line that
// says the program stopped, and fails the test unless it then exits 0.
func (p *Process) Terminate(t testing.TB, stopped string, within time.Duration) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, stopped, within)
	if err := p.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
}
