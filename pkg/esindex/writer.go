package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"

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
	// Failed were rejected for good (e.g. a mapping error, 400); they are
	// not retried nor spooled. Problems samples the reasons.
	Failed int
	// Retried counts documents sent again after a 429, a 5xx, or a failed
	// request (a document sent three times counts two).
	Retried int
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
	// Problems lists distinct reasons (at most 10) for everything above
	// that was not a plain success, with how many documents each hit.
	Problems []Problem
}

// Add adds the counts of o to r and appends its problems: the result of
// several writes.
func (r *WriteResult) Add(o WriteResult) {
	r.Docs += o.Docs
	r.Indexed += o.Indexed
	r.Duplicates += o.Duplicates
	r.Failed += o.Failed
	r.Retried += o.Retried
	r.Spooled += o.Spooled
	r.Replayed += o.Replayed
	r.Dropped += o.Dropped
	r.Problems = append(r.Problems, o.Problems...)
}

// ProblemKind classifies a Problem.
type ProblemKind string

const (
	// Rejected: Elasticsearch refused a document for good (Failed).
	Rejected ProblemKind = "rejected"
	// Temporary: a 429, a 5xx, a failed request or a missing answer; the
	// documents were retried, then spooled if it persisted.
	Temporary ProblemKind = "temporary"
	// Refused: Elasticsearch refused a whole bulk request with a 4xx (for
	// example 401 or 403); the documents were spooled without retrying.
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
	w := &Writer{sender: sender{es: c.es, opts: opts}, names: c.names, opts: opts}
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
// requests are retried with exponential backoff (bounded by ctx), and what is
// still unwritten is spooled. Per-item rejections (e.g. a mapping error) are
// counted in Failed and not retried.
//
// Write returns an error wrapping ErrLost when documents were lost (Failed,
// Dropped, or neither written nor spooled); the result is complete either
// way.
func (w *Writer) Write(ctx context.Context, s snapshot.Snapshot) (WriteResult, error) {
	return w.write(ctx, encodeSnapshot(w.names, s))
}

// WriteTick writes the document that records how a collector tick went,
// as Write does for a snapshot (spooling it while the templates are not
// installed, replaying the spool first, spooling what cannot be written).
func (w *Writer) WriteTick(ctx context.Context, t TickDoc) (WriteResult, error) {
	d, err := tickDoc(w.names, t)
	if err != nil {
		return WriteResult{}, err
	}
	return w.write(ctx, []doc{d})
}

func (w *Writer) write(ctx context.Context, docs []doc) (WriteResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	t := newTally(len(docs))
	unwritten := docs
	if w.Installed() && w.replay(ctx, t) {
		unwritten = w.send(ctx, docs, t).unwritten
	}
	notSpooled := 0
	if len(unwritten) > 0 {
		notSpooled = w.spoolDocs(unwritten, t)
	}
	return t.res, lostError(t.res, notSpooled)
}

func lostError(res WriteResult, notSpooled int) error {
	if res.Failed == 0 && res.Dropped == 0 && notSpooled == 0 {
		return nil
	}
	var parts []string
	if res.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d rejected by Elasticsearch", res.Failed))
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
		t.problem(Spool, 0, "no spool configured", len(docs))
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
		t.problem(Spool, 0, fmt.Sprintf("oldest spool segments dropped to stay under %d bytes", w.spool.MaxBytes()), dropped)
	}
	if err != nil {
		t.problem(Spool, 0, "spool: "+err.Error(), len(docs))
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
		t.problem(Spool, 0, note, 0)
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
			t.problem(Spool, 0, "read spool segment: "+err.Error(), seg.Records)
			return false
		}
		docs, bad, badErr := decodeSpoolRecords(recs)
		if missing > 0 {
			bad += missing
			badErr = cmpOr(badErr, fmt.Errorf("%d documents missing from the segment", missing))
		}
		if bad > 0 {
			t.res.Dropped += bad
			t.problem(Spool, 0, "unreadable spool lines dropped: "+badErr.Error(), bad)
		}
		out := w.send(ctx, docs, t)
		t.res.Replayed += out.written
		left, err := encodeSpoolRecords(out.unwritten)
		if err == nil {
			err = w.spool.ReplaceOldest(left)
		}
		if err != nil {
			t.problem(Spool, 0, "rewrite spool segment: "+err.Error(), len(out.unwritten))
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

// sender is the one implementation of sending documents in bulk, with its
// retries and result accounting; the Writer and the StatusWriter both use
// it. It holds no state of its own between calls and is safe for
// concurrent use.
type sender struct {
	es   *elasticsearch.Client
	opts WriterOptions // with defaults
}

// tally accumulates one call's WriteResult and its distinct problems.
type tally struct {
	res WriteResult
}

func newTally(docs int) *tally { return &tally{res: WriteResult{Docs: docs}} }

type sendOutcome struct {
	written   int   // created or duplicate
	unwritten []doc // to spool
}

// outcome of one document in one bulk round.
type outcome uint8

const (
	noAnswer  outcome = iota // the response did not mention it: retry
	created                  // 201
	duplicate                // 409: already stored
	temporary                // 429, 5xx, failed request: retry
	rejected                 // refused for good: count, do not retry
	refused                  // whole request refused with a 4xx: spool now
)

// send writes docs in bulk rounds: the first, then up to MaxRetries more for
// documents that got a temporary failure, with exponential backoff.
func (w *sender) send(ctx context.Context, docs []doc, t *tally) sendOutcome {
	var out sendOutcome
	pending := docs
	for round := 0; len(pending) > 0; round++ {
		outcomes := w.bulk(ctx, pending, t)
		var retry []doc
		for i, o := range outcomes {
			switch o {
			case created:
				t.res.Indexed++
				out.written++
			case duplicate:
				t.res.Duplicates++
				out.written++
			case rejected:
				t.res.Failed++
			case refused:
				out.unwritten = append(out.unwritten, pending[i])
			default:
				retry = append(retry, pending[i])
			}
		}
		pending = retry
		if len(retry) == 0 || round >= w.opts.MaxRetries || !w.sleep(ctx, round) {
			break
		}
		t.res.Retried += len(retry)
	}
	out.unwritten = append(out.unwritten, pending...)
	return out
}

// sleep waits before retry round+1 and reports whether ctx allows it.
func (w *sender) sleep(ctx context.Context, round int) bool {
	d := w.opts.RetryBase << min(round, 20)
	if d <= 0 || d > w.opts.RetryMax {
		d = w.opts.RetryMax
	}
	// Up to a quarter more, so that several collectors do not retry in
	// step.
	d += rand.N(d/4 + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// bulk sends docs once, in bulk requests of about FlushBytes, with create
// actions, and returns each document's outcome.
//
// Each request is its own esutil.BulkIndexer, filled here and then flushed
// by its Close in the background, at most Workers at a time: while
// Elasticsearch indexes one request, the next is being filled. (One indexer
// for all documents fills every worker's buffer and then sends them all at
// once, so Elasticsearch waits while the client fills and the client waits
// while Elasticsearch indexes: a third more time for a tick, in
// docs/BENCHMARKS.md.)
//
// Outcomes come only from the per-item callbacks: a document the response
// never mentions (a torn or short response) stays noAnswer and is retried;
// each indexer's Stats must agree with its callbacks, or the difference is
// reported.
func (w *sender) bulk(ctx context.Context, docs []doc, t *tally) []outcome {
	outcomes := make([]outcome, len(docs))
	if ctx.Err() != nil {
		t.problem(Temporary, 0, "not sent: "+ctx.Err().Error(), len(docs))
		return outcomes
	}
	var mu sync.Mutex
	record := func(i int, o outcome, kind ProblemKind, status int, reason string) {
		mu.Lock()
		defer mu.Unlock()
		outcomes[i] = o
		if kind != "" {
			t.problem(kind, status, reason, 1)
		}
	}
	inFlight := make(chan struct{}, w.opts.Workers)
	var wg sync.WaitGroup
	notSent := func(n int, err error) {
		mu.Lock()
		defer mu.Unlock()
		t.problem(Temporary, 0, "not sent: "+err.Error(), n)
	}
	for lo := 0; lo < len(docs); {
		if err := ctx.Err(); err != nil {
			notSent(len(docs)-lo, err)
			break
		}
		hi, size := lo+1, bulkSize(&docs[lo])
		for ; hi < len(docs) && size+bulkSize(&docs[hi]) <= w.opts.FlushBytes; hi++ {
			size += bulkSize(&docs[hi])
		}
		bi, added, err := w.fill(ctx, docs[lo:hi], lo, size, record)
		if err != nil {
			notSent(len(docs)-lo, err)
			break
		}
		inFlight <- struct{}{}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			defer func() { <-inFlight }()
			w.flush(ctx, bi, added, hi-lo, outcomes[lo:hi], &mu, t)
		}(lo, hi)
		lo = hi
	}
	wg.Wait()
	return outcomes
}

// bulkSize is what d takes in a bulk request, its action line
// {"create":{"_index":...,"_id":...}} and its body, each with its newline,
// unless the index or the id need escaping.
func bulkSize(d *doc) int { return len(d.body) + len(d.index) + len(d.id) + 35 }

// fill makes a one-request bulk indexer and adds docs to it; they are the
// write's documents from index first on, for record, and take size bytes
// (bulkSize). The indexer's buffer is made that size and a little more
// (its FlushBytes, which only Close reaches, so only Close sends the
// request): the indexer copies each body with bytes.Buffer.ReadFrom, which
// wants 512 bytes free before every read and would otherwise double the
// buffer for the last documents. Were an escaped name to make the request
// longer, the indexer would send two, which is as correct. It returns how
// many documents were added.
func (w *sender) fill(ctx context.Context, docs []doc, first, size int, record func(int, outcome, ProblemKind, int, string)) (esutil.BulkIndexer, int, error) {
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        boundTransport{ctx: ctx, next: w.es},
		NumWorkers:    1,
		FlushBytes:    size + 2*bytes.MinRead,
		FlushInterval: time.Hour, // Close flushes
		FilterPath:    []string{"errors", "items.*.status", "items.*.error"},
		Decoder:       bulkDecoder{},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("bulk indexer: %w", err)
	}
	added := 0
	for j := range docs {
		if ctx.Err() != nil {
			break
		}
		i, d := first+j, &docs[j]
		err := bi.Add(ctx, esutil.BulkIndexerItem{
			Index:      d.index,
			Action:     "create",
			DocumentID: d.id,
			Body:       bytes.NewReader(d.body),
			OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) {
				record(i, created, "", 0, "")
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				o, kind, status, reason := classify(r, err)
				record(i, o, kind, status, reason)
			},
		})
		if err != nil {
			break
		}
		added++
	}
	return bi, added, nil
}

// flush closes bi, which sends its request, and checks what came back for
// its n documents, of which added were added (outcomes is their part of the
// outcomes): every document added must have an answer, and the indexer's own
// count of created documents must agree with the callbacks, or a document
// would be taken as written on the indexer's word alone.
func (w *sender) flush(ctx context.Context, bi esutil.BulkIndexer, added, n int, outcomes []outcome, mu *sync.Mutex, t *tally) {
	// Requests are bound to ctx by the transport, so Close returns soon
	// after ctx is done; it is given no deadline of its own so that no
	// callback can run after it returns.
	_ = bi.Close(context.Background())
	st := bi.Stats()

	mu.Lock()
	defer mu.Unlock()
	if added < n {
		t.problem(Temporary, 0, fmt.Sprintf("not sent: %v", cmpOr(ctx.Err(), errors.New("the bulk indexer refused the document"))), n-added)
	}
	answered, createdN := 0, 0
	for _, o := range outcomes {
		if o != noAnswer {
			answered++
		}
		if o == created {
			createdN++
		}
	}
	if missing := added - answered; missing > 0 {
		t.problem(Temporary, 0, "no answer for the document in the bulk response", missing)
	}
	if int(st.NumCreated) != createdN {
		for i, o := range outcomes {
			if o == created {
				outcomes[i] = noAnswer
			}
		}
		t.problem(Temporary, 0, fmt.Sprintf("bulk indexer counted %d documents created, its callbacks %d", st.NumCreated, createdN), createdN)
	}
}

// classify reads a failed item: its response item, or err when the whole
// request failed.
func classify(r esutil.BulkIndexerResponseItem, err error) (outcome, ProblemKind, int, string) {
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			if re.Status == http.StatusTooManyRequests || re.Status >= 500 {
				return temporary, Temporary, re.Status, re.Reason
			}
			return refused, Refused, re.Status, re.Reason
		}
		return temporary, Temporary, 0, shorten(err.Error())
	}
	reason := r.Error.Type
	if r.Error.Reason != "" {
		reason += ": " + r.Error.Reason
	}
	if r.Error.Cause.Type != "" {
		reason += " (caused by " + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")"
	}
	reason = shorten(reason)
	switch {
	case r.Status == http.StatusConflict:
		return duplicate, "", 0, ""
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		return temporary, Temporary, r.Status, reason
	case r.Status == 0 && r.Error.Type == "":
		return temporary, Temporary, 0, "bulk response item without status"
	default:
		return rejected, Rejected, r.Status, reason
	}
}

func shorten(s string) string { return truncateUTF8(s, maxReasonLen) }

// problem records n documents hit by a reason, merged with the same kind,
// status and reason; at most maxProblems distinct ones are kept.
func (t *tally) problem(kind ProblemKind, status int, reason string, n int) {
	ps := t.res.Problems
	for i := range ps {
		if ps[i].Kind == kind && ps[i].Status == status && ps[i].Reason == reason {
			ps[i].Count += n
			return
		}
	}
	if len(ps) < maxProblems {
		t.res.Problems = append(ps, Problem{Kind: kind, Status: status, Reason: reason, Count: n})
	}
}

// boundTransport sends the bulk indexer's requests with the Write's context
// (the indexer's workers use a background one), and turns an HTTP error
// answer to a whole bulk request into a *requestError, so that the item
// callbacks can tell a 429 or 503 from a 401.
type boundTransport struct {
	ctx  context.Context
	next esapi.Transport
}

func (t boundTransport) Perform(req *http.Request) (*http.Response, error) {
	res, err := t.next.Perform(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 300 {
		return res, nil
	}
	body := readExcerpt(res.Body)
	res.Body.Close()
	return nil, &requestError{Status: res.StatusCode, Reason: errorReason(res.StatusCode, body)}
}

// requestError is an HTTP error answer to a whole request.
type requestError struct {
	Status int
	Reason string
}

func (e *requestError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason) }

// errorReason extracts type and reason from an Elasticsearch error body.
func errorReason(status int, body string) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && len(e.Error) > 0 {
		var obj struct{ Type, Reason string }
		if json.Unmarshal(e.Error, &obj) == nil && obj.Type != "" {
			return shorten(obj.Type + ": " + obj.Reason)
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return shorten(s)
		}
	}
	if body == "" {
		return http.StatusText(status)
	}
	return shorten(body)
}
