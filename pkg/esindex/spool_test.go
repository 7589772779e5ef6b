package esindex

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testDocs(n int, tag string) []doc {
	docs := make([]doc, n)
	for i := range docs {
		docs[i] = doc{index: "metrics-lagwatch.offsets-t", id: tag + "-" + string(rune('a'+i)),
			body: []byte(`{"@timestamp":"2026-01-01T00:00:00.000Z","kafka":{"topic":{"name":"` + tag + `\n"}}}`)}
	}
	return docs
}

func TestSpoolRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	a, b := testDocs(3, "a"), testDocs(2, "b")
	for _, docs := range [][]doc{a, b} {
		if dropped, err := sp.add(docs); err != nil || dropped != 0 {
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

	sp2, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp2.segs) != 2 || sp2.segs[0].docs != 3 || sp2.segs[1].docs != 2 || sp2.next != 3 {
		t.Fatalf("reopened spool: %+v next %d; want segments of 3 and 2 documents, next 3", sp2.segs, sp2.next)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+"123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("a file that is not ours was touched: %v", err)
	}
	if n, size := sp2.nsegs.Load(), sp2.nbytes.Load(); n != 2 || size != sp.nbytes.Load() {
		t.Errorf("depth %d segments, %d bytes; want 2, %d", n, size, sp.nbytes.Load())
	}
	got, bad, _, err := sp2.read(sp2.segs[0])
	if err != nil || bad != 0 || len(got) != 3 {
		t.Fatalf("read: %d docs, %d bad, %v", len(got), bad, err)
	}
	for i := range a {
		if got[i].index != a[i].index || got[i].id != a[i].id || !bytes.Equal(got[i].body, a[i].body) {
			t.Errorf("doc %d: read %+v, wrote %+v", i, got[i], a[i])
		}
	}

	// Replacing the oldest with what is left keeps its place; with nothing
	// left it goes.
	if err := sp2.replace(got[2:]); err != nil {
		t.Fatal(err)
	}
	if sp2.segs[0].docs != 1 || sp2.segs[0].seq != 1 {
		t.Errorf("after a partial replay the oldest segment is %+v, want seq 1 with 1 document", sp2.segs[0])
	}
	if err := sp2.replace(nil); err != nil {
		t.Fatal(err)
	}
	if len(sp2.segs) != 1 || sp2.segs[0].seq != 2 {
		t.Errorf("after a full replay: %+v, want only seq 2", sp2.segs)
	}
}

func TestSpoolDropsOldest(t *testing.T) {
	seg, _ := encodeSegment(testDocs(4, "x"))
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
		{"no room at all: nothing written, nothing dropped", size - 1, 1, 0, 0, errSpoolFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := openSpool(t.TempDir(), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			dropped := 0
			var lastErr error
			for i := range tc.adds {
				n, err := sp.add(testDocs(4, string(rune('a'+i))))
				dropped += n
				lastErr = err
			}
			if !errors.Is(lastErr, tc.wantErr) || dropped != tc.wantDropped || len(sp.segs) != tc.wantSegs {
				t.Errorf("dropped %d, %d segments, err %v; want %d, %d, %v", dropped, len(sp.segs), lastErr, tc.wantDropped, tc.wantSegs, tc.wantErr)
			}
			if sp.total() > tc.limit {
				t.Errorf("spool holds %d bytes, over its limit %d", sp.total(), tc.limit)
			}
			if tc.wantSegs > 0 {
				if first, _, _, _ := sp.read(sp.segs[0]); !strings.HasPrefix(first[0].id, string(rune('a'+tc.adds-tc.wantSegs))) {
					t.Errorf("oldest kept segment starts with %s; the oldest were not the ones dropped", first[0].id)
				}
			}
		})
	}
}

func TestSpoolDamagedSegments(t *testing.T) {
	dir := t.TempDir()
	good, _ := encodeSegment(testDocs(3, "g"))
	// A header promising 3 documents, one good line, one garbage line.
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
	sp, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.segs) != 1 || len(sp.notes) != 1 || !strings.Contains(sp.notes[0], "set aside") {
		t.Fatalf("segments %+v, notes %q; want the bad header set aside and noted", sp.segs, sp.notes)
	}
	if _, err := os.Stat(filepath.Join(dir, "seg-00000000000000000001.ndjson"+corruptSuffix)); err != nil {
		t.Errorf("the damaged segment was not kept aside: %v", err)
	}
	docs, bad, badErr, err := sp.read(sp.segs[0])
	if err != nil || len(docs) != 1 || bad != 2 || badErr == nil {
		t.Errorf("read: %d docs, %d bad (%v), %v; want 1 good, 2 bad (garbage and missing)", len(docs), bad, badErr, err)
	}
}

// The Writer tests below need no Elasticsearch: nothing listens on the
// address, as in an outage.

const closedURL = "http://127.0.0.1:1"

func TestWriteWithoutSpoolLosesAndSays(t *testing.T) {
	names, _ := NewNames("unit")
	w := newWriter(t, clientFor(t, closedURL), names, WriterOptions{MaxRetries: -1})
	r, err := w.Write(context.Background(), tickSnapshot(0, 1, 3))
	if !errors.Is(err, ErrLost) || r.Dropped != 4 || r.Spooled != 0 {
		t.Fatalf("Write = %+v, %v; want 4 dropped and ErrLost", r, err)
	}
}

func TestWriteTooBigForSpool(t *testing.T) {
	names, _ := NewNames("unit")
	w := newWriter(t, clientFor(t, closedURL), names, WriterOptions{SpoolDir: t.TempDir(), SpoolMaxBytes: 100, MaxRetries: -1})
	r, err := w.Write(context.Background(), tickSnapshot(0, 1, 3))
	if !errors.Is(err, ErrLost) || r.Dropped != 4 || r.Spooled != 0 || !strings.Contains(err.Error(), "spool") {
		t.Fatalf("Write = %+v, %v; want 4 dropped, ErrLost naming the spool", r, err)
	}
}

func TestWriteCancelledContextSpools(t *testing.T) {
	names, _ := NewNames("unit")
	w := newWriter(t, clientFor(t, closedURL), names, WriterOptions{SpoolDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	r, err := w.Write(ctx, tickSnapshot(0, 2, 3))
	if err != nil || r.Spooled != 8 || r.Retried != 0 {
		t.Fatalf("Write = %+v, %v; want all 8 spooled at once", r, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a cancelled Write took %s", d)
	}
	// The spool is not empty and the context is done: the next tick queues
	// behind it, in order.
	r, err = w.Write(ctx, tickSnapshot(1, 2, 3))
	if err != nil || r.Spooled != 8 {
		t.Fatalf("second Write = %+v, %v", r, err)
	}
	if segs, _ := w.SpoolDepth(); segs != 2 {
		t.Errorf("%d segments, want 2", segs)
	}
}

func TestNewWriterValidation(t *testing.T) {
	names, _ := NewNames("unit")
	es := clientFor(t, closedURL)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		names   Names
		opts    WriterOptions
		wantErr string
	}{
		{"zero options are the defaults", names, WriterOptions{}, ""},
		{"names not from NewNames", Names{}, WriterOptions{}, "names"},
		{"negative spool size", names, WriterOptions{SpoolMaxBytes: -1}, "SpoolMaxBytes"},
		{"negative retry wait", names, WriterOptions{RetryBase: -time.Second}, "RetryBase"},
		{"spool dir is a file", names, WriterOptions{SpoolDir: file}, "SpoolDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWriter(es, tc.names, tc.opts)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("NewWriter = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}
