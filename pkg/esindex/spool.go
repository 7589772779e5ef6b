package esindex

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

// The spool keeps, on disk, the documents that could not be written, until a
// later Write replays them. It is a directory of segment files, one per tick
// that left documents unwritten, named seg-<sequence>.ndjson so that the
// order of the names is the order of the ticks. A segment is NDJSON: a header
// line {"lagwatch_spool":1,"docs":N}, then one line per document
// {"index":...,"id":...,"body":{...}}. Segments are written to a temporary
// file, synced, and renamed into place, so a crash leaves either the whole
// segment or none of it. A spool directory belongs to one Writer at a time.

const (
	spoolFormat   = 1
	segPrefix     = "seg-"
	segSuffix     = ".ndjson"
	tmpPrefix     = ".tmp-"
	corruptSuffix = ".corrupt"
)

// errSpoolFull says a segment is larger than the whole spool may be.
var errSpoolFull = errors.New("larger than the spool's size limit")

type segment struct {
	seq   uint64
	path  string
	bytes int64
	docs  int
}

type spool struct {
	dir  string
	max  int64
	segs []segment // oldest first
	next uint64
	// notes are problems found while opening the spool, reported by the
	// next Write.
	notes []string

	// depth, for SpoolDepth without taking the Writer's lock.
	nsegs  atomic.Int64
	nbytes atomic.Int64
}

type spoolHeader struct {
	Format int `json:"lagwatch_spool"`
	Docs   int `json:"docs"`
}

type spoolLine struct {
	Index string          `json:"index"`
	ID    string          `json:"id"`
	Body  json.RawMessage `json:"body"`
}

// openSpool opens (creating it if needed) the spool in dir and lists its
// segments. Temporary files a crash left behind are removed; a segment whose
// header cannot be read is renamed to *.corrupt and noted.
func openSpool(dir string, limit int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sp := &spool{dir: dir, max: limit, next: 1}
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
func statSegment(path string, seq uint64) (segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return segment{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return segment{}, err
	}
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return segment{}, fmt.Errorf("read header: %w", err)
	}
	var h spoolHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Format != spoolFormat || h.Docs < 0 {
		return segment{}, fmt.Errorf("bad header %.100q", line)
	}
	return segment{seq: seq, path: path, bytes: fi.Size(), docs: h.Docs}, nil
}

func (sp *spool) publish() {
	var n int64
	for _, s := range sp.segs {
		n += s.bytes
	}
	sp.nsegs.Store(int64(len(sp.segs)))
	sp.nbytes.Store(n)
}

func (sp *spool) total() int64 { return sp.nbytes.Load() }

// add appends docs to the spool as a new segment. When the segment would take
// the spool over its limit, the oldest segments are deleted first; dropped is
// the number of documents they held. A segment larger than the whole limit is
// not written (errSpoolFull).
func (sp *spool) add(docs []doc) (dropped int, err error) {
	data, err := encodeSegment(docs)
	if err != nil {
		return 0, err
	}
	if int64(len(data)) > sp.max {
		return 0, fmt.Errorf("%d documents (%d bytes): %w (%d bytes)", len(docs), len(data), errSpoolFull, sp.max)
	}
	for len(sp.segs) > 0 && sp.total()+int64(len(data)) > sp.max {
		old := sp.segs[0]
		if err := os.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dropped, fmt.Errorf("drop oldest spool segment: %w", err)
		}
		dropped += old.docs
		sp.segs = sp.segs[1:]
		sp.publish()
	}
	seg := segment{seq: sp.next, bytes: int64(len(data)), docs: len(docs)}
	seg.path = filepath.Join(sp.dir, fmt.Sprintf("%s%020d%s", segPrefix, seg.seq, segSuffix))
	if err := writeFileAtomic(seg.path, data); err != nil {
		return dropped, err
	}
	sp.next++
	sp.segs = append(sp.segs, seg)
	sp.publish()
	return dropped, nil
}

// read returns the documents of a segment. Lines that cannot be decoded are
// counted in bad, with the first decoding error in badErr.
func (sp *spool) read(seg segment) (docs []doc, bad int, badErr error, err error) {
	f, err := os.Open(seg.path)
	if err != nil {
		return nil, 0, nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	if _, err := r.ReadBytes('\n'); err != nil { // header, checked on open
		return nil, 0, nil, fmt.Errorf("read header: %w", err)
	}
	docs = make([]doc, 0, seg.docs)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var l spoolLine
			switch derr := json.Unmarshal(line, &l); {
			case derr != nil:
				bad++
				badErr = cmpOr(badErr, derr)
			case l.Index == "" || l.ID == "" || len(l.Body) == 0:
				bad++
				badErr = cmpOr(badErr, errors.New("a line lacks index, id or body"))
			default:
				docs = append(docs, doc{index: l.Index, id: l.ID, body: []byte(l.Body)})
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, nil, err
		}
	}
	// A header promising more documents than there are lines means the file
	// was cut: count the missing ones as bad.
	if missing := seg.docs - len(docs) - bad; missing > 0 {
		bad += missing
		badErr = cmpOr(badErr, fmt.Errorf("%d documents missing from the segment", missing))
	}
	return docs, bad, badErr, nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// replace rewrites the oldest segment with only the documents still to write,
// keeping its place in the order; with none left it deletes the segment.
func (sp *spool) replace(docs []doc) error {
	seg := sp.segs[0]
	if len(docs) == 0 {
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		sp.segs = sp.segs[1:]
		sp.publish()
		return nil
	}
	data, err := encodeSegment(docs)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(seg.path, data); err != nil {
		return err
	}
	sp.segs[0].bytes, sp.segs[0].docs = int64(len(data)), len(docs)
	sp.publish()
	return nil
}

// encodeSegment renders a segment's header and document lines.
func encodeSegment(docs []doc) ([]byte, error) {
	size := 64
	for _, d := range docs {
		size += len(d.index) + len(d.id) + len(d.body) + 32
	}
	b := make([]byte, 0, size)
	b = append(b, `{"lagwatch_spool":`...)
	b = strconv.AppendInt(b, spoolFormat, 10)
	b = append(b, `,"docs":`...)
	b = strconv.AppendInt(b, int64(len(docs)), 10)
	b = append(b, "}\n"...)
	for _, d := range docs {
		if bytes.IndexByte(d.body, '\n') >= 0 {
			// Our encoder never writes a newline; a body with one would
			// split its line.
			return nil, fmt.Errorf("document %s: body contains a newline", d.id)
		}
		b = append(b, `{"index":`...)
		b = appendString(b, d.index)
		b = append(b, `,"id":`...)
		b = appendString(b, d.id)
		b = append(b, `,"body":`...)
		b = append(b, d.body...)
		b = append(b, "}\n"...)
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
