package esindex

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestClassifyItem is the proof of what happens to a document Elasticsearch
// did not store: only its content makes it fail for good; every refusal
// about the store keeps it.
func TestClassifyItem(t *testing.T) {
	item := func(status int, typ, reason string) bulkItem {
		var it bulkItem
		it.Status, it.Error.Type, it.Error.Reason = status, typ, reason
		return it
	}
	cases := []struct {
		name  string
		item  bulkItem
		want  outcome
		kind  ProblemKind
		cause string
	}{
		{"already stored: a replay of a document written before", item(409, "version_conflict_engine_exception", "document already exists"), duplicate, "", ""},
		{"write block (index.blocks.write): the store's, spooled at once",
			item(403, "cluster_block_exception", "index [.ds-x] blocked by: [FORBIDDEN/8/index write (api)];"), refused, Refused, "cluster_block_exception"},
		{"read-only index: the same", item(403, "cluster_block_exception", "blocked by: [FORBIDDEN/5/index read-only (api)];"), refused, Refused, "cluster_block_exception"},
		{"privilege revoked: the credentials', spooled at once",
			item(403, "security_exception", "action [indices:data/write/bulk[s]] is unauthorized"), refused, Refused, "security_exception"},
		{"unauthenticated", item(401, "security_exception", "missing authentication credentials"), refused, Refused, "security_exception"},
		{"data stream gone and not creatable", item(404, "index_not_found_exception", "no such index"), refused, Refused, "index_not_found_exception"},
		{"closed index answers 400, but is the store's", item(400, "index_closed_exception", "closed"), refused, Refused, "index_closed_exception"},
		{"flood stage (read_only_allow_delete): may pass, retried then spooled",
			item(429, "cluster_block_exception", "blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark"), temporary, Temporary, "cluster_block_exception"},
		{"overloaded", item(429, "es_rejected_execution_exception", "rejected execution"), temporary, Temporary, "es_rejected_execution_exception"},
		{"shard unavailable", item(503, "unavailable_shards_exception", "primary shard is not active"), temporary, Temporary, "unavailable_shards_exception"},
		{"server error without a type", item(500, "", ""), temporary, Temporary, "http_500"},
		{"an item the answer left without status", item(0, "", ""), temporary, Temporary, causeBadAnswer},
		{"mapping conflict: the document's own, dropped",
			item(400, "document_parsing_exception", "failed to parse field [a] of type [long]"), rejected, Rejected, "document_parsing_exception"},
		{"older mapper error", item(400, "mapper_parsing_exception", "failed to parse"), rejected, Rejected, "mapper_parsing_exception"},
		{"field the strict mapping does not know", item(400, "strict_dynamic_mapping_exception", "dynamic introduction of [c]"), rejected, Rejected, "strict_dynamic_mapping_exception"},
		{"illegal argument on a field", item(400, "illegal_argument_exception", "field [x] of type [keyword] is too long"), rejected, Rejected, "illegal_argument_exception"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := classifyItem(tc.item)
			if v.outcome != tc.want || v.kind != tc.kind || v.cause != tc.cause {
				t.Errorf("classifyItem = outcome %d, kind %q, cause %q; want %d, %q, %q", v.outcome, v.kind, v.cause, tc.want, tc.kind, tc.cause)
			}
			if tc.kind != "" && (v.status != tc.item.Status || !strings.HasPrefix(v.reason, tc.item.Error.Type)) {
				t.Errorf("status %d, reason %q: want the item's", v.status, v.reason)
			}
		})
	}
}

// TestClassifyRequest: a bulk request that failed as a whole.
func TestClassifyRequest(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		want  outcome
		cause string
	}{
		{"403 for the whole request: spooled at once", &requestError{Status: 403, Type: "security_exception", Reason: "unauthorized"}, refused, "security_exception"},
		{"401 without a body", &requestError{Status: 401, Reason: "Unauthorized"}, refused, "http_401"},
		{"429: retried", &requestError{Status: 429, Type: "es_rejected_execution_exception"}, temporary, "es_rejected_execution_exception"},
		{"502 from a proxy: retried", &requestError{Status: 502, Reason: "Bad Gateway"}, temporary, "http_502"},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, temporary, causeConnection},
		{"the write's time ran out", fmt.Errorf("perform: %w", context.DeadlineExceeded), temporary, causeTimeout},
		{"a torn answer", fmt.Errorf("%w: unexpected EOF", errBadAnswer), temporary, causeBadAnswer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if v := classifyRequest(tc.err); v.outcome != tc.want || v.cause != tc.cause {
				t.Errorf("classifyRequest = outcome %d, cause %q; want %d, %q", v.outcome, v.cause, tc.want, tc.cause)
			}
		})
	}
}

// TestWriteBlockSpoolsAndReplays puts a write block on the data streams'
// backing indices of the real node, as an operator does: every document is
// answered 403 cluster_block_exception. Two writes while it holds are
// spooled, not lost and not retried; once it is lifted, the next write
// replays them in order, and every tick is stored exactly once.
func TestWriteBlockSpoolsAndReplays(t *testing.T) {
	names, es := installed(t)
	w := newWriter(t, es, names, fastRetries(t.TempDir()))
	ticks := map[int]snapshot.Snapshot{}
	for i := 1; i <= 4; i++ {
		ticks[i] = tickSnapshot(i, 2, 10)
	}
	per := 2 * 11
	if r, err := w.Write(ctxT(t), ticks[1]); err != nil || r.Indexed != per {
		t.Fatalf("tick 1: %+v, %v", r, err)
	}
	lift := testenv.BlockWrites(t, ".ds-metrics-lagwatch.*-"+names.Namespace+"-*")
	for _, i := range []int{2, 3} {
		r, err := w.Write(ctxT(t), ticks[i])
		if err != nil || r.Spooled != per || r.Failed != 0 || r.Dropped != 0 || r.Retried != 0 {
			t.Fatalf("tick %d under a write block: %+v, %v; want %d spooled, none failed or retried", i, r, err, per)
		}
		// Tick 2 is refused as it is sent; tick 3 waits behind tick 2,
		// whose replay is refused.
		if !slices.Equal(r.Refusals, []CauseCount{{Cause: "cluster_block_exception", Count: per}}) || r.Refused != per {
			t.Errorf("tick %d: refusals %+v (%d), want %d cluster_block_exception", i, r.Refusals, r.Refused, per)
		}
		if p, ok := r.Refusal(); !ok || p.Kind != Refused || p.Status != http.StatusForbidden || !strings.Contains(p.Reason, "index write (api)") {
			t.Errorf("tick %d: refusal %+v, %v; want the 403 of the block", i, p, ok)
		}
	}
	if segs, _ := w.SpoolDepth(); segs != 2 {
		t.Fatalf("spool holds %d segments, want 2", segs)
	}
	lift()
	r, err := w.Write(ctxT(t), ticks[4])
	if err != nil || r.Replayed != 2*per || r.Indexed != 3*per || r.Refused != 0 {
		t.Fatalf("tick 4 once the block is lifted: %+v, %v; want %d replayed", r, err, 2*per)
	}
	if segs, _ := w.SpoolDepth(); segs != 0 {
		t.Errorf("spool holds %d segments after the replay, want 0", segs)
	}
	wantCounts(t, es, names, ticks)
}

// TestRefusedItemsAreSpooledWithoutRetry has every other document of the
// first bulk request answered 403 security_exception, as for a privilege
// revoked on one data stream: those are spooled at once, without a retry,
// the others written; the next write replays them.
func TestRefusedItemsAreSpooledWithoutRetry(t *testing.T) {
	f, w, stored := faultWriter(t, oneWorker(t))
	f.itemBulks, f.rejectEvery, f.itemStatus, f.itemType = 1, 2, http.StatusForbidden, "security_exception"
	s1, s2 := tickSnapshot(1, 1, 9), tickSnapshot(2, 1, 9)
	r, err := w.Write(ctxT(t), s1)
	if err != nil || r.Spooled != 5 || r.Indexed != 5 || r.Retried != 0 || r.Failed != 0 {
		t.Fatalf("Write = %+v, %v; want 5 indexed, 5 spooled without retry", r, err)
	}
	if !slices.Equal(r.Refusals, []CauseCount{{Cause: "security_exception", Count: 5}}) {
		t.Errorf("refusals %+v, want 5 security_exception", r.Refusals)
	}
	if r, err := w.Write(ctxT(t), s2); err != nil || r.Replayed != 5 || r.Indexed != 15 {
		t.Fatalf("tick 2 = %+v, %v; want tick 1's 5 replayed", r, err)
	}
	stored(map[int]snapshot.Snapshot{1: s1, 2: s2})
}
