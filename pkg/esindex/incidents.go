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
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/lagwatch/lagwatch/internal/notify"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// IncidentStore keeps the evaluator's alert incidents in the incident index
// (one document per group): it is the notify.Store of the evaluator.
type IncidentStore struct{ c *Client }

// Incidents is c's IncidentStore.
func (c *Client) Incidents() IncidentStore { return IncidentStore{c} }

var _ notify.Store = IncidentStore{}

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
			Pending     string `json:"pending,omitempty"`
			ClaimedAt   string `json:"claimed_at,omitempty"`
			Scope       string `json:"scope,omitempty"`
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

// incidentID is the _id of the incident of (cluster, group), or of the
// cluster's own (notify.ClusterScope): a group's id is what it always was,
// a cluster's is made apart, so that no group name (not even "") takes it.
func incidentID(k notify.GroupKey) string {
	h := sha256.New()
	var b [64]byte
	buf := append(b[:0], 'i')
	if k.Scope != notify.GroupScope {
		buf = append(buf[:0], 's')
		buf = appendPart(buf, string(k.Scope))
	}
	buf = appendPart(buf, k.Cluster)
	buf = appendPart(buf, k.Group)
	h.Write(buf)
	return sumID(h.Sum(b[:0]))
}

// incidentStatus is the stored form of an incident status: Burrow's string,
// and none (the field left out) for NotFound, the zero value of a status
// not set yet. An incident never records NOTFOUND (notify.Decide leaves it
// alone for such a group).
func incidentStatus(s evaluate.Status) string {
	if s == evaluate.NotFound {
		return ""
	}
	return s.String()
}

// parseIncidentStatus reads what incidentStatus wrote; anything else (none,
// or a string no version wrote) is NotFound, which the bookkeeping treats as
// no status yet.
func parseIncidentStatus(s string) evaluate.Status {
	st, _ := evaluate.ParseStatus(s)
	return st
}

// incidentVersion is the opaque notify.Incident.Version of a stored
// revision: its sequence number and primary term.
func incidentVersion(seqNo, primaryTerm int64) string {
	return strconv.FormatInt(seqNo, 10) + "/" + strconv.FormatInt(primaryTerm, 10)
}

func parseIncidentVersion(v string) (seqNo, primaryTerm int64, err error) {
	seq, term, ok := strings.Cut(v, "/")
	if seqNo, err = strconv.ParseInt(seq, 10, 64); err == nil && ok {
		primaryTerm, err = strconv.ParseInt(term, 10, 64)
	}
	if err != nil || !ok {
		return 0, 0, fmt.Errorf("incident version %q is not one this store wrote", v)
	}
	return seqNo, primaryTerm, nil
}

// Load reads every incident of the incident index, keyed by group. A
// missing index is no incident at all.
func (s IncidentStore) Load(ctx context.Context) (map[notify.GroupKey]notify.Incident, error) {
	es, names := s.c.es, s.c.names
	out := map[notify.GroupKey]notify.Incident{}
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
			d := h.Source
			i := d.Lagwatch.Incident
			inc := notify.Incident{
				Cluster: d.Kafka.Cluster.Name, Group: d.Kafka.Consumergroup.ID, Open: i.Open,
				Status: parseIncidentStatus(i.Status), WorstStatus: parseIncidentStatus(i.WorstStatus),
				OpenedAt: parseTime(i.OpenedAt), ClosedAt: parseTime(i.ClosedAt), LastSentAt: parseTime(i.LastSentAt),
				Sends: i.Sends, FailedSends: i.FailedSends, UpdatedAt: parseTime(d.Timestamp),
				Pending: notify.Kind(i.Pending), ClaimedAt: parseTime(i.ClaimedAt), Scope: notify.Scope(i.Scope),
				Version: incidentVersion(h.SeqNo, h.PrimaryTerm),
			}
			out[inc.Key()] = inc
		}
		if len(page.Hits.Hits) < 1000 {
			return out, nil
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
}

// Save stores inc, only over the version it was loaded at (or only if none
// exists, for a new one); otherwise it returns an error wrapping
// notify.ErrConflict. The saved incident, with its new version, is returned.
func (s IncidentStore) Save(ctx context.Context, inc notify.Incident) (notify.Incident, error) {
	es, names := s.c.es, s.c.names
	var d incidentJSON
	d.Timestamp = formatTime(inc.UpdatedAt)
	d.Kafka.Cluster.Name, d.Kafka.Consumergroup.ID = inc.Cluster, inc.Group
	i := &d.Lagwatch.Incident
	i.Open, i.Status, i.WorstStatus = inc.Open, incidentStatus(inc.Status), incidentStatus(inc.WorstStatus)
	i.OpenedAt, i.ClosedAt, i.LastSentAt = formatTime(inc.OpenedAt), formatTime(inc.ClosedAt), formatTime(inc.LastSentAt)
	i.Sends, i.FailedSends = inc.Sends, inc.FailedSends
	i.Pending, i.ClaimedAt, i.Scope = string(inc.Pending), formatTime(inc.ClaimedAt), string(inc.Scope)
	raw, err := json.Marshal(d)
	if err != nil {
		return inc, err
	}
	idx := es.Index
	opts := []func(*esapi.IndexRequest){idx.WithContext(ctx), idx.WithDocumentID(pathID(incidentID(inc.Key()))), idx.WithRefresh("true")}
	if inc.Version != "" {
		seqNo, primaryTerm, err := parseIncidentVersion(inc.Version)
		if err != nil {
			return inc, fmt.Errorf("save incident of group %q: %w", inc.Group, err)
		}
		opts = append(opts, idx.WithIfSeqNo(int(seqNo)), idx.WithIfPrimaryTerm(int(primaryTerm)))
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
		return inc, fmt.Errorf("save incident of group %q: %w", inc.Group, notify.ErrConflict)
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
	inc.Version = incidentVersion(out.SeqNo, out.PrimaryTerm)
	if inc.OpenedAt.IsZero() {
		return inc, nil
	}
	// The evaluator that saved the incident logs it: one document per
	// incident, its id from the group and the opening, so that updates and
	// the close replace it. A failure here leaves the incident saved
	// (notify.ErrLogNotSaved); the next save of the incident writes the
	// entry again.
	res, err = idx(names.IncidentLog, bytes.NewReader(raw), idx.WithContext(ctx),
		idx.WithDocumentID(pathID(incidentLogID(inc.Key(), inc.OpenedAt))))
	if err != nil {
		return inc, fmt.Errorf("log incident of group %q: %w: %w", inc.Group, notify.ErrLogNotSaved, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(res.Body)
		return inc, fmt.Errorf("log incident of group %q: %w: HTTP %d: %s", inc.Group, notify.ErrLogNotSaved, res.StatusCode, errorReason(res.StatusCode, string(body)))
	}
	return inc, nil
}

// pathID escapes a document id for a request path. go-elasticsearch puts
// DocumentID into the URL as it is: a group id holding "/" would name
// another endpoint, "?" would start query parameters, "#" would cut the id
// and "%" would be decoded. Ids made from group ids go through it wherever
// they enter a URL; bulk bodies carry ids in JSON and need nothing.
func pathID(id string) string { return url.PathEscape(id) }

// incidentLogID is the _id of the incident log document of the incident of
// k opened at opened.
func incidentLogID(k notify.GroupKey, opened time.Time) string {
	if k.Scope != notify.GroupScope {
		return docID(opened.UnixMilli(), -2, k.Cluster, k.Group, string(k.Scope))
	}
	return docID(opened.UnixMilli(), -2, k.Cluster, k.Group)
}
