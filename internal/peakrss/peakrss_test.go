package peakrss

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestChildPeakIsItsOwn holds 256 MiB, touched, then starts a small child:
// its rusage claims the spawner's peak, while the watch sees the child's
// own few MiB.
func TestChildPeakIsItsOwn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	big := make([]byte, 256<<20)
	for i := range big {
		if i%4096 == 0 {
			big[i] = 1
		}
	}
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := Start(cmd.Process.Pid, 5*time.Millisecond)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	peak := w.Stop()
	runtime.KeepAlive(big)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	t.Logf("child: VmHWM %d KiB, ru_maxrss %d KiB", peak>>10, ru>>10)
	if peak <= 0 || peak > 32<<20 {
		t.Errorf("watched peak %d bytes, want the child's own (a few MiB)", peak)
	}
	if ru < 200<<20 {
		t.Logf("ru_maxrss %d KiB: this kernel does not pass the spawner's peak on (the watch is right either way)", ru>>10)
	}
}

func TestVmHWM(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		want       int64
		fails      bool
	}{
		{"a status file", "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t  1234 kB\nVmRSS:\t 1000 kB\n", 1234 << 10, false},
		{"exited, not reaped: no line", "Name:\tx\nState:\tZ (zombie)\n", 0, true},
		{"another unit", "VmHWM:\t 12 MB\n", 0, true},
		{"not a number", "VmHWM:\t x kB\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "status")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := VmHWM(p)
			if (err != nil) != tc.fails || got != tc.want {
				t.Errorf("VmHWM = %d, %v; want %d, error %v", got, err, tc.want, tc.fails)
			}
		})
	}
}
