package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// sender is the one implementation of sending documents in bulk, with its
// retries and result accounting; the Writer and the StatusWriter both use
// it. It holds no state of its own between calls and is safe for
// concurrent use.
type sender struct {
	es   *elasticsearch.Client
	opts WriterOptions // with defaults
	// bufs keeps request bodies for the next request to fill: a round
	// holds at most Workers + 1 of them (those in flight and the one being
	// filled), so a write's memory does not grow with its documents.
	bufs chan []byte
}

func newSender(es *elasticsearch.Client, opts WriterOptions) sender {
	return sender{es: es, opts: opts, bufs: make(chan []byte, opts.Workers+1)}
}

// buffer returns an empty request body to fill.
func (s *sender) buffer() []byte {
	select {
	case b := <-s.bufs:
		return b[:0]
	default:
		return make([]byte, 0, s.opts.FlushBytes+64<<10)
	}
}

// release gives a request body back once nothing refers to it.
func (s *sender) release(b []byte) {
	select {
	case s.bufs <- b:
	default:
	}
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

// send writes the documents of src in bulk rounds: the first, streamed from
// src, then up to MaxRetries more for documents that got a temporary
// failure, with exponential backoff.
func (s *sender) send(ctx context.Context, src docSource, t *tally) sendOutcome {
	var out sendOutcome
	retry := s.round(ctx, src, t, &out)
	for r := 0; len(retry) > 0 && r < s.opts.MaxRetries && s.sleep(ctx, r); r++ {
		t.res.Retried += len(retry)
		retry = s.round(ctx, &sliceSource{docs: retry}, t, &out)
	}
	out.unwritten = append(out.unwritten, retry...)
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

// bulkRequest is one bulk request: its body (an action line and a source
// line per document) and its documents, whose bodies are slices of it.
type bulkRequest struct {
	body []byte
	docs []doc
}

// round sends the documents of src once, in create requests of about
// FlushBytes, at most Workers in flight: while Elasticsearch indexes one
// request, the next is being filled. It counts what was written, rejected
// and refused (refused documents go to out.unwritten), and returns, in
// src's order, the documents to send again: those answered with a
// temporary failure, those the answer never mentioned (a torn or short
// response), and those not sent because ctx ended. The documents it returns
// own their bodies.
func (s *sender) round(ctx context.Context, src docSource, t *tally, out *sendOutcome) []doc {
	// Each request's documents to send again and refused, in request
	// order; a request's goroutine fills only its own.
	type result struct{ retry, refused []doc }
	var (
		mu      sync.Mutex // t and out
		wg      sync.WaitGroup
		results []*result
	)
	inFlight := make(chan struct{}, s.opts.Workers)
	var carry doc
	hasCarry := false
	for {
		if err := ctx.Err(); err != nil {
			var rest []doc
			if hasCarry {
				rest = append(rest, owned(carry))
			}
			for d, ok := src.next(); ok; d, ok = src.next() {
				rest = append(rest, owned(d))
			}
			if len(rest) > 0 {
				mu.Lock()
				t.problem(Temporary, 0, "not sent: "+err.Error(), len(rest))
				mu.Unlock()
				results = append(results, &result{retry: rest})
			}
			break
		}
		req := &bulkRequest{body: s.buffer()}
		for {
			d, ok := carry, hasCarry
			if !ok {
				d, ok = src.next()
			}
			hasCarry = false
			if !ok {
				break
			}
			if len(req.docs) > 0 && len(req.body)+bulkSize(&d) > s.opts.FlushBytes {
				carry, hasCarry = d, true
				break
			}
			req.body = appendBulkItem(req.body, &d)
			d.body = req.body[len(req.body)-len(d.body)-1 : len(req.body)-1]
			req.docs = append(req.docs, d)
		}
		if len(req.docs) == 0 {
			s.release(req.body)
			break
		}
		r := &result{}
		results = append(results, r)
		inFlight <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			outcomes, problems, took := s.post(ctx, req)
			mu.Lock()
			defer mu.Unlock()
			t.res.BulkTook += took
			for _, p := range problems {
				t.problem(p.Kind, p.Status, p.Reason, p.Count)
			}
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
					r.refused = append(r.refused, owned(req.docs[i]))
				default:
					r.retry = append(r.retry, owned(req.docs[i]))
				}
			}
			s.release(req.body)
		}()
	}
	wg.Wait()
	var retry []doc
	for _, r := range results {
		out.unwritten = append(out.unwritten, r.refused...)
		retry = append(retry, r.retry...)
	}
	return retry
}

// owned is d with a body of its own, for a document kept beyond its
// request.
func owned(d doc) doc {
	d.body = bytes.Clone(d.body)
	return d
}

// bulkSize is what d takes in a bulk request, its action line
// {"create":{"_index":...,"_id":...}} and its body, each with its newline,
// unless the index or the id need escaping.
func bulkSize(d *doc) int { return len(d.body) + len(d.index) + len(d.id) + 35 }

// appendBulkItem appends d's action line and source line to b.
func appendBulkItem(b []byte, d *doc) []byte {
	b = append(b, `{"create":{"_index":`...)
	b = appendString(b, d.index)
	b = append(b, `,"_id":`...)
	b = appendString(b, d.id)
	b = append(b, "}}\n"...)
	b = append(b, d.body...)
	return append(b, '\n')
}

// post sends one bulk request and returns each document's outcome, the
// problems met and the time Elasticsearch said it took. A document the
// answer does not mention stays noAnswer.
func (s *sender) post(ctx context.Context, req *bulkRequest) ([]outcome, []Problem, time.Duration) {
	outcomes := make([]outcome, len(req.docs))
	failAll := func(err error) ([]outcome, []Problem, time.Duration) {
		o, kind, status, reason := classify(bulkItem{}, err)
		for i := range outcomes {
			outcomes[i] = o
		}
		return outcomes, []Problem{{Kind: kind, Status: status, Reason: reason, Count: len(outcomes)}}, 0
	}
	res, err := esapi.BulkRequest{
		Body:       bytes.NewReader(req.body),
		FilterPath: []string{"took", "errors", "items.*.status", "items.*.error"},
	}.Do(ctx, s.es)
	if err != nil {
		return failAll(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		body := readExcerpt(res.Body)
		return failAll(&requestError{Status: res.StatusCode, Reason: errorReason(res.StatusCode, body)})
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return failAll(err)
	}
	items, took, err := decodeBulk(body)
	if err != nil {
		return failAll(fmt.Errorf("read bulk response: %w", err))
	}
	outTook := time.Duration(took) * time.Millisecond
	var problems []Problem
	add := func(kind ProblemKind, status int, reason string) {
		for i := range problems {
			if problems[i].Kind == kind && problems[i].Status == status && problems[i].Reason == reason {
				problems[i].Count++
				return
			}
		}
		problems = append(problems, Problem{Kind: kind, Status: status, Reason: reason, Count: 1})
	}
	for i := range min(len(items), len(outcomes)) {
		if items[i].Status == http.StatusCreated {
			outcomes[i] = created
			continue
		}
		o, kind, status, reason := classify(items[i], nil)
		outcomes[i] = o
		if kind != "" {
			add(kind, status, reason)
		}
	}
	if missing := len(outcomes) - len(items); missing > 0 {
		problems = append(problems, Problem{Kind: Temporary, Reason: "no answer for the document in the bulk response", Count: missing})
	}
	return outcomes, problems, outTook
}

// classify reads a failed item: its response item, or err when the whole
// request failed.
func classify(r bulkItem, err error) (outcome, ProblemKind, int, string) {
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
