// Package golden compares what a test produced with a file kept under the
// test's testdata folder, and rewrites that file when the tests run with
// -update. Only tests import it; it imports nothing of lagwatch's.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the tests produce")

// Updating reports whether the tests run with -update.
func Updating() bool { return *update }

// Check fails t unless got equals the golden file at path (relative to the
// package under test, e.g. testdata/x.json). With -update it writes got
// there instead, creating the folder if needed. what says what the file
// holds, for the failure message.
func Check(t testing.TB, path string, got []byte, what string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (if the change is intended, run go test -update and review the diff); got:\n%s", what, path, got)
	}
}
