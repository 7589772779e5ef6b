package evaluate

import (
	"encoding/json"
	"testing"
)

func TestStatusText(t *testing.T) {
	cases := []struct {
		name, text, reason string
		status, group      Status
	}{
		{"notfound", "NOTFOUND", "the zero value: a group with no document", NotFound, NotFound},
		{"ok", "OK", "OK stays OK at group level", OK, OK},
		{"warn", "WARN", "WARN stays WARN at group level", Warn, Warn},
		{"err", "ERR", "ERR is already a group status", Err, Err},
		{"stop", "STOP", "STOP becomes ERR at group level", Stop, Err},
		{"stall", "STALL", "STALL becomes ERR at group level", Stall, Err},
		{"rewind", "REWIND", "REWIND becomes ERR at group level", Rewind, Err},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.status.String(); got != tc.text {
				t.Errorf("String() = %q, want %q (%s)", got, tc.text, tc.reason)
			}
			b, err := tc.status.MarshalText()
			if err != nil || string(b) != tc.text {
				t.Fatalf("MarshalText() = %q, %v; want %q", b, err, tc.text)
			}
			var back Status
			if err := back.UnmarshalText(b); err != nil || back != tc.status {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, tc.status)
			}
			if got := tc.status.Group(); got != tc.group {
				t.Errorf("Group() = %v, want %v (%s)", got, tc.group, tc.reason)
			}
			// Through JSON, as in a status document or the Burrow view.
			j, err := json.Marshal(struct{ S Status }{tc.status})
			if err != nil || string(j) != `{"S":"`+tc.text+`"}` {
				t.Fatalf("json.Marshal = %s, %v", j, err)
			}
			var v struct{ S Status }
			if err := json.Unmarshal(j, &v); err != nil || v.S != tc.status {
				t.Errorf("json.Unmarshal(%s) = %v, %v", j, v.S, err)
			}
		})
	}
}

func TestStatusOrder(t *testing.T) {
	// Worse compares greater: the group aggregation takes the maximum.
	order := []Status{NotFound, OK, Warn, Err, Stop, Stall, Rewind}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("%v >= %v, want Burrow's order", order[i-1], order[i])
		}
	}
}

func TestStatusInvalid(t *testing.T) {
	cases := []struct {
		name   string
		text   string
		reason string
	}{
		{"lower case", "ok", "Burrow's strings are upper case and matched exactly"},
		{"unknown", "UNKNOWN", "String's fallback is not a status"},
		{"empty", "", "an absent status is not NOTFOUND"},
		{"padded", " OK", "no trimming"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Status
			if err := s.UnmarshalText([]byte(tc.text)); err == nil {
				t.Errorf("UnmarshalText(%q) = %v, nil; want an error (%s)", tc.text, s, tc.reason)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		// Refused rather than written as "UNKNOWN", so nothing unreadable is stored.
		if b, err := Status(7).MarshalText(); err == nil {
			t.Errorf("MarshalText(7) = %q, nil; want an error", b)
		}
		if got := Status(-1).String(); got != "UNKNOWN" {
			t.Errorf("String(-1) = %q, want UNKNOWN", got)
		}
	})
}
