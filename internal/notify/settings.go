package notify

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// The settings of a webhook sink, parsed and checked where the sink is
// defined. Problems are recorded under the variables the caller names, in
// its Problems list; no message quotes a URL or a header value, which may
// hold tokens.

// Problems records what is wrong with a setting under the name of the
// variable at fault. *envconf.Problems is one; notify does not import
// envconf, which links the Elasticsearch client.
type Problems interface {
	Add(variable, format string, args ...any)
}

// WebhookVars name the variables a sink's settings are read from.
type WebhookVars struct {
	// URL holds the sink's URL, Headers its header list.
	URL, Headers string
	// Template is blamed for the body template: its file, or, for a
	// built-in template, the variable that enables the sink.
	Template string
}

// redacted stands for a secret that is set, as envconf.Redacted does.
const redacted = "[REDACTED]"

// CheckWebhook checks one sink's URL, headers (loaded or built by hand,
// checked in name order) and body template, recording problems under the
// variables of v. The template must render an alert of every kind, since
// one that cannot is better reported at start-up than at the first
// incident.
func CheckWebhook[S ~string](ps Problems, v WebhookVars, name, rawURL string, headers map[string]S, body *template.Template) {
	if err := checkURL(rawURL); err != nil {
		ps.Add(v.URL, "%v", err)
	}
	if err := checkHeaders(headers); err != nil {
		ps.Add(v.Headers, "%v", err)
	}
	if body == nil {
		ps.Add(v.Template, "webhook %q has no body template", name)
	} else if err := checkRenders(body); err != nil {
		ps.Add(v.Template, "does not render an alert: %v", err)
	}
}

// checkURL accepts an absolute http or https URL. The URL may hold a
// token anywhere (user information, path, query): messages never quote it,
// nor the errors of net/url, which do.
// CheckURL is nil for an http or https URL with a host; its error never
// shows the value (it may hold a token).
func CheckURL(raw string) error { return checkURL(raw) }

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return errors.New("must not be empty")
	case err != nil:
		return errors.New("is not a URL (value not shown)")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("is not an http or https URL (value not shown)")
	case u.Host == "":
		return errors.New("has no host (value not shown)")
	}
	return nil
}

// clientHeaders are set by net/http from the request itself; a value given
// for them would be dropped or would break the request.
var clientHeaders = []string{"Content-Length", "Host", "Trailer", "Transfer-Encoding"}

// ParseHeaders reads a header list, the value of variable: "Name: value"
// pairs, one a line; on a single line, separated by ';'. When the value spans several
// lines, a ';' belongs to the header value. Empty entries are ignored. The
// values are secrets (an Authorization header, say): messages name the
// entry by its position and quote nothing of it. S is the caller's string
// type for secrets. Names are canonical; none is a nil map.
func ParseHeaders[S ~string](ps Problems, variable, s string) map[string]S {
	sep := ";"
	if strings.Contains(strings.TrimSpace(s), "\n") {
		sep = "\n"
	}
	headers := map[string]S{}
	entry := map[string]int{} // canonical name -> its entry number
	n := 0
	for _, e := range strings.Split(s, sep) {
		if strings.TrimSpace(e) == "" {
			continue
		}
		n++
		name, value, ok := strings.Cut(e, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok {
			ps.Add(variable, "entry %d is not \"Name: value\" (values are not shown)", n)
			return nil
		}
		if err := checkHeader(name, value); err != nil {
			ps.Add(variable, "entry %d: %v", n, err)
			return nil
		}
		name = http.CanonicalHeaderKey(name)
		if first, dup := entry[name]; dup {
			ps.Add(variable, "entries %d and %d set the same header", first, n)
			return nil
		}
		entry[name] = n
		headers[name] = S(value)
	}
	if len(headers) == 0 {
		return nil
	}
	return headers
}

// checkHeaders checks a header map, loaded or built by hand, in name order.
func checkHeaders[S ~string](h map[string]S) error {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if err := checkHeader(name, string(h[name])); err != nil {
			return err
		}
	}
	return nil
}

// checkHeader accepts an HTTP token as name (RFC 9110) and a non-empty value
// without control characters. Its messages quote neither, except a name
// from clientHeaders.
func checkHeader(name, value string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return errors.New("the header name is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
	}
	if i := slices.Index(clientHeaders, http.CanonicalHeaderKey(name)); i >= 0 {
		return fmt.Errorf("%s is set by the HTTP client and cannot be given here", clientHeaders[i])
	}
	if value == "" {
		return errors.New("the header value is empty")
	}
	if strings.IndexFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
		return errors.New("the header value contains a control character")
	}
	return nil
}

func isTokenChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// LoadTemplate reads and parses the body template file at path, the value
// of variable; empty means GenericTemplate, named name. A file's template
// is named after the file, so that errors when rendering it say which file
// is at fault.
func LoadTemplate(ps Problems, variable, name, path string) *template.Template {
	if path == "" {
		return MustParse(name, GenericTemplate)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		ps.Add(variable, "%v", err)
		return nil
	}
	t, err := ParseTemplate(path, string(b))
	if err != nil {
		ps.Add(variable, "does not parse: %v", err)
		return nil
	}
	return t
}

// MustParse parses a built-in template; failing is a programming error.
func MustParse(name, text string) *template.Template {
	return template.Must(ParseTemplate(name, text))
}

// checkRenders renders an alert of every kind with t, every field set, so
// that a template naming a field or calling a function wrongly fails now.
// Branches taken only for other values may still fail later.
func checkRenders(t *template.Template) error {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Alert{
		Cluster: "cluster", Group: "group", Status: "ERR", Previous: "WARN", Worst: "ERR",
		At: at, OpenedAt: at.Add(-time.Hour), TotalLag: 1200,
		MaxLagTopic: "topic", MaxLagPartition: 3, MaxLag: 700, TimeLagSeconds: 90,
		Partitions: []AlertPartition{{Topic: "topic", Partition: 3, Status: "STOP", CurrentLag: 700}},
	}
	w := Webhook{Name: t.Name(), Body: t}
	for _, k := range []Kind{Open, Update, Resend, Close} {
		a.Kind = k
		if _, err := w.Render(a); err != nil {
			return errors.Unwrap(err) // without Render's "webhook NAME: render body" prefix
		}
	}
	return nil
}

// RedactURL keeps the scheme and host of an http(s) URL and hides the rest,
// where tokens live, behind "[REDACTED]"; any other value is hidden whole
// (and an empty one stays empty).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if raw == "" {
			return ""
		}
		return redacted
	}
	s := u.Scheme + "://" + u.Host
	if u.User != nil {
		s = u.Scheme + "://" + redacted + "@" + u.Host
	}
	if u.RawPath != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		s += "/" + redacted
	}
	return s
}

// MailVars name the variables the mail sink's settings are read from.
type MailVars struct {
	Addr, From, To, TLS, Subject, Template string
}

// CheckMail checks the mail sink's settings: a host:port address, a From
// and at least one To address, a known TLS mode, and templates that render
// an alert of every kind.
func CheckMail(ps Problems, v MailVars, m *Mail) {
	if _, port, err := net.SplitHostPort(m.Addr); err != nil || port == "" {
		ps.Add(v.Addr, "%q is not host:port", m.Addr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		ps.Add(v.Addr, "port %q is not a number from 0 to 65535", port)
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		ps.Add(v.From, "%q is not an e-mail address: %v", m.From, err)
	}
	if len(m.To) == 0 {
		ps.Add(v.To, "needs at least one address when %s is set", v.Addr)
	}
	for i, to := range m.To {
		if _, err := mail.ParseAddress(to); err != nil {
			ps.Add(v.To, "entry %d, %q, is not an e-mail address: %v", i+1, to, err)
		}
	}
	switch m.TLS {
	case MailStartTLS, MailTLS, MailNoTLS:
	default:
		ps.Add(v.TLS, "%q is not starttls, tls or none", m.TLS)
	}
	for _, t := range []struct {
		variable string
		tmpl     *template.Template
	}{{v.Subject, m.Subject}, {v.Template, m.Body}} {
		if t.tmpl == nil {
			continue // already reported
		}
		if err := checkMailRenders(m, t.tmpl); err != nil {
			ps.Add(t.variable, "does not render an alert: %v", err)
		}
	}
}

// checkMailRenders renders an alert of every kind with t in place of the
// part it is.
func checkMailRenders(m *Mail, t *template.Template) error {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := Alert{Cluster: "cluster", Group: "group", Status: "ERR", Previous: "WARN", Worst: "ERR", At: at, OpenedAt: at.Add(-time.Hour),
		TotalLag: 1200, MaxLagTopic: "topic", MaxLagPartition: 3, MaxLag: 700, TimeLagSeconds: 90,
		Partitions: []AlertPartition{{Topic: "topic", Partition: 3, Status: "STOP", CurrentLag: 700}}}
	for _, k := range []Kind{Open, Update, Resend, Close} {
		a.Kind = k
		var buf bytes.Buffer
		if err := t.Execute(&buf, mailView{Alert: a, Link: "http://grafana/d/x"}); err != nil {
			return err
		}
	}
	return nil
}
