package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

type alertStats struct {
	sent, failed, conflicts int
}

// alertConcurrency bounds the alerts in flight: a slow sink delays alerts,
// never the evaluation, whose statuses are already written.
const alertConcurrency = 8

// alert runs the incident bookkeeping for every result of the evaluation at
// at and sends what it calls for. Incidents live in Elasticsearch; each is
// saved only over the version that was read, so an evaluator that raced
// another one skips the alert rather than sending it twice.
func (e *evaluator) alert(ctx context.Context, at time.Time, results []evaluate.GroupResult) (alertStats, error) {
	var st alertStats
	incidents, err := e.es.LoadIncidents(ctx)
	if err != nil {
		return st, err
	}
	policy := notify.Policy{Threshold: e.cfg.Alert.Threshold, ResendEvery: e.cfg.Alert.Resend}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	sem := make(chan struct{}, alertConcurrency)
	for _, r := range results {
		key := esindex.GroupKey{Cluster: r.Cluster, Group: r.Group}
		prev := incidents[key]
		next, kind := notify.Decide(prev, r.Cluster, r.Group, r.Status, at, policy)
		if kind == notify.None {
			// Stored state changes only together with an alert.
			continue
		}
		a := alertOf(kind, r, prev, next, at)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok := e.send(ctx, a)
			saved := notify.Delivered(next, kind, ok, at)
			_, err := e.es.SaveIncident(ctx, saved)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				st.sent++
			} else {
				st.failed++
			}
			switch {
			case errors.Is(err, esindex.ErrIncidentConflict):
				st.conflicts++
				e.log.Warn("incident changed by another evaluator; skipped", "cluster", r.Cluster, "group", r.Group)
			case err != nil:
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return st, errors.Join(errs...)
}

// send delivers a to every sink; it reports whether all of them took it.
// Failures are logged and counted, never returned: a failing sink must not
// fail the evaluation. With no sink configured, the incident is still kept
// (dashboards show open incidents) and the alert counts as delivered.
func (e *evaluator) send(ctx context.Context, a notify.Alert) bool {
	ok := true
	for _, s := range e.sinks {
		if err := s.Send(ctx, a); err != nil {
			ok = false
			e.metrics.sinkFailures.WithLabelValues(s.Name).Inc()
			e.log.Error("alert not delivered", "sink", s.Name, "cluster", a.Cluster, "group", a.Group, "status", a.Status, "err", err)
			continue
		}
		e.metrics.sinkSends.WithLabelValues(s.Name, string(a.Kind)).Inc()
		e.log.Info("alert sent", "sink", s.Name, "kind", a.Kind, "cluster", a.Cluster, "group", a.Group, "status", a.Status)
	}
	return ok
}

func alertOf(kind notify.Kind, r evaluate.GroupResult, prev, next esindex.Incident, at time.Time) notify.Alert {
	a := notify.Alert{
		Kind: kind, Cluster: r.Cluster, Group: r.Group, Status: r.Status.String(), Previous: prev.Status, Worst: next.WorstStatus,
		At: at, OpenedAt: next.OpenedAt, TotalLag: r.TotalLag, TimeLagSeconds: -1,
	}
	if r.MaxLag != nil {
		a.MaxLagTopic, a.MaxLagPartition, a.MaxLag = r.MaxLag.Topic, int(r.MaxLag.Partition), r.MaxLag.CurrentLag
	}
	if r.TimeLag.Known {
		a.TimeLagSeconds = r.TimeLag.Duration.Seconds()
	}
	for _, p := range r.NonOK() {
		a.Partitions = append(a.Partitions, notify.AlertPartition{Topic: p.Topic, Partition: int(p.Partition), Status: p.Status.String(), CurrentLag: p.CurrentLag})
	}
	return a
}
