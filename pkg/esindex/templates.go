package esindex

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// TemplateVersion is the version of the index templates and mappings this
// package installs, stored in each template's "version" and _meta.version.
// Raise it with any change to templates/*.json. 3: kafka.consumergroup.type
// on offsets and group documents. 4: lagwatch.status.time_lag_lower_bound on
// status documents, and the incident log. 5: lagwatch.incident.pending and
// .claimed_at. 6: lagwatch.readable_lag and kafka.partition.offset.stable on
// offsets documents, lagwatch.group.total_readable_lag on group documents. 7:
// lagwatch.collector.broker_errors and .kafka_retries on collector
// documents. 8: group and member ids indexed up to 8,191 characters
// (snapshot.MaxGroupIDLength), not 1,024. 9:
// lagwatch.collector.documents_refused and .write_refusal on collector
// documents. 10: lagwatch.status.stale, .newest_tick and .stale_reason on
// status documents, lagwatch.incident.scope on incidents.
const TemplateVersion = 10

// templatePriority puts lagwatch's templates above Elasticsearch's built-in
// metrics-*-* template (priority 100), so the exact-name pattern wins.
const templatePriority = 200

//go:embed templates/*.json
var templateFS embed.FS

// Features says what the cluster does with the templates' lifecycle.
type Features struct {
	// Lifecycle is true when the cluster runs the data stream lifecycle
	// that enforces the templates' retention.
	Lifecycle bool
	// ILM is true when index lifecycle management is there.
	ILM bool
	// Retention is the data_retention stored in the templates, "" for none.
	Retention string
	// Warnings are for the caller to log once at start-up.
	Warnings []string
}

// indexTemplate is the body of PUT _index_template/<name>.
type indexTemplate struct {
	IndexPatterns []string      `json:"index_patterns"`
	DataStream    *struct{}     `json:"data_stream,omitempty"`
	Priority      int           `json:"priority"`
	Version       int           `json:"version"`
	Template      templateParts `json:"template"`
	Meta          templateMeta  `json:"_meta"`
}

type templateParts struct {
	Settings  json.RawMessage `json:"settings,omitempty"`
	Mappings  json.RawMessage `json:"mappings"`
	Lifecycle *lifecycle      `json:"lifecycle,omitempty"`
}

// lifecycle is the data stream lifecycle. It is always enabled, so that a
// cluster that runs it rolls the data streams over; DataRetention is set when
// a retention is configured.
type lifecycle struct {
	Enabled       bool   `json:"enabled"`
	DataRetention string `json:"data_retention,omitempty"`
}

type templateMeta struct {
	ManagedBy   string `json:"managed_by"`
	Version     int    `json:"version"`
	Description string `json:"description"`
}

// namedTemplate is one template to install: its name and JSON body.
type namedTemplate struct {
	Name string
	Body []byte
}

// templates returns the index templates for names, in install order, as the
// indented JSON that Install sends.
func templates(names Names, retention time.Duration) ([]namedTemplate, error) {
	return buildTemplates(retention, []templateSpec{
		{names.Offsets, "templates/offsets.json", "one document per cluster, consumer group, topic and partition per snapshot", true},
		{names.Groups, "templates/groups.json", "one document per cluster and consumer group per snapshot", true},
		{names.Ticks, "templates/collector.json", "one document per cluster per collector tick: how the tick went", true},
	})
}

// evaluatorTemplates are the templates of the evaluator's status data stream,
// of its incident index (a plain index: incidents are updated in place) and
// of its incident log (one document per incident, the same fields).
func evaluatorTemplates(names Names, retention time.Duration) ([]namedTemplate, error) {
	return buildTemplates(retention, []templateSpec{
		{names.Status, "templates/status.json", "one document per cluster and consumer group per evaluation", true},
		{names.Incidents, "templates/incidents.json", "one document per cluster and consumer group: its alert incident", false},
		{names.IncidentLog, "templates/incidents.json", "one document per alert incident, from its opening to its close", false},
	})
}

type templateSpec struct {
	stream, file, what string
	dataStream         bool
}

func buildTemplates(retention time.Duration, specs []templateSpec) ([]namedTemplate, error) {
	ret, err := formatRetention(retention)
	if err != nil {
		return nil, err
	}
	var out []namedTemplate
	for _, sp := range specs {
		raw, err := templateFS.ReadFile(sp.file)
		if err != nil {
			return nil, fmt.Errorf("read embedded %s: %w", sp.file, err)
		}
		var parts templateParts
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&parts); err != nil {
			return nil, fmt.Errorf("decode embedded %s: %w", sp.file, err)
		}
		var ds *struct{}
		if sp.dataStream {
			ds = &struct{}{}
			parts.Lifecycle = &lifecycle{Enabled: true, DataRetention: ret}
		}
		body, err := json.MarshalIndent(indexTemplate{
			IndexPatterns: []string{sp.stream},
			DataStream:    ds,
			Priority:      templatePriority,
			Version:       TemplateVersion,
			Template:      parts,
			Meta: templateMeta{
				ManagedBy:   "lagwatch",
				Version:     TemplateVersion,
				Description: "lagwatch: " + sp.what,
			},
		}, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode template %s: %w", sp.stream, err)
		}
		out = append(out, namedTemplate{Name: sp.stream, Body: append(body, '\n')})
	}
	return out, nil
}

// formatRetention renders a retention as Elasticsearch's data_retention: whole
// days as "30d", else whole hours as "36h". Zero means no retention ("").
func formatRetention(d time.Duration) (string, error) {
	switch {
	case d == 0:
		return "", nil
	case d < 0:
		return "", fmt.Errorf("retention %s: must not be negative", d)
	case d%time.Hour != 0:
		return "", fmt.Errorf("retention %s: must be a whole number of hours", d)
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour)), nil
	default:
		return fmt.Sprintf("%dh", d/time.Hour), nil
	}
}

// Install puts the index templates of the offsets and groups data streams
// (repeating it is harmless: a PUT replaces a template with itself) and finds
// out whether the cluster enforces their retention. The data streams
// themselves are created by Elasticsearch on the first write.
//
// retention is stored as each template's data stream lifecycle
// data_retention; zero keeps documents forever. It must be a whole number of
// hours.
//
// A failure to detect the cluster's features is not an error: it becomes a
// warning in Features.
//
// A Writer installs the same templates itself (Writer.StartInstall); this is
// for callers that want them in before making one.
func (c *Client) Install(ctx context.Context, retention time.Duration) (Features, error) {
	return install(ctx, c.es, c.names, retention)
}

func install(ctx context.Context, es *elasticsearch.Client, names Names, retention time.Duration) (Features, error) {
	tmpls, err := templates(names, retention)
	if err != nil {
		return Features{}, fmt.Errorf("install templates: %w", err)
	}
	if err := putTemplates(ctx, es, tmpls); err != nil {
		return Features{}, err
	}

	f := Features{}
	f.Warnings = addFields(ctx, es, tmpls)
	f.Retention, _ = formatRetention(retention) // validated by templates
	lc := probe(ctx, es, "/_lifecycle/stats")
	if lc.is == unknown {
		// _lifecycle/stats needs the monitor privilege; this one needs only
		// view_index_metadata on the data stream, and answers 404
		// index_not_found when the handler exists but the stream does not yet.
		lc = probe(ctx, es, "/_data_stream/"+names.Offsets+"/_lifecycle")
	}
	ilm := probe(ctx, es, "/_ilm/status")
	f.Lifecycle, f.ILM = lc.is == present, ilm.is == present
	switch {
	case lc.is == unknown:
		f.Warnings = append(f.Warnings, "cannot tell whether Elasticsearch runs the data stream lifecycle ("+lc.why+
			"): retention "+retentionWords(f.Retention)+" may not be enforced")
	case lc.is == absent && f.Retention != "":
		f.Warnings = append(f.Warnings, "Elasticsearch has no data stream lifecycle: retention of "+f.Retention+
			" is stored in the templates but not enforced")
	case lc.is == absent && ilm.is == absent:
		f.Warnings = append(f.Warnings, "Elasticsearch has neither a data stream lifecycle nor ILM: the data streams never roll over")
	}
	if ilm.is == unknown {
		f.Warnings = append(f.Warnings, "cannot tell whether Elasticsearch has ILM ("+ilm.why+")")
	}
	return f, nil
}

// InstallEvaluator puts the templates of the evaluator's status data stream
// (with retention, as Install does) and incident index, and adds the
// fields they map to the status data stream and incident indices that
// exist already: their mappings are strict, and the evaluator writes there
// at once, not after the next rollover. Repeating it is harmless.
func (c *Client) InstallEvaluator(ctx context.Context, retention time.Duration) error {
	tmpls, err := evaluatorTemplates(c.names, retention)
	if err != nil {
		return fmt.Errorf("install evaluator templates: %w", err)
	}
	if err := putTemplates(ctx, c.es, tmpls); err != nil {
		return err
	}
	return putMappings(ctx, c.es, tmpls)
}

// putMappings adds each template's fields to the index or data stream it
// is named after, when that exists (a new field only: a changed type is
// refused, and reported). A user not allowed to change mappings (403)
// leaves the new fields to the next rollover, as before.
func putMappings(ctx context.Context, es *elasticsearch.Client, tmpls []namedTemplate) error {
	for _, t := range tmpls {
		var tmpl struct {
			Template struct {
				Mappings struct {
					Properties json.RawMessage `json:"properties"`
				} `json:"mappings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(t.Body, &tmpl); err != nil {
			return fmt.Errorf("put mapping of %s: %w", t.Name, err)
		}
		body, err := json.Marshal(map[string]any{"properties": tmpl.Template.Mappings.Properties})
		if err != nil {
			return fmt.Errorf("put mapping of %s: %w", t.Name, err)
		}
		im := es.Indices.PutMapping
		res, err := im([]string{t.Name}, bytes.NewReader(body), im.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("put mapping of %s: %w", t.Name, err)
		}
		excerpt := readExcerpt(res.Body)
		res.Body.Close()
		missing := res.StatusCode == http.StatusNotFound && strings.Contains(excerpt, "index_not_found_exception")
		if res.IsError() && !missing && res.StatusCode != http.StatusForbidden {
			return fmt.Errorf("put mapping of %s: HTTP %d: %s", t.Name, res.StatusCode, excerpt)
		}
	}
	return nil
}

func putTemplates(ctx context.Context, es *elasticsearch.Client, tmpls []namedTemplate) error {
	for _, t := range tmpls {
		res, err := es.Indices.PutIndexTemplate(t.Name, bytes.NewReader(t.Body), es.Indices.PutIndexTemplate.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("put index template %s: %w", t.Name, err)
		}
		body := readExcerpt(res.Body)
		res.Body.Close()
		if res.IsError() {
			return fmt.Errorf("put index template %s: HTTP %d: %s", t.Name, res.StatusCode, body)
		}
	}
	return nil
}

// addFields adds the fields of each template's mappings to its data stream's
// write index, when the data stream exists already. A changed template
// applies to a data stream only from its next backing index, and the
// mappings are strict: without this, a document with a field added since
// (a collector document of a newer version) would be rejected until the
// data stream rolls over. Only new fields can be added this way; a changed
// type, or a missing privilege (it needs manage on the data stream), leaves
// the old mapping and says so in a warning, once per data stream.
func addFields(ctx context.Context, es *elasticsearch.Client, tmpls []namedTemplate) (warnings []string) {
	for _, t := range tmpls {
		var it struct {
			Template struct {
				Mappings struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"mappings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(t.Body, &it); err != nil || len(it.Template.Mappings.Properties) == 0 {
			continue // ours, built above: cannot happen
		}
		// The data stream's timestamp is there from its creation, and
		// naming it again is refused on LogsDB indices (whose
		// ignore_malformed default it would take).
		delete(it.Template.Mappings.Properties, "@timestamp")
		body, err := json.Marshal(map[string]any{"properties": it.Template.Mappings.Properties})
		if err != nil {
			continue
		}
		pm := es.Indices.PutMapping
		res, err := pm([]string{t.Name}, bytes.NewReader(body), pm.WithContext(ctx), pm.WithWriteIndexOnly(true))
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("mapping of data stream %s not brought up to date: %v", t.Name, err))
			continue
		}
		excerpt := readExcerpt(res.Body)
		res.Body.Close()
		if res.IsError() && !(res.StatusCode == http.StatusNotFound && strings.Contains(excerpt, "index_not_found_exception")) {
			warnings = append(warnings, fmt.Sprintf("mapping of data stream %s not brought up to date (HTTP %d: %s): documents with fields added in template version %d are rejected until it rolls over (POST %s/_rollover)",
				t.Name, res.StatusCode, errorReason(res.StatusCode, excerpt), TemplateVersion, t.Name))
		}
	}
	return warnings
}

func retentionWords(r string) string {
	if r == "" {
		return "(none configured)"
	}
	return "of " + r
}

type presence int

const (
	unknown presence = iota
	present
	absent
)

type probeResult struct {
	is  presence
	why string // for unknown: what the probe got
}

// probe GETs path and says whether the API behind it exists.
func probe(ctx context.Context, es *elasticsearch.Client, path string) probeResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return probeResult{unknown, err.Error()}
	}
	res, err := es.Perform(req)
	if err != nil {
		return probeResult{unknown, "GET " + path + ": " + err.Error()}
	}
	defer res.Body.Close()
	body := readExcerpt(res.Body)
	is := classifyProbe(res.StatusCode, body)
	if is == unknown {
		return probeResult{unknown, fmt.Sprintf("GET %s: HTTP %d", path, res.StatusCode)}
	}
	return probeResult{is: is}
}

// classifyProbe reads the answer to a GET on an API's path. A node without
// the module answers 400 "no handler found", or 405 when another method is
// routed on a matching path; 404 index_not_found means the API answered about
// a data stream that does not exist yet. Anything else (401, 403, 5xx) says
// nothing about the API.
func classifyProbe(status int, body string) presence {
	switch {
	case status >= 200 && status < 300:
		return present
	case status == http.StatusNotFound && strings.Contains(body, "index_not_found_exception"):
		return present
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		return absent
	case status == http.StatusBadRequest && strings.Contains(body, "no handler found"):
		return absent
	default:
		return unknown
	}
}

// readExcerpt reads at most 1 KiB of an error body, for messages.
func readExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 1<<20)) // let the connection be reused
	return strings.TrimSpace(string(b))
}
