// Package envconftest holds what the configuration tests of the commands
// and of envconf share: a clean process environment per case, the table of
// rejected settings, the check that no secret shows, throwaway files, and
// the check that the documentation lists every variable. Only tests import
// it.
package envconftest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

// Unset in an env map removes the variable instead of setting it.
const Unset = "\x00unset"

// SetEnv makes env the only variables starting with one of prefixes in the
// process environment for the rest of the test: every such variable is
// removed first (CI exports KAFKA_BROKERS and ELASTICSEARCH_URL), and all
// are restored when the test ends.
func SetEnv(t *testing.T, prefixes []string, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				t.Setenv(k, "") // registers the restore of the old value
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for k, v := range env {
		if v != Unset {
			t.Setenv(k, v)
		}
	}
}

// With returns a copy of base changed by the pairs kv (Unset removes).
func With(base map[string]string, kv ...string) map[string]string {
	env := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// Reject is an environment that the configuration must refuse with exactly
// one line, which names Var and contains Msg; Reason says why. It is an
// alias of a struct literal type so that tables may list their rows without
// field names.
type Reject = struct {
	Name             string
	Env              map[string]string
	Var, Msg, Reason string
}

// Rejects runs each case as a subtest: SetEnv(prefixes, Env), then load,
// whose error WantOneLine checks.
func Rejects[C any](t *testing.T, prefixes []string, load func() (C, error), cases []Reject) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			SetEnv(t, prefixes, tc.Env)
			_, err := load()
			WantOneLine(t, err, tc.Var, tc.Msg, tc.Reason)
		})
	}
}

// WantOneLine fails the test unless err is one line that starts with
// "wantVar: " and contains wantMsg.
func WantOneLine(t *testing.T, err error, wantVar, wantMsg, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want %s: ...%s...", reason, wantVar, wantMsg)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 1 {
		t.Errorf("%s: want one line, got %d:\n%v", reason, len(lines), err)
	}
	if !strings.HasPrefix(lines[0], wantVar+": ") || !strings.Contains(lines[0], wantMsg) {
		t.Errorf("%s:\n got: %v\nwant: %s: ...%s...", reason, err, wantVar, wantMsg)
	}
}

// NoSecret fails the test if text shows any of secrets, or the first or
// last 8 bytes of one: a quoting or escaping function could split it.
func NoSecret(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for _, frag := range []string{s, s[:8], s[len(s)-8:]} {
			if strings.Contains(text, frag) {
				t.Errorf("%s shows secret fragment %q:\n%s", what, frag, text)
			}
		}
	}
}

// WriteFile writes text to a new file in a test directory and returns its
// path.
func WriteFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Variables is envconf.Variables, failing the test on an error.
func Variables(t *testing.T, prefix string, spec any) []envconf.Variable {
	t.Helper()
	vars, err := envconf.Variables(prefix, spec)
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// Docs are the variable tables of a markdown file, rows of the form
// "| `NAME` | default | meaning |".
type Docs struct {
	// Default is each variable's default cell.
	Default map[string]string
	// Under lists, for each variable, the "# " heading above each of its
	// rows ("" before the first heading).
	Under map[string][]string
}

// ReadDocs reads the tables of the markdown file at path.
func ReadDocs(t *testing.T, path string) Docs {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := Docs{Default: map[string]string{}, Under: map[string][]string{}}
	heading := ""
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "# ") {
			heading = sc.Text()
		}
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 4 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		d.Default[name] = strings.TrimSpace(cells[2])
		d.Under[name] = append(d.Under[name], heading)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// ListEvery fails the test for each of vars that file (named in messages)
// has no row for, or whose row gives another default than the code.
func (d Docs) ListEvery(t *testing.T, file string, vars []envconf.Variable) {
	t.Helper()
	for _, v := range vars {
		got, ok := d.Default[v.Name]
		switch {
		case !ok:
			t.Errorf("%s has no table row for %s", file, v.Name)
		case v.Default != "" && got != "`"+v.Default+"`":
			t.Errorf("%s: %s default is %s, code says `%s`", file, v.Name, got, v.Default)
		}
	}
}

// Accept is an environment that the configuration must take; Check says
// what the loaded configuration of type C must hold, Reason why.
type Accept[C any] struct {
	Name   string
	Env    map[string]string
	Reason string
	Check  func(C) error
}

// Accepts runs each case as a subtest: SetEnv(prefixes, Env), then load,
// which must succeed and pass the case's Check.
func Accepts[C any](t *testing.T, prefixes []string, load func() (C, error), cases []Accept[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			SetEnv(t, prefixes, tc.Env)
			cfg, err := load()
			if err != nil {
				t.Fatalf("%s: loadConfig: %v", tc.Reason, err)
			}
			if err := tc.Check(cfg); err != nil {
				t.Errorf("%s: %v", tc.Reason, err)
			}
		})
	}
}

// Field is a Check that what get reads from the configuration equals want.
func Field[C any](get func(C) any, want any) func(C) error {
	return func(c C) error {
		if got := get(c); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("got %#v, want %#v", got, want)
		}
		return nil
	}
}

// DocsFiles are the files that list every variable, from the top of the
// repository: the configuration reference and the README.
var DocsFiles = []string{filepath.Join("docs", "configuration.md"), "README.md"}

// EachDocsFile runs check as a subtest for each of DocsFiles, read from a
// command's folder (two levels below the top).
func EachDocsFile(t *testing.T, check func(t *testing.T, file string, docs Docs)) {
	for _, file := range DocsFiles {
		t.Run(file, func(t *testing.T) { check(t, file, ReadDocs(t, filepath.Join("..", "..", file))) })
	}
}

// Load runs load with env the only variables starting with one of
// prefixes (SetEnv), failing the test on an error.
func Load[C any](t *testing.T, prefixes []string, env map[string]string, load func() (C, error)) C {
	t.Helper()
	SetEnv(t, prefixes, env)
	cfg, err := load()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	return cfg
}

// ReportsAll checks that load, with env the only variables of prefixes,
// reports every problem at once, one line each, and that the lines name the
// variables want, in that order.
func ReportsAll[C any](t *testing.T, prefixes []string, env map[string]string, load func() (C, error), want []string) {
	t.Helper()
	SetEnv(t, prefixes, env)
	_, err := load()
	if err == nil {
		t.Fatal("loadConfig accepted it")
	}
	var vars []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		v, _, _ := strings.Cut(line, ": ")
		vars = append(vars, v)
	}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("variables reported %q, want %q; error:\n%v", vars, want, err)
	}
}

// Edit is a change to a loaded configuration of type C that its Validate
// must refuse with exactly one line, which names Var; Reason says why. Like
// Reject, an alias of a struct literal type, so that tables may list their
// rows without field names.
type Edit[C any] = struct {
	Name        string
	Edit        func(*C)
	Var, Reason string
}

// Validates runs each case as a subtest: Load(prefixes, env, load), the
// case's Edit, then Validate, whose error WantOneLine checks.
func Validates[C interface{ Validate() error }](t *testing.T, prefixes []string, env map[string]string, load func() (C, error), cases []Edit[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := Load(t, prefixes, env, load)
			tc.Edit(&cfg)
			WantOneLine(t, cfg.Validate(), tc.Var, "", tc.Reason)
		})
	}
}

// Refusal is an environment that the configuration must refuse while one
// of a test's secrets is set; Reason says where the secret could leak.
type Refusal = struct {
	Name   string
	Env    map[string]string
	Reason string
}

// HidesSecrets runs each case as a subtest: SetEnv(prefixes, Env), then
// load, which must fail; neither its error nor render of what it returned
// may show any of secrets (NoSecret).
func HidesSecrets[C any](t *testing.T, prefixes []string, load func() (C, error), render func(C) string, secrets []string, cases []Refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			SetEnv(t, prefixes, tc.Env)
			cfg, err := load()
			if err == nil {
				t.Fatalf("%s: loadConfig accepted it", tc.Reason)
			}
			NoSecret(t, tc.Reason+": error", err.Error(), secrets)
			NoSecret(t, tc.Reason+": config", render(cfg), secrets)
		})
	}
}

// Render writes v to w every way it could reach a log or a terminal: as
// the value of key in a JSON and a text slog line, and through fmt's %v,
// %+v, %#v and %s.
func Render(w io.Writer, key string, v any) {
	slog.New(slog.NewJSONHandler(w, nil)).Info("start", key, v)
	slog.New(slog.NewTextHandler(w, nil)).Info("start", key, v)
	fmt.Fprintf(w, "%v\n%+v\n%#v\n%s\n", v, v, v, v)
}
