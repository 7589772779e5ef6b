// Package envconf owns what the lagwatch commands read from the environment
// in the same way: the list of configuration problems (one line per problem,
// naming the variable, never a secret), the Elasticsearch and logging
// variables with their validation and redaction, cron schedules, and the
// small parsers both configurations use.
//
// Each command keeps its own configuration struct and loadConfig; this
// package only supplies the shared parts. It imports pkg/esindex for
// ConnConfig alone, and must not import cmd/ or internal/notify; only the
// commands import it.
package envconf

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// FieldError is one invalid setting: the variable and what is wrong with it.
// Msg never contains a secret.
type FieldError struct{ Var, Msg string }

func (e *FieldError) Error() string { return e.Var + ": " + e.Msg }

// Problems collects FieldErrors in the order found; Err joins them, one per
// line. Callers must not pass a secret value to Add.
type Problems []*FieldError

// Add records a problem with variable; the message is fmt.Sprintf(format,
// args...).
func (ps *Problems) Add(variable, format string, args ...any) {
	*ps = append(*ps, &FieldError{Var: variable, Msg: fmt.Sprintf(format, args...)})
}

// Has reports whether a problem with variable was recorded.
func (ps Problems) Has(variable string) bool {
	return slices.ContainsFunc(ps, func(e *FieldError) bool { return e.Var == variable })
}

// Err is every problem, "VARIABLE: what is wrong" one per line, or nil when
// there is none. errors.As finds the first *FieldError.
func (ps Problems) Err() error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...) // nil when empty
}

// ScheduleParser parses the commands' schedules: descriptors (@every 30s,
// @hourly), 5-field specs, and 6-field specs whose first field is seconds.
// Give the same parser to cron.New (cron.WithParser) so that what was
// validated is what runs.
var ScheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// CheckSchedule parses spec as the scheduler will, and rejects specs that
// would not run as written.
func CheckSchedule(spec string) (err error) {
	// robfig/cron v3.0.1 panics on a time zone prefix without a spec
	// ("CRON_TZ=UTC"), checked below; the recover is for what else may.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return errors.New("a time zone prefix needs a schedule after it")
	}
	s, err := ScheduleParser.Parse(spec)
	if err != nil {
		return err
	}
	if d, ok := s.(cron.ConstantDelaySchedule); ok {
		// Every() raises a delay below 1s to 1s and truncates to whole
		// seconds; say so rather than run at another pace than written.
		rest := spec
		if strings.HasPrefix(rest, "TZ=") || strings.HasPrefix(rest, "CRON_TZ=") {
			_, rest, _ = strings.Cut(rest, " ")
		}
		every, _ := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "@every")))
		if every != d.Delay {
			return fmt.Errorf("@every needs a whole number of seconds, at least 1s")
		}
		return nil
	}
	if s.Next(time.Now()).IsZero() {
		return errors.New("never fires")
	}
	return nil
}

// CheckListenAddr accepts [host]:port with a numeric port (0 picks a free
// one).
func CheckListenAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("is not [host]:port: %v", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty entries (a trailing comma is harmless).
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ParseDuration parses a Go duration (a unit is required), recording a
// problem with variable when s is not one. s is quoted in the message: do
// not use it for secrets.
func ParseDuration(variable, s string, ps *Problems) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		ps.Add(variable, "%q is not a duration like 10s or 1m30s", s)
	}
	return d
}

// LoadCAPool reads a PEM file of CA certificates. The error names the file
// but not the variable.
func LoadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no PEM certificates in %q", path)
	}
	return pool, nil
}

// EmptyToDefault gives every string field of spec (a pointer to a struct,
// nested structs included) that is empty its `default` tag, unless the
// field is tagged keep_empty. envconfig applies defaults only to unset
// variables; here set-but-empty counts as unset.
func EmptyToDefault(spec any) {
	v := reflect.ValueOf(spec).Elem()
	for i := range v.NumField() {
		f, ft := v.Field(i), v.Type().Field(i)
		switch {
		case f.Kind() == reflect.Struct:
			EmptyToDefault(f.Addr().Interface())
		case f.Kind() == reflect.String && f.String() == "" && ft.Tag.Get("keep_empty") != "true":
			f.SetString(ft.Tag.Get("default"))
		}
	}
}
