package envconf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

func TestProblems(t *testing.T) {
	var ps Problems
	if err := ps.Err(); err != nil {
		t.Fatalf("no problems: Err() = %v, want nil", err)
	}
	ps.Add("A_VAR", "%q is bad", "x")
	ps.Add("B_VAR", "required")
	if !ps.Has("A_VAR") || ps.Has("C_VAR") {
		t.Errorf("Has: got A %v C %v", ps.Has("A_VAR"), ps.Has("C_VAR"))
	}
	err := ps.Err()
	if got, want := err.Error(), "A_VAR: \"x\" is bad\nB_VAR: required"; got != want {
		t.Errorf("Err() = %q, want %q", got, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Var != "A_VAR" {
		t.Errorf("errors.As found %v, want the A_VAR problem", fe)
	}
}

// esEnv reads the ELASTICSEARCH_* variables as a command would.
type esEnv struct {
	Elasticsearch ESEnv  `split_words:"true"`
	Log           LogEnv `split_words:"true"`
}

// TestEnvNames: the embedded structs read exactly the documented variables.
func TestEnvNames(t *testing.T) {
	var buf bytes.Buffer
	if err := envconfig.Usagef("", &esEnv{}, &buf, "{{range .}}{{usage_key .}}={{usage_default .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ELASTICSEARCH_URL=", "ELASTICSEARCH_API_KEY=", "ELASTICSEARCH_USERNAME=", "ELASTICSEARCH_PASSWORD=",
		"ELASTICSEARCH_CA_FILE=", "ELASTICSEARCH_NAMESPACE=default", "ELASTICSEARCH_RETENTION=30d",
		"LOG_LEVEL=info", "LOG_FORMAT=json",
	}
	if got := strings.Fields(buf.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("variables\n got: %q\nwant: %q", got, want)
	}
}

func TestESEnvParse(t *testing.T) {
	// Every variable is set here, so that none comes from the environment.
	t.Setenv("ELASTICSEARCH_API_KEY", "")
	t.Setenv("ELASTICSEARCH_CA_FILE", "")
	t.Setenv("ELASTICSEARCH_URL", " http://a:9200, https://b:9200/ ,")
	t.Setenv("ELASTICSEARCH_USERNAME", "u")
	t.Setenv("ELASTICSEARCH_PASSWORD", "p")
	t.Setenv("ELASTICSEARCH_NAMESPACE", "")
	t.Setenv("ELASTICSEARCH_RETENTION", "7d")
	t.Setenv("LOG_LEVEL", "WARN")
	t.Setenv("LOG_FORMAT", "Text")
	var env esEnv
	if err := envconfig.Process("", &env); err != nil {
		t.Fatal(err)
	}
	EmptyToDefault(&env)
	var ps Problems
	got := env.Elasticsearch.Parse(&ps)
	level, format := env.Log.Parse(&ps)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	want := ES{
		URLs:     []string{"http://a:9200", "https://b:9200/"},
		Username: "u", Password: "p",
		Namespace: "default", // set but empty takes the default
		Retention: 7 * 24 * time.Hour,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse\n got: %s\nwant: %s", got, want)
	}
	if level != slog.LevelWarn || format != "text" {
		t.Errorf("log: level %v format %q, want WARN text", level, format)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParseRetention(t *testing.T) {
	cases := []struct {
		name, in string
		want     time.Duration
		wantErr  string
		reason   string
	}{
		{"days", "30d", 30 * 24 * time.Hour, "", "a d suffix counts days"},
		{"zero", "0", 0, "", "0 keeps history forever"},
		{"zero days", "0d", 0, "", "0d is 0 too"},
		{"go duration", "36h", 36 * time.Hour, "", "Go durations are accepted"},
		{"spaces", " 2d ", 48 * time.Hour, "", "surrounding spaces are ignored"},
		{"negative duration", "-1h", 0, "must not be negative", "history cannot be kept for less than nothing"},
		{"negative days", "-3d", 0, "not a number of days", "negative days"},
		{"mixed", "1d12h", 0, "not a duration", "days and hours do not mix"},
		{"too many days", "999999999999d", 0, "too long", "does not fit in a Duration"},
		{"unit", "30x", 0, "not a duration", "unknown unit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRetention(tc.in)
			switch {
			case tc.wantErr == "" && (err != nil || got != tc.want):
				t.Errorf("%s: parseRetention(%q) = %v, %v; want %v", tc.reason, tc.in, got, err, tc.want)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%s: parseRetention(%q) error = %v, want one containing %q", tc.reason, tc.in, err, tc.wantErr)
			}
		})
	}
}

// TestESProblems: each bad setting alone is one line naming its variable.
func TestESProblems(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := func(edit func(*ES)) ES {
		e := ES{URLs: []string{"http://es:9200"}, Namespace: "default"}
		edit(&e)
		return e
	}
	cases := []struct {
		name    string
		es      ES
		wantVar string
		wantMsg string
		reason  string
	}{
		{"no url", ok(func(e *ES) { e.URLs = nil }), EnvESURL, "required", "a URL is needed"},
		{"scheme", ok(func(e *ES) { e.URLs = []string{"ftp://es"} }), EnvESURL, "not an http or https URL", "wrong scheme"},
		{"second entry", ok(func(e *ES) { e.URLs = append(e.URLs, "es:9200") }), EnvESURL, "entry 2", "the bad entry is located"},
		{"credentials", ok(func(e *ES) { e.URLs = []string{"http://u:p@es"} }), EnvESURL, "value not shown", "secrets belong in their own variables"},
		{"key and user", ok(func(e *ES) { e.APIKey, e.Username = "k", "u" }), EnvESAPIKey, "one or the other", "two kinds of credentials"},
		{"user alone", ok(func(e *ES) { e.Username = "u" }), EnvESPassword, "required when ELASTICSEARCH_USERNAME", "half of basic auth"},
		{"password alone", ok(func(e *ES) { e.Password = "p" }), EnvESUsername, "required when ELASTICSEARCH_PASSWORD", "half of basic auth"},
		{"ca not pem", ok(func(e *ES) { e.CAFile = notPEM }), EnvESCAFile, "no PEM certificates", "the file must parse"},
		{"ca missing", ok(func(e *ES) { e.CAFile = filepath.Join(dir, "none.pem") }), EnvESCAFile, "no such file", "the file must exist"},
		{"namespace empty", ok(func(e *ES) { e.Namespace = "" }), EnvESNamespace, "must not be empty", "a hand-built ES has no default"},
		{"namespace dash", ok(func(e *ES) { e.Namespace = "a-b" }), EnvESNamespace, `must not contain "-"`, "'-' separates data stream name parts"},
		{"retention", ok(func(e *ES) { e.Retention = -time.Second }), EnvESRetention, "must not be negative", "negative retention"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.es.Validate()
			if err == nil || strings.Contains(err.Error(), "\n") ||
				!strings.HasPrefix(err.Error(), tc.wantVar+": ") || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("%s: Validate() = %v, want one line %s: ...%s...", tc.reason, err, tc.wantVar, tc.wantMsg)
			}
		})
	}
	if err := ok(func(e *ES) { e.CAFile = writeCA(t, dir) }).Validate(); err != nil {
		t.Errorf("a PEM CA file: %v", err)
	}
}

// TestConnConfig: the helper carries every connection setting, and its
// result is what esindex.NewClient accepts.
func TestConnConfig(t *testing.T) {
	ca := writeCA(t, t.TempDir())
	key := "aWQ6a2V5" // base64("id:key")
	e := ES{URLs: []string{"https://a:9200", "https://b:9200"}, APIKey: key, CAFile: ca, Namespace: "ns", Retention: time.Hour}
	want := esindex.ConnConfig{URLs: e.URLs, APIKey: key, CAFile: ca}
	if got := e.ConnConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("ConnConfig() = %+v, want %+v", got, want)
	}
	if _, err := esindex.NewClient(e.ConnConfig()); err != nil {
		t.Errorf("NewClient(ConnConfig()): %v", err)
	}
	basic := ES{URLs: []string{"http://es"}, Username: "u", Password: "p"}.ConnConfig()
	if basic.Username != "u" || basic.Password != "p" || basic.APIKey != "" {
		t.Errorf("basic auth ConnConfig() = %+v", basic)
	}
}

// TestESRedacted: neither the API key, the password nor credentials inside a
// URL appear in any rendering of an ES.
func TestESRedacted(t *testing.T) {
	const key, pw, urlPW = "key-S3cret-value", "pw-S3cret-value", "url-S3cret-value"
	e := ES{URLs: []string{"http://es:9200", "http://elastic:" + urlPW + "@[::1"}, APIKey: key, Username: "elastic", Password: pw, Namespace: "default"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "es", e)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "es", e)
	fmt.Fprintf(&buf, "%v %+v %#v %s %v", e, e, e, e, &e)
	out := buf.String()
	for _, s := range []string{key, pw, urlPW, "S3cret"} {
		if strings.Contains(out, s) {
			t.Errorf("rendering shows %q:\n%s", s, out)
		}
	}
	for _, want := range []string{"[REDACTED]", "elastic", "http://es:9200", "[::1"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendering lacks %q:\n%s", want, out)
		}
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct{ name, in, want, reason string }{
		{"plain", "http://es:9200/x", "http://es:9200/x", "nothing to hide"},
		{"user info", "https://u:p@es:9200", "https://[REDACTED]@es:9200", "credentials hidden"},
		{"at in password", "http://u:p@ss@es", "http://[REDACTED]@es", "the last @ ends the user information"},
		{"no scheme", "u:p@es:9200", "[REDACTED]@es:9200", "hidden even without a scheme"},
		{"empty", "", "", "unset stays empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactURL(tc.in); got != tc.want {
				t.Errorf("%s: RedactURL(%q) = %q, want %q", tc.reason, tc.in, got, tc.want)
			}
		})
	}
	if Redact("") != "" || Redact("x") != Redacted {
		t.Errorf("Redact: unset must stay empty, set must be %s", Redacted)
	}
}

func TestCheckSchedule(t *testing.T) {
	cases := []struct {
		name, spec, wantErr, reason string
	}{
		{"every", "@every 1m", "", "descriptor"},
		{"hourly", "@hourly", "", "named descriptor"},
		{"five fields", "*/5 * * * *", "", "classic cron"},
		{"six fields", "*/15 * * * * *", "", "leading seconds"},
		{"tz every", "CRON_TZ=UTC @every 30s", "", "a zone prefix does not hide @every"},
		{"words", "every 30s", "expected", "not a spec"},
		{"too short", "@every 500ms", "at least 1s", "cron would run every second"},
		{"fraction", "@every 1500ms", "whole number of seconds", "cron would truncate"},
		{"tz only", "CRON_TZ=UTC", "needs a schedule", "robfig/cron panics on this"},
		{"never", "0 0 30 2 *", "never fires", "30 February"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSchedule(tc.spec)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("%s: CheckSchedule(%q) = %v, want %q", tc.reason, tc.spec, err, tc.wantErr)
			}
		})
	}
}

func TestSmallParsers(t *testing.T) {
	if got := SplitList(" a, ,b ,"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("SplitList = %q", got)
	}
	if SplitList(" , ") != nil {
		t.Error("SplitList of nothing is not nil")
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{{":9309", true}, {"127.0.0.1:0", true}, {"[::1]:80", true}, {"9309", false}, {":http", false}, {":70000", false}} {
		if err := CheckListenAddr(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckListenAddr(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
	var ps Problems
	if d := ParseDuration("X", " 90s ", &ps); d != 90*time.Second || len(ps) != 0 {
		t.Errorf("ParseDuration = %v, %v", d, ps.Err())
	}
	ParseDuration("X", "90", &ps)
	if err := ps.Err(); err == nil || !strings.HasPrefix(err.Error(), `X: "90" is not a duration`) {
		t.Errorf("ParseDuration without unit: %v", err)
	}
	ps = nil
	CheckLogFormat("xml", &ps)
	CheckLogFormat("json", &ps)
	if err := ps.Err(); err == nil || err.Error() != `LOG_FORMAT: "xml" is not json or text` {
		t.Errorf("CheckLogFormat: %v", err)
	}
	ps = nil
	if l, _ := (LogEnv{Level: "verbose", Format: "json"}).Parse(&ps); l != 0 || !ps.Has(EnvLogLevel) {
		t.Errorf("LogEnv.Parse of a bad level: %v %v", l, ps.Err())
	}
}

func TestEmptyToDefault(t *testing.T) {
	var v struct {
		A string `default:"a"`
		B string `default:"b" keep_empty:"true"`
		C string `default:"c"`
		N struct {
			D string `default:"d"`
		}
	}
	v.C = "set"
	EmptyToDefault(&v)
	if v.A != "a" || v.B != "" || v.C != "set" || v.N.D != "d" {
		t.Errorf("EmptyToDefault: %+v", v)
	}
}

// writeCA writes a self-signed CA certificate as PEM and returns its path.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
