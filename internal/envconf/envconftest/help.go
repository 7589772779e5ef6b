package envconftest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

// HelpListsVariables checks that help, a program's --help text, lists every
// variable spec reads under prefix with its default, and that each has a
// description.
func HelpListsVariables(t *testing.T, help, prefix string, spec any) {
	t.Helper()
	vars, err := envconf.Variables(prefix, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		want := "  " + v.Name
		if v.Default != "" {
			want += " (default " + v.Default + ")"
		}
		if !strings.Contains(help, want+"\n") {
			t.Errorf("--help lacks %q", want)
		}
		if v.Desc == "" {
			t.Errorf("%s has no description (a desc tag on its field)", v.Name)
		}
	}
}

// Program is a command as its main runs it: Run with the arguments, then
// ExitCode for Run's error, which says why on standard error.
type Program struct {
	Name     string // as --version prints it
	Run      func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	ExitCode func(err error, stderr io.Writer) int
}

// Call runs the program with args and returns what it printed on standard
// output and standard error, and its exit status.
func (p Program) Call(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	err := p.Run(context.Background(), args, &out, &errOut)
	code = p.ExitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

// Help runs the program with args (--help, or a command and --help), which
// must exit 0 and print each of wants, and returns what it printed.
func (p Program) Help(t *testing.T, args []string, wants ...string) string {
	t.Helper()
	out, _, code := p.Call(args...)
	if code != 0 {
		t.Fatalf("%q exits %d", args, code)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%q lacks %q", args, want)
		}
	}
	return out
}

// WantVersion checks that --version exits 0 and names the program and the
// module.
func (p Program) WantVersion(t *testing.T) {
	t.Helper()
	if out, _, code := p.Call("--version"); code != 0 || !strings.HasPrefix(out, p.Name+" github.com/lagwatch/lagwatch ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

// WantRefused checks that args exit 2 with one line on standard error that
// points to --help.
func (p Program) WantRefused(t *testing.T, args ...string) {
	t.Helper()
	_, errOut, code := p.Call(args...)
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "--help") {
		t.Errorf("%q: exit %d, stderr %q; want 2 and one line pointing to --help", args, code, errOut)
	}
}
