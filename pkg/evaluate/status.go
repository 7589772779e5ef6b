package evaluate

import "fmt"

// Status is the health of a partition or a group, ordered by severity: a
// greater value is worse. The values and their order are Burrow's
// (core/protocol StatusConstant), so a status compares, sorts and serialises
// exactly as Burrow's does:
//
//	NOTFOUND < OK < WARN < ERR < STOP < STALL < REWIND
//
// A group is NOTFOUND, OK, WARN or ERR. A partition is OK, WARN, STOP, STALL
// or REWIND; the last three become ERR at group level (see Status.Group).
// The zero value is NOTFOUND: a group nothing is known about.
type Status int

const (
	// NotFound: the group has no document in the window. Groups only.
	NotFound Status = iota
	// OK: the partition keeps up (or there is not enough history to say
	// otherwise); for a group, every partition is OK.
	OK
	// Warn: the consumer commits but falls further behind. Both levels.
	Warn
	// Err: at least one partition is STOP, STALL or REWIND. Groups only.
	Err
	// Stop: the consumer has stopped committing, has lag, and no live member
	// owns the partition. Partitions only.
	Stop
	// Stall: a live member owns the partition but its committed offset does
	// not move while there is lag. Partitions only.
	Stall
	// Rewind: the committed offset went backwards and has not recovered.
	// Partitions only.
	Rewind
)

// statusNames are Burrow's strings, indexed by Status.
var statusNames = [...]string{"NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL", "REWIND"}

// String returns Burrow's name for s, or "UNKNOWN" (as Burrow does) for a
// value outside the defined range.
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return "UNKNOWN"
	}
	return statusNames[s]
}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool { return s >= 0 && int(s) < len(statusNames) }

// Group maps a partition status to the group level: STOP, STALL and REWIND
// become ERR; every other status is returned unchanged.
func (s Status) Group() Status {
	if s > Err {
		return Err
	}
	return s
}

// MarshalText writes Burrow's string. Unlike Burrow, which writes "UNKNOWN",
// it refuses a value outside the defined range so that no unreadable status
// is ever stored.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("marshal status: invalid value %d", int(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText reads one of Burrow's strings, exactly as MarshalText writes
// it (case-sensitive).
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseStatus returns the Status named by one of Burrow's strings ("OK",
// "WARN", ...). The match is case-sensitive.
func ParseStatus(name string) (Status, error) {
	for i, n := range statusNames {
		if n == name {
			return Status(i), nil
		}
	}
	return NotFound, fmt.Errorf("parse status %q: not one of %v", name, statusNames)
}
