package envconftest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

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
