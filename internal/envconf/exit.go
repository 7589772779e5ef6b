package envconf

import (
	"errors"
	"fmt"
	"io"
)

// UsageError is an invalid command line or configuration: the program exits
// with status 2 and prints it, one problem a line.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitCode is a program's exit status for the error run returned: 0 for
// none, 2 for a UsageError (printed on stderr after the program's name), 1
// otherwise (the failure was logged where it was handled).
func ExitCode(err error, stderr io.Writer, program string) int {
	if err == nil {
		return 0
	}
	var ue UsageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, program+":", ue.Err)
		return 2
	}
	return 1
}
