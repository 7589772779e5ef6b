package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestOneFigurePerPartition: twelve ticks, 30 s apart, of group "g" on two
// partitions whose log ends grow by 10 a tick (10 at tick 0). orders/0 has
// sat at offset 25 all along, a commit marker at that offset (Kafka's lag
// one more than the readable lag): its window of 3 can only bound its time
// lag (60 s), the history says 282 s (the log end reached 26 at tick 1 +
// 18 s). orders/1 is caught up to a transaction still open, 5 records long:
// Kafka's lag 5, the readable lag 0. Every copy of a partition's figures
// must say the same, after the time lags were looked up: the group's
// MaxLag and its partition entry, the status document, Burrow's maxlag and
// partitions, from the present view and from the history, and Burrow's
// gauges; and each says the readable lag.
func TestOneFigurePerPartition(t *testing.T) {
	const ticks = 12
	ctx, h, tick := recentHistory(t, "evalfigures", ticks)
	for i := range ticks {
		end := int64(10 * (i + 1))
		h.Write(ctx, t, snapshot.Snapshot{Cluster: "fig", Time: tick(i), Groups: []snapshot.Group{{ID: "g", State: "Empty", Partitions: []snapshot.Partition{
			{Topic: "orders", Partition: 0, Committed: 25, HasCommitted: true, Skipped: 1, LogEnd: end, HasOffsets: true},
			{Topic: "orders", Partition: 1, Committed: end - 5, HasCommitted: true, Pending: 5, LogEnd: end, HasOffsets: true},
		}}}})
	}
	newest := tick(ticks - 1)
	const readable, kafka = 94, 95 // orders/0 at the newest tick: log end 120, offset 25, one marker
	timeLag := newest.Sub(tick(1).Add(18 * time.Second)).Seconds()

	statuses := &fakeStatuses{}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 100,
		Timeout: time.Minute, APITimeout: 30 * time.Second}
	e := New(cfg, Parts{History: h.Client, Statuses: statuses, Incidents: &fakeStore{}, Log: slog.New(slog.DiscardHandler)})
	if err := e.Live(ctx); err != nil {
		t.Fatal(err)
	}

	// The result, as the history route of the API evaluates it.
	src := e.Source()
	c, err := src.Consumer(ctx, newest, "fig", "g")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Result
	if len(r.Partitions) != 2 || r.MaxLag == nil || !reflect.DeepEqual(*r.MaxLag, r.Partitions[0]) {
		t.Fatalf("MaxLag %+v, want orders/0's entry %+v", r.MaxLag, r.Partitions)
	}
	p0, p1 := r.Partitions[0], r.Partitions[1]
	if p0.CurrentLag != readable || p0.TimeLag != (evaluate.TimeLag{Duration: time.Duration(timeLag * float64(time.Second)), Known: true}) {
		t.Errorf("orders/0: lag %d, time lag %+v; want %d and %v s, exact", p0.CurrentLag, p0.TimeLag, readable, timeLag)
	}
	if k, ok := p0.End.KafkaLag(); !ok || k != kafka {
		t.Errorf("orders/0: Kafka's lag %d, %v; want %d", k, ok, kafka)
	}
	if p1.CurrentLag != 0 || p1.TimeLag != (evaluate.TimeLag{Known: true}) || p1.Status != evaluate.OK {
		t.Errorf("orders/1: lag %d, time lag %+v, %s; want 0, 0 and OK: only an open transaction past the committed offset", p1.CurrentLag, p1.TimeLag, p1.Status)
	}
	if r.TotalLag != readable || r.Status != evaluate.Err {
		t.Errorf("group: total lag %d, %s; want %d and ERR", r.TotalLag, r.Status, readable)
	}

	// The status document the run wrote.
	docs := statuses.docs()
	if len(docs) != 1 {
		t.Fatalf("%d status documents, want 1", len(docs))
	}
	d := docs[0]
	if d.TotalLag != readable || d.MaxLag == nil || d.MaxLag.Lag != readable || d.MaxLag.Partition != 0 ||
		d.TimeLagSeconds == nil || *d.TimeLagSeconds != timeLag {
		t.Errorf("status document: total %d, max %+v, time lag %v; want %d, orders/0 at %d, %v s", d.TotalLag, d.MaxLag, secondsOf(d.TimeLagSeconds), readable, readable, timeLag)
	}
	if len(d.Partitions) != 1 || d.Partitions[0].CurrentLag != readable || secondsOf(d.Partitions[0].TimeLagSeconds) != timeLag {
		t.Errorf("status document partitions %+v, want orders/0 alone (the OK one is not listed), lag %d, %v s", d.Partitions, readable, timeLag)
	}

	// Burrow's /lag, from the present view and from the history.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	src.StartPresent(pctx, slog.New(slog.DiscardHandler), false)
	waitReady(t, src)
	api := burrowapi.New(src, burrowapi.Options{})
	for _, query := range []string{"", "?at=" + newest.Format(time.RFC3339Nano)} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v3/kafka/fig/consumer/g/lag"+query, nil))
		var b evaluate.BurrowLagResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != http.StatusOK || b.Status == nil {
			t.Fatalf("/lag%s: %d %s (%v)", query, rec.Code, rec.Body, err)
		}
		s := b.Status
		if len(s.Partitions) != 2 || s.MaxLag == nil || !reflect.DeepEqual(*s.MaxLag, s.Partitions[0]) {
			t.Errorf("/lag%s: maxlag %+v, want its partitions' orders/0 %+v", query, s.MaxLag, s.Partitions)
			continue
		}
		if s.TotalLag != readable || s.MaxLag.CurrentLag != readable || secondsOf(s.MaxLag.TimeLagSeconds) != timeLag || s.MaxLag.TimeLagLowerBound ||
			secondsOf(s.TimeLagSeconds) != timeLag || s.Partitions[1].CurrentLag != 0 {
			t.Errorf("/lag%s: totallag %d, maxlag lag %d time lag %v (lower bound %v), group time lag %v, orders/1 lag %d; want %d, %d, %v s exact, %v s, 0",
				query, s.TotalLag, s.MaxLag.CurrentLag, secondsOf(s.MaxLag.TimeLagSeconds), s.MaxLag.TimeLagLowerBound, secondsOf(s.TimeLagSeconds), s.Partitions[1].CurrentLag,
				readable, readable, timeLag, timeLag)
		}
	}

	// Burrow's gauges of the run.
	labels := `cluster="fig",consumer_group="g"`
	wantBurrow(t, &harness{Evaluator: e},
		`burrow_kafka_consumer_status{`+labels+`} 3`,
		fmt.Sprintf(`burrow_kafka_consumer_lag_total{%s} %d`, labels, readable),
		fmt.Sprintf(`burrow_kafka_consumer_partition_lag{%s,partition="0",topic="orders"} %d`, labels, readable),
		`burrow_kafka_consumer_partition_lag{`+labels+`,partition="1",topic="orders"} 0`,
		`burrow_kafka_consumer_current_offset{`+labels+`,partition="0",topic="orders"} 25`,
		`burrow_kafka_consumer_current_offset{`+labels+`,partition="1",topic="orders"} 115`,
		`burrow_kafka_topic_partition_status{`+labels+`,partition="0",topic="orders"} 4`,
		`burrow_kafka_topic_partition_status{`+labels+`,partition="1",topic="orders"} 1`,
		`burrow_kafka_topic_partition_offset{cluster="fig",partition="0",topic="orders"} 120`,
		`burrow_kafka_topic_partition_offset{cluster="fig",partition="1",topic="orders"} 120`,
	)
}

// TestUnknownKeepsVerdict: a consumer that left at offset 100 is ERR (STOP)
// and opens an incident. Then its group's committed offsets cannot be read
// (the collector writes the partition with lagwatch.error and no offset):
// one such tick leaves the verdict ERR and the incident open, with no
// alert; a window of nothing but such ticks is NOTFOUND, which closes
// nothing either. Once the offsets are read again (caught up), the group is
// OK and the incident closes.
func TestUnknownKeepsVerdict(t *testing.T) {
	ctx, h, tick := recentHistory(t, "evalunknown", 20)
	fetchFailed := errors.New("fetch offsets for group \"g\": COORDINATOR_NOT_AVAILABLE")
	// write stores tick i: the consumer at committed (-1: its offsets
	// could not be read), the log end at 150 + 10 i.
	write := func(i int, committed int64) {
		t.Helper()
		p := snapshot.Partition{Topic: "orders", Partition: 0, Committed: committed, HasCommitted: true, LogEnd: 150 + 10*int64(i), HasOffsets: true}
		g := snapshot.Group{ID: "g", State: "Empty", ProtocolType: "consumer"}
		if committed < 0 {
			p.Committed, p.HasCommitted, p.Err = 0, false, fetchFailed
			g.Err = fetchFailed
		}
		g.Partitions = []snapshot.Partition{p}
		h.Write(ctx, t, snapshot.Snapshot{Cluster: "uk", Time: tick(i), Groups: []snapshot.Group{g}})
	}
	s := &sink{}
	statuses := &fakeStatuses{}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 100,
		Timeout: time.Minute, APITimeout: 30 * time.Second, Alert: notify.Policy{Threshold: evaluate.Warn}}
	e := New(cfg, Parts{History: h.Client, Statuses: statuses, Incidents: h.Client.Incidents(), Sinks: []notify.Sink{s.webhook(t)},
		Log: slog.New(slog.DiscardHandler)})
	key := notify.GroupKey{Cluster: "uk", Group: "g"}
	steps := []struct {
		name   string
		write  []int64 // committed offsets of the next ticks, -1 unreadable
		status evaluate.Status
		alerts []string // all sent so far
		open   bool
		reason string
	}{
		{"stopped", []int64{100, 100, 100, 100}, evaluate.Err, []string{"open:ERR"}, true,
			"committed frozen with lag, nobody owns the partition: STOP"},
		{"offsets unreadable at the newest tick", []int64{-1}, evaluate.Err, []string{"open:ERR"}, true,
			"the tick is left out: the window holds ticks 2 and 3, still STOP; no lag read is not caught up"},
		{"unreadable throughout the window", []int64{-1, -1}, evaluate.NotFound, []string{"open:ERR"}, true,
			"no observation in the window: NOTFOUND, which neither opens nor closes an incident"},
		{"read again, caught up", []int64{220}, evaluate.OK, []string{"open:ERR", "close:OK"}, false,
			"the one readable tick in the window has lag 0"},
	}
	next := 0
	for _, st := range steps {
		for _, c := range st.write {
			write(next, c)
			next++
		}
		before := len(statuses.docs())
		if err := e.Live(ctx); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		docs := statuses.docs()[before:]
		if len(docs) != 1 || docs[0].Status != st.status.String() {
			t.Errorf("%s: statuses %+v, want one %s: %s", st.name, docs, st.status, st.reason)
		}
		if got := s.alerts(); !slices.Equal(got, st.alerts) {
			t.Errorf("%s: alerts %v, want %v: %s", st.name, got, st.alerts, st.reason)
		}
		incidents, err := h.Client.Incidents().Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if inc := incidents[key]; inc.Open != st.open {
			t.Errorf("%s: incident %+v, want open %v: %s", st.name, inc, st.open, st.reason)
		}
	}

	// The API says what the run said at the tick whose offsets were
	// unreadable: ERR on the two readable ticks of its window.
	c, err := e.Source().Consumer(ctx, tick(4), "uk", "g")
	if err != nil {
		t.Fatal(err)
	}
	if c.Result.Status != evaluate.Err || len(c.Window.Partitions) != 1 || len(c.Window.Partitions[0].Obs) != 2 {
		t.Errorf("API at tick 4: %s, window %s; want ERR over ticks 2 and 3", c.Result.Status, fmtWindows([]evaluate.GroupWindow{c.Window}))
	}
}
