package kafkasource

import (
	"context"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestTransactionMarkersAreNotLag writes, with Kafka's own transactional
// ProducerPerformance, 20 records in one committed transaction (offsets 0
// to 19, its marker at 20), then with franz-go's transactional producer 5
// records in an aborted transaction (21 to 25, marker 26) and 3 in a
// committed one (27 to 29, marker 30): log end 31. Groups committed at
// several places; each one's Kafka lag must stay what Kafka's tool says,
// and its readable lag must count only the records a consumer would still
// receive. The first tick reads the partition once, the second remembers;
// moving offsets are read only once they rest.
func TestTransactionMarkersAreNotLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topic := testenv.CreateTopic(t, "txn", 1)
	testenv.ProduceTransaction(ctx, t, topic, testenv.Name(t, "txn-perf"), 20)
	testenv.Transact(ctx, t, topic, 5, false)
	testenv.Transact(ctx, t, topic, 3, true)

	want := map[string]struct {
		committed, lag, readable int64
		why                      string
	}{
		testenv.Name(t, "txn-last+1"): {30, 1, 0, "committed its last record + 1: only the commit marker is left"},
		testenv.Name(t, "txn-end"):    {31, 0, 0, "committed the log end"},
		testenv.Name(t, "txn-mid"):    {20, 11, 3, "before the aborted transaction: only the 3 committed records are left"},
		testenv.Name(t, "txn-behind"): {10, 21, 13, "10 records of the first transaction and the 3 of the last"},
	}
	for g, w := range want {
		testenv.Commit(t, g, topic, map[int]int64{0: w.committed})
	}
	r := newReader(t, func(g string) bool { _, ok := want[g]; return ok })
	var s snapshot.Snapshot
	for attempt := 0; ; attempt++ {
		s = r.Take(ctx, time.Now())
		if s.Err == nil && len(s.Groups) == len(want) && allOffsets(s) {
			break
		}
		if attempt == 30 {
			t.Fatalf("snapshot not complete after 30 tries: err=%v groups=%+v", s.Err, s.Groups)
		}
		time.Sleep(500 * time.Millisecond)
	}
	check := func(tick string, s snapshot.Snapshot) {
		t.Helper()
		for _, g := range s.Groups {
			w := want[g.ID]
			if g.Err != nil || len(g.Partitions) != 1 {
				t.Errorf("%s: group %s: err %v, %d partitions", tick, g.ID, g.Err, len(g.Partitions))
				continue
			}
			p := g.Partitions[0]
			lag, _, _ := p.Lag()
			readable, ok := p.ReadableLag()
			if p.LogEnd != 31 || p.Committed != w.committed || lag != w.lag || !ok || readable != w.readable {
				t.Errorf("%s: group %s (%s): log end %d, committed %d, lag %d, readable %d (ok %v); want 31, %d, %d, %d",
					tick, g.ID, w.why, p.LogEnd, p.Committed, lag, readable, ok, w.committed, w.lag, w.readable)
			}
		}
	}
	// A first sight of small ranges reads them at once.
	if s.Stats.TxnReads != 3 || s.Stats.TxnReadErrors != 0 || s.Stats.RequestsByType["Fetch"] != 1 {
		t.Errorf("first tick: %d ranges read, %d failed, %d Fetch requests; want 3 ranges in 1 Fetch (the group at the log end has nothing to read), 0 failed (%v)",
			s.Stats.TxnReads, s.Stats.TxnReadErrors, s.Stats.RequestsByType["Fetch"], s.Stats.TxnReadErr)
	}
	check("first tick", s)

	args := []string{"--describe"}
	for g := range want {
		args = append(args, "--group", g)
	}
	rows, err := testenv.ParseDescribe(testenv.ConsumerGroups(ctx, t, args...))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, row := range rows {
		if w, ok := want[row.Group]; ok {
			seen++
			if row.Lag != w.lag {
				t.Errorf("group %s: kafka-consumer-groups says lag %d, the stored lag is %d", row.Group, row.Lag, w.lag)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("kafka-consumer-groups listed %d of the %d groups", seen, len(want))
	}

	s = r.Take(ctx, time.Now())
	if s.Stats.TxnReads != 0 || s.Stats.RequestsByType["Fetch"] != 0 {
		t.Errorf("second tick read %d ranges in %d Fetch requests; want none: nothing moved, the answers are remembered", s.Stats.TxnReads, s.Stats.RequestsByType["Fetch"])
	}
	check("second tick", s)

	// Offsets that move are not read: a new transaction moves the log end
	// and the LSO of every group; the group at rest is read again a tick
	// later.
	testenv.Transact(ctx, t, topic, 2, true) // 31-32, marker 33: log end 34
	s = r.Take(ctx, time.Now())
	if s.Stats.TxnReads != 0 {
		t.Errorf("tick after new records: %d ranges read, want none", s.Stats.TxnReads)
	}
	s = r.Take(ctx, time.Now())
	if s.Stats.TxnReads != 4 || s.Stats.RequestsByType["Fetch"] != 1 {
		t.Errorf("tick at rest after new records: %d ranges read in %d Fetch requests, want 4 in 1", s.Stats.TxnReads, s.Stats.RequestsByType["Fetch"])
	}
	for _, g := range s.Groups {
		if readable, _ := g.Partitions[0].ReadableLag(); readable != want[g.ID].readable+2 {
			t.Errorf("group %s: readable lag %d after 2 more records, want %d", g.ID, readable, want[g.ID].readable+2)
		}
	}
}
