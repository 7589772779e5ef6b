package notify

import (
	"fmt"
	"time"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// Scope is what an incident is about: a consumer group (the zero value) or
// a whole cluster.
type Scope string

const (
	// GroupScope: a consumer group's status reached the threshold.
	GroupScope Scope = ""
	// ClusterScope: the cluster is stale (evaluate.JudgeFreshness): its
	// collector is silent, or ticks but reads nothing. The incident's Group
	// is empty, and no group of the cluster can take its key: a group's key
	// has GroupScope.
	ClusterScope Scope = "cluster"
)

// ClusterKey is the key of cluster's own incident.
func ClusterKey(cluster string) GroupKey { return GroupKey{Cluster: cluster, Scope: ClusterScope} }

// Key is the key inc is stored under.
func (inc Incident) Key() GroupKey {
	return GroupKey{Cluster: inc.Cluster, Group: inc.Group, Scope: inc.Scope}
}

// StaleStatus is the status a cluster's alert shows while the cluster is
// stale (Alert.Status, and the status label in Alertmanager).
const StaleStatus = "STALE"

// DecideStale is Decide for cluster's own incident (inc, the zero value
// when none is stored), f being the cluster's freshness at now: one
// incident opens when the cluster turns stale, whatever the threshold,
// is re-sent every resend while it stays so (0: never), and closes when
// the cluster's lag data is fresh again. The group policy's allow and deny
// lists do not apply: the silence is every group's.
func DecideStale(inc Incident, cluster string, f evaluate.Freshness, now time.Time, resend time.Duration) (Incident, Kind) {
	status := evaluate.OK
	if f.Stale {
		// The worst a group can be: a stale cluster opens its incident
		// under any threshold.
		status = evaluate.Err
	}
	next, kind := Decide(inc, cluster, "", status, now, Policy{Threshold: evaluate.Err, ResendEvery: resend})
	next.Scope = ClusterScope
	return next, kind
}

// StaleAlert is what a cluster's alert says beyond a group's (Alert.Stale).
type StaleAlert struct {
	// NewestTick is the cluster's newest tick that read lag data; zero
	// when none did within the history searched.
	NewestTick time.Time
	// Reason says why the cluster is stale, in a line ("" at the close).
	Reason string
}

// NewStaleAlert is the alert of kind about cluster, whose freshness at at
// is f, the incident having been prev before and next after. Its Status is
// StaleStatus while the cluster is stale and OK at the close, Previous
// StaleStatus unless the incident is new; it has no group, lag or
// partition.
func NewStaleAlert(kind Kind, cluster string, f evaluate.Freshness, prev, next Incident, at time.Time) Alert {
	a := Alert{Kind: kind, Cluster: cluster, Status: StaleStatus, Worst: StaleStatus, At: at, OpenedAt: next.OpenedAt,
		TimeLagSeconds: -1, Stale: &StaleAlert{NewestTick: f.NewestTick, Reason: f.Reason}}
	if prev.Open {
		a.Previous = StaleStatus
	}
	if kind == Close {
		a.Status, a.Stale.Reason = evaluate.OK.String(), ""
	}
	return a
}

// Summary says in a line what a is about: "consumer group G on C is
// WARN", or for a stale cluster "no lag data from cluster C since T:
// reason" and, at its close, "lag data from cluster C again (stale since
// T)".
func (a Alert) Summary() string {
	if a.Stale == nil {
		return fmt.Sprintf("consumer group %s on %s is %s", a.Group, a.Cluster, a.Status)
	}
	if a.Kind == Close {
		s := "lag data from cluster " + a.Cluster + " again"
		if !a.OpenedAt.IsZero() {
			s += " (stale since " + a.OpenedAt.UTC().Format(time.RFC3339) + ")"
		}
		return s
	}
	since := "within the history kept"
	if !a.Stale.NewestTick.IsZero() {
		since = "since " + a.Stale.NewestTick.UTC().Format(time.RFC3339)
	}
	s := "no lag data from cluster " + a.Cluster + " " + since
	if a.Stale.Reason != "" {
		s += ": " + a.Stale.Reason
	}
	return s
}
