package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/envconf/envconftest"
)

// TestHelpAndVersion: --help prints, on standard output and with exit
// status 0, the commands, the flags and every environment variable with its
// default and description, per cluster ones included; --version names the
// module; an unknown flag is refused with one line and status 2.
func TestHelpAndVersion(t *testing.T) {
	run1 := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		code := exitCode(err, &errOut)
		return out.String(), errOut.String(), code
	}
	out, _, code := run1("--help")
	if code != 0 {
		t.Fatalf("--help exits %d", code)
	}
	envconftest.HelpListsVariables(t, out, "", &collectorEnv{})
	envconftest.HelpListsVariables(t, out, "KAFKA", &clusterEnv{})
	for _, want := range []string{"collector --once", "-version", "KAFKA_<NAME>_", "Exit status"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if out, _, code := run1("--version"); code != 0 || !strings.HasPrefix(out, "collector github.com/lagwatch/lagwatch ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if _, errOut, code := run1("--bogus"); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "--help") {
		t.Errorf("--bogus: exit %d, stderr %q; want 2 and one line pointing to --help", code, errOut)
	}
}
