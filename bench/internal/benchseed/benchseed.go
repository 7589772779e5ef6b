// Package benchseed writes the synthetic history the evaluator and API
// benchmarks read: ticks of many groups through the collector's own writer
// (esindex.Writer), so that the documents are exactly what a collector
// stores.
//
// It imports no Kafka client.
package benchseed

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// Cluster is the name of the one cluster of the history.
const Cluster = "bench"

// Interval is the time between two ticks.
const Interval = 30 * time.Second

// Snapshot is tick i of a history whose tick 0 is at t0: groups groups of
// partitions partitions each. A quarter of the groups stop at tick 5 and
// leave (STOP: their commits are frozen through a window of the last 10
// ticks), a quarter fall behind by 100 messages a tick (WARN: their commit
// lag grows and never reaches 0 in that window), the rest keep up, so that
// every rule runs. Group g is "group-%05d"; partition p is on topic
// "topic-{p%5}".
//
// With lagging, every group is stuck instead, each at an offset of its own
// that the log end passed before the last 10 ticks (ERR, and a time lag
// only the history before the window can give).
func Snapshot(t0 time.Time, i, groups, partitions int, lagging bool) snapshot.Snapshot {
	s := snapshot.Snapshot{Cluster: Cluster, ClusterID: Cluster, Time: t0.Add(time.Duration(i) * Interval)}
	s.Groups = make([]snapshot.Group, groups)
	for g := range s.Groups {
		m := snapshot.Member{MemberID: fmt.Sprintf("consumer-%d", g), ClientID: "bench", Host: "/10.0.0.1"}
		grp := snapshot.Group{ID: GroupName(g), State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{m}}
		grp.Partitions = make([]snapshot.Partition, partitions)
		for p := range grp.Partitions {
			logEnd := int64(1000*i + p)
			committed := logEnd
			switch {
			case lagging:
				// Stuck since the start at an offset of its own, which
				// the log end passed at about tick committed/1000: before
				// the window of the last 10 ticks for every partition.
				committed = int64((g*7919)%9000 + p)
			case g%4 == 1: // stopped at tick 5
				committed = int64(1000*min(i, 5) + p)
				grp.State = "Empty"
			case g%4 == 2: // falling behind, 500 messages back from the start
				committed = int64(max(900*i-500, 0) + p)
			}
			part := snapshot.Partition{Topic: fmt.Sprintf("topic-%d", p%5), Partition: int32(p), Committed: committed, HasCommitted: true,
				LogEnd: logEnd, LogStart: 0, HasOffsets: true}
			if grp.State != "Empty" {
				part.Owner = &grp.Members[0]
			}
			grp.Partitions[p] = part
		}
		if grp.State == "Empty" {
			grp.Members = nil
			for p := range grp.Partitions {
				grp.Partitions[p].Owner = nil
			}
		}
		s.Groups[g] = grp
	}
	return s
}

// GroupName is the name of group g.
func GroupName(g int) string { return fmt.Sprintf("group-%05d", g) }

// Write installs the collector's templates in es's namespace and writes
// ticks snapshots of groups x partitions from t0 on, then refreshes, so
// that everything is searchable when it returns. A document Elasticsearch
// refuses (spooled by the writer) is an error.
func Write(ctx context.Context, es *esindex.Client, t0 time.Time, ticks, groups, partitions int, lagging bool) error {
	spool, err := os.MkdirTemp("", "benchseed-spool")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spool)
	w, err := es.NewWriter(esindex.WriterOptions{SpoolDir: spool})
	if err != nil {
		return err
	}
	if _, err := w.Install(ctx); err != nil {
		return err
	}
	for i := 0; i < ticks; i++ {
		res, err := w.Write(ctx, Snapshot(t0, i, groups, partitions, lagging))
		if err != nil {
			return fmt.Errorf("seed tick %d: %w", i, err)
		}
		if res.Spooled > 0 {
			return fmt.Errorf("seed tick %d: %d documents spooled: Elasticsearch refused them", i, res.Spooled)
		}
	}
	return es.Refresh(ctx)
}
