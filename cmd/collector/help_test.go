package main

import (
	"testing"

	"github.com/lagwatch/lagwatch/internal/envconf/envconftest"
)

// TestHelpAndVersion: --help prints, on standard output and with exit
// status 0, the commands, the flags and every environment variable with its
// default and description, per cluster ones included; --version names the
// module; an unknown flag is refused with one line and status 2.
func TestHelpAndVersion(t *testing.T) {
	p := envconftest.Program{Name: "collector", Run: run, ExitCode: exitCode}
	out := p.Help(t, []string{"--help"}, "collector --once", "-version", "KAFKA_<NAME>_", "Exit status")
	envconftest.HelpListsVariables(t, out, "", &collectorEnv{})
	envconftest.HelpListsVariables(t, out, "KAFKA", &clusterEnv{})
	p.WantVersion(t)
	p.WantRefused(t, "--bogus")
}
