package evaluator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

type alertStats struct {
	sent, failed, conflicts int
	// unrecorded: alerts sent (or tried) whose incident the store refused
	// to save; they are remembered (unsaved) instead. recorded: remembered
	// incidents saved at last.
	unrecorded, recorded int
}

// alertConcurrency bounds the alerts in flight: a slow sink delays alerts,
// never the evaluation, whose statuses are already written.
const alertConcurrency = 8

// alert runs the incident bookkeeping for every result of the evaluation at
// at, and for every cluster's freshness then (alertStale), and sends what
// it calls for. Incidents live in the Store; each is saved only over the
// version that was read, so an evaluator that raced another one skips the
// alert rather than sending it twice.
//
// When the Store refuses a save for another reason than a conflict (a write
// block, a revoked privilege, an outage of its index), the alert is sent
// all the same, and the incident as it would have been saved is remembered
// (unsaved): later runs decide from it instead of the stale stored one, so
// the same transition is not sent again, and save it as soon as the Store
// takes writes. Two evaluators whose Store refuses writes each send the
// transition: nothing can tell one from the other then.
func (e *Evaluator) alert(ctx context.Context, at time.Time, results []evaluate.GroupResult, fresh map[string]evaluate.Freshness) (alertStats, error) {
	var st alertStats
	if err := e.unsaved.load(); err != nil {
		return st, fmt.Errorf("read the incidents a previous run could not save: %w", err)
	}
	incidents, err := e.store.Load(ctx)
	if err != nil {
		return st, err
	}
	if n := e.unsaved.overlay(incidents); n > 0 {
		e.log.Warn("incidents this evaluator could not save were changed by another evaluator meanwhile; the stored ones stand",
			"incidents", n)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	var refusal error // the first save the store refused
	refused := func(err error) {
		st.unrecorded++
		if refusal == nil {
			refusal = err
		}
	}
	sem := make(chan struct{}, alertConcurrency)
	spawn := func(f func()) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	// launch claims the transition to next, then sends a.
	launch := func(next notify.Incident, kind notify.Kind, a notify.Alert) {
		key := next.Key()
		spawn(func() {
			// Claim the transition first, over the version read: of several
			// evaluators, only the one whose claim is stored sends it.
			claimed, err := e.store.Save(ctx, notify.Claimed(next, kind, at))
			switch {
			case errors.Is(err, notify.ErrConflict):
				e.unsaved.forget(key)
				mu.Lock()
				defer mu.Unlock()
				st.conflicts++
				e.log.Info("incident claimed by another evaluator; not sent here", "cluster", a.Cluster, "group", a.Group)
				return
			case err != nil && !errors.Is(err, notify.ErrLogNotSaved):
				// The store refuses the claim: on-call hears of it all the
				// same, and this evaluator remembers that it did.
				ok := e.send(ctx, a)
				e.unsaved.remember(notify.Delivered(next, kind, ok, at))
				mu.Lock()
				defer mu.Unlock()
				e.count(&st, ok)
				refused(err)
				return
			}
			e.unsaved.forget(key) // the claim holds what was remembered
			ok := e.send(ctx, a)
			delivered := notify.Delivered(claimed, kind, ok, at)
			_, err = e.store.Save(ctx, delivered)
			if err != nil && !errors.Is(err, notify.ErrConflict) && !errors.Is(err, notify.ErrLogNotSaved) {
				// Sent, and not recorded: without this, the claim's expiry
				// would make it owed and sent again.
				e.unsaved.remember(delivered)
			}
			mu.Lock()
			defer mu.Unlock()
			e.count(&st, ok)
			switch {
			case errors.Is(err, notify.ErrConflict):
				st.conflicts++
				e.log.Warn("incident taken over by another evaluator while this one delivered it (its claim had outlived EVALUATOR_TIMEOUT)",
					"cluster", a.Cluster, "group", a.Group)
			case err != nil && !errors.Is(err, notify.ErrLogNotSaved):
				refused(err)
			}
		})
	}
	for _, r := range results {
		if !e.cfg.Alert.Covers(r.Group) {
			continue // EVALUATOR_ALERT_GROUP_ALLOW / _DENY
		}
		key := notify.GroupKey{Cluster: r.Cluster, Group: r.Group}
		prev := incidents[key]
		if notify.InFlight(prev, at, e.cfg.Timeout) {
			// Another evaluator is delivering this group's alert.
			continue
		}
		next, kind := notify.Decide(prev, r.Cluster, r.Group, r.Status, at, e.cfg.Alert)
		if kind == notify.None && notify.Owed(prev) != notify.None {
			// An alert not delivered yet: a failed one, or one whose
			// evaluator stopped mid-delivery.
			next, kind = prev, notify.Owed(prev)
			next.UpdatedAt = at
		}
		if kind == notify.None {
			if e.unsaved.has(key) {
				// Sent while the store refused writes: save it now.
				spawn(func() {
					_, err := e.store.Save(ctx, prev)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil || errors.Is(err, notify.ErrLogNotSaved):
						e.unsaved.forget(key)
						st.recorded++
					case errors.Is(err, notify.ErrConflict):
						e.unsaved.forget(key) // another evaluator's save stands
					default:
						if refusal == nil {
							refusal = err
						}
					}
				})
			}
			// Stored state changes only together with an alert. An open
			// incident is posted again to the sinks that need to hear of
			// it while it lasts (Alertmanager).
			if prev.Open && r.Status != evaluate.NotFound && prev.Sends > 0 {
				e.refresh(ctx, notify.NewAlert(notify.Resend, r, prev, prev, at))
			}
			continue
		}
		launch(next, kind, notify.NewAlert(kind, r, prev, next, at))
	}
	e.alertStale(ctx, at, fresh, incidents, launch)
	wg.Wait()
	if refusal != nil {
		e.log.Warn("incident store refuses writes: alerts are sent all the same, and this evaluator remembers them until it can save them",
			"alerts_unrecorded", st.unrecorded, "incidents_unsaved", e.unsaved.len(), "err", refusal)
	}
	if st.recorded > 0 {
		e.log.Info("incidents saved once the store took writes again", "incidents", st.recorded)
	}
	if err := e.unsaved.flush(); err != nil {
		errs = append(errs, fmt.Errorf("keep the unsaved incidents in %s: %w", e.unsaved.file, err))
	}
	return st, errors.Join(errs...)
}

// count counts a delivery: ok when every sink took it. With no sink
// configured nothing is counted: the incident is kept (dashboards show it).
func (e *Evaluator) count(st *alertStats, ok bool) {
	switch {
	case len(e.sinks) == 0:
	case ok:
		st.sent++
	default:
		st.failed++
	}
}

// refresh posts a again to the sinks that must hear of an open incident
// while nothing changes. A failure is logged and counted, and the next
// evaluation tries again.
func (e *Evaluator) refresh(ctx context.Context, a notify.Alert) {
	for _, s := range e.sinks {
		r, ok := s.(notify.Refresher)
		if !ok {
			continue
		}
		if err := r.Refresh(ctx, a); err != nil {
			e.metrics.sinkFailures.WithLabelValues(s.Label()).Inc()
			e.log.Error("alert not refreshed", "sink", s.Label(), "cluster", a.Cluster, "group", a.Group, "status", a.Status, "err", err)
			continue
		}
		e.metrics.sinkSends.WithLabelValues(s.Label(), "refresh").Inc()
	}
}

// send delivers a to every sink; it reports whether all of them took it.
// Failures are logged and counted, never returned: a failing sink must not
// fail the evaluation. With no sink configured, the incident is still kept
// (dashboards show open incidents) and the alert counts as delivered.
func (e *Evaluator) send(ctx context.Context, a notify.Alert) bool {
	ok := true
	for _, s := range e.sinks {
		if err := s.Send(ctx, a); err != nil {
			ok = false
			e.metrics.sinkFailures.WithLabelValues(s.Label()).Inc()
			e.log.Error("alert not delivered", "sink", s.Label(), "cluster", a.Cluster, "group", a.Group, "status", a.Status, "err", err)
			continue
		}
		e.metrics.sinkSends.WithLabelValues(s.Label(), string(a.Kind)).Inc()
		e.log.Info("alert sent", "sink", s.Label(), "kind", a.Kind, "cluster", a.Cluster, "group", a.Group, "status", a.Status)
	}
	return ok
}
