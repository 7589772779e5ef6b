package esindex

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// TestIncidentVersions: a new incident is created once; an update applies
// only over the version that was read, so two evaluators cannot both act on
// the same state.
func TestIncidentVersions(t *testing.T) {
	names, es := installed(t)
	if err := clientOf(t, es, names).InstallEvaluator(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = es.Indices.Delete([]string{names.Incidents}) })

	got, err := clientOf(t, es, names).Incidents().Load(ctxT(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("before any incident: %v, %v", got, err)
	}
	inc := notify.Incident{Cluster: "c", Group: "g", Open: true, Status: evaluate.Warn, WorstStatus: evaluate.Warn, OpenedAt: tick0, LastSentAt: tick0, Sends: 1, UpdatedAt: tick0}
	saved, err := clientOf(t, es, names).Incidents().Save(ctxT(t), inc)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := clientOf(t, es, names).Incidents().Save(ctxT(t), inc); !errors.Is(err, notify.ErrConflict) {
		t.Fatalf("second create of the same incident: %v, want notify.ErrConflict", err)
	}
	loaded, err := clientOf(t, es, names).Incidents().Load(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	l := loaded[notify.GroupKey{Cluster: "c", Group: "g"}]
	if !l.Open || l.Status != evaluate.Warn || !l.OpenedAt.Equal(tick0) || l.Sends != 1 || !l.ClosedAt.IsZero() {
		t.Fatalf("loaded %+v", l)
	}
	l.Status, l.WorstStatus, l.Sends = evaluate.Err, evaluate.Err, 2
	if _, err := clientOf(t, es, names).Incidents().Save(ctxT(t), l); err != nil {
		t.Fatalf("update over the loaded version: %v", err)
	}
	// saved still carries the version before that update.
	saved.Open = false
	if _, err := clientOf(t, es, names).Incidents().Save(ctxT(t), saved); !errors.Is(err, notify.ErrConflict) {
		t.Fatalf("update over a stale version: %v, want notify.ErrConflict", err)
	}
	loaded, _ = clientOf(t, es, names).Incidents().Load(ctxT(t))
	l = loaded[notify.GroupKey{Cluster: "c", Group: "g"}]
	if l.Status != evaluate.Err || l.Sends != 2 || !l.Open {
		t.Errorf("after the stale update: %+v, want the fresh one kept", l)
	}

	// The incident log: one document per incident, the latest saved
	// state (not the stale update's), then its close; a second incident
	// is a second document.
	t.Cleanup(func() { _, _ = es.Indices.Delete([]string{names.IncidentLog}) })
	l.Open, l.Status, l.ClosedAt = false, evaluate.OK, tick0.Add(time.Minute)
	if _, err := clientOf(t, es, names).Incidents().Save(ctxT(t), l); err != nil {
		t.Fatalf("close: %v", err)
	}
	second := notify.Incident{Cluster: "c", Group: "g", Open: true, Status: evaluate.Warn, WorstStatus: evaluate.Warn,
		OpenedAt: tick0.Add(time.Hour), UpdatedAt: tick0.Add(time.Hour)}
	loaded, _ = clientOf(t, es, names).Incidents().Load(ctxT(t))
	second.Version = loaded[notify.GroupKey{Cluster: "c", Group: "g"}].Version
	if _, err := clientOf(t, es, names).Incidents().Save(ctxT(t), second); err != nil {
		t.Fatalf("second incident: %v", err)
	}
	if res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.IncidentLog)); err == nil {
		res.Body.Close()
	}
	res, err := es.Search(es.Search.WithIndex(names.IncidentLog), es.Search.WithSort("lagwatch.incident.opened_at:asc"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var log struct {
		Hits struct {
			Hits []struct {
				Source incidentJSON `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&log); err != nil {
		t.Fatal(err)
	}
	type logged struct{ opened, closed, worst string }
	var entries []logged
	for _, h := range log.Hits.Hits {
		i := h.Source.Lagwatch.Incident
		entries = append(entries, logged{i.OpenedAt, i.ClosedAt, i.WorstStatus})
	}
	want := []logged{{formatTime(tick0), formatTime(tick0.Add(time.Minute)), "ERR"}, {formatTime(tick0.Add(time.Hour)), "", "WARN"}}
	if !slices.Equal(entries, want) {
		t.Errorf("incident log %+v, want %+v", entries, want)
	}
}

// TestIncidentStatusForm: statuses are stored as Burrow's strings, a status
// not set yet as none, so stored documents read as before.
func TestIncidentStatusForm(t *testing.T) {
	// Each status with its stored form and why.
	for _, tc := range []struct {
		status         evaluate.Status
		stored, reason string
	}{
		{evaluate.NotFound, "", "the zero value is left out, as an empty string was"},
		{evaluate.OK, "OK", "Burrow's string"},
		{evaluate.Warn, "WARN", "Burrow's string"},
		{evaluate.Err, "ERR", "Burrow's string"},
	} {
		t.Run(tc.status.String(), func(t *testing.T) {
			if got := incidentStatus(tc.status); got != tc.stored {
				t.Errorf("%s: stored as %q, want %q", tc.reason, got, tc.stored)
			}
			if got := parseIncidentStatus(tc.stored); got != tc.status {
				t.Errorf("%s: %q reads as %v, want %v", tc.reason, tc.stored, got, tc.status)
			}
		})
	}
	if got := parseIncidentStatus("BROKEN"); got != evaluate.NotFound {
		t.Errorf("an unknown stored status reads as %v, want NOTFOUND (no status yet)", got)
	}
	seq, term, err := parseIncidentVersion(incidentVersion(42, 7))
	if err != nil || seq != 42 || term != 7 {
		t.Errorf("version round trip: %d %d %v, want 42 7", seq, term, err)
	}
	for _, v := range []string{"42", "a/7", "42/b"} {
		if _, _, err := parseIncidentVersion(v); err == nil {
			t.Errorf("parseIncidentVersion(%q) accepted a version this store never wrote", v)
		}
	}
}

// TestIncidentSavedWithoutLog: with the incident log blocked, Save stores
// the incident all the same and says that only the log entry is missing
// (notify.ErrLogNotSaved), with the new version.
func TestIncidentSavedWithoutLog(t *testing.T) {
	names, es := installed(t)
	c := clientOf(t, es, names)
	if err := c.InstallEvaluator(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	for _, index := range []string{names.Incidents, names.IncidentLog} {
		res, err := es.Indices.Create(index)
		if err != nil {
			t.Fatal(err)
		}
		testenv.MustOK(t, res.StatusCode, res.Body, "create "+index)
		t.Cleanup(func() { _, _ = es.Indices.Delete([]string{index}) })
	}
	testenv.BlockWrites(t, names.IncidentLog)
	inc := notify.Incident{Cluster: "c", Group: "g", Open: true, Status: evaluate.Err, WorstStatus: evaluate.Err, OpenedAt: tick0, UpdatedAt: tick0}
	saved, err := c.Incidents().Save(ctxT(t), inc)
	if !errors.Is(err, notify.ErrLogNotSaved) || !strings.Contains(err.Error(), "cluster_block_exception") || saved.Version == "" {
		t.Fatalf("Save = %+v, %v; want it saved with a version, and ErrLogNotSaved", saved, err)
	}
	loaded, err := c.Incidents().Load(ctxT(t))
	if err != nil || loaded[notify.GroupKey{Cluster: "c", Group: "g"}].Version != saved.Version {
		t.Errorf("loaded %+v, %v; want the saved incident", loaded, err)
	}
}

// TestClusterIncident: a cluster's own incident is stored apart from every
// group's, even from a group named "", and loads under its own key.
func TestClusterIncident(t *testing.T) {
	names, es := installed(t)
	c := clientOf(t, es, names)
	if err := c.InstallEvaluator(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = es.Indices.Delete([]string{names.Incidents, names.IncidentLog}) })
	group := notify.Incident{Cluster: "c", Group: "", Open: true, Status: evaluate.Warn, WorstStatus: evaluate.Warn, OpenedAt: tick0, UpdatedAt: tick0}
	cluster := notify.Incident{Cluster: "c", Scope: notify.ClusterScope, Open: true, Status: evaluate.Err, WorstStatus: evaluate.Err, OpenedAt: tick0, UpdatedAt: tick0}
	for _, inc := range []notify.Incident{group, cluster} {
		if _, err := c.Incidents().Save(ctxT(t), inc); err != nil {
			t.Fatalf("save %+v: %v", inc.Key(), err)
		}
	}
	loaded, err := c.Incidents().Load(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if g, cl := loaded[notify.GroupKey{Cluster: "c"}], loaded[notify.ClusterKey("c")]; len(loaded) != 2 ||
		g.Status != evaluate.Warn || g.Scope != notify.GroupScope || cl.Status != evaluate.Err || cl.Scope != notify.ClusterScope {
		t.Errorf("loaded %+v: want the group's WARN and the cluster's ERR apart", loaded)
	}
	if incidentLogID(group.Key(), tick0) == incidentLogID(cluster.Key(), tick0) {
		t.Error("the incident log ids of a group named \"\" and of its cluster are the same")
	}
}
