// Package notify owns alerting: when a group's status opens, changes,
// re-sends or closes an incident (Decide, pure bookkeeping over the incident
// state kept in Elasticsearch), and the sinks that deliver the alerts (a
// generic HTTP webhook whose body is a Go text/template, with a ready
// Slack-compatible template).
//
// It may import pkg/evaluate (statuses) and pkg/esindex (the stored incident);
// nothing imports it but the evaluator command.
package notify

import (
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

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
func Decide(inc esindex.Incident, cluster, group string, status evaluate.Status, now time.Time, p Policy) (esindex.Incident, Kind) {
	if p.Threshold == evaluate.NotFound {
		p.Threshold = evaluate.Warn
	}
	next := inc
	next.Cluster, next.Group = cluster, group
	if status == evaluate.NotFound {
		return inc, None
	}
	next.UpdatedAt = now
	name := status.String()
	switch {
	case !inc.Open && status >= p.Threshold:
		next.Open, next.OpenedAt, next.ClosedAt = true, now, time.Time{}
		next.Status, next.WorstStatus = name, name
		next.Sends, next.FailedSends, next.LastSentAt = 0, 0, time.Time{}
		return next, Open
	case !inc.Open:
		next.Status = name
		return next, None
	case status == evaluate.OK:
		next.Open, next.ClosedAt, next.Status = false, now, name
		return next, Close
	}
	// Open and not OK.
	if worst, err := evaluate.ParseStatus(inc.WorstStatus); err != nil || status > worst {
		next.WorstStatus = name
	}
	next.Status = name
	switch {
	case inc.Sends == 0:
		return next, Open
	case name != inc.Status:
		return next, Update
	case p.ResendEvery > 0 && !now.Before(inc.LastSentAt.Add(p.ResendEvery)):
		return next, Resend
	}
	return next, None
}

// Delivered records the outcome of sending alert kind for inc at now.
func Delivered(inc esindex.Incident, kind Kind, ok bool, now time.Time) esindex.Incident {
	if kind == None {
		return inc
	}
	if ok {
		inc.Sends++
		inc.LastSentAt = now
	} else {
		inc.FailedSends++
	}
	return inc
}
