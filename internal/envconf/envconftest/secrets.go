package envconftest

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

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
