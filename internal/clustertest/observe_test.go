package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/lagwatch/lagwatch/internal/evaluator"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// tickRecord is what one collector tick left in Elasticsearch and what the
// evaluation right after it said.
type tickRecord struct {
	at    time.Time
	phase string
	// result and err are the collector's tick document's.
	result, err string
	// missing says, per group kind, why the group is incomplete in the
	// tick's documents ("" when complete): no group document, no offsets
	// documents, or offsets of fewer partitions than the topic has.
	missing map[string]string
	// noLag counts, per group kind, the offsets documents without a lag
	// (no log-end offset read): the rules take such a partition for one
	// that caught up.
	noLag map[string]int
	// verdicts are the group statuses the evaluation wrote, per kind
	// ("none" when it wrote none for the group); evalErr its failure.
	verdicts map[string]string
	evalErr  error
	// alerts are the incident transitions the evaluation sent, as
	// "kind:group-kind:status".
	alerts []string
}

// observer follows the collector's ticks through its tick documents and,
// after each, runs one live evaluation in-process, keeping what the tick
// wrote and what the evaluation decided. It runs in its own goroutine and
// never touches the test's *testing.T.
type observer struct {
	es         *elasticsearch.Client
	names      esindex.Names
	groups     map[string]string // kind -> group id
	partitions int
	eval       *evaluator.Evaluator
	statuses   *statusRecorder
	alerts     *alertRecorder
	evalLog    *testenv.Buffer

	mu      sync.Mutex
	ticks   []tickRecord
	phases  []phase
	last    time.Time // the newest tick observed
	problem error     // the last failure to read the history, for the report
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// phase is a part of the test's schedule, from an instant on.
type phase struct {
	from time.Time
	name string
}

func newObserver(esURL string, names esindex.Names, groups map[string]string, partitions int) (*observer, error) {
	client, err := esindex.New(esindex.ConnConfig{URLs: []string{esURL}}, names.Namespace)
	if err != nil {
		return nil, err
	}
	es, err := esindex.NewClient(esindex.ConnConfig{URLs: []string{esURL}})
	if err != nil {
		return nil, err
	}
	o := &observer{es: es, names: names, groups: groups, partitions: partitions,
		statuses: &statusRecorder{w: client.NewStatusWriter()}, alerts: &alertRecorder{}, evalLog: &testenv.Buffer{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	// The evaluator's defaults (cmd/evaluator): Burrow's window of 10, an
	// incident opened at WARN and closed at OK.
	o.eval = evaluator.New(evaluator.Settings{
		Rules: evaluate.DefaultRules(), MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 10000,
		Timeout: time.Minute, Namespace: names.Namespace, Alert: notify.Policy{ResendEvery: time.Hour},
	}, evaluator.Parts{History: client, Statuses: o.statuses, Incidents: client.Incidents(),
		Sinks: []notify.Sink{o.alerts}, Log: slog.New(slog.NewTextHandler(o.evalLog, nil))})
	return o, nil
}

func (o *observer) start() {
	o.setPhase("warm-up")
	go func() {
		defer close(o.stopped)
		for {
			select {
			case <-o.stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			o.poll()
		}
	}()
}

// finish stops the observer after it took in the ticks written so far, and
// closes the evaluator. Finishing twice is harmless.
func (o *observer) finish() {
	o.once.Do(func() {
		close(o.stop)
		<-o.stopped
		o.poll()
		o.eval.Close()
	})
}

// lastProblem is the last failure to read the collector's ticks, if any.
func (o *observer) lastProblem() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.problem
}

func (o *observer) setPhase(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.phases = append(o.phases, phase{from: time.Now(), name: name})
}

// phaseAt is the phase a tick of time at belongs to: the last one begun by
// then (a tick's time is its planned second).
func (o *observer) phaseAt(at time.Time) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	name := o.phases[0].name
	for _, p := range o.phases {
		if !p.from.After(at) {
			name = p.name
		}
	}
	return name
}

// records returns a copy of the ticks observed so far.
func (o *observer) records() []tickRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ticks)
}

// waitTicks waits until n ticks later than since were observed, or within
// passes (a collector that writes no tick document is the report's
// business, not a reason to stop the schedule).
func (o *observer) waitTicks(n int, since time.Time, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		seen := 0
		for _, r := range o.records() {
			if !r.at.Before(since) {
				seen++
			}
		}
		if seen >= n {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tickDoc is the part of a collector tick document the observer reads.
type tickDoc struct {
	Timestamp time.Time `json:"@timestamp"`
	Lagwatch  struct {
		Collector struct {
			Result string `json:"result"`
		} `json:"collector"`
		Error string `json:"error"`
	} `json:"lagwatch"`
}

type groupDoc struct {
	Kafka struct {
		Consumergroup struct {
			ID string `json:"id"`
		} `json:"consumergroup"`
	} `json:"kafka"`
}

type offsetsDoc struct {
	Kafka struct {
		Consumergroup struct {
			ID  string `json:"id"`
			Lag *int64 `json:"consumer_lag"`
		} `json:"consumergroup"`
		Partition struct {
			ID int `json:"id"`
		} `json:"partition"`
	} `json:"kafka"`
}

// poll takes in every tick document newer than the last one observed, in
// order.
func (o *observer) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.mu.Lock()
	last := o.last
	o.mu.Unlock()
	query := `{"size":100,"sort":[{"@timestamp":"asc"}],"query":{"range":{"@timestamp":{"gt":%q}}}}`
	ticks, err := testenv.Search[tickDoc](ctx, o.es, o.names.Ticks, fmt.Sprintf(query, last.UTC().Format(time.RFC3339Nano)))
	if err != nil {
		o.mu.Lock()
		o.problem = err
		o.mu.Unlock()
		return
	}
	for _, td := range ticks {
		rec := o.observe(ctx, td)
		o.mu.Lock()
		o.ticks = append(o.ticks, rec)
		o.last = td.Timestamp
		o.mu.Unlock()
	}
}

// observe reads what the tick of td wrote for each group and evaluates.
func (o *observer) observe(ctx context.Context, td tickDoc) tickRecord {
	rec := tickRecord{at: td.Timestamp, phase: o.phaseAt(td.Timestamp), result: td.Lagwatch.Collector.Result,
		err: td.Lagwatch.Error, missing: map[string]string{}, noLag: map[string]int{}, verdicts: map[string]string{}}
	at := fmt.Sprintf(`{"size":1000,"query":{"term":{"@timestamp":%q}}}`, td.Timestamp.UTC().Format(time.RFC3339Nano))
	groupDocs, gerr := testenv.Search[groupDoc](ctx, o.es, o.names.Groups, at)
	offsets, oerr := testenv.Search[offsetsDoc](ctx, o.es, o.names.Offsets, at)
	for kind, id := range o.groups {
		if gerr != nil || oerr != nil {
			rec.missing[kind] = fmt.Sprintf("unknown: reading the tick's documents failed: %v", firstErr(gerr, oerr))
			continue
		}
		hasGroup := slices.ContainsFunc(groupDocs, func(d groupDoc) bool { return d.Kafka.Consumergroup.ID == id })
		parts := map[int]bool{}
		for _, d := range offsets {
			if d.Kafka.Consumergroup.ID != id {
				continue
			}
			parts[d.Kafka.Partition.ID] = true
			if d.Kafka.Consumergroup.Lag == nil {
				rec.noLag[kind]++
			}
		}
		var why []string
		if !hasGroup {
			why = append(why, "no group document")
		}
		switch {
		case len(parts) == 0:
			why = append(why, "no offsets documents")
		case len(parts) < o.partitions:
			why = append(why, fmt.Sprintf("offsets of %d of %d partitions", len(parts), o.partitions))
		}
		rec.missing[kind] = strings.Join(why, ", ")
	}

	// One live evaluation, as a scheduled evaluator right after the tick
	// would run it: statuses written, incidents kept, alerts sent.
	o.statuses.take()
	rec.evalErr = o.eval.Live(ctx)
	written := o.statuses.take()
	for kind, id := range o.groups {
		rec.verdicts[kind] = "none"
		for _, d := range written {
			if d.Group == id {
				rec.verdicts[kind] = d.Status
			}
		}
	}
	for _, a := range o.alerts.take() {
		for kind, id := range o.groups {
			if a.Group == id {
				rec.alerts = append(rec.alerts, fmt.Sprintf("%s:%s:%s", a.Kind, kind, a.Status))
			}
		}
	}
	return rec
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// statusRecorder writes statuses through the real writer and keeps them.
type statusRecorder struct {
	w evaluator.StatusWriter
	recorder[esindex.StatusDoc]
}

func (s *statusRecorder) Write(ctx context.Context, docs []esindex.StatusDoc) (esindex.WriteResult, error) {
	s.add(docs...)
	return s.w.Write(ctx, docs)
}

func (s *statusRecorder) Backlog() (int, int64) { return s.w.Backlog() }

// alertRecorder is an alert sink that keeps what it is sent.
type alertRecorder struct{ recorder[notify.Alert] }

func (a *alertRecorder) Label() string { return "recorder" }

func (a *alertRecorder) Send(_ context.Context, al notify.Alert) error {
	a.add(al)
	return nil
}

// recorder keeps what one goroutine hands it for another to take.
type recorder[T any] struct {
	mu    sync.Mutex
	items []T
}

func (r *recorder[T]) add(items ...T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, items...)
}

// take returns what was added since the last take.
func (r *recorder[T]) take() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.items
	r.items = nil
	return out
}
