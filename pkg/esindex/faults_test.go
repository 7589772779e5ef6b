package esindex

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// faultServer forwards every request to the real node, except that it can
// spoil bulk requests: answer some items with 429 without forwarding them,
// answer the whole request with an HTTP error, or forward it and tear the
// response in half.
type faultServer struct {
	t      *testing.T
	target *url.URL
	proxy  *httputil.ReverseProxy

	mu sync.Mutex
	// For the next itemBulks bulk requests, every rejectEvery-th item
	// (from the first) is answered itemStatus (429 when 0) with an error of
	// type itemType (es_rejected_execution_exception when "") and not
	// forwarded.
	itemBulks, rejectEvery int
	itemStatus             int
	itemType               string
	// The next failBulks bulk requests are answered failStatus.
	failBulks, failStatus int
	// The next tearBulks bulk requests are forwarded, then their response
	// is cut after half its bytes.
	tearBulks int
	// bulks counts bulk requests received.
	bulks int
}

func newFaultServer(t *testing.T) (*faultServer, string) {
	target, err := url.Parse(testenv.Elasticsearch(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &faultServer{t: t, target: target, proxy: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		f.proxy.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.bulks++
	mode := ""
	switch {
	case f.failBulks > 0:
		f.failBulks--
		mode = "fail"
	case f.itemBulks > 0:
		f.itemBulks--
		mode = "items"
	case f.tearBulks > 0:
		f.tearBulks--
		mode = "tear"
	}
	f.mu.Unlock()

	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch mode {
	case "fail":
		typ := "es_rejected_execution_exception"
		if f.failStatus == http.StatusForbidden {
			typ = "security_exception"
		}
		w.WriteHeader(f.failStatus)
		fmt.Fprintf(w, `{"error":{"type":%q,"reason":"injected by the test"},"status":%d}`, typ, f.failStatus)
	case "items":
		f.rejectItems(w, r, body)
	case "tear":
		status, resp := f.forward(r, body)
		w.Header().Set("Content-Length", fmt.Sprint(len(resp)))
		w.WriteHeader(status)
		_, _ = w.Write(resp[:len(resp)/2])
		// Returning short of Content-Length makes the server drop the
		// connection: the client reads a torn body.
	default:
		status, resp := f.forward(r, body)
		w.WriteHeader(status)
		_, _ = w.Write(resp)
	}
}

// forward sends a bulk body to the real node and returns its answer.
func (f *faultServer) forward(r *http.Request, body []byte) (int, []byte) {
	u := *f.target
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		f.t.Errorf("fault server: %v", err)
		return http.StatusBadGateway, nil
	}
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Errorf("fault server: forward bulk: %v", err)
		return http.StatusBadGateway, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// rejectItems forwards the bulk body without every rejectEvery-th item and
// answers those with itemStatus, merged in order with the node's answers.
func (f *faultServer) rejectItems(w http.ResponseWriter, r *http.Request, body []byte) {
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	var kept bytes.Buffer
	var rejected []bool
	for i := 0; i+1 < len(lines); i += 2 { // create action, then source
		rej := (i/2)%f.rejectEvery == 0
		rejected = append(rejected, rej)
		if !rej {
			kept.Write(lines[i])
			kept.WriteByte('\n')
			kept.Write(lines[i+1])
			kept.WriteByte('\n')
		}
	}
	var fwd struct {
		Items []json.RawMessage `json:"items"`
	}
	if kept.Len() > 0 {
		status, resp := f.forward(r, kept.Bytes())
		if status != http.StatusOK {
			w.WriteHeader(status)
			_, _ = w.Write(resp)
			return
		}
		if err := json.Unmarshal(resp, &fwd); err != nil {
			f.t.Errorf("fault server: node's bulk answer: %v", err)
		}
	}
	status, typ := cmp.Or(f.itemStatus, http.StatusTooManyRequests), cmp.Or(f.itemType, "es_rejected_execution_exception")
	refusal := fmt.Sprintf(`{"create":{"status":%d,"error":{"type":%q,"reason":"refused (injected by the test)"}}}`, status, typ)
	var items []json.RawMessage
	for _, rej := range rejected {
		if rej {
			items = append(items, json.RawMessage(refusal))
			continue
		}
		items = append(items, fwd.Items[0])
		fwd.Items = fwd.Items[1:]
	}
	out, _ := json.Marshal(map[string]any{"errors": true, "items": items})
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func TestRetryItems429(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.itemBulks, f.rejectEvery = 2, 3 // the first round and the first retry
	s := tickSnapshot(1, 3, 30)
	r, err := w.Write(ctxT(t), s)
	if err != nil || r.Indexed != r.Docs || r.Spooled != 0 || r.Failed != 0 {
		t.Fatalf("Write = %+v, %v; want every document indexed after retries", r, err)
	}
	// Round 1: 93 documents, 31 refused; round 2: 31, 11 refused; round 3
	// writes the last 11.
	if r.Retried != 31+11 {
		t.Errorf("Retried = %d, want %d", r.Retried, 31+11)
	}
	if len(r.Problems) != 1 || r.Problems[0].Kind != Temporary || r.Problems[0].Status != 429 || r.Problems[0].Count != 42 {
		t.Errorf("problems %+v, want the 429s, 42 of them", r.Problems)
	}
	stored(map[int]snapshot.Snapshot{1: s})
}

func TestRetryWholeRequest429(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.failBulks, f.failStatus = 1, http.StatusTooManyRequests
	s := tickSnapshot(1, 2, 10)
	r, err := w.Write(ctxT(t), s)
	if err != nil || r.Indexed != r.Docs || r.Retried != r.Docs || r.Spooled != 0 {
		t.Fatalf("Write = %+v, %v; want every document retried once, then indexed", r, err)
	}
	if len(r.Problems) != 1 || r.Problems[0].Status != 429 || !strings.Contains(r.Problems[0].Reason, "es_rejected_execution_exception") {
		t.Errorf("problems %+v, want the request's 429", r.Problems)
	}
	stored(map[int]snapshot.Snapshot{1: s})
}

// TestWholeRequest503 has the node's answer be 503 for one bulk request: the
// client's transport retries it by itself, and nothing is lost or doubled.
func TestWholeRequest503(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.failBulks, f.failStatus = 1, http.StatusServiceUnavailable
	s := tickSnapshot(1, 2, 10)
	if r, err := w.Write(ctxT(t), s); err != nil || r.Indexed != r.Docs || r.Spooled != 0 {
		t.Fatalf("Write = %+v, %v", r, err)
	}
	if f.bulks != 2 {
		t.Errorf("%d bulk requests reached the server, want 2 (the 503, then its retry)", f.bulks)
	}
	stored(map[int]snapshot.Snapshot{1: s})
}

// TestTornBulkResponse forwards a bulk request to the node but cuts the
// answer: the outcome is unknown, so the documents are sent again, and the
// node answers 409 for those it had stored. Exactly once either way.
func TestTornBulkResponse(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.tearBulks = 1
	s := tickSnapshot(1, 2, 20)
	r, err := w.Write(ctxT(t), s)
	if err != nil || r.Duplicates != r.Docs || r.Indexed != 0 || r.Retried != r.Docs || r.Spooled != 0 {
		t.Fatalf("Write = %+v, %v; want every document retried and found already stored", r, err)
	}
	stored(map[int]snapshot.Snapshot{1: s})
}

// TestPersistent429Spools keeps answering 429: after the retries the
// documents are spooled, not lost, and the next Write replays them.
func TestPersistent429Spools(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.failBulks, f.failStatus = 3, http.StatusTooManyRequests // the first try and both retries
	s1, s2 := tickSnapshot(1, 2, 10), tickSnapshot(2, 2, 10)
	r, err := w.Write(ctxT(t), s1)
	if err != nil || r.Spooled != r.Docs || r.Retried != 2*r.Docs {
		t.Fatalf("tick 1 = %+v, %v; want all spooled after two retries", r, err)
	}
	r, err = w.Write(ctxT(t), s2)
	if err != nil || r.Replayed != 22 || r.Indexed != 44 {
		t.Fatalf("tick 2 = %+v, %v; want tick 1 replayed", r, err)
	}
	stored(map[int]snapshot.Snapshot{1: s1, 2: s2})
}

// TestRefusedRequestIsSpooledWithoutRetry answers 403 for the whole request,
// as a cluster does for a key without the privilege: retrying is pointless,
// but the documents are kept for when the key is fixed.
func TestRefusedRequestIsSpooledWithoutRetry(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.failBulks, f.failStatus = 1, http.StatusForbidden
	s1, s2 := tickSnapshot(1, 1, 5), tickSnapshot(2, 1, 5)
	r, err := w.Write(ctxT(t), s1)
	if err != nil || r.Spooled != r.Docs || r.Retried != 0 || !hasProblem(r, Refused) {
		t.Fatalf("Write = %+v, %v; want spooled without retry, a refused problem", r, err)
	}
	if r, err := w.Write(ctxT(t), s2); err != nil || r.Replayed != 6 {
		t.Fatalf("tick 2 = %+v, %v", r, err)
	}
	stored(map[int]snapshot.Snapshot{1: s1, 2: s2})
}

// faultWriter is a Writer with opts to installed streams through a new
// fault server, which the caller sets up before the first Write, and stored
// checks that Elasticsearch then holds exactly the documents of the ticks.
func faultWriter(t *testing.T, opts WriterOptions) (f *faultServer, w *Writer, stored func(ticks map[int]snapshot.Snapshot)) {
	t.Helper()
	names, es := installed(t)
	f, u := newFaultServer(t)
	w = newWriter(t, clientFor(t, u), names, opts)
	return f, w, func(ticks map[int]snapshot.Snapshot) {
		t.Helper()
		wantCounts(t, es, names, ticks)
	}
}

// oneWorker makes one bulk request per round, so that the faults' counts
// are exact.
func oneWorker(t *testing.T) WriterOptions {
	opts := fastRetries(t.TempDir())
	opts.Workers = 1
	return opts
}

// TestFaultsInOneOfSeveralRequests splits one write into several bulk
// requests, two in flight, and tears the answer to the first: only that
// request's documents are sent again (and found stored), the others are
// indexed once, and nothing is lost or doubled.
func TestFaultsInOneOfSeveralRequests(t *testing.T) {
	opts := fastRetries(t.TempDir())
	opts.FlushBytes, opts.Workers = 4<<10, 2
	f, w, stored := faultWriter(t, opts)
	f.tearBulks = 1
	s := tickSnapshot(1, 4, 40)
	r, err := w.Write(ctxT(t), s)
	if err != nil || r.Spooled != 0 || r.Failed != 0 || r.Indexed+r.Duplicates != r.Docs {
		t.Fatalf("Write = %+v, %v; want every document stored", r, err)
	}
	f.mu.Lock()
	bulks := f.bulks
	f.mu.Unlock()
	t.Logf("%d bulk requests; %+v", bulks, r)
	// 164 documents, 4 KiB per request: 17 requests, and one more for the
	// torn one's documents.
	if bulks < 10 {
		t.Errorf("%d bulk requests, want the write split into many", bulks)
	}
	if r.Retried == 0 || r.Retried != r.Duplicates || r.Retried >= r.Docs/2 {
		t.Errorf("Write = %+v; want only the torn request's documents retried and found stored", r)
	}
	stored(map[int]snapshot.Snapshot{1: s})
}

// TestRetriedDocumentsKeepTheirBodies streams one write in many small
// requests, two in flight, and has the node refuse every other item of the
// first three with 429: the refused documents outlive their requests'
// recycled buffers, so each is checked, once stored, against its
// partition's offsets in the snapshot.
func TestRetriedDocumentsKeepTheirBodies(t *testing.T) {
	opts := fastRetries(t.TempDir())
	opts.FlushBytes, opts.Workers = 4<<10, 2
	f, w, stored := faultWriter(t, opts)
	f.itemBulks, f.rejectEvery = 3, 2
	s := tickSnapshot(1, 4, 40)
	r, err := w.Write(ctxT(t), s)
	if err != nil || r.Indexed != r.Docs || r.Retried == 0 {
		t.Fatalf("Write = %+v, %v; want every document indexed, some after a retry", r, err)
	}
	stored(map[int]snapshot.Snapshot{1: s})

	want := map[string]string{}
	for _, g := range s.Groups {
		for _, p := range g.Partitions {
			key := fmt.Sprintf("%s/%s/%d", g.ID, p.Topic, p.Partition)
			committed, newest := p.Committed, p.LogEnd
			if !p.HasCommitted {
				committed = 0
			}
			if !p.HasOffsets {
				newest = 0
			}
			want[key] = fmt.Sprintf("committed %d %v, newest %d %v", committed, p.HasCommitted, newest, p.HasOffsets)
		}
	}
	es := clientFor(t, testenv.Elasticsearch(t))
	q := `{"size":1000,"query":{"term":{"@timestamp":"` + s.Time.UTC().Format(timestampLayout) + `"}}}`
	res, err := es.Search(es.Search.WithIndex(w.names.Offsets), es.Search.WithBody(strings.NewReader(q)), es.Search.WithContext(ctxT(t)))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Kafka struct {
						ConsumerGroup struct {
							ID     string `json:"id"`
							Offset *int64 `json:"offset"`
						} `json:"consumergroup"`
						Topic struct {
							Name string `json:"name"`
						} `json:"topic"`
						Partition struct {
							ID     int32 `json:"id"`
							Offset struct {
								Newest *int64 `json:"newest"`
							} `json:"offset"`
						} `json:"partition"`
					} `json:"kafka"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	testenv.DecodeBody(t, res.StatusCode, res.Body, "search offsets", &out)
	if len(out.Hits.Hits) != len(want) {
		t.Fatalf("%d offsets documents read back, want %d", len(out.Hits.Hits), len(want))
	}
	for _, h := range out.Hits.Hits {
		k := h.Source.Kafka
		key := fmt.Sprintf("%s/%s/%d", k.ConsumerGroup.ID, k.Topic.Name, k.Partition.ID)
		var committed, newest int64
		if k.ConsumerGroup.Offset != nil {
			committed = *k.ConsumerGroup.Offset
		}
		if k.Partition.Offset.Newest != nil {
			newest = *k.Partition.Offset.Newest
		}
		got := fmt.Sprintf("committed %d %v, newest %d %v", committed, k.ConsumerGroup.Offset != nil, newest, k.Partition.Offset.Newest != nil)
		if want[key] != got {
			t.Errorf("%s: stored %q, want %q", key, got, want[key])
		}
	}
}
