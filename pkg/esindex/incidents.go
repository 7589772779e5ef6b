package esindex

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Incident is a group's alert state, kept in Elasticsearch so that an
// evaluator restart neither fires twice nor forgets an open incident.
type Incident struct {
	Cluster, Group string
	Open           bool
	// Status is the group status at the last update; WorstStatus the worst
	// one seen while open.
	Status, WorstStatus string
	OpenedAt, ClosedAt  time.Time
	LastSentAt          time.Time
	Sends, FailedSends  int
	UpdatedAt           time.Time

	// version guards updates: an incident loaded at one version is only
	// saved over that version (optimistic concurrency), so two evaluators
	// cannot both send the same alert.
	seqNo, primaryTerm int64
	loaded             bool
}

// ErrIncidentConflict: the incident changed since it was loaded (another
// evaluator updated it).
var ErrIncidentConflict = errors.New("incident changed since it was read")

type incidentJSON struct {
	groupDocHead
	Lagwatch struct {
		Incident struct {
			Open        bool   `json:"open"`
			Status      string `json:"status,omitempty"`
			WorstStatus string `json:"worst_status,omitempty"`
			OpenedAt    string `json:"opened_at,omitempty"`
			ClosedAt    string `json:"closed_at,omitempty"`
			LastSentAt  string `json:"last_sent_at,omitempty"`
			Sends       int    `json:"sends"`
			FailedSends int    `json:"failed_sends"`
		} `json:"incident"`
	} `json:"lagwatch"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timestampLayout)
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func incidentID(cluster, group string) string {
	h := sha256.New()
	var b [64]byte
	buf := append(b[:0], 'i')
	buf = appendPart(buf, cluster)
	buf = appendPart(buf, group)
	h.Write(buf)
	return sumID(h.Sum(b[:0]))
}

// LoadIncidents reads every incident of the incident index, keyed by group.
// A missing index is no incident at all.
func (c *Client) LoadIncidents(ctx context.Context) (map[GroupKey]Incident, error) {
	es, names := c.es, c.names
	out := map[GroupKey]Incident{}
	var after json.RawMessage
	for {
		body := map[string]any{"size": 1000, "seq_no_primary_term": true,
			"sort": []any{map[string]string{"kafka.cluster.name": "asc"}, map[string]string{"kafka.consumergroup.id": "asc"}}}
		if after != nil {
			body["search_after"] = after
		}
		raw, _ := json.Marshal(body)
		res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(names.Incidents), es.Search.WithBody(bytes.NewReader(raw)))
		if err != nil {
			return nil, fmt.Errorf("load incidents: %w", err)
		}
		var page struct {
			Hits struct {
				Hits []struct {
					SeqNo       int64           `json:"_seq_no"`
					PrimaryTerm int64           `json:"_primary_term"`
					Source      incidentJSON    `json:"_source"`
					Sort        json.RawMessage `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := decodeResponse(res, &page); err != nil {
			if errors.Is(err, errIndexNotFound) {
				return out, nil
			}
			return nil, fmt.Errorf("load incidents: %w", err)
		}
		for _, h := range page.Hits.Hits {
			s := h.Source
			i := s.Lagwatch.Incident
			inc := Incident{
				Cluster: s.Kafka.Cluster.Name, Group: s.Kafka.Consumergroup.ID, Open: i.Open,
				Status: i.Status, WorstStatus: i.WorstStatus, OpenedAt: parseTime(i.OpenedAt), ClosedAt: parseTime(i.ClosedAt),
				LastSentAt: parseTime(i.LastSentAt), Sends: i.Sends, FailedSends: i.FailedSends, UpdatedAt: parseTime(s.Timestamp),
				seqNo: h.SeqNo, primaryTerm: h.PrimaryTerm, loaded: true,
			}
			out[GroupKey{inc.Cluster, inc.Group}] = inc
		}
		if len(page.Hits.Hits) < 1000 {
			return out, nil
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
}

// SaveIncident stores inc, only over the version it was loaded at (or only
// if none exists, for a new one); otherwise it returns ErrIncidentConflict.
// The saved incident, with its new version, is returned.
func (c *Client) SaveIncident(ctx context.Context, inc Incident) (Incident, error) {
	es, names := c.es, c.names
	var d incidentJSON
	d.Timestamp = formatTime(inc.UpdatedAt)
	d.Kafka.Cluster.Name, d.Kafka.Consumergroup.ID = inc.Cluster, inc.Group
	i := &d.Lagwatch.Incident
	i.Open, i.Status, i.WorstStatus = inc.Open, inc.Status, inc.WorstStatus
	i.OpenedAt, i.ClosedAt, i.LastSentAt = formatTime(inc.OpenedAt), formatTime(inc.ClosedAt), formatTime(inc.LastSentAt)
	i.Sends, i.FailedSends = inc.Sends, inc.FailedSends
	raw, err := json.Marshal(d)
	if err != nil {
		return inc, err
	}
	idx := es.Index
	opts := []func(*esapi.IndexRequest){idx.WithContext(ctx), idx.WithDocumentID(incidentID(inc.Cluster, inc.Group)), idx.WithRefresh("true")}
	if inc.loaded {
		opts = append(opts, idx.WithIfSeqNo(int(inc.seqNo)), idx.WithIfPrimaryTerm(int(inc.primaryTerm)))
	} else {
		opts = append(opts, idx.WithOpType("create"))
	}
	res, err := idx(names.Incidents, bytes.NewReader(raw), opts...)
	if err != nil {
		return inc, fmt.Errorf("save incident of group %q: %w", inc.Group, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusConflict {
		return inc, fmt.Errorf("save incident of group %q: %w", inc.Group, ErrIncidentConflict)
	}
	if res.IsError() {
		return inc, fmt.Errorf("save incident of group %q: HTTP %d: %s", inc.Group, res.StatusCode, errorReason(res.StatusCode, string(body)))
	}
	var out struct {
		SeqNo       int64 `json:"_seq_no"`
		PrimaryTerm int64 `json:"_primary_term"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return inc, fmt.Errorf("save incident of group %q: %w", inc.Group, err)
	}
	inc.seqNo, inc.primaryTerm, inc.loaded = out.SeqNo, out.PrimaryTerm, true
	return inc, nil
}
