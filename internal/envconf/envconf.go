// Package envconf owns what the lagwatch commands read from the environment
// in the same way: the list of configuration problems (one line per problem,
// naming the variable, never a secret), variable names derived from the
// configuration structs, one parser per kind of value, the Elasticsearch and
// logging variables with their validation, the redacting Secret type, and
// cron schedules.
//
// Each command keeps its own configuration struct and loadConfig; this
// package only supplies the shared parts. It imports nothing of lagwatch's
// and no client (internal/kafkasource uses its FieldError), and must not
// import cmd/ or internal/notify.
package envconf

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
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

// Merge appends the problems of more whose variable has none in ps yet: a
// variable that failed to parse is not reported again for its zero value.
func (ps *Problems) Merge(more Problems) {
	had := *ps
	for _, p := range more {
		if !had.Has(p.Var) {
			*ps = append(*ps, p)
		}
	}
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

// Parse is parse(s), or T's zero value with a problem recorded under
// variable: the quoted value followed by parse's error, which reads as the
// rest of the sentence ("is not a whole number"). Not for secrets, which
// it would quote.
func Parse[T any](ps *Problems, variable, s string, parse func(string) (T, error)) T {
	v, err := parse(s)
	if err != nil {
		ps.Add(variable, "%q %v", s, err)
	}
	return v
}

// The parsers for Parse, one per kind of value. Each ignores surrounding
// spaces, and each error completes a sentence that starts with the value.

// Int parses a whole number.
func Int(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("is not a whole number")
	}
	return n, nil
}

// Duration parses a Go duration; a unit is required.
func Duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("is not a duration like 10s or 1m30s")
	}
	return d, nil
}

// Bool parses the words of strconv.ParseBool.
func Bool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, errors.New("is not a boolean (true or false)")
	}
	return b, nil
}

// Bytes parses a whole number of bytes, optionally followed by KiB, MiB or
// GiB (any case, spaces allowed before the suffix).
func Bytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, suffix := s, ""
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		num, suffix = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := map[string]int64{"": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[strings.ToLower(suffix)]
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case !ok || err != nil:
		return 0, errors.New("is not a size: use a number of bytes, or a number followed by KiB, MiB or GiB")
	case n > math.MaxInt64/mult:
		return 0, errors.New("is too large")
	}
	return n * mult, nil
}

// Positive records a problem unless v is greater than 0.
func Positive[T int | int64 | time.Duration](ps *Problems, variable string, v T) {
	if v <= 0 {
		ps.Add(variable, "must be greater than 0, got %v", v)
	}
}

// Between records a problem unless lo <= v <= hi.
func Between[T cmp.Ordered](ps *Problems, variable string, v, lo, hi T) {
	if !(v >= lo && v <= hi) {
		ps.Add(variable, "must be between %v and %v, got %v", lo, hi, v)
	}
}

// Ignored records, for each pair of variable and value whose value is set,
// that it "is set but " reason: a setting that would silently do nothing is
// more likely a mistake than intended. Values are never shown.
func Ignored(ps *Problems, reason string, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			ps.Add(pairs[i], "is set but %s", reason)
		}
	}
}

// ScheduleParser parses the commands' schedules: descriptors (@every 30s,
// @hourly), 5-field specs, and 6-field specs whose first field is seconds.
// Give the same parser to cron.New (cron.WithParser) so that what was
// validated is what runs.
var ScheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule records a problem with variable unless CheckSchedule accepts spec.
func Schedule(ps *Problems, variable, spec string) {
	if err := CheckSchedule(spec); err != nil {
		ps.Add(variable, "%q is not a cron spec: %v", spec, err)
	}
}

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

// ListenAddr records a problem with variable unless addr is empty (no
// listener) or CheckListenAddr accepts it.
func ListenAddr(ps *Problems, variable, addr string) {
	if addr == "" {
		return
	}
	if err := CheckListenAddr(addr); err != nil {
		ps.Add(variable, "%q %v (leave it empty to disable the listener)", addr, err)
	}
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
