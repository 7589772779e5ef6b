package kafkasource

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLastStableOffset writes ten records, then seven in a transaction left
// open: the partition's log end is 17, its last stable offset 10, so seven
// offsets are Pending and a group committed at 4 has a readable lag of 6.
// Once the transaction commits (its marker takes offset 17) nothing is
// pending: the log end and the LSO are both 18.
func TestLastStableOffset(t *testing.T) {
	topic, group := testenv.CreateFilledTopic(t, "lso", 10), testenv.Name(t, "lso-group")
	testenv.Commit(t, group, topic, map[int]int64{0: 4})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers(testenv.Kafka(t)...), kgo.TransactionalID(testenv.Name(t, "lso-txn")),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	if err := producer.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		rec := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))}
		if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("produce record %d in the transaction: %v", i, err)
		}
	}

	r := newReader(t, func(g string) bool { return g == group })
	p := partitionOnce(ctx, t, r, func(p snapshot.Partition) bool { return p.LogEnd == 17 })
	t.Logf("open transaction: log end %d, last stable %d, pending %d", p.LogEnd, p.LastStable(), p.Pending)
	if p.Pending != 7 || p.LastStable() != 10 {
		t.Errorf("open transaction: log end %d, pending %d, last stable %d; want 17, 7, 10", p.LogEnd, p.Pending, p.LastStable())
	}
	if lag, ok := p.ReadableLag(); !ok || lag != 6 {
		t.Errorf("readable lag %d (%v), want 6: up to the LSO", lag, ok)
	}

	if err := producer.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	p = partitionOnce(ctx, t, r, func(p snapshot.Partition) bool { return p.LogEnd == 18 })
	if p.Pending != 0 || p.LastStable() != 18 {
		t.Errorf("committed transaction: log end %d, pending %d, last stable %d; want 18, 0, 18", p.LogEnd, p.Pending, p.LastStable())
	}
}

// partitionOnce takes snapshots until the one group's one partition is
// read without error and done accepts it, and returns it.
func partitionOnce(ctx context.Context, t *testing.T, r *Source, done func(snapshot.Partition) bool) snapshot.Partition {
	t.Helper()
	var last snapshot.Snapshot
	for {
		s := r.Take(ctx, time.Now())
		if s.Err == nil && len(s.Groups) == 1 && len(s.Groups[0].Partitions) == 1 {
			if p := s.Groups[0].Partitions[0]; p.Err == nil && p.HasOffsets && done(p) {
				return p
			}
		}
		last = s
		select {
		case <-ctx.Done():
			t.Fatalf("partition not as expected in time; last snapshot: %v %+v", last.Err, last.Groups)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
