package esindex

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex/internal/spool"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// Defaults for zero WriterOptions fields.
const (
	DefaultSpoolMaxBytes = 256 << 20
	DefaultMaxRetries    = 3
	DefaultRetryBase     = 500 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
	DefaultFlushBytes    = 5 << 20
	DefaultWorkers       = 2
	maxProblems          = 10
	maxReasonLen         = 300
	maxExampleLen        = 1024
)

// ErrLost is wrapped by the error Write returns when documents were lost:
// rejected by Elasticsearch, dropped from a full spool, or neither written
// nor spooled.
var ErrLost = errors.New("documents lost")

// WriterOptions configure a Writer. Zero values take the defaults above.
type WriterOptions struct {
	// SpoolDir is the directory of the on-disk spool for documents that
	// cannot be written now. Empty means no spool: such documents are lost
	// and Write says so.
	SpoolDir string
	// SpoolMaxBytes bounds the spool's size on disk; the oldest segments
	// are dropped to stay under it.
	SpoolMaxBytes int64
	// MaxRetries is how many times documents that Elasticsearch answered
	// with 429 or 5xx, or requests that failed, are sent again within one
	// Write before they are spooled. Negative means never.
	MaxRetries int
	// RetryBase is the wait before the first retry; it doubles with each
	// retry up to RetryMax. The waits end early when ctx is done.
	RetryBase, RetryMax time.Duration
	// FlushBytes is the size of one bulk request; Workers the number of
	// bulk requests in flight.
	FlushBytes int
	Workers    int

	// Retention is stored in the templates the Writer installs (see
	// Client.Install); zero keeps documents forever.
	Retention time.Duration
	// InstallTimeout bounds each background installation of the templates
	// (StartInstall); zero means unbounded. The collector gives it a fifth
	// of its tick timeout, so that a hanging Elasticsearch leaves the tick
	// the time to write or spool what it read.
	InstallTimeout time.Duration
	// OnInstall, when set, is called once the templates are installed, with
	// what the cluster does with their lifecycle (Features.Warnings are for
	// the caller to log). It runs on the installing goroutine.
	OnInstall func(Features)
}

// Writer writes snapshots and tick documents to the offsets, groups and
// ticks data streams, exactly once per document: ids are deterministic and
// every write is a create, so a document already stored answers 409 and
// counts as a duplicate.
//
// A Writer does not send anything before lagwatch's index templates are
// installed: a write without them would let Elasticsearch create the data
// streams with other mappings. Until then (Install, or StartInstall then
// AwaitInstall), Write and WriteTick spool.
//
// Write and WriteTick are safe for concurrent use (calls run one at a time);
// SpoolDepth may be called at any time.
type Writer struct {
	sender
	names Names
	opts  WriterOptions
	spool *spool.Spool // nil without a spool

	mu sync.Mutex

	imu        sync.Mutex
	installed  bool
	installing *installAttempt // in flight, nil when none
}

// installAttempt is one background installation of the templates; err is
// set before done is closed.
type installAttempt struct {
	done chan struct{}
	err  error
}

// WriteResult counts what one Write did with documents. Indexed and
// Duplicates include replayed documents; Replayed says how many of the
// written ones came from the spool.
type WriteResult struct {
	// Docs is the number of documents the snapshot made.
	Docs int
	// Indexed were created (201).
	Indexed int
	// Duplicates were already stored (409 on create): not a failure.
	Duplicates int
	// Failed were rejected for their content (a mapping conflict: 400
	// mapper_parsing_exception, document_parsing_exception, ...); they are
	// neither retried nor spooled, since the same bytes would be refused
	// forever and, spooled, would hold every later document behind them.
	// Rejections counts them by cause, Rejection is the first of them.
	Failed int
	// Retried counts documents sent again after a 429, a 5xx, or a failed
	// request (a document sent three times counts two).
	Retried int
	// Refused counts the times Elasticsearch did not take a document for a
	// reason other than its content: a write block or a missing privilege
	// (403), flood stage or overload (429), a server error, a timeout, a
	// connection that failed. Each attempt counts (a document retried twice
	// counts three times); such documents are retried or spooled, never
	// dropped. Refusals counts them by cause.
	Refused int
	// Spooled is the number of this snapshot's documents put in the spool.
	// Documents of a replay that stopped stay in their segment and are not
	// counted again.
	Spooled int
	// Replayed documents from the spool were written (created or duplicate).
	Replayed int
	// Dropped documents were lost: oldest spool segments deleted to respect
	// SpoolMaxBytes, unreadable spool lines, or documents that fitted
	// nowhere.
	Dropped int
	// BulkTook is what Elasticsearch reported spending on the bulk
	// requests (their "took", summed; requests in flight at once add up).
	BulkTook time.Duration
	// Problems lists distinct reasons (at most 10) for everything above
	// that was not a plain success, with how many documents each hit.
	Problems []Problem
	// Refusals and Rejections count Refused and Failed by cause (every
	// cause, where Problems keeps ten reasons).
	Refusals, Rejections []CauseCount
	// Rejection is an example of a document rejected for its content: the
	// first one; nil when none was.
	Rejection *Rejection
}

// CauseCount is how many documents one cause hit.
type CauseCount struct {
	// Cause is Elasticsearch's error type (cluster_block_exception,
	// security_exception, mapper_parsing_exception, ...), http_<status>
	// for an error answer without one, or one of connection, timeout,
	// no_answer, not_sent, bad_response.
	Cause string
	Count int
}

// Rejection is one document Elasticsearch rejected for its content, for a
// log line that shows what it refused.
type Rejection struct {
	Index, ID string
	// Reason is Elasticsearch's error type and reason.
	Reason string
	// Body is the document's source, cut after 1 KiB.
	Body string
}

// Add adds the counts of o to r and appends its problems: the result of
// several writes.
func (r *WriteResult) Add(o WriteResult) {
	r.Docs += o.Docs
	r.Indexed += o.Indexed
	r.Duplicates += o.Duplicates
	r.Failed += o.Failed
	r.Retried += o.Retried
	r.Refused += o.Refused
	r.Spooled += o.Spooled
	r.Replayed += o.Replayed
	r.Dropped += o.Dropped
	r.BulkTook += o.BulkTook
	r.Problems = append(r.Problems, o.Problems...)
	for _, c := range o.Refusals {
		r.Refusals = addCause(r.Refusals, c.Cause, c.Count)
	}
	for _, c := range o.Rejections {
		r.Rejections = addCause(r.Rejections, c.Cause, c.Count)
	}
	if r.Rejection == nil {
		r.Rejection = o.Rejection
	}
}

// Refusal is the problem that refused the most documents for a reason other
// than their content, the one to name when saying why documents were
// spooled; false when none was.
func (r WriteResult) Refusal() (Problem, bool) {
	var top Problem
	for _, p := range r.Problems {
		if (p.Kind == Refused || p.Kind == Temporary) && p.Count > top.Count {
			top = p
		}
	}
	return top, top.Count > 0
}

// ProblemKind classifies a Problem.
type ProblemKind string

const (
	// Rejected: Elasticsearch refused a document for its content (Failed).
	Rejected ProblemKind = "rejected"
	// Temporary: a 429, a 5xx, a failed request or a missing answer; the
	// documents were retried, then spooled if it persisted.
	Temporary ProblemKind = "temporary"
	// Refused: Elasticsearch refused documents for a reason that is not
	// their content and that a retry within seconds would not change: a
	// write block or a missing privilege (403 per document), a missing or
	// closed index, or a whole bulk request answered with a 4xx (401, 403);
	// the documents were spooled without retrying.
	Refused ProblemKind = "refused"
	// Spool: the spool could not take, keep or give back documents.
	Spool ProblemKind = "spool"
)

// Problem is one distinct reason documents were not simply written.
type Problem struct {
	Kind ProblemKind
	// Status is the HTTP status of the item or the request; 0 for a
	// transport error or a spool problem.
	Status int
	// Cause names the reason in a word, as CauseCount does (spool for a
	// spool problem).
	Cause string
	// Reason is Elasticsearch's error type and reason, or the error.
	Reason string
	// Count is the number of documents (or attempts, for Temporary).
	Count int
}

// NewWriter returns a Writer for the Client's data streams. Its templates
// are not installed yet: see Install and StartInstall. With a spool
// directory, the segments a previous Writer left there are found and
// replayed by the first Write that sends.
func (c *Client) NewWriter(opts WriterOptions) (*Writer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new writer: %w", err)
	}
	w := &Writer{sender: newSender(c.es, opts), names: c.names, opts: opts}
	if opts.SpoolDir != "" {
		sp, err := spool.Open(opts.SpoolDir, opts.SpoolMaxBytes)
		if err != nil {
			return nil, fmt.Errorf("new writer: WriterOptions.SpoolDir: %w", err)
		}
		w.spool = sp
	}
	return w, nil
}

// withDefaults checks o and fills its zero fields with the defaults.
func (o WriterOptions) withDefaults() (WriterOptions, error) {
	switch {
	case o.SpoolMaxBytes < 0:
		return o, errors.New("WriterOptions.SpoolMaxBytes is negative")
	case o.RetryBase < 0 || o.RetryMax < 0:
		return o, errors.New("WriterOptions.RetryBase and RetryMax must not be negative")
	case o.FlushBytes < 0 || o.Workers < 0:
		return o, errors.New("WriterOptions.FlushBytes and Workers must not be negative")
	case o.InstallTimeout < 0:
		return o, errors.New("WriterOptions.InstallTimeout is negative")
	}
	if o.SpoolMaxBytes == 0 {
		o.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryBase == 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax == 0 {
		o.RetryMax = max(DefaultRetryMax, o.RetryBase)
	}
	if o.FlushBytes == 0 {
		o.FlushBytes = DefaultFlushBytes
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	return o, nil
}

// Install puts the offsets, groups and ticks templates in now (see
// Client.Install) and, when that worked, lets the Writer send. It calls
// OnInstall as StartInstall's installation does.
func (w *Writer) Install(ctx context.Context) (Features, error) {
	f, err := install(ctx, w.es, w.names, w.opts.Retention)
	if err != nil {
		return f, err
	}
	if w.opts.OnInstall != nil {
		w.opts.OnInstall(f)
	}
	w.imu.Lock()
	w.installed = true
	w.imu.Unlock()
	return f, nil
}

// StartInstall starts installing the templates in the background, unless
// they are installed or an installation is in flight, so that it overlaps
// whatever the caller does next (the collector's Kafka read). The attempt
// is bounded by InstallTimeout, not by any caller's context; AwaitInstall
// collects it.
func (w *Writer) StartInstall() {
	w.imu.Lock()
	defer w.imu.Unlock()
	w.startInstallLocked()
}

func (w *Writer) startInstallLocked() {
	if w.installed || w.installing != nil {
		return
	}
	a := &installAttempt{done: make(chan struct{})}
	w.installing = a
	go func() {
		defer close(a.done)
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if w.opts.InstallTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, w.opts.InstallTimeout)
		}
		defer cancel()
		var f Features
		f, a.err = install(ctx, w.es, w.names, w.opts.Retention)
		if a.err == nil && w.opts.OnInstall != nil {
			w.opts.OnInstall(f)
		}
	}()
}

// AwaitInstall waits for the installation in flight (starting one if there
// is none) and records its outcome: nil once the templates are in, from
// then on at once. When ctx ends first, it returns ctx's error and the
// attempt stays in flight for the next AwaitInstall to collect; a failed
// attempt is collected, and the next StartInstall or AwaitInstall tries
// again.
func (w *Writer) AwaitInstall(ctx context.Context) error {
	w.imu.Lock()
	if w.installed {
		w.imu.Unlock()
		return nil
	}
	w.startInstallLocked()
	a := w.installing
	w.imu.Unlock()
	select {
	case <-a.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.imu.Lock()
	defer w.imu.Unlock()
	if w.installing == a {
		w.installing = nil
		if a.err == nil {
			w.installed = true
		}
	}
	return a.err
}

// Installed reports whether the templates are known to be in, so that
// Write sends.
func (w *Writer) Installed() bool {
	w.imu.Lock()
	defer w.imu.Unlock()
	return w.installed
}

// SpoolDepth is the number of segments in the spool and their size in bytes.
func (w *Writer) SpoolDepth() (segments int, bytes int64) {
	if w.spool == nil {
		return 0, 0
	}
	return w.spool.Depth()
}

// Write writes the documents of s. While the templates are not installed,
// it only spools them. Otherwise it first replays the spool, oldest
// segment first; when that fails, the spool keeps the order and s's
// documents are spooled behind it without being sent. Then it sends s's
// documents: 201 and 409 count as written, 429 and 5xx items and failed
// requests are retried with exponential backoff (bounded by ctx), items
// refused for another reason than their content (a write block, a missing
// privilege: 403) are not retried, and what is still unwritten is spooled.
// Items rejected for their content (a mapping conflict, 400) are counted in
// Failed, neither retried nor spooled.
//
// Write returns an error wrapping ErrLost when documents were lost (Failed,
// Dropped, or neither written nor spooled); the result is complete either
// way.
func (w *Writer) Write(ctx context.Context, s snapshot.Snapshot) (WriteResult, error) {
	return w.write(ctx, newSnapshotSource(w.names, &s), snapshotDocs(&s))
}

// WriteTick writes the document that records how a collector tick went,
// as Write does for a snapshot (spooling it while the templates are not
// installed, replaying the spool first, spooling what cannot be written).
func (w *Writer) WriteTick(ctx context.Context, t TickDoc) (WriteResult, error) {
	d, err := tickDoc(w.names, t)
	if err != nil {
		return WriteResult{}, err
	}
	return w.write(ctx, &sliceSource{docs: []doc{d}}, 1)
}

// write sends the n documents of src, or spools them all when the templates
// are not installed or the spool could not be emptied first.
func (w *Writer) write(ctx context.Context, src docSource, n int) (WriteResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	t := newTally(n)
	if !w.Installed() || !w.replay(ctx, t) {
		notSpooled := w.spoolAll(src, t)
		return t.res, lostError(t.res, notSpooled)
	}
	notSpooled := 0
	if unwritten := w.send(ctx, src, t).unwritten; len(unwritten) > 0 {
		notSpooled = w.spoolDocs(unwritten, t)
	}
	return t.res, lostError(t.res, notSpooled)
}

// spoolChunkBytes is about the most document bytes spoolAll holds before it
// writes them as one spool segment.
const spoolChunkBytes = 8 << 20

// spoolAll spools every document of src, a segment per spoolChunkBytes of
// them, and returns how many could not be spooled.
func (w *Writer) spoolAll(src docSource, t *tally) int {
	notSpooled := 0
	var chunk []doc
	size := 0
	for {
		d, ok := src.next()
		if ok {
			chunk = append(chunk, owned(d))
			size += bulkSize(&d)
		}
		if len(chunk) > 0 && (!ok || size >= spoolChunkBytes) {
			notSpooled += w.spoolDocs(chunk, t)
			chunk, size = nil, 0
		}
		if !ok {
			return notSpooled
		}
	}
}

func lostError(res WriteResult, notSpooled int) error {
	if res.Failed == 0 && res.Dropped == 0 && notSpooled == 0 {
		return nil
	}
	var parts []string
	if res.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d rejected by Elasticsearch for their content", res.Failed))
	}
	if n := res.Dropped - notSpooled; n > 0 {
		parts = append(parts, fmt.Sprintf("%d dropped from the spool", n))
	}
	if notSpooled > 0 {
		parts = append(parts, fmt.Sprintf("%d neither written nor spooled", notSpooled))
	}
	msg := strings.Join(parts, ", ")
	for _, p := range res.Problems {
		if p.Kind == Rejected || p.Kind == Spool {
			msg += " (" + string(p.Kind) + ": " + p.Reason + ")"
			break
		}
	}
	return fmt.Errorf("%w: %s", ErrLost, msg)
}

// spoolDocs spools docs and returns how many could not be spooled, which are
// also counted in Dropped.
func (w *Writer) spoolDocs(docs []doc, t *tally) int {
	if w.spool == nil {
		t.problem("no spool configured", len(docs))
		t.res.Dropped += len(docs)
		return len(docs)
	}
	recs, err := encodeSpoolRecords(docs)
	var dropped int
	if err == nil {
		dropped, err = w.spool.Add(recs)
	}
	if dropped > 0 {
		t.res.Dropped += dropped
		t.problem(fmt.Sprintf("oldest spool segments dropped to stay under %d bytes", w.spool.MaxBytes()), dropped)
	}
	if err != nil {
		t.problem("spool: "+err.Error(), len(docs))
		t.res.Dropped += len(docs)
		return len(docs)
	}
	t.res.Spooled += len(docs)
	return 0
}

// replay writes the spool's segments, oldest first. It reports whether the
// spool is empty afterwards (or there is none).
func (w *Writer) replay(ctx context.Context, t *tally) bool {
	if w.spool == nil {
		return true
	}
	for _, note := range w.spool.TakeNotes() {
		t.problem(note, 0)
	}
	for {
		seg, ok := w.spool.Oldest()
		if !ok {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		recs, missing, err := w.spool.Read(seg)
		if err != nil {
			// Leave the segment: its place in the order is kept, and the
			// size limit drops it in the end if it never becomes readable.
			t.problem("read spool segment: "+err.Error(), seg.Records)
			return false
		}
		docs, bad, badErr := decodeSpoolRecords(recs)
		if missing > 0 {
			bad += missing
			badErr = cmpOr(badErr, fmt.Errorf("%d documents missing from the segment", missing))
		}
		if bad > 0 {
			t.res.Dropped += bad
			t.problem("unreadable spool lines dropped: "+badErr.Error(), bad)
		}
		out := w.send(ctx, &sliceSource{docs: docs}, t)
		t.res.Replayed += out.written
		left, err := encodeSpoolRecords(out.unwritten)
		if err == nil {
			err = w.spool.ReplaceOldest(left)
		}
		if err != nil {
			t.problem("rewrite spool segment: "+err.Error(), len(out.unwritten))
			return false
		}
		if len(out.unwritten) > 0 {
			return false
		}
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
