// Package notify owns alerting: the incident a group's alerts are kept in
// (Incident, and the Store interface that keeps them), when a group's status
// opens, changes, re-sends or closes an incident (Decide, pure bookkeeping),
// and the sinks that deliver the alerts (a generic HTTP webhook whose body
// is a Go text/template, with a ready Slack-compatible template) with the
// parsing and checking of their settings.
//
// It may import pkg/evaluate (statuses) and nothing that links a Kafka or
// Elasticsearch client: pkg/esindex implements Store, the evaluator wires
// the two together.
package notify

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// GroupKey names a group in a cluster, or with ClusterScope the cluster
// itself (ClusterKey).
type GroupKey struct {
	Cluster, Group string
	Scope          Scope
}

// Incident is a group's alert state, kept in a Store so that an evaluator
// restart neither fires twice nor forgets an open incident; with
// ClusterScope, a stale cluster's (DecideStale), Group empty.
type Incident struct {
	Cluster, Group string
	Scope          Scope
	Open           bool
	// Status is the group status at the last update; WorstStatus the worst
	// one seen while open. Both are NotFound (the zero value) until set.
	Status, WorstStatus evaluate.Status
	OpenedAt, ClosedAt  time.Time
	LastSentAt          time.Time
	Sends, FailedSends  int
	UpdatedAt           time.Time
	// Pending is the alert owed to the sinks: set when an evaluator claims
	// a transition, kept when its delivery failed (the next evaluation
	// sends it again), cleared once delivered. ClaimedAt is when an
	// evaluator claimed it and is delivering it now; zero otherwise.
	Pending   Kind
	ClaimedAt time.Time

	// Version is the Store's mark of the stored revision this incident was
	// loaded or saved at; empty for one never stored. It is opaque outside
	// the Store, which saves an incident only over that revision
	// (optimistic concurrency), so that two evaluators cannot both send the
	// same alert.
	Version string
}

// ErrConflict: the incident changed in the Store since it was loaded
// (another evaluator updated it).
var ErrConflict = errors.New("incident changed since it was read")

// ErrLogNotSaved is wrapped by the error of a Save that stored the incident
// (the Incident it returns carries the new Version) but not the Store's log
// of it, a record per incident kept for the dashboards: the bookkeeping may
// go on as after a successful Save.
var ErrLogNotSaved = errors.New("incident saved, its log entry not")

// Store keeps incidents.
type Store interface {
	// Load returns every stored incident, keyed by group (Incident.Key);
	// none stored is an empty map.
	Load(ctx context.Context) (map[GroupKey]Incident, error)
	// Save stores inc over the revision of inc.Version (or only if none
	// exists, for an empty Version) and returns it with its new Version;
	// an error wrapping ErrConflict when the stored one has moved on, one
	// wrapping ErrLogNotSaved when inc was stored but its log entry was
	// not.
	Save(ctx context.Context, inc Incident) (Incident, error)
}

// Kind is what an alert says.
type Kind string

const (
	// None: nothing to send.
	None Kind = ""
	// Open: the group reached the threshold.
	Open Kind = "open"
	// Update: the group's status changed while the incident is open.
	Update Kind = "update"
	// Resend: still open and unchanged; the resend interval has passed.
	Resend Kind = "resend"
	// Close: the group is OK again.
	Close Kind = "close"
)

// Policy says when incidents open and how often open ones are re-sent.
type Policy struct {
	// Threshold is the least group status that opens an incident (default
	// WARN).
	Threshold evaluate.Status
	// ResendEvery re-sends an open, unchanged incident; 0 never re-sends.
	ResendEvery time.Duration
	// Allow, when set, is the groups that alert (regexp.MatchString: a
	// match anywhere in the name; anchor with ^ and $); Deny, when set, the
	// groups that never do, whatever Allow says. Burrow's notifier group
	// allowlist and denylist.
	Allow, Deny *regexp.Regexp
}

// Covers is whether group alerts at all under p. A group it does not cover
// has no incident and no alert.
func (p Policy) Covers(group string) bool {
	if p.Deny != nil && p.Deny.MatchString(group) {
		return false
	}
	return p.Allow == nil || p.Allow.MatchString(group)
}

// Decide returns what to send for a group whose status is now status, and
// the incident as it should be stored once that alert is sent. inc is the
// stored incident (zero value when none exists).
//
//   - An incident opens when the status reaches the threshold, and closes only
//     when the status is OK again (a group at WARN under an ERR threshold
//     stays open once opened).
//   - While open, a change of status is sent at once (Update); an unchanged
//     one every ResendEvery (Resend).
//   - NOTFOUND changes nothing: a group without data (the collector down,
//     offsets expired) neither opens nor closes an incident.
//   - An alert that could not be delivered is recorded with Delivered (below)
//     false; an open incident whose opening alert never got through is sent
//     again as Open at the next evaluation.
func Decide(inc Incident, cluster, group string, status evaluate.Status, now time.Time, p Policy) (Incident, Kind) {
	if p.Threshold == evaluate.NotFound {
		p.Threshold = evaluate.Warn
	}
	next := inc
	next.Cluster, next.Group = cluster, group
	if status == evaluate.NotFound {
		return inc, None
	}
	next.UpdatedAt = now
	switch {
	case !inc.Open && status >= p.Threshold:
		next.Open, next.OpenedAt, next.ClosedAt = true, now, time.Time{}
		next.Status, next.WorstStatus = status, status
		next.Sends, next.FailedSends, next.LastSentAt = 0, 0, time.Time{}
		return next, Open
	case !inc.Open:
		next.Status = status
		return next, None
	case status == evaluate.OK:
		next.Open, next.ClosedAt, next.Status = false, now, status
		return next, Close
	}
	// Open and not OK.
	next.WorstStatus = max(inc.WorstStatus, status)
	next.Status = status
	switch {
	case inc.Sends == 0:
		return next, Open
	case status != inc.Status:
		return next, Update
	case p.ResendEvery > 0 && !now.Before(inc.LastSentAt.Add(p.ResendEvery)):
		return next, Resend
	}
	return next, None
}

// Delivered records the outcome of sending alert kind for inc at now: the
// claim ends; a failed alert stays Pending for the next evaluation.
func Delivered(inc Incident, kind Kind, ok bool, now time.Time) Incident {
	if kind == None {
		return inc
	}
	inc.ClaimedAt = time.Time{}
	if ok {
		inc.Sends++
		inc.LastSentAt = now
		inc.Pending = None
	} else {
		inc.FailedSends++
		inc.Pending = kind
	}
	return inc
}

// Claimed is inc as an evaluator stores it before delivering kind: the
// alert pending, and the claim's time. Saved over the version it was loaded
// at, it makes that evaluator the only one to send it.
func Claimed(inc Incident, kind Kind, now time.Time) Incident {
	inc.Pending, inc.ClaimedAt = kind, now
	return inc
}

// InFlight is true while another evaluator's claim on inc is younger than
// ttl: it is delivering the pending alert, and nobody else may. An older
// claim is an evaluator that stopped mid-delivery: its alert is owed.
func InFlight(inc Incident, now time.Time, ttl time.Duration) bool {
	return !inc.ClaimedAt.IsZero() && now.Sub(inc.ClaimedAt) < ttl
}

// Owed returns the alert to send for inc when Decide has nothing new: the
// pending one (its delivery failed, or its evaluator stopped), or None.
func Owed(inc Incident) Kind { return inc.Pending }
