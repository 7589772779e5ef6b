package envconf

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ESEnv is the raw Elasticsearch environment. Embed it in a command's
// envconfig struct as a field named Elasticsearch tagged
// `split_words:"true"`, so that it reads ELASTICSEARCH_*. Every value is a
// string so that Parse reports each problem under the variable's own name.
type ESEnv struct {
	URL       string `split_words:"true" desc:"comma-separated http(s) URLs"`
	APIKey    string `split_words:"true" desc:"API key (the base64 id:key form Elasticsearch returns as encoded; secret)."`
	Username  string `split_words:"true" desc:"Basic authentication user; needs ELASTICSEARCH_PASSWORD."`
	Password  string `split_words:"true" desc:"Basic authentication password (secret); needs ELASTICSEARCH_USERNAME."`
	CAFile    string `split_words:"true" desc:"PEM file of CA certificates for https URLs."`
	Namespace string `split_words:"true" default:"default" desc:"Data stream namespace, the last part of the data stream names."`
	Retention string `split_words:"true" default:"30d" desc:"How long history is kept: a whole number of days (30d) or a Go duration (720h)."`
}

// ESVars names the Elasticsearch variables: ESVars.URL is
// "ELASTICSEARCH_URL".
var ESVars = Names[ESEnv]("ELASTICSEARCH")

// Parse turns the raw variables into an ES. It records only parse failures
// (ELASTICSEARCH_RETENTION) in ps; what ES.Problems checks is left to it.
func (e ESEnv) Parse(ps *Problems) ES {
	return ES{
		URLs:      SplitList(e.URL),
		APIKey:    Secret(e.APIKey),
		Username:  e.Username,
		Password:  Secret(e.Password),
		CAFile:    e.CAFile,
		Namespace: e.Namespace,
		Retention: Parse(ps, ESVars.Retention, e.Retention, parseRetention),
	}
}

// ES is the Elasticsearch connection and where history is kept. Its String,
// GoString and LogValue never show the API key or the password.
type ES struct {
	URLs []string
	// APIKey, or Username and Password; both empty: no authentication.
	APIKey   Secret
	Username string
	Password Secret
	// CAFile is a PEM file of CA certificates for https; empty: system roots.
	CAFile string
	// Namespace is the data stream namespace.
	Namespace string
	// Retention is how long history is kept; 0 keeps it forever.
	Retention time.Duration
}

// Conn is how to reach Elasticsearch. Its fields are esindex.ConnConfig's,
// in the same order, so that a command converts it with
// esindex.ConnConfig(cfg.Elasticsearch.Conn()) and this package, which the
// Kafka side uses too, links no Elasticsearch client.
type Conn struct {
	URLs               []string
	APIKey             string
	Username, Password string
	CAFile             string
}

// Conn is how to reach Elasticsearch, for esindex.New.
func (e ES) Conn() Conn {
	return Conn{
		URLs:     e.URLs,
		APIKey:   string(e.APIKey),
		Username: e.Username,
		Password: string(e.Password),
		CAFile:   e.CAFile,
	}
}

// Validate checks e, read or built by hand: one line per problem, each
// naming the variable at fault, never a secret. It reads the CA file.
func (e ES) Validate() error { return e.Problems().Err() }

// Problems is what Validate reports, for a command to merge into its own
// list.
func (e ES) Problems() Problems {
	var ps Problems
	v := ESVars
	if len(e.URLs) == 0 {
		ps.Add(v.URL, "required: one or more http or https URLs, comma-separated")
	}
	for i, raw := range e.URLs {
		if err := checkESURL(raw); err != nil {
			ps.Add(v.URL, "entry %d: %v", i+1, err)
			break
		}
	}
	switch {
	case e.APIKey != "" && (e.Username != "" || e.Password != ""):
		ps.Add(v.APIKey, "is set together with %s/%s; use one or the other", v.Username, v.Password)
	case e.Username != "" && e.Password == "":
		ps.Add(v.Password, "required when %s is set", v.Username)
	case e.Password != "" && e.Username == "":
		ps.Add(v.Username, "required when %s is set", v.Password)
	}
	if e.CAFile != "" {
		if _, err := LoadCAPool(e.CAFile); err != nil {
			ps.Add(v.CAFile, "%v", err)
		}
	}
	if reasons := namespaceProblems(e.Namespace); len(reasons) > 0 {
		ps.Add(v.Namespace, "%q %s", e.Namespace, strings.Join(reasons, "; "))
	}
	if e.Retention < 0 {
		ps.Add(v.Retention, "must not be negative, got %v", e.Retention)
	}
	return ps
}

// checkESURL accepts an absolute http or https URL without credentials.
// The URL is shown in the message only when it cannot hold credentials.
func checkESURL(raw string) error {
	if strings.Contains(raw, "@") {
		return fmt.Errorf("credentials in the URL are not allowed (value not shown); use %s or %s and %s",
			ESVars.APIKey, ESVars.Username, ESVars.Password)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http or https URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// namespaceProblems lists what is wrong with a data stream namespace: the
// rules of Elasticsearch index names, plus no '-' (it separates the parts of
// a data stream name) and at most 100 bytes.
func namespaceProblems(ns string) []string {
	var r []string
	if ns == "" {
		return []string{"must not be empty"}
	}
	if ns != strings.ToLower(ns) {
		r = append(r, "must be lowercase")
	}
	if strings.Contains(ns, "-") {
		r = append(r, `must not contain "-"`)
	}
	if i := strings.IndexAny(ns, "\\/*?\"<>|,# :"); i >= 0 {
		r = append(r, fmt.Sprintf(`must not contain %q (none of \ / * ? " < > | , # : or space)`, ns[i:i+1]))
	}
	if len(ns) > 100 {
		r = append(r, "must be at most 100 bytes long")
	}
	return r
}

// parseRetention accepts a Go duration (720h; "0" keeps forever) or a whole
// number of days (30d).
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 {
			return 0, errors.New("is not a number of days like 30d, nor a duration like 720h (0 keeps history forever)")
		}
		if n > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, errors.New("is too long")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("is not a duration like 720h, nor a number of days like 30d (0 keeps history forever)")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// LogValue implements slog.LogValuer without the API key and password, and
// without credentials inside a URL.
func (e ES) LogValue() slog.Value {
	urls := make([]string, len(e.URLs))
	for i, u := range e.URLs {
		urls[i] = RedactURL(u)
	}
	return slog.GroupValue(
		slog.String("urls", strings.Join(urls, ",")),
		slog.String("api_key", e.APIKey.String()),
		slog.String("username", e.Username),
		slog.String("password", e.Password.String()),
		slog.String("ca_file", e.CAFile),
		slog.String("namespace", e.Namespace),
		slog.Duration("retention", e.Retention))
}

// String and GoString make fmt's %v, %+v and %#v show the redacted form.
func (e ES) String() string   { return LogText(e) }
func (e ES) GoString() string { return e.String() }
