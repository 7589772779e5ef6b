package envconf

import (
	"errors"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
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

	// Merge keeps only variables without a problem yet, all of their
	// problems.
	var more Problems
	more.Add("A_VAR", "out of range")
	more.Add("C_VAR", "one")
	more.Add("C_VAR", "two")
	ps.Merge(more)
	if got, want := ps.Err().Error(), "A_VAR: \"x\" is bad\nB_VAR: required\nC_VAR: one\nC_VAR: two"; got != want {
		t.Errorf("after Merge: %q, want %q", got, want)
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
	if d := Parse(&ps, "X", " 90s ", Duration); d != 90*time.Second || len(ps) != 0 {
		t.Errorf("Parse(Duration) = %v, %v", d, ps.Err())
	}
	Parse(&ps, "X", "90", Duration)
	if err := ps.Err(); err == nil || !strings.HasPrefix(err.Error(), `X: "90" is not a duration`) {
		t.Errorf("Parse(Duration) without unit: %v", err)
	}
	ps = nil
	CheckLogFormat("xml", &ps)
	CheckLogFormat("json", &ps)
	if err := ps.Err(); err == nil || err.Error() != `LOG_FORMAT: "xml" is not json or text` {
		t.Errorf("CheckLogFormat: %v", err)
	}
	ps = nil
	if l, _ := (LogEnv{Level: "verbose", Format: "json"}).Parse(&ps); l != 0 || !ps.Has(LogVars.Level) {
		t.Errorf("LogEnv.Parse of a bad level: %v %v", l, ps.Err())
	}
	if err := ps.Err(); err == nil || err.Error() != `LOG_LEVEL: "verbose" is not one of debug, info, warn, error` {
		t.Errorf("LogEnv.Parse message: %v", err)
	}
}

// TestParsers: each kind's value, or its message after the quoted value.
func TestParsers(t *testing.T) {
	cases := []struct {
		name, in string
		parse    func(string) (any, error)
		want     any
		wantErr  string
		reason   string
	}{
		{"int", " 42 ", anyOf(Int), 42, "", "spaces are ignored"},
		{"int word", "many", anyOf(Int), 0, "is not a whole number", "not a number"},
		{"bool", "1", anyOf(Bool), true, "", "strconv.ParseBool's words"},
		{"bool word", "yes", anyOf(Bool), false, "is not a boolean (true or false)", "yes is not among them"},
		{"duration", "1m30s", anyOf(Duration), 90 * time.Second, "", "a Go duration"},
		{"bytes", "2 GiB", anyOf(Bytes), int64(2 << 30), "", "a suffix after a space"},
		{"bytes lower", "512mib", anyOf(Bytes), int64(512 << 20), "", "any case"},
		{"bytes SI", "256MB", anyOf(Bytes), int64(0), "is not a size: use a number of bytes, or a number followed by KiB, MiB or GiB", "MB is ambiguous"},
		{"bytes negative", "-1", anyOf(Bytes), int64(0), "is not a size: use a number of bytes, or a number followed by KiB, MiB or GiB", "no sign"},
		{"bytes overflow", "99999999999GiB", anyOf(Bytes), int64(0), "is too large", "does not fit in int64"},
		{"level", "WARN", anyOf(Level), slog.LevelWarn, "", "any case"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.wantErr || got != tc.want {
				t.Errorf("%s: %q gives %v, %q; want %v, %q", tc.reason, tc.in, got, gotErr, tc.want, tc.wantErr)
			}
		})
	}
}

func anyOf[T any](parse func(string) (T, error)) func(string) (any, error) {
	return func(s string) (any, error) { v, err := parse(s); return v, err }
}

// TestChecks: the shared rules and their messages.
func TestChecks(t *testing.T) {
	var ps Problems
	Positive(&ps, "A", 0)
	Positive(&ps, "B", time.Second)
	Between(&ps, "C", 11, 0, 10)
	Between(&ps, "D", math.NaN(), 0, 1)
	Ignored(&ps, "E is not true", "F", "x", "G", "")
	Schedule(&ps, "H", "every 30s")
	ListenAddr(&ps, "I", "")
	ListenAddr(&ps, "J", "9309")
	want := []string{
		"A: must be greater than 0, got 0",
		"C: must be between 0 and 10, got 11",
		"D: must be between 0 and 1, got NaN",
		"F: is set but E is not true",
		`H: "every 30s" is not a cron spec: `,
		`J: "9309" is not [host]:port: `,
	}
	if len(ps) != len(want) {
		t.Fatalf("problems:\n%v\nwant %d", ps.Err(), len(want))
	}
	for i, p := range ps {
		if !strings.HasPrefix(p.Error(), want[i]) {
			t.Errorf("problem %d = %q, want %q...", i, p.Error(), want[i])
		}
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
