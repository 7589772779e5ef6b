package evaluator

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

type alertStats struct {
	sent, failed, conflicts int
}

// alertConcurrency bounds the alerts in flight: a slow sink delays alerts,
// never the evaluation, whose statuses are already written.
const alertConcurrency = 8

// alert runs the incident bookkeeping for every result of the evaluation at
// at, and for every cluster's freshness then (alertStale), and sends what
// it calls for. Incidents live in the Store; each is saved only over the
// version that was read, so an evaluator that raced another one skips the
// alert rather than sending it twice.
func (e *Evaluator) alert(ctx context.Context, at time.Time, results []evaluate.GroupResult, fresh map[string]evaluate.Freshness) (alertStats, error) {
	var st alertStats
	incidents, err := e.store.Load(ctx)
	if err != nil {
		return st, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	sem := make(chan struct{}, alertConcurrency)
	// launch claims the transition to next, then sends a.
	launch := func(next notify.Incident, kind notify.Kind, a notify.Alert) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Claim the transition first, over the version read: of several
			// evaluators, only the one whose claim is stored sends it.
			claimed, err := e.store.Save(ctx, notify.Claimed(next, kind, at))
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				if errors.Is(err, notify.ErrConflict) {
					st.conflicts++
					e.log.Info("incident claimed by another evaluator; not sent here", "cluster", a.Cluster, "group", a.Group)
					return
				}
				errs = append(errs, err)
				return
			}
			ok := e.send(ctx, a)
			_, err = e.store.Save(ctx, notify.Delivered(claimed, kind, ok, at))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case len(e.sinks) == 0:
				// Nothing to send to: the incident is kept (dashboards
				// show it), and no alert is counted.
			case ok:
				st.sent++
			default:
				st.failed++
			}
			switch {
			case errors.Is(err, notify.ErrConflict):
				st.conflicts++
				e.log.Warn("incident taken over by another evaluator while this one delivered it (its claim had outlived EVALUATOR_TIMEOUT)",
					"cluster", a.Cluster, "group", a.Group)
			case err != nil:
				errs = append(errs, err)
			}
		}()
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
	return st, errors.Join(errs...)
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
