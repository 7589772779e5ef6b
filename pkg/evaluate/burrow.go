package evaluate

import (
	"net/url"
	"time"
)

// BurrowLagResponse is the body of Burrow's consumer status endpoints,
// GET /v3/kafka/(cluster)/consumer/(group)/lag and .../status, so that tools
// written against Burrow can read lagwatch's verdicts. Field names and
// shapes are Burrow's; lagwatch adds only time_lag_seconds,
// time_lag_lower_bound and, for a group of a stale cluster, lagwatch.
// Burrow answers a NOTFOUND group with this same body (error false, a
// status object with status NOTFOUND) and HTTP status 404; see HTTPStatus.
type BurrowLagResponse struct {
	Error   bool               `json:"error"`
	Message string             `json:"message"`
	Status  *BurrowGroupStatus `json:"status"`
	Request BurrowRequest      `json:"request"`
	// Lagwatch says that the group's cluster is stale (GroupResult.Stale);
	// absent while its lag data is fresh.
	Lagwatch *BurrowStale `json:"lagwatch,omitempty"`
}

// BurrowStale is a stale cluster's word on its groups' bodies: the status
// is the one of the instant the cluster became stale, and the time lags
// are lower bounds.
type BurrowStale struct {
	Stale bool `json:"stale"`
	// Since is the cluster's newest tick that read lag data; null when
	// none did.
	Since *time.Time `json:"since"`
	// Reason says why, in a line.
	Reason string `json:"reason"`
}

// BurrowRequest echoes the request. Host is Burrow's own host name; a pure
// function has none to give, so it is empty for the caller to fill.
type BurrowRequest struct {
	URL  string `json:"url"`
	Host string `json:"host"`
}

// BurrowGroupStatus is Burrow's ConsumerGroupStatus.
type BurrowGroupStatus struct {
	Cluster  string  `json:"cluster"`
	Group    string  `json:"group"`
	Status   Status  `json:"status"`
	Complete float64 `json:"complete"`
	// Partitions lists every partition (/lag) or only those worse than OK
	// (/status); [] when there are none.
	Partitions     []BurrowPartitionStatus `json:"partitions"`
	PartitionCount int                     `json:"partition_count"`
	MaxLag         *BurrowPartitionStatus  `json:"maxlag"`
	TotalLag       int64                   `json:"totallag"`
	// TimeLagSeconds is the group's greatest time lag; null when unknown.
	TimeLagSeconds    *float64 `json:"time_lag_seconds"`
	TimeLagLowerBound bool     `json:"time_lag_lower_bound,omitempty"`
}

// BurrowPartitionStatus is Burrow's PartitionStatus.
type BurrowPartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Owner is the owning member's host, as in Burrow, or its member id when
	// the host is unknown; "" when no member owns the partition.
	Owner    string `json:"owner"`
	ClientID string `json:"client_id"`
	Status   Status `json:"status"`
	// Start and End are the window's first and last observations; null when
	// that observation has no committed offset.
	Start      *BurrowOffset `json:"start"`
	End        *BurrowOffset `json:"end"`
	CurrentLag int64         `json:"current_lag"`
	Complete   float64       `json:"complete"`
	// TimeLagSeconds is null when unknown.
	TimeLagSeconds    *float64 `json:"time_lag_seconds"`
	TimeLagLowerBound bool     `json:"time_lag_lower_bound,omitempty"`
}

// BurrowOffset is Burrow's ConsumerOffset. Times are Unix milliseconds.
type BurrowOffset struct {
	Offset int64 `json:"offset"`
	// Timestamp is when the offset was committed, as far as polling can
	// tell: when it was first seen in the window (PartitionResult.LastCommit
	// for End; the observation's own time for Start).
	Timestamp int64 `json:"timestamp"`
	// ObservedAt is the time of the observation.
	ObservedAt int64 `json:"observedAt"`
	// Lag is the observation's commit lag (CommitLag), the figure Burrow's
	// rules judge, as Burrow's is the lag stored with the commit; null when
	// unknown. The partition's current_lag is the readable lag polled at
	// the newest tick (PartitionResult.CurrentLag).
	Lag *int64 `json:"lag"`
}

// BurrowLag returns g as Burrow's answer to
// GET /v3/kafka/(cluster)/consumer/(group)/lag: every partition.
func (g GroupResult) BurrowLag() BurrowLagResponse {
	return g.burrow("/lag", g.Partitions)
}

// BurrowStatus returns g as Burrow's answer to
// GET /v3/kafka/(cluster)/consumer/(group)/status: only the partitions worse
// than OK.
func (g GroupResult) BurrowStatus() BurrowLagResponse {
	return g.burrow("/status", g.NonOK())
}

// HTTPStatus is the HTTP status Burrow answers g's status and lag requests
// with: 404 for a NOTFOUND group, 200 otherwise.
func (g GroupResult) HTTPStatus() int {
	if g.Status == NotFound {
		return 404
	}
	return 200
}

func (g GroupResult) burrow(endpoint string, partitions []PartitionResult) BurrowLagResponse {
	st := &BurrowGroupStatus{
		Cluster:        g.Cluster,
		Group:          g.Group,
		Status:         g.Status,
		Complete:       g.Complete,
		Partitions:     make([]BurrowPartitionStatus, 0, len(partitions)),
		PartitionCount: g.PartitionCount,
		TotalLag:       g.TotalLag,
	}
	if g.Status == NotFound {
		// Burrow's evaluator answers an unknown group complete, with no
		// partition and no maximum, whatever else the result holds.
		st.Complete, st.PartitionCount, st.TotalLag = 1, 0, 0
		partitions = nil
	}
	st.TimeLagSeconds, st.TimeLagLowerBound = burrowTimeLag(g.TimeLag)
	for _, p := range partitions {
		st.Partitions = append(st.Partitions, p.burrow())
	}
	if g.MaxLag != nil && g.Status != NotFound {
		m := g.MaxLag.burrow()
		st.MaxLag = &m
	}
	return BurrowLagResponse{
		Message:  "consumer status returned",
		Status:   st,
		Request:  BurrowRequest{URL: "/v3/kafka/" + url.PathEscape(g.Cluster) + "/consumer/" + url.PathEscape(g.Group) + endpoint},
		Lagwatch: g.Stale.burrow(),
	}
}

// burrow is f as a group's body says it; nil for a fresh cluster (nil f).
func (f *Freshness) burrow() *BurrowStale {
	if f == nil || !f.Stale {
		return nil
	}
	b := &BurrowStale{Stale: true, Reason: f.Reason}
	if !f.NewestTick.IsZero() {
		t := f.NewestTick.UTC()
		b.Since = &t
	}
	return b
}

// burrow returns p in Burrow's shape.
func (p PartitionResult) burrow() BurrowPartitionStatus {
	owner := p.Host
	if owner == "" {
		owner = p.Owner
	}
	b := BurrowPartitionStatus{
		Topic:      p.Topic,
		Partition:  p.Partition,
		Owner:      owner,
		ClientID:   p.ClientID,
		Status:     p.Status,
		CurrentLag: p.CurrentLag,
		Complete:   p.Complete,
	}
	b.TimeLagSeconds, b.TimeLagLowerBound = burrowTimeLag(p.TimeLag)
	if p.Start.HasCommitted {
		b.Start = burrowOffset(p.Start, p.Start.Time.UnixMilli(), p.StartCommitLag)
	}
	if p.End.HasCommitted {
		b.End = burrowOffset(p.End, p.LastCommit.UnixMilli(), p.EndCommitLag)
	}
	return b
}

func burrowOffset(o Observation, committedAtMillis int64, lag CommitLag) *BurrowOffset {
	b := &BurrowOffset{Offset: o.Committed, Timestamp: committedAtMillis, ObservedAt: o.Time.UnixMilli()}
	if lag.Known {
		l := lag.Lag
		b.Lag = &l
	}
	return b
}

func burrowTimeLag(t TimeLag) (seconds *float64, lowerBound bool) {
	if !t.Known {
		return nil, false
	}
	s := t.Duration.Seconds()
	return &s, t.LowerBound
}
