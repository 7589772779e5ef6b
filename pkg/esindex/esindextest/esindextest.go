// Package esindextest gives tests outside pkg/esindex a history of their
// own on the real Elasticsearch of scripts/testenv: a fresh namespace with
// the collector's templates installed, a writer for snapshots, and cleanup.
// Only tests import it.
package esindextest

import (
	"context"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// History is one test's namespace.
type History struct {
	ES        *elasticsearch.Client
	Namespace string
	Names     esindex.Names
	Client    *esindex.Client
	Writer    *esindex.Writer
}

// New makes a namespace named after the test and prefix, installs the
// collector's templates and returns a writer spooling into a temporary
// folder. The data streams, the incident index and its template are removed
// at cleanup (where this Elasticsearch can).
func New(ctx context.Context, t *testing.T, prefix string) History {
	t.Helper()
	return NewWith(ctx, t, prefix, esindex.WriterOptions{})
}

// NewWith is New with the writer's options (an empty SpoolDir is a
// temporary folder); opts.Retention is also the templates' retention.
func NewWith(ctx context.Context, t *testing.T, prefix string, opts esindex.WriterOptions) History {
	t.Helper()
	es := testenv.ESClient(t)
	ns := strings.ReplaceAll(testenv.Name(t, prefix), "-", "")
	names, err := esindex.NewNames(ns)
	if err != nil {
		t.Fatal(err)
	}
	testenv.DeleteDataStreamsOnCleanup(t, "metrics-lagwatch.*-"+ns, names.Offsets, names.Groups, names.Status, names.Ticks)
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{names.Incidents}, es.Indices.Delete.WithIgnoreUnavailable(true)); err == nil {
			res.Body.Close()
		}
		if res, err := es.Indices.DeleteIndexTemplate(names.Incidents); err == nil {
			res.Body.Close()
		}
	})
	c, err := esindex.NewFromClient(es, names)
	if err != nil {
		t.Fatal(err)
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = t.TempDir()
	}
	w, err := c.NewWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Install(ctx); err != nil {
		t.Fatal(err)
	}
	return History{ES: es, Namespace: ns, Names: names, Client: c, Writer: w}
}

// Write stores the snapshots, failing the test on any error or spooled
// document, and makes them searchable.
func (h History) Write(ctx context.Context, t *testing.T, snaps ...snapshot.Snapshot) {
	t.Helper()
	for _, s := range snaps {
		res, err := h.Writer.Write(ctx, s)
		if err != nil {
			t.Fatalf("write the snapshot of %s: %v", s.Time, err)
		}
		if res.Spooled > 0 {
			t.Fatalf("write the snapshot of %s: %d documents spooled", s.Time, res.Spooled)
		}
	}
	if err := h.Client.Refresh(ctx); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}
