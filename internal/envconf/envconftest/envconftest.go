// Package envconftest holds what the configuration tests of the commands
// and of envconf share: a clean process environment per case; the tables
// of accepted, rejected and edited settings and the loads they run
// (cases.go); the checks that no secret shows in an error or in any
// rendering of a configuration (secrets.go); a program's --help and
// --version (help.go); throwaway files; and the check that the
// documentation lists every variable. Only tests import it.
package envconftest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
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

// DocsFiles are the files that list every variable, from the top of the
// repository: the configuration reference (the README links to it and
// lists none).
var DocsFiles = []string{filepath.Join("docs", "configuration.md")}

// EachDocsFile runs check as a subtest for each of DocsFiles, read from a
// command's folder (two levels below the top).
func EachDocsFile(t *testing.T, check func(t *testing.T, file string, docs Docs)) {
	for _, file := range DocsFiles {
		t.Run(file, func(t *testing.T) { check(t, file, ReadDocs(t, filepath.Join("..", "..", file))) })
	}
}
