package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestFloorResendsTheLastTick writes two ticks through the collector's own
// writer into the real node, then checks that the floor measurement sends
// exactly the last tick's documents again, all created, and cleans up.
func TestFloorResendsTheLastTick(t *testing.T) {
	esURL := testenv.Elasticsearch(t)
	es := testenv.ESClient(t)
	ns := strings.ReplaceAll(testenv.Name(t, "floor"), "-", "")
	names, err := esindex.NewNames(ns)
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, names.Offsets, names.Groups, names.Ticks, names.Status)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := esindex.NewFromClient(es, names)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.NewWriter(esindex.WriterOptions{SpoolDir: t.TempDir(), Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Install(ctx); err != nil {
		t.Fatalf("Install: %v", err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const groups, partitions = 3, 7
	for i := range 2 {
		s := snapshot.Snapshot{Cluster: "floor", ClusterID: "id-1", Time: t0.Add(time.Duration(i) * 30 * time.Second)}
		for g := range groups {
			grp := snapshot.Group{ID: "g" + string(rune('a'+g)), State: "Empty"}
			// The second tick has one partition more per group, so that a
			// floor that read both ticks, or the first, would be caught.
			for p := range partitions + i {
				grp.Partitions = append(grp.Partitions, snapshot.Partition{Topic: "t", Partition: int32(p),
					Committed: 5, HasCommitted: true, LogEnd: 9, LogStart: 0, HasOffsets: true})
			}
			s.Groups = append(s.Groups, grp)
		}
		if r, err := w.Write(ctx, s); err != nil || r.Indexed != r.Docs {
			t.Fatalf("Write tick %d: %+v, %v", i, r, err)
		}
	}
	if _, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(names.Offsets, names.Groups)); err != nil {
		t.Fatal(err)
	}

	prefix := testenv.Name(t, "floor")
	fr, err := measureFloor(ctx, newESHTTP(esURL), ns, prefix, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("measureFloor: %v", err)
	}
	if want := groups * (1 + partitions + 1); fr.Docs != want {
		t.Errorf("floor sent %d documents, want the last tick's %d", fr.Docs, want)
	}
	if fr.Requests != 1 || len(fr.Runs) != 2 {
		t.Errorf("floor: %d requests, %d runs; want 1 and 2", fr.Requests, len(fr.Runs))
	}
	for _, kind := range []string{"offsets", "groups"} {
		res, err := es.Indices.Exists([]string{strings.ToLower(prefix) + "-floor-" + kind})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("floor index for %s left behind (HTTP %d)", kind, res.StatusCode)
		}
	}
}
