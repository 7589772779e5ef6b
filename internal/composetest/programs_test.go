package composetest

import (
	"bufio"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestProgramsAcceptComposeEnvironment builds the collector, the evaluator
// and demoload, and starts each with exactly the environment and arguments
// its service gets, to let the program itself judge its configuration.
// Each checks all of it before it connects to anything and exits with
// status 2 when something is wrong; its first log line comes only after
// the check passed. So a log line means the configuration is accepted, and
// the program is stopped there, before it could reach the network.
//
// One value is changed: COLLECTOR_SPOOL_DIR points into a temporary folder,
// so that a collector that runs a little past its first line does not
// create the container's spool folder on this machine. TestComposeVolumes
// checks the real value against the volume.
func TestProgramsAcceptComposeEnvironment(t *testing.T) {
	p := loadProject(t)
	root := testenv.RepoRoot(t)
	bin := t.TempDir()
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	for _, prog := range programs {
		args = append(args, "./cmd/"+prog)
	}
	build := exec.Command("go", args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for svc, prog := range programs {
		t.Run(svc, func(t *testing.T) {
			s := service(t, p, svc)
			env := environment(s)
			if _, ok := env["COLLECTOR_SPOOL_DIR"]; ok {
				env["COLLECTOR_SPOOL_DIR"] = filepath.Join(t.TempDir(), "spool")
			}
			cmd := exec.Command(filepath.Join(bin, prog), s.Command...)
			cmd.Env = []string{} // nothing from this process: only what compose sets
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			accepted := make(chan string, 1)
			var out strings.Builder
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					out.WriteString(sc.Text() + "\n")
					if strings.HasPrefix(sc.Text(), "{") {
						accepted <- sc.Text()
						return
					}
				}
				close(accepted)
			}()
			select {
			case line, ok := <-accepted:
				_ = cmd.Process.Kill()
				err := cmd.Wait()
				if ok {
					t.Logf("accepted: %s", line)
					return
				}
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() == 2 {
					t.Errorf("service %s: the %s rejects its configuration:\n%s", svc, prog, out.String())
				} else {
					t.Errorf("service %s: the %s ended (%v) without logging:\n%s", svc, prog, err, out.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Errorf("service %s: the %s logged nothing within 30 s:\n%s", svc, prog, out.String())
			}
		})
	}
}
