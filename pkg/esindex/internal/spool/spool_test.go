package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testRecords(n int, tag string) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, `{"id":"%s-%c","body":{"x":"%s\n"}}`, tag, 'a'+i, tag)
	}
	return recs
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	sp, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	a, b := testRecords(3, "a"), testRecords(2, "b")
	for _, recs := range [][][]byte{a, b} {
		if dropped, err := sp.Add(recs); err != nil || dropped != 0 {
			t.Fatalf("add: %d dropped, %v", dropped, err)
		}
	}
	// A crash mid-write leaves a temporary file; a stranger's file is left alone.
	if err := os.WriteFile(filepath.Join(dir, tmpPrefix+"123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	sp2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp2.segs) != 2 || sp2.segs[0].Records != 3 || sp2.segs[1].Records != 2 || sp2.next != 3 {
		t.Fatalf("reopened spool: %+v next %d; want segments of 3 and 2 records, next 3", sp2.segs, sp2.next)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+"123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("a file that is not ours was touched: %v", err)
	}
	_, want := sp.Depth()
	if n, size := sp2.Depth(); n != 2 || size != want {
		t.Errorf("depth %d segments, %d bytes; want 2, %d", n, size, want)
	}
	oldest, ok := sp2.Oldest()
	if !ok {
		t.Fatal("Oldest: empty spool")
	}
	got, missing, err := sp2.Read(oldest)
	if err != nil || missing != 0 || len(got) != 3 {
		t.Fatalf("read: %d records, %d missing, %v", len(got), missing, err)
	}
	for i := range a {
		if !bytes.Equal(got[i], a[i]) {
			t.Errorf("record %d: read %s, wrote %s", i, got[i], a[i])
		}
	}

	// Replacing the oldest with what is left keeps its place; with nothing
	// left it goes.
	if err := sp2.ReplaceOldest(got[2:]); err != nil {
		t.Fatal(err)
	}
	if sp2.segs[0].Records != 1 || sp2.segs[0].seq != 1 {
		t.Errorf("after a partial replay the oldest segment is %+v, want seq 1 with 1 record", sp2.segs[0])
	}
	if err := sp2.ReplaceOldest(nil); err != nil {
		t.Fatal(err)
	}
	if len(sp2.segs) != 1 || sp2.segs[0].seq != 2 {
		t.Errorf("after a full replay: %+v, want only seq 2", sp2.segs)
	}
}

func TestDropsOldest(t *testing.T) {
	seg, _ := encodeSegment(testRecords(4, "x"))
	size := int64(len(seg))
	for _, tc := range []struct {
		name        string
		limit       int64
		adds        int
		wantDropped int
		wantSegs    int
		wantErr     error
	}{
		{"room for all", 3 * size, 3, 0, 3, nil},
		{"room for two: the third drops the first", 2*size + size/2, 3, 4, 2, nil},
		{"room for one: each add drops the previous", size, 3, 8, 1, nil},
		{"no room at all: nothing written, nothing dropped", size - 1, 1, 0, 0, ErrFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := Open(t.TempDir(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			dropped := 0
			var lastErr error
			for i := range tc.adds {
				n, err := sp.Add(testRecords(4, string(rune('a'+i))))
				dropped += n
				lastErr = err
			}
			if !errors.Is(lastErr, tc.wantErr) || dropped != tc.wantDropped || len(sp.segs) != tc.wantSegs {
				t.Errorf("dropped %d, %d segments, err %v; want %d, %d, %v", dropped, len(sp.segs), lastErr, tc.wantDropped, tc.wantSegs, tc.wantErr)
			}
			if _, n := sp.Depth(); n > tc.limit {
				t.Errorf("spool holds %d bytes, over its limit %d", n, tc.limit)
			}
			if tc.wantSegs > 0 {
				first, _, _ := sp.Read(sp.segs[0])
				if want := `{"id":"` + string(rune('a'+tc.adds-tc.wantSegs)); !bytes.HasPrefix(first[0], []byte(want)) {
					t.Errorf("oldest kept segment starts with %s; the oldest were not the ones dropped", first[0])
				}
			}
		})
	}
}

func TestDamagedSegments(t *testing.T) {
	dir := t.TempDir()
	good, _ := encodeSegment(testRecords(3, "g"))
	// A header promising 3 records, one good line, one garbage line.
	lines := bytes.SplitAfter(good, []byte("\n"))
	cut := append(append(bytes.Clone(lines[0]), lines[1]...), []byte("{not json\n")...)
	files := map[string][]byte{
		"seg-00000000000000000001.ndjson": []byte("garbage header\n"),
		"seg-00000000000000000002.ndjson": cut,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sp, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	notes := sp.TakeNotes()
	if len(sp.segs) != 1 || len(notes) != 1 || !strings.Contains(notes[0], "set aside") {
		t.Fatalf("segments %+v, notes %q; want the bad header set aside and noted", sp.segs, notes)
	}
	if again := sp.TakeNotes(); len(again) != 0 {
		t.Errorf("notes given twice: %q", again)
	}
	if _, err := os.Stat(filepath.Join(dir, "seg-00000000000000000001.ndjson"+corruptSuffix)); err != nil {
		t.Errorf("the damaged segment was not kept aside: %v", err)
	}
	// The spool does not read records: the garbage line is a record like
	// any other; the third is missing.
	recs, missing, err := sp.Read(sp.segs[0])
	if err != nil || len(recs) != 2 || missing != 1 {
		t.Errorf("read: %d records, %d missing, %v; want 2 and 1 missing", len(recs), missing, err)
	}
}

func TestRecordWithNewline(t *testing.T) {
	sp, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Add([][]byte{[]byte("a\nb")}); err == nil {
		t.Error("Add took a record with a newline, which would split its line")
	}
	if n, _ := sp.Depth(); n != 0 {
		t.Errorf("%d segments after a refused add, want 0", n)
	}
}
