package envconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Main is a program's main: it calls run with a context that SIGINT and
// SIGTERM cancel, and exits with the status code gives for run's error
// (ExitCode, for the programs we ship).
func Main(run func(ctx context.Context) error, code func(err error) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	os.Exit(code(err))
}

// UsageError is an invalid command line or configuration: the program exits
// with status 2 and prints it, one problem a line.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Logged marks an error that the program already reported on stderr, in its
// log (a tick's or an evaluation's summary line): the exit does not print it
// a second time.
type Logged struct{ Err error }

func (e Logged) Error() string { return e.Err.Error() }
func (e Logged) Unwrap() error { return e.Err }

// ExitCode is a program's exit status for the error run returned, and says
// why on stderr: 0 for none; 2 for a UsageError, each of its lines after the
// program's name; 1 otherwise, in one line after the program's name unless
// the error is Logged. No failure exits silently.
func ExitCode(err error, stderr io.Writer, program string) int {
	if err == nil {
		return 0
	}
	var ue UsageError
	if errors.As(err, &ue) {
		for _, line := range strings.Split(ue.Err.Error(), "\n") {
			fmt.Fprintln(stderr, program+":", line)
		}
		return 2
	}
	var logged Logged
	if !errors.As(err, &logged) {
		fmt.Fprintln(stderr, program+":", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return 1
}
