package evaluator

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// errBlocked is what the incident store answers under a write block.
var errBlocked = errors.New(`save incident of group "g": HTTP 403: cluster_block_exception: index [lagwatch-incidents-test] blocked by: [FORBIDDEN/8/index write (api)];`)

// live runs one evaluation with the group stopped (ERR) or keeping up (OK).
func (h *harness) live(t *testing.T, group string, stopped bool) {
	t.Helper()
	h.history.windows = []evaluate.GroupWindow{window(group, stopped, time.Now().UTC())}
	if err := h.Live(context.Background()); err != nil {
		t.Fatalf("Live: %v (a refused write is no failure of the run)", err)
	}
}

// TestAlertsWhileElasticsearchRefusesWrites: the status stream and the
// incident store refuse writes while a group turns ERR. The alert is sent
// all the same, once; the statuses are kept; the next run, still refused,
// sends nothing more; once writes are taken again, the statuses and the
// incident are written and nothing is sent twice; the close that follows is
// sent once.
func TestAlertsWhileElasticsearchRefusesWrites(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	key := notify.GroupKey{Cluster: "c", Group: "g"}
	h.store.refuse, h.statuses.refuse = errBlocked, true

	h.live(t, "g", true)
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR"}) {
		t.Fatalf("alerts %v while the store refuses writes, want [open:ERR]", got)
	}
	if len(h.store.incidents) != 0 || len(h.statuses.batches) != 0 {
		t.Fatalf("the refusing store holds %v, statuses %v", h.store.incidents, h.statuses.batches)
	}
	l := h.lines(t, "evaluation")
	if len(l) != 1 || l[0]["level"] != "WARN" || l[0]["statuses_kept"] != 1.0 || l[0]["alerts_unrecorded"] != 1.0 ||
		l[0]["incidents_unsaved"] != 1.0 || l[0]["alerts_sent"] != 1.0 || !strings.Contains(l[0]["refusal"].(string), "cluster_block_exception") {
		t.Errorf("summary %v; want a WARN line with 1 status kept, 1 alert sent unrecorded, 1 incident unsaved, the refusal", l)
	}
	if w := h.lines(t, "incident store refuses writes: alerts are sent all the same, and this evaluator remembers them until it can save them"); len(w) != 1 ||
		!strings.Contains(w[0]["err"].(string), "cluster_block_exception") {
		t.Errorf("refusal lines %v, want one with the store's error", w)
	}
	if st, inc := h.Unwritten(); st != 1 || inc != 1 {
		t.Errorf("Unwritten = %d statuses, %d incidents; want 1, 1", st, inc)
	}
	if n := h.counter(t, "alerts_unrecorded_total"); n != 1 {
		t.Errorf("alerts_unrecorded_total = %v, want 1", n)
	}

	h.live(t, "g", true)
	if got := s.alerts(); len(got) != 1 {
		t.Fatalf("a second run while the store still refuses sent %v, want nothing more", got)
	}

	h.store.refuse, h.statuses.refuse = nil, false
	h.live(t, "g", true)
	if got := s.alerts(); len(got) != 1 {
		t.Fatalf("the run once writes are taken sent %v, want nothing more", got)
	}
	if inc := h.store.incidents[key]; !inc.Open || inc.Sends != 1 || inc.Status != evaluate.Err || inc.Pending != notify.None {
		t.Errorf("stored incident %+v; want open at ERR after 1 send, nothing pending", inc)
	}
	if n := len(h.statuses.docs()); n != 3 {
		t.Errorf("%d status documents written, want 3 (two kept, one new)", n)
	}
	if st, inc := h.Unwritten(); st != 0 || inc != 0 {
		t.Errorf("Unwritten = %d statuses, %d incidents; want none", st, inc)
	}
	if l := h.lines(t, "incidents saved once the store took writes again"); len(l) != 1 || l[0]["incidents"] != 1.0 {
		t.Errorf("lines %v, want one saying the incident was saved", l)
	}

	h.live(t, "g", false)
	h.live(t, "g", false)
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR", "close:OK"}) {
		t.Errorf("alerts %v, want the close once", got)
	}
}

// TestRefusalAfterTheClaim: the claim is saved, the delivery's save is
// refused. The alert was sent; without a memory of it the claim would run
// out and the alert be sent again. The next run saves it and sends nothing.
func TestRefusalAfterTheClaim(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	h.store.refuse, h.store.okSaves = errBlocked, 1
	h.live(t, "g", true)
	key := notify.GroupKey{Cluster: "c", Group: "g"}
	if inc := h.store.incidents[key]; inc.Pending != notify.Open || inc.ClaimedAt.IsZero() {
		t.Fatalf("stored %+v; want the claim only", inc)
	}
	h.store.refuse = nil
	// Past the claim's life: the stored claim alone would make it owed.
	h.cfg.Timeout = time.Nanosecond
	h.live(t, "g", true)
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR"}) {
		t.Errorf("alerts %v, want [open:ERR] once", got)
	}
	if inc := h.store.incidents[key]; inc.Pending != notify.None || !inc.ClaimedAt.IsZero() || inc.Sends != 1 {
		t.Errorf("stored %+v; want delivered once, no claim", inc)
	}
}

// TestUnsavedYieldsToAnotherEvaluator: while this evaluator's incident was
// unsaved, another evaluator saved one (the store's version moved on): the
// stored one stands, this evaluator's memory is dropped and the next
// decision is the store's.
func TestUnsavedYieldsToAnotherEvaluator(t *testing.T) {
	s := &sink{}
	h := newHarness(t, s.webhook(t))
	h.store.refuse = errBlocked
	h.live(t, "g", true)
	h.store.refuse = nil
	// Another evaluator sent the open too and saved it.
	then := time.Now().UTC().Add(-time.Minute)
	other := notify.Delivered(notify.Incident{Cluster: "c", Group: "g", Open: true, Status: evaluate.Err, WorstStatus: evaluate.Err,
		OpenedAt: then, UpdatedAt: then}, notify.Open, true, then)
	if _, err := h.store.Save(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	h.live(t, "g", true)
	if got := s.alerts(); len(got) != 1 {
		t.Errorf("alerts %v, want nothing more: the other evaluator's incident says it was sent", got)
	}
	if l := h.lines(t, "incidents this evaluator could not save were changed by another evaluator meanwhile; the stored ones stand"); len(l) != 1 {
		t.Errorf("want one line saying the stored incident stands:\n%s", h.log.String())
	}
	if inc := h.store.incidents[notify.GroupKey{Cluster: "c", Group: "g"}]; !inc.OpenedAt.Equal(then) {
		t.Errorf("stored %+v; want the other evaluator's", inc)
	}
	if _, n := h.Unwritten(); n != 0 {
		t.Errorf("%d incidents still unsaved, want 0", n)
	}
}

// TestStateFileOutlivesTheProcess: with a state file, a second process
// (--once runs) knows what the first sent while the store refused writes,
// and sends nothing again; the process that finds the store writable again
// saves the incident and empties the file.
func TestStateFileOutlivesTheProcess(t *testing.T) {
	s := &sink{}
	file := filepath.Join(t.TempDir(), "state.json")
	store := &fakeStore{refuse: errBlocked}
	process := func() *harness {
		h := newHarness(t, s.webhook(t))
		h.cfg.StateFile = file
		h.unsaved = newUnsaved(file)
		h.store = store
		h.Evaluator.store = store
		return h
	}
	process().live(t, "g", true)
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"Group": "g"`) || !strings.Contains(string(b), `"Sends": 1`) {
		t.Fatalf("state file %s, %v; want the incident sent once", b, err)
	}
	process().live(t, "g", true)
	if got := s.alerts(); len(got) != 1 {
		t.Fatalf("a second process sent %v, want nothing more", got)
	}
	store.refuse = nil
	h := process()
	h.live(t, "g", true)
	if got := s.alerts(); len(got) != 1 {
		t.Errorf("the process that saves the incident sent %v, want nothing more", got)
	}
	if inc := store.incidents[notify.GroupKey{Cluster: "c", Group: "g"}]; inc.Sends != 1 || !inc.Open {
		t.Errorf("stored %+v, want open after 1 send", inc)
	}
	if b, err := os.ReadFile(file); err != nil || strings.Contains(string(b), `"Group"`) {
		t.Errorf("state file %s, %v; want no incident left", b, err)
	}
}

// TestBadStateFile: a state file that is not one fails the run that would
// alert, naming it, rather than forgetting what it may hold.
func TestBadStateFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(file, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.unsaved = newUnsaved(file)
	h.history.windows = []evaluate.GroupWindow{window("g", true, time.Now().UTC())}
	if err := h.Live(context.Background()); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Live = %v, want an error naming %s", err, file)
	}
}

// TestTwoEvaluatorsWhileStoreRefuses states the limit: two evaluators whose
// incident store refuses writes cannot know of each other, and each sends
// the transition. Once the store takes writes, the first to save wins, the
// other follows the stored incident, and nothing more is sent twice.
func TestTwoEvaluatorsWhileStoreRefuses(t *testing.T) {
	s := &sink{}
	hook := s.webhook(t)
	store := &fakeStore{refuse: errBlocked}
	a, b := newHarness(t, hook), newHarness(t, hook)
	a.store, a.Evaluator.store, b.store, b.Evaluator.store = store, store, store, store
	a.live(t, "g", true)
	b.live(t, "g", true)
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR", "open:ERR"}) {
		t.Fatalf("alerts %v; want the open once per evaluator while the store refuses writes", got)
	}
	store.refuse = nil
	a.live(t, "g", true)
	b.live(t, "g", true)
	a.live(t, "g", true)
	if got := s.alerts(); len(got) != 2 {
		t.Fatalf("alerts %v once the store takes writes, want nothing more", got)
	}
	if inc := store.incidents[notify.GroupKey{Cluster: "c", Group: "g"}]; inc.Sends != 1 || !inc.Open {
		t.Errorf("stored %+v; want the first evaluator's incident, open after its send", inc)
	}
	if _, n := b.Unwritten(); n != 0 {
		t.Errorf("the second evaluator still holds %d incidents, want 0", n)
	}
	a.live(t, "g", false)
	b.live(t, "g", false)
	if got := s.alerts(); !slices.Equal(got, []string{"open:ERR", "open:ERR", "close:OK"}) {
		t.Errorf("alerts %v, want the close once", got)
	}
}
