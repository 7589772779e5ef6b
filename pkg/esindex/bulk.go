package esindex

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
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
	rejected                 // refused for its content: count, do not retry
	refused                  // refused for a reason that is not its content (a block, a privilege): spool now
)

// verdict is how one failed document (or request) is classified: what to do
// with it, and the Problem it is counted under.
type verdict struct {
	outcome outcome
	kind    ProblemKind
	status  int
	// cause is a short, stable name of the reason (Elasticsearch's error
	// type, or connection, timeout, ...), for metrics; reason the whole
	// text, for logs.
	cause, reason string
}

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
				t.add(Problem{Kind: Temporary, Cause: causeNotSent, Reason: "not sent: " + err.Error(), Count: len(rest)})
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
				t.add(p)
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
					if t.res.Rejection == nil {
						t.res.Rejection = rejectionOf(&req.docs[i], problems)
					}
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
		v := classifyRequest(err)
		for i := range outcomes {
			outcomes[i] = v.outcome
		}
		return outcomes, []Problem{{Kind: v.kind, Status: v.status, Cause: v.cause, Reason: v.reason, Count: len(outcomes)}}, 0
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
		typ, reason := errorTypeReason(res.StatusCode, body)
		return failAll(&requestError{Status: res.StatusCode, Type: typ, Reason: reason})
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return failAll(err)
	}
	items, took, err := decodeBulk(body)
	if err != nil {
		return failAll(fmt.Errorf("%w: %w", errBadAnswer, err))
	}
	outTook := time.Duration(took) * time.Millisecond
	var problems []Problem
	for i := range min(len(items), len(outcomes)) {
		if items[i].Status == http.StatusCreated {
			outcomes[i] = created
			continue
		}
		v := classifyItem(items[i])
		outcomes[i] = v.outcome
		if v.kind != "" {
			problems = addProblem(problems, Problem{Kind: v.kind, Status: v.status, Cause: v.cause, Reason: v.reason, Count: 1}, len(outcomes))
		}
	}
	if missing := len(outcomes) - len(items); missing > 0 {
		problems = append(problems, Problem{Kind: Temporary, Cause: causeNoAnswer, Reason: "no answer for the document in the bulk response", Count: missing})
	}
	return outcomes, problems, outTook
}

// Causes of problems that carry no Elasticsearch error type.
const (
	causeConnection = "connection"   // the request could not be sent or its answer not read
	causeTimeout    = "timeout"      // no answer in time
	causeNoAnswer   = "no_answer"    // the bulk answer left the document out
	causeNotSent    = "not_sent"     // the write's time ran out first
	causeBadAnswer  = "bad_response" // a bulk answer that could not be read
	causeSpool      = "spool"        // the spool could not take, keep or give back documents
)

// classifyItem reads a failed item of a bulk answer. Only a document's
// content can make it fail for good: Elasticsearch answers 400 for a
// mapping conflict or a value the mapping cannot parse
// (mapper_parsing_exception, document_parsing_exception,
// strict_dynamic_mapping_exception, illegal_argument_exception on a field),
// and the same bytes would be refused forever. Everything else is about the
// store, not the document: a write block or a revoked privilege (403
// cluster_block_exception, security_exception), a missing or closed index,
// flood stage (429 cluster_block_exception), overload (429) and server
// errors (5xx). Those are kept: the ones that may pass in a moment (429,
// 5xx) are retried first, the others spooled at once.
func classifyItem(r bulkItem) verdict {
	reason := r.Error.Type
	if r.Error.Reason != "" {
		reason += ": " + r.Error.Reason
	}
	if r.Error.Cause.Type != "" {
		reason += " (caused by " + r.Error.Cause.Type + ": " + r.Error.Cause.Reason + ")"
	}
	v := verdict{status: r.Status, cause: cmp.Or(r.Error.Type, "http_"+strconv.Itoa(r.Status)), reason: shorten(reason)}
	switch {
	case r.Status == http.StatusConflict:
		return verdict{outcome: duplicate}
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		v.outcome, v.kind = temporary, Temporary
	case r.Status == 0 && r.Error.Type == "":
		v.outcome, v.kind, v.cause, v.reason = temporary, Temporary, causeBadAnswer, "bulk response item without status"
	case r.Status == http.StatusBadRequest && !storeErrorTypes[r.Error.Type]:
		v.outcome, v.kind = rejected, Rejected
	default:
		v.outcome, v.kind = refused, Refused
	}
	return v
}

// storeErrorTypes are error types Elasticsearch may answer with 400 that are
// about the index, not the document.
var storeErrorTypes = map[string]bool{
	"index_closed_exception":              true,
	"cluster_block_exception":             true,
	"security_exception":                  true,
	"index_not_found_exception":           true,
	"no_shard_available_action_exception": true,
}

// classifyRequest reads a bulk request that failed as a whole: an HTTP error
// answer (429 and 5xx are retried, any other is spooled at once: a 401 or 403
// is about the credentials, not the documents), or no answer at all
// (retried).
func classifyRequest(err error) verdict {
	var re *requestError
	if errors.As(err, &re) {
		v := verdict{status: re.Status, cause: cmp.Or(re.Type, "http_"+strconv.Itoa(re.Status)), reason: re.Reason}
		if re.Status == http.StatusTooManyRequests || re.Status >= 500 {
			v.outcome, v.kind = temporary, Temporary
		} else {
			v.outcome, v.kind = refused, Refused
		}
		return v
	}
	v := verdict{outcome: temporary, kind: Temporary, cause: causeConnection, reason: shorten(err.Error())}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		v.cause = causeTimeout
	case errors.Is(err, errBadAnswer):
		v.cause = causeBadAnswer
	}
	return v
}

// errBadAnswer is wrapped by the error of a bulk answer that could not be
// read.
var errBadAnswer = errors.New("read bulk response")

func shorten(s string) string { return truncateUTF8(s, maxReasonLen) }

// addProblem adds p to ps, merged with one of the same kind, status and
// reason; at most limit distinct ones are kept.
func addProblem(ps []Problem, p Problem, limit int) []Problem {
	for i := range ps {
		if ps[i].Kind == p.Kind && ps[i].Status == p.Status && ps[i].Reason == p.Reason {
			ps[i].Count += p.Count
			return ps
		}
	}
	if len(ps) < limit {
		ps = append(ps, p)
	}
	return ps
}

// add records a problem: merged into the write's at most maxProblems
// distinct ones, and counted by cause (never capped) in Refusals or
// Rejections.
func (t *tally) add(p Problem) {
	t.res.Problems = addProblem(t.res.Problems, p, maxProblems)
	switch p.Kind {
	case Refused, Temporary:
		t.res.Refused += p.Count
		t.res.Refusals = addCause(t.res.Refusals, p.Cause, p.Count)
	case Rejected:
		t.res.Rejections = addCause(t.res.Rejections, p.Cause, p.Count)
	}
}

// problem records n documents hit by a spool problem.
func (t *tally) problem(reason string, n int) {
	t.add(Problem{Kind: Spool, Cause: causeSpool, Reason: reason, Count: n})
}

// addCause adds n to cause's count in cs.
func addCause(cs []CauseCount, cause string, n int) []CauseCount {
	for i := range cs {
		if cs[i].Cause == cause {
			cs[i].Count += n
			return cs
		}
	}
	return append(cs, CauseCount{Cause: cause, Count: n})
}

// rejectionOf is the example of a document refused for its content: d, with
// the reason its request's problems give for the first rejection.
func rejectionOf(d *doc, problems []Problem) *Rejection {
	r := &Rejection{Index: d.index, ID: d.id, Body: truncateUTF8(string(d.body), maxExampleLen)}
	for _, p := range problems {
		if p.Kind == Rejected {
			r.Reason = p.Reason
			break
		}
	}
	return r
}

// requestError is an HTTP error answer to a whole request: its status, and
// the error type and reason of its body.
type requestError struct {
	Status int
	Type   string
	Reason string
}

func (e *requestError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Reason) }

// errorReason extracts type and reason from an Elasticsearch error body.
func errorReason(status int, body string) string {
	_, reason := errorTypeReason(status, body)
	return reason
}

// errorTypeReason reads an Elasticsearch error body: its error type ("" when
// it has none) and "type: reason" (or the body, or the status's text).
func errorTypeReason(status int, body string) (typ, reason string) {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && len(e.Error) > 0 {
		var obj struct{ Type, Reason string }
		if json.Unmarshal(e.Error, &obj) == nil && obj.Type != "" {
			return obj.Type, shorten(obj.Type + ": " + obj.Reason)
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return "", shorten(s)
		}
	}
	if body == "" {
		return "", http.StatusText(status)
	}
	return "", shorten(body)
}
