package evaluate

import (
	"net/url"
)

// BurrowLagResponse is the body of Burrow's
// GET /v3/kafka/(cluster)/consumer/(group)/lag, so that tools written against
// Burrow can read lagwatch's verdicts. Field names and shapes are Burrow's;
// lagwatch adds only time_lag_seconds and time_lag_lower_bound.
type BurrowLagResponse struct {
	Error   bool   `json:"error"`
	Message string `json:"message"`
	// Status is absent on a NOTFOUND group, as in Burrow's 404 answer.
	Status  *BurrowGroupStatus `json:"status,omitempty"`
	Request BurrowRequest      `json:"request"`
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
	// Partitions lists only the partitions worse than OK, as Burrow does
	// unless asked for all; [] when there are none.
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
	// Lag is the observation's lag; null when it had none.
	Lag *int64 `json:"lag"`
}

// Burrow returns g as Burrow's answer to
// GET /v3/kafka/(cluster)/consumer/(group)/lag: the status object with the
// non-OK partitions, or, for a NOTFOUND group, Burrow's 404 body.
func (g GroupResult) Burrow() BurrowLagResponse {
	resp := BurrowLagResponse{
		Request: BurrowRequest{URL: "/v3/kafka/" + url.PathEscape(g.Cluster) + "/consumer/" + url.PathEscape(g.Group) + "/lag"},
	}
	if g.Status == NotFound {
		resp.Error, resp.Message = true, "cluster or consumer not found"
		return resp
	}
	resp.Message = "consumer status returned"
	st := &BurrowGroupStatus{
		Cluster:        g.Cluster,
		Group:          g.Group,
		Status:         g.Status,
		Complete:       g.Complete,
		Partitions:     []BurrowPartitionStatus{},
		PartitionCount: g.PartitionCount,
		TotalLag:       g.TotalLag,
	}
	st.TimeLagSeconds, st.TimeLagLowerBound = burrowTimeLag(g.TimeLag)
	for _, p := range g.NonOK() {
		st.Partitions = append(st.Partitions, p.burrow())
	}
	if g.MaxLag != nil {
		m := g.MaxLag.burrow()
		st.MaxLag = &m
	}
	resp.Status = st
	return resp
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
		b.Start = burrowOffset(p.Start, p.Start.Time.UnixMilli())
	}
	if p.End.HasCommitted {
		b.End = burrowOffset(p.End, p.LastCommit.UnixMilli())
	}
	return b
}

func burrowOffset(o Observation, committedAtMillis int64) *BurrowOffset {
	b := &BurrowOffset{Offset: o.Committed, Timestamp: committedAtMillis, ObservedAt: o.Time.UnixMilli()}
	if o.HasLag {
		lag := o.Lag
		b.Lag = &lag
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
