// Package spool keeps, on disk, records that could not be delivered now,
// until a later attempt replays them in the order they were added. A record
// is an opaque line of bytes (no newline in it): the spool knows nothing of
// what the records say or where they go.
//
// A spool is a directory of segment files, one per Add, named
// seg-<sequence>.ndjson so that the order of the names is the order of the
// adds. A segment is a header line {"lagwatch_spool":1,"docs":N} followed by
// its N records, one per line. Segments are written to a temporary file,
// synced, and renamed into place, so a crash leaves either the whole segment
// or none of it. The size of the directory is bounded: adding a segment that
// would go over the limit deletes the oldest segments first. A spool
// directory belongs to one Spool at a time.
//
// It imports nothing of lagwatch's: no Elasticsearch, no document encoding.
package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

const (
	format        = 1
	segPrefix     = "seg-"
	segSuffix     = ".ndjson"
	tmpPrefix     = ".tmp-"
	corruptSuffix = ".corrupt"
)

// ErrFull says a segment is larger than the whole spool may be.
var ErrFull = errors.New("larger than the spool's size limit")

// Segment is one Add's records on disk.
type Segment struct {
	seq   uint64
	path  string
	bytes int64
	// Records is the number of records the segment's header promises.
	Records int
}

// Spool is an on-disk queue of segments, oldest first. Its methods other
// than Depth are not safe for concurrent use: the caller serialises them.
type Spool struct {
	dir  string
	max  int64
	segs []Segment // oldest first
	next uint64

	// notes are problems found while opening the spool.
	notes []string

	// depth, for Depth without the caller's lock.
	nsegs  atomic.Int64
	nbytes atomic.Int64
}

type header struct {
	Format int `json:"lagwatch_spool"`
	Docs   int `json:"docs"`
}

// Open opens (creating it if needed) the spool in dir, whose segments may
// take at most maxBytes, and lists its segments. Temporary files a crash
// left behind are removed; a segment whose header cannot be read is renamed
// to *.corrupt and noted (see TakeNotes). Files that are not the spool's
// are left alone.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sp := &Spool{dir: dir, max: maxBytes, next: 1}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			if err := os.Remove(path); err != nil {
				return nil, err
			}
			continue
		case !e.Type().IsRegular() || !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix):
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue // not ours
		}
		seg, err := statSegment(path, seq)
		if err != nil {
			sp.notes = append(sp.notes, fmt.Sprintf("spool segment %s set aside as %s: %v", name, name+corruptSuffix, err))
			if err := os.Rename(path, path+corruptSuffix); err != nil {
				return nil, err
			}
			continue
		}
		sp.segs = append(sp.segs, seg)
		sp.next = max(sp.next, seq+1)
	}
	sort.Slice(sp.segs, func(i, j int) bool { return sp.segs[i].seq < sp.segs[j].seq })
	sp.publish()
	return sp, nil
}

// statSegment reads a segment's size and header.
func statSegment(path string, seq uint64) (Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return Segment{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Segment{}, err
	}
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return Segment{}, fmt.Errorf("read header: %w", err)
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil || h.Format != format || h.Docs < 0 {
		return Segment{}, fmt.Errorf("bad header %.100q", line)
	}
	return Segment{seq: seq, path: path, bytes: fi.Size(), Records: h.Docs}, nil
}

func (sp *Spool) publish() {
	var n int64
	for _, s := range sp.segs {
		n += s.bytes
	}
	sp.nsegs.Store(int64(len(sp.segs)))
	sp.nbytes.Store(n)
}

// Depth is the number of segments and their size in bytes. It is safe to
// call at any time.
func (sp *Spool) Depth() (segments int, bytes int64) {
	return int(sp.nsegs.Load()), sp.nbytes.Load()
}

// MaxBytes is the size limit the spool was opened with.
func (sp *Spool) MaxBytes() int64 { return sp.max }

// TakeNotes returns the problems found while opening the spool (segments
// set aside), once.
func (sp *Spool) TakeNotes() []string {
	n := sp.notes
	sp.notes = nil
	return n
}

// Add appends records to the spool as a new segment. When the segment would
// take the spool over its limit, the oldest segments are deleted first;
// dropped is the number of records they held. A segment larger than the
// whole limit is not written (ErrFull). A record must not contain a newline.
func (sp *Spool) Add(records [][]byte) (dropped int, err error) {
	data, err := encodeSegment(records)
	if err != nil {
		return 0, err
	}
	if int64(len(data)) > sp.max {
		return 0, fmt.Errorf("%d documents (%d bytes): %w (%d bytes)", len(records), len(data), ErrFull, sp.max)
	}
	for len(sp.segs) > 0 && sp.nbytes.Load()+int64(len(data)) > sp.max {
		old := sp.segs[0]
		if err := os.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dropped, fmt.Errorf("drop oldest spool segment: %w", err)
		}
		dropped += old.Records
		sp.segs = sp.segs[1:]
		sp.publish()
	}
	seg := Segment{seq: sp.next, bytes: int64(len(data)), Records: len(records)}
	seg.path = filepath.Join(sp.dir, fmt.Sprintf("%s%020d%s", segPrefix, seg.seq, segSuffix))
	if err := writeFileAtomic(seg.path, data); err != nil {
		return dropped, err
	}
	sp.next++
	sp.segs = append(sp.segs, seg)
	sp.publish()
	return dropped, nil
}

// Oldest returns the oldest segment; false when the spool is empty.
func (sp *Spool) Oldest() (Segment, bool) {
	if len(sp.segs) == 0 {
		return Segment{}, false
	}
	return sp.segs[0], true
}

// Read returns the records of seg, in order; blank lines are skipped.
// missing is how many records the header promised beyond the lines found (a
// cut file).
func (sp *Spool) Read(seg Segment) (records [][]byte, missing int, err error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	if _, err := r.ReadBytes('\n'); err != nil { // header, checked on open
		return nil, 0, fmt.Errorf("read header: %w", err)
	}
	records = make([][]byte, 0, seg.Records)
	for {
		line, err := r.ReadBytes('\n')
		if rec := bytes.TrimSpace(line); len(rec) > 0 {
			records = append(records, rec)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
	}
	return records, max(seg.Records-len(records), 0), nil
}

// ReplaceOldest rewrites the oldest segment with only the records still to
// deliver, keeping its place in the order; with none left it deletes the
// segment.
func (sp *Spool) ReplaceOldest(records [][]byte) error {
	seg := sp.segs[0]
	if len(records) == 0 {
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		sp.segs = sp.segs[1:]
		sp.publish()
		return nil
	}
	data, err := encodeSegment(records)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(seg.path, data); err != nil {
		return err
	}
	sp.segs[0].bytes, sp.segs[0].Records = int64(len(data)), len(records)
	sp.publish()
	return nil
}

// encodeSegment renders a segment's header and record lines.
func encodeSegment(records [][]byte) ([]byte, error) {
	size := 64
	for _, r := range records {
		size += len(r) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"lagwatch_spool":`...)
	b = strconv.AppendInt(b, format, 10)
	b = append(b, `,"docs":`...)
	b = strconv.AppendInt(b, int64(len(records)), 10)
	b = append(b, "}\n"...)
	for i, r := range records {
		if bytes.IndexByte(r, '\n') >= 0 {
			return nil, fmt.Errorf("record %d contains a newline", i)
		}
		b = append(b, r...)
		b = append(b, '\n')
	}
	return b, nil
}

// writeFileAtomic writes data to path through a synced temporary file in the
// same directory, renamed into place, then syncs the directory so that the
// rename survives a crash.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some platforms cannot sync a directory; the rename is then as durable
	// as the platform makes it.
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
