package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

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
func (s *sender) send(ctx context.Context, docs []doc, t *tally) sendOutcome {
	var out sendOutcome
	pending := docs
	for round := 0; len(pending) > 0; round++ {
		outcomes := s.bulk(ctx, pending, t)
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
		if len(retry) == 0 || round >= s.opts.MaxRetries || !s.sleep(ctx, round) {
			break
		}
		t.res.Retried += len(retry)
	}
	out.unwritten = append(out.unwritten, pending...)
	return out
}

// sleep waits before retry round+1 and reports whether ctx allows it.
func (s *sender) sleep(ctx context.Context, round int) bool {
	d := s.opts.RetryBase << min(round, 20)
	if d <= 0 || d > s.opts.RetryMax {
		d = s.opts.RetryMax
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
func (s *sender) bulk(ctx context.Context, docs []doc, t *tally) []outcome {
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
	inFlight := make(chan struct{}, s.opts.Workers)
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
		for ; hi < len(docs) && size+bulkSize(&docs[hi]) <= s.opts.FlushBytes; hi++ {
			size += bulkSize(&docs[hi])
		}
		bi, added, err := s.fill(ctx, docs[lo:hi], lo, size, record)
		if err != nil {
			notSent(len(docs)-lo, err)
			break
		}
		inFlight <- struct{}{}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			defer func() { <-inFlight }()
			s.flush(ctx, bi, added, hi-lo, outcomes[lo:hi], &mu, t)
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
func (s *sender) fill(ctx context.Context, docs []doc, first, size int, record func(int, outcome, ProblemKind, int, string)) (esutil.BulkIndexer, int, error) {
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        boundTransport{ctx: ctx, next: s.es},
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
func (s *sender) flush(ctx context.Context, bi esutil.BulkIndexer, added, n int, outcomes []outcome, mu *sync.Mutex, t *tally) {
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
