package envconf_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/envconf/envconftest"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// esEnv reads the ELASTICSEARCH_* variables as a command would.
type esEnv struct {
	Elasticsearch envconf.ESEnv  `split_words:"true"`
	Log           envconf.LogEnv `split_words:"true"`
}

// TestEnvNames: the embedded structs read exactly the documented variables,
// and Variables and Names agree with envconfig.
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
	var got []string
	for _, v := range envconftest.Variables(t, "", &esEnv{}) {
		got = append(got, v.Name+"="+v.Default)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Variables\n got: %q\nwant: %q", got, want)
	}
	names := envconf.Names[esEnv]("")
	es, log := envconf.ESVars, envconf.LogVars
	for _, pair := range [][2]string{
		{names.Elasticsearch.URL, "ELASTICSEARCH_URL"}, {es.URL, "ELASTICSEARCH_URL"},
		{es.APIKey, "ELASTICSEARCH_API_KEY"}, {es.CAFile, "ELASTICSEARCH_CA_FILE"},
		{names.Log.Level, "LOG_LEVEL"}, {log.Format, "LOG_FORMAT"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("name %q, want %q", pair[0], pair[1])
		}
	}
}

// TestVariablesRefuses: a struct envconfig would read other than as text
// has no names.
func TestVariablesRefuses(t *testing.T) {
	var notText struct{ Port int }
	if _, err := envconf.Variables("", &notText); err == nil {
		t.Error("Variables accepted an int field")
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
	if err := envconf.Read("", &env); err != nil {
		t.Fatal(err)
	}
	var ps envconf.Problems
	got := env.Elasticsearch.Parse(&ps)
	level, format := env.Log.Parse(&ps)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	want := envconf.ES{
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

// TestESProblems: each bad setting alone is one line naming its variable.
func TestESProblems(t *testing.T) {
	dir := t.TempDir()
	notPEM := envconftest.WriteFile(t, "not.pem", "hello\n")
	ok := func(edit func(*envconf.ES)) envconf.ES {
		e := envconf.ES{URLs: []string{"http://es:9200"}, Namespace: "default"}
		edit(&e)
		return e
	}
	v := envconf.ESVars
	cases := []struct {
		name    string
		es      envconf.ES
		wantVar string
		wantMsg string
		reason  string
	}{
		{"no url", ok(func(e *envconf.ES) { e.URLs = nil }), v.URL, "required", "a URL is needed"},
		{"scheme", ok(func(e *envconf.ES) { e.URLs = []string{"ftp://es"} }), v.URL, "not an http or https URL", "wrong scheme"},
		{"second entry", ok(func(e *envconf.ES) { e.URLs = append(e.URLs, "es:9200") }), v.URL, "entry 2", "the bad entry is located"},
		{"credentials", ok(func(e *envconf.ES) { e.URLs = []string{"http://u:p@es"} }), v.URL, "value not shown", "secrets belong in their own variables"},
		{"key and user", ok(func(e *envconf.ES) { e.APIKey, e.Username = "k", "u" }), v.APIKey, "one or the other", "two kinds of credentials"},
		{"user alone", ok(func(e *envconf.ES) { e.Username = "u" }), v.Password, "required when ELASTICSEARCH_USERNAME", "half of basic auth"},
		{"password alone", ok(func(e *envconf.ES) { e.Password = "p" }), v.Username, "required when ELASTICSEARCH_PASSWORD", "half of basic auth"},
		{"ca not pem", ok(func(e *envconf.ES) { e.CAFile = notPEM }), v.CAFile, "no PEM certificates", "the file must parse"},
		{"ca missing", ok(func(e *envconf.ES) { e.CAFile = filepath.Join(dir, "none.pem") }), v.CAFile, "no such file", "the file must exist"},
		{"namespace empty", ok(func(e *envconf.ES) { e.Namespace = "" }), v.Namespace, "must not be empty", "a hand-built ES has no default"},
		{"namespace dash", ok(func(e *envconf.ES) { e.Namespace = "a-b" }), v.Namespace, `must not contain "-"`, "'-' separates data stream name parts"},
		{"retention", ok(func(e *envconf.ES) { e.Retention = -time.Second }), v.Retention, "must not be negative", "negative retention"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			envconftest.WantOneLine(t, tc.es.Validate(), tc.wantVar, tc.wantMsg, tc.reason)
		})
	}
	if err := ok(func(e *envconf.ES) { e.CAFile = testenv.WritePKI(t).CAFile }).Validate(); err != nil {
		t.Errorf("a PEM CA file: %v", err)
	}
}

// TestConn: the helper carries every connection setting, and its result
// converts to what esindex.NewClient accepts.
func TestConn(t *testing.T) {
	ca := testenv.WritePKI(t).CAFile
	const key = "aWQ6a2V5" // base64("id:key")
	e := envconf.ES{URLs: []string{"https://a:9200", "https://b:9200"}, APIKey: key, CAFile: ca, Namespace: "ns", Retention: time.Hour}
	want := esindex.ConnConfig{URLs: e.URLs, APIKey: key, CAFile: ca}
	if got := esindex.ConnConfig(e.Conn()); !reflect.DeepEqual(got, want) {
		t.Errorf("Conn() = %+v, want %+v", got, want)
	}
	if _, err := esindex.NewClient(esindex.ConnConfig(e.Conn())); err != nil {
		t.Errorf("NewClient(Conn()): %v", err)
	}
	basic := envconf.ES{URLs: []string{"http://es"}, Username: "u", Password: "p"}.Conn()
	if basic.Username != "u" || basic.Password != "p" || basic.APIKey != "" {
		t.Errorf("basic auth Conn() = %+v", basic)
	}
}

// TestESRedacted: neither the API key, the password nor credentials inside a
// URL appear in any rendering of an ES.
func TestESRedacted(t *testing.T) {
	const key, pw, urlPW = "key-S3cret-value", "pw-S3cret-value", "url-S3cret-value"
	e := envconf.ES{URLs: []string{"http://es:9200", "http://elastic:" + urlPW + "@[::1"}, APIKey: key, Username: "elastic", Password: pw, Namespace: "default"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "es", e)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "es", e)
	fmt.Fprintf(&buf, "%v %+v %#v %s %v", e, e, e, e, &e)
	out := buf.String()
	envconftest.NoSecret(t, "rendering", out, []string{key, pw, urlPW})
	if strings.Contains(out, "S3cret") {
		t.Errorf("rendering shows S3cret:\n%s", out)
	}
	for _, want := range []string{"[REDACTED]", "elastic", "http://es:9200", "[::1"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendering lacks %q:\n%s", want, out)
		}
	}
}

// TestSecret: no rendering of a Secret shows it; an unset one shows as
// empty.
func TestSecret(t *testing.T) {
	const pw = "pw-S3cret-value"
	s := envconf.Secret(pw)
	holder := struct {
		Password envconf.Secret
		Headers  map[string]envconf.Secret
	}{s, map[string]envconf.Secret{"Authorization": s}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "s", s, "holder", holder)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "s", s, "holder", holder)
	fmt.Fprintf(&buf, "%v %+v %#v %s %q %x %d %v %+v %#v", s, s, s, s, s, s, s, &s, holder, holder)
	b, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(b)
	out := buf.String()
	if strings.Contains(out, "S3cret") {
		t.Errorf("rendering shows the secret:\n%s", out)
	}
	if !strings.Contains(out, envconf.Redacted) {
		t.Errorf("rendering lacks %s:\n%s", envconf.Redacted, out)
	}
	if got := fmt.Sprintf("[%v|%s|%#v]", envconf.Secret(""), envconf.Secret(""), envconf.Secret("")); got != "[||]" {
		t.Errorf("an unset secret renders as %q, want empty", got)
	}
	if string(s) != pw {
		t.Error("the value is lost")
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
			if got := envconf.RedactURL(tc.in); got != tc.want {
				t.Errorf("%s: RedactURL(%q) = %q, want %q", tc.reason, tc.in, got, tc.want)
			}
		})
	}
}
