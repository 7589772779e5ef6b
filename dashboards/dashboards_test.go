package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	esq "github.com/grafana/grafana-foundation-sdk/go/elasticsearch"
	"go.yaml.in/yaml/v2"

	"github.com/lagwatch/lagwatch/pkg/esindex"
)

var update = flag.Bool("update", false, "rewrite the golden request files under testdata/requests")

const (
	datasourcesFile = "provisioning/datasources/lagwatch.yaml"
	providersFile   = "provisioning/dashboards/lagwatch.yaml"
	// grafanaDashboardsPath is where the provider reads the dashboards: the
	// compose setup mounts json/ there.
	grafanaDashboardsPath = "/var/lib/grafana/dashboards"
	// defaultNamespace is the namespace the provisioned indices use.
	defaultNamespace = "default"
)

// wantBoards are the dashboards, by uid, and their file names.
var wantBoards = map[string]string{
	"lagwatch-overview":  "lagwatch-overview.json",
	"lagwatch-group":     "lagwatch-group.json",
	"lagwatch-collector": "lagwatch-collector.json",
}

// panelTypes are the core panels the dashboards use.
var panelTypes = map[string]bool{"timeseries": true, "table": true, "stat": true, "state-timeline": true, "bargauge": true}

// streamOf maps a data source uid to its stream in a namespace and to the
// esindex template that holds the stream's mapping.
func streamOf(names esindex.Names) map[string]string {
	return map[string]string{
		"lagwatch-offsets":      names.Offsets,
		"lagwatch-groups":       names.Groups,
		"lagwatch-status":       names.Status,
		"lagwatch-collector":    names.Ticks,
		"lagwatch-incidents":    names.Incidents,
		"lagwatch-incident-log": names.IncidentLog,
	}
}

var templateOf = map[string]string{
	"lagwatch-offsets":      "offsets.json",
	"lagwatch-groups":       "groups.json",
	"lagwatch-status":       "status.json",
	"lagwatch-collector":    "collector.json",
	"lagwatch-incidents":    "incidents.json",
	"lagwatch-incident-log": "incidents.json",
}

// ---------------------------------------------------------------- provisioning

type provisionedDS struct {
	Name     string `yaml:"name"`
	UID      string `yaml:"uid"`
	Type     string `yaml:"type"`
	Access   string `yaml:"access"`
	URL      string `yaml:"url"`
	Editable bool   `yaml:"editable"`
	JSONData struct {
		Index                      string `yaml:"index"`
		TimeField                  string `yaml:"timeField"`
		EsVersion                  string `yaml:"esVersion"`
		MaxConcurrentShardRequests int    `yaml:"maxConcurrentShardRequests"`
		TimeInterval               string `yaml:"timeInterval"`
		IncludeFrozen              bool   `yaml:"includeFrozen"`
	} `yaml:"jsonData"`
}

// interval is the data source's minimum interval: the interval Grafana uses
// for a short time range.
func (d provisionedDS) interval() time.Duration {
	iv, _ := time.ParseDuration(d.JSONData.TimeInterval)
	return iv
}

// loadDatasources reads the data source provisioning file strictly and
// returns its data sources by uid.
func loadDatasources(t *testing.T) map[string]provisionedDS {
	t.Helper()
	raw, err := os.ReadFile(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion  int             `yaml:"apiVersion"`
		Datasources []provisionedDS `yaml:"datasources"`
	}
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		t.Fatalf("%s: %v", datasourcesFile, err)
	}
	if f.APIVersion != 1 {
		t.Errorf("%s: apiVersion %d, want 1", datasourcesFile, f.APIVersion)
	}
	out := map[string]provisionedDS{}
	for _, d := range f.Datasources {
		if _, dup := out[d.UID]; dup {
			t.Errorf("%s: uid %s twice", datasourcesFile, d.UID)
		}
		out[d.UID] = d
	}
	return out
}

func TestProvisioning(t *testing.T) {
	names, err := esindex.NewNames(defaultNamespace)
	if err != nil {
		t.Fatal(err)
	}
	dss := loadDatasources(t)
	want := streamOf(names)
	if len(dss) != len(want) {
		t.Errorf("%d data sources, want one per stream: %v", len(dss), sortedKeys(want))
	}
	for uid, stream := range want {
		d, ok := dss[uid]
		if !ok {
			t.Errorf("no data source %s", uid)
			continue
		}
		j := d.JSONData
		switch {
		case d.Type != "elasticsearch" || d.Access != "proxy":
			t.Errorf("%s: type %q access %q, want elasticsearch, proxy", uid, d.Type, d.Access)
		case d.URL != "${ELASTICSEARCH_URL}":
			t.Errorf("%s: url %q, want ${ELASTICSEARCH_URL} (from Grafana's environment)", uid, d.URL)
		case j.Index != stream:
			t.Errorf("%s: index %q, want the stream %q", uid, j.Index, stream)
		case j.TimeField != "@timestamp":
			t.Errorf("%s: timeField %q, want @timestamp", uid, j.TimeField)
		case !strings.HasPrefix(j.EsVersion, "8."):
			t.Errorf("%s: esVersion %q, want 8.x", uid, j.EsVersion)
		case j.MaxConcurrentShardRequests <= 0:
			t.Errorf("%s: maxConcurrentShardRequests %d", uid, j.MaxConcurrentShardRequests)
		case d.interval() <= 0:
			t.Errorf("%s: timeInterval %q is not a duration", uid, j.TimeInterval)
		case d.Name == "":
			t.Errorf("%s: no name", uid)
		}
	}

	raw, err := os.ReadFile(providersFile)
	if err != nil {
		t.Fatal(err)
	}
	var pf struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			OrgID                 int    `yaml:"orgId"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.UnmarshalStrict(raw, &pf); err != nil {
		t.Fatalf("%s: %v", providersFile, err)
	}
	if pf.APIVersion != 1 || len(pf.Providers) != 1 {
		t.Fatalf("%s: want apiVersion 1 and one provider", providersFile)
	}
	if p := pf.Providers[0]; p.Type != "file" || p.Options.Path != grafanaDashboardsPath {
		t.Errorf("%s: provider type %q path %q, want file and %s", providersFile, p.Type, p.Options.Path, grafanaDashboardsPath)
	}
}

// ---------------------------------------------------------------- loading

// board is one dashboard file, decoded strictly.
type board struct {
	file        string
	model       dashboard.Dashboard
	panels      []*boardPanel
	vars        []dashboard.VariableModel
	annotations []esAnnotation
}

// esAnnotation is an Elasticsearch annotation query as Grafana's
// Elasticsearch data source reads it (its annotationQuery): the Lucene
// query in target.query, the document fields at the top. The Foundation
// SDK's AnnotationQuery has no place for those fields, so these are decoded
// here, strictly, and taken out before the SDK decodes the dashboard.
type esAnnotation struct {
	Name       string `json:"name"`
	Datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Enable    bool   `json:"enable"`
	Hide      bool   `json:"hide"`
	IconColor string `json:"iconColor"`
	Target    struct {
		Query string `json:"query"`
		Limit int    `json:"limit"`
	} `json:"target"`
	TimeField    string `json:"timeField"`
	TimeEndField string `json:"timeEndField"`
	TextField    string `json:"textField"`
	TagsField    string `json:"tagsField"`
}

// splitAnnotations takes the Elasticsearch annotation queries out of a
// dashboard's JSON, decoded strictly, and returns the rest.
func splitAnnotations(raw []byte) ([]byte, []esAnnotation, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, err
	}
	var ann struct {
		List []json.RawMessage `json:"list"`
	}
	if top["annotations"] == nil {
		return raw, nil, nil
	}
	if err := json.Unmarshal(top["annotations"], &ann); err != nil {
		return nil, nil, err
	}
	var kept []json.RawMessage
	var out []esAnnotation
	for _, a := range ann.List {
		var head struct {
			Datasource struct {
				Type string `json:"type"`
			} `json:"datasource"`
		}
		if err := json.Unmarshal(a, &head); err != nil {
			return nil, nil, err
		}
		if head.Datasource.Type != "elasticsearch" {
			kept = append(kept, a)
			continue
		}
		var e esAnnotation
		dec := json.NewDecoder(bytes.NewReader(a))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("annotation: %w", err)
		}
		out = append(out, e)
	}
	list, err := json.Marshal(map[string]any{"list": kept})
	if err != nil {
		return nil, nil, err
	}
	top["annotations"] = list
	rest, err := json.Marshal(top)
	return rest, out, err
}

// boardPanel is a panel with its raw JSON (for the parts the SDK keeps as
// any) and its targets.
type boardPanel struct {
	*dashboard.Panel
	board   *board
	raw     map[string]json.RawMessage
	targets []*panelTarget
}

func (p *boardPanel) title() string { return deref(p.Title) }

// panelTarget is one query of a panel.
type panelTarget struct {
	panel *boardPanel
	refID string
	dsUID string
	alias string
	model *esq.Dataquery
	q     parsedQuery
	// err is why the target could not be parsed.
	err error
}

func (t *panelTarget) name() string {
	return t.panel.board.file + ": panel " + strconv.Quote(t.panel.title()) + " query " + t.refID
}

var registerPlugins sync.Once

// decodeBoard decodes raw strictly: unknown fields anywhere the SDK has a
// type for are errors, and Elasticsearch targets decode as typed queries.
func decodeBoard(file string, raw []byte) (*board, error) {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	b := &board{file: file}
	rest, anns, err := splitAnnotations(raw)
	if err != nil {
		return nil, fmt.Errorf("strict decoding: %w", err)
	}
	b.annotations = anns
	if err := b.model.UnmarshalJSONStrict(rest); err != nil {
		return nil, fmt.Errorf("strict decoding: %w", err)
	}
	var rawBoard struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &rawBoard); err != nil {
		return nil, err
	}
	var typed []*dashboard.Panel
	for _, pr := range b.model.Panels {
		switch {
		case pr.Panel != nil:
			typed = append(typed, pr.Panel)
		case pr.RowPanel != nil:
			for i := range pr.RowPanel.Panels {
				typed = append(typed, &pr.RowPanel.Panels[i])
			}
		}
	}
	var raws []map[string]json.RawMessage
	var flatten func([]json.RawMessage) error
	flatten = func(list []json.RawMessage) error {
		for _, r := range list {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r, &m); err != nil {
				return err
			}
			if string(m["type"]) == `"row"` {
				var inner []json.RawMessage
				if m["panels"] != nil {
					if err := json.Unmarshal(m["panels"], &inner); err != nil {
						return err
					}
				}
				if err := flatten(inner); err != nil {
					return err
				}
				continue
			}
			raws = append(raws, m)
		}
		return nil
	}
	if err := flatten(rawBoard.Panels); err != nil {
		return nil, err
	}
	if len(raws) != len(typed) {
		return nil, fmt.Errorf("%d raw panels, %d decoded", len(raws), len(typed))
	}
	for i, p := range typed {
		bp := &boardPanel{Panel: p, board: b, raw: raws[i]}
		for j, dq := range p.Targets {
			pt := &panelTarget{panel: bp, refID: fmt.Sprintf("#%d", j)}
			q, ok := dq.(*esq.Dataquery)
			if !ok {
				pt.err = fmt.Errorf("target decodes as %T, not an Elasticsearch query", dq)
				bp.targets = append(bp.targets, pt)
				continue
			}
			pt.model = q
			pt.refID = deref(q.RefId)
			pt.alias = deref(q.Alias)
			if q.Datasource != nil {
				pt.dsUID = deref(q.Datasource.Uid)
			}
			pt.q, pt.err = parseQuery(q)
			bp.targets = append(bp.targets, pt)
		}
		b.panels = append(b.panels, bp)
	}
	b.vars = b.model.Templating.List
	return b, nil
}

// loadBoards decodes every dashboard under json/.
func loadBoards(t *testing.T) []*board {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("json", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*board
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := decodeBoard(filepath.Base(f), raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, b)
	}
	if len(out) != len(wantBoards) {
		t.Fatalf("json/ holds %d dashboards, want %d: %v", len(out), len(wantBoards), sortedKeys(wantBoards))
	}
	return out
}

// TestDashboardsDecodeStrictly loads every dashboard with the Foundation
// SDK's strict decoder, and the parts it leaves untyped (field config
// overrides and the field config source itself) strictly as well.
func TestDashboardsDecodeStrictly(t *testing.T) {
	for _, b := range loadBoards(t) {
		t.Run(b.file, func(t *testing.T) {
			if want := wantBoards[deref(b.model.Uid)]; want != b.file {
				t.Errorf("uid %q in file %s; want the uids %v", deref(b.model.Uid), b.file, wantBoards)
			}
			for _, p := range b.panels {
				if !panelTypes[p.Type] {
					t.Errorf("panel %q: type %q is not one of %v", p.title(), p.Type, sortedKeys(panelTypes))
					continue
				}
				if _, untyped := p.Options.(map[string]any); untyped || p.Options == nil {
					t.Errorf("panel %q: options were not decoded by the %s plugin", p.title(), p.Type)
				}
				for _, err := range fieldConfigErrors(p) {
					t.Errorf("panel %q: %v", p.title(), err)
				}
				for _, pt := range p.targets {
					if pt.model == nil {
						t.Errorf("%s: %v", pt.name(), pt.err)
					}
				}
			}
		})
	}
}

// fieldConfigErrors decodes the panel's field config strictly, and each
// override property as if it were set in the defaults.
func fieldConfigErrors(p *boardPanel) []error {
	raw := p.raw["fieldConfig"]
	if raw == nil {
		return []error{errors.New("no fieldConfig")}
	}
	var errs []error
	var fc dashboard.FieldConfigSource
	if err := fc.UnmarshalJSONStrict(raw); err != nil {
		errs = append(errs, fmt.Errorf("fieldConfig: %w", err))
	}
	var generic struct {
		Defaults  map[string]json.RawMessage `json:"defaults"`
		Overrides []struct {
			Matcher    dashboard.MatcherConfig `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		return append(errs, err)
	}
	variant, _ := cog.ConfigForPanelcfgVariant(p.Type)
	custom := map[string]json.RawMessage{}
	if c := generic.Defaults["custom"]; c != nil {
		if err := json.Unmarshal(c, &custom); err != nil {
			errs = append(errs, err)
		}
	}
	for i, o := range generic.Overrides {
		for _, pr := range o.Properties {
			where := fmt.Sprintf("override %d property %s", i, pr.ID)
			switch {
			case pr.ID == "links":
				if err := checkDataLinkShape(pr.Value); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			case strings.HasPrefix(pr.ID, "custom."):
				if variant.StrictFieldConfigUnmarshaler == nil {
					errs = append(errs, fmt.Errorf("%s: panel %s has no custom field config", where, p.Type))
					continue
				}
				merged := maps(custom)
				merged[strings.TrimPrefix(pr.ID, "custom.")] = pr.Value
				b, _ := json.Marshal(merged)
				if _, err := variant.StrictFieldConfigUnmarshaler(b); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			default:
				merged := maps(generic.Defaults)
				delete(merged, "custom")
				delete(merged, "links")
				merged[pr.ID] = pr.Value
				b, _ := json.Marshal(merged)
				var f dashboard.FieldConfig
				if err := f.UnmarshalJSONStrict(b); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			}
		}
	}
	return errs
}

// checkDataLinkShape: a data link has a title and a url, and may open in a
// new tab.
func checkDataLinkShape(raw json.RawMessage) error {
	var links []struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		TargetBlank bool   `json:"targetBlank"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&links); err != nil {
		return err
	}
	for _, l := range links {
		if l.Title == "" || l.URL == "" {
			return errors.New("a data link needs a title and a url")
		}
	}
	return nil
}

func maps(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// ---------------------------------------------------------------- conventions

// mapping is a flattened index mapping: field path to type.
type mapping map[string]string

// flattenMapping flattens the properties of a mapping ({"properties": ...}).
func flattenMapping(props map[string]any, prefix string, out mapping) {
	for name, v := range props {
		def, _ := v.(map[string]any)
		path := prefix + name
		if sub, ok := def["properties"].(map[string]any); ok {
			flattenMapping(sub, path+".", out)
			continue
		}
		if typ, ok := def["type"].(string); ok {
			out[path] = typ
		}
	}
}

// templateMappings reads the mappings lagwatch installs (pkg/esindex's
// templates), by data source uid: the offline stand-in for the real
// mappings that the Elasticsearch test reads from the node.
func templateMappings(t *testing.T) map[string]mapping {
	t.Helper()
	out := map[string]mapping{}
	for uid, file := range templateOf {
		raw, err := os.ReadFile(filepath.Join("..", "pkg", "esindex", "templates", file))
		if err != nil {
			t.Fatal(err)
		}
		var tmpl struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		}
		if err := json.Unmarshal(raw, &tmpl); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		m := mapping{}
		flattenMapping(tmpl.Mappings.Properties, "", m)
		out[uid] = m
	}
	return out
}

func (m mapping) fields() []string { return sortedKeys(m) }

var (
	numericTypes = map[string]bool{"long": true, "integer": true, "short": true, "byte": true, "double": true,
		"float": true, "half_float": true, "scaled_float": true, "unsigned_long": true}
	// termsTypes: keyword, whole numbers, booleans, and dates (terms on
	// @timestamp, ordered by key, size 1, picks each bucket's newest
	// document: "latest" without top_metrics).
	termsTypes = map[string]bool{"keyword": true, "long": true, "integer": true, "short": true, "byte": true,
		"boolean": true, "date": true}
	dateTypes = map[string]bool{"date": true, "date_nanos": true}
	// minMaxTypes: numbers, and booleans (1 or 0).
	minMaxTypes = func() map[string]bool {
		m := map[string]bool{"boolean": true}
		for t := range numericTypes {
			m[t] = true
		}
		return m
	}()
)

// luceneField finds the fields a Lucene query names (field:value).
var luceneField = regexp.MustCompile(`(?:^|[\s(])([A-Za-z@_][\w.@]*):`)

// fieldErrors checks that every field the query names exists in m with a
// type that suits its use.
func fieldErrors(q parsedQuery, m mapping) []error {
	var errs []error
	need := func(field, use string, ok map[string]bool) {
		typ, found := m[field]
		switch {
		case !found:
			errs = append(errs, fmt.Errorf("%s field %q is not in the mapping", use, field))
		case ok != nil && !ok[typ]:
			errs = append(errs, fmt.Errorf("%s field %q is a %s", use, field, typ))
		}
	}
	for _, mt := range q.Metrics {
		switch mt.Type {
		case "min", "max":
			// A boolean is 1 or 0 to min and max: "any true" is its max.
			need(mt.Field, mt.Type, minMaxTypes)
		case "avg", "sum":
			need(mt.Field, mt.Type, numericTypes)
		}
	}
	for _, b := range q.Buckets {
		switch b.Type {
		case "terms":
			need(b.Field, "terms", termsTypes)
		case "date_histogram":
			need(b.Field, "date_histogram", dateTypes)
		}
	}
	for _, f := range luceneField.FindAllStringSubmatch(q.Query, -1) {
		need(f[1], "query", nil)
	}
	return errs
}

// sumFields are the only fields a sum may add up: per-tick event counts.
// Lag is a gauge: summing the ticks that fell into one bucket would
// multiply it by the number of ticks.
var sumFields = regexp.MustCompile(`^lagwatch\.collector\.documents_\w+$`)

func TestDashboardConventions(t *testing.T) {
	boards := loadBoards(t)
	dss := loadDatasources(t)
	mappings := templateMappings(t)
	byUID := map[string]*board{}
	for _, b := range boards {
		byUID[deref(b.model.Uid)] = b
	}
	for _, b := range boards {
		t.Run(b.file, func(t *testing.T) {
			m := b.model
			if deref(m.Title) == "" || !slices.Contains(m.Tags, "lagwatch") {
				t.Errorf("want a title and the tag lagwatch (the dashboard links find each other by it)")
			}
			if m.SchemaVersion < 36 || m.SchemaVersion > 41 {
				t.Errorf("schemaVersion %d: want 36 to 41 (Grafana 11 and 12)", m.SchemaVersion)
			}
			for _, err := range variableErrors(b, dss, mappings) {
				t.Error(err)
			}
			for _, err := range layoutErrors(b) {
				t.Error(err)
			}
			for _, p := range b.panels {
				for _, err := range panelErrors(p, dss, mappings, byUID) {
					t.Errorf("panel %q: %v", p.title(), err)
				}
			}
		})
	}
}

// variableErrors: every variable is an Elasticsearch terms query on a
// provisioned data source, refreshed with the time range, referring only to
// variables declared before it; multi-value ones have All as "*".
func variableErrors(b *board, dss map[string]provisionedDS, mappings map[string]mapping) []error {
	var errs []error
	declared := map[string]bool{}
	for _, v := range b.vars {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("variable %s: "+format, append([]any{v.Name}, args...)...))
		}
		if v.Type != dashboard.VariableTypeQuery {
			fail("type %s, want query", v.Type)
			continue
		}
		uid := ""
		if v.Datasource != nil {
			uid = deref(v.Datasource.Uid)
		}
		if _, ok := dss[uid]; !ok || v.Datasource.Type == nil || *v.Datasource.Type != "elasticsearch" {
			fail("data source %q is not a provisioned Elasticsearch data source", uid)
			continue
		}
		if v.Query == nil || v.Query.String == nil {
			fail("query is not a JSON string")
			continue
		}
		vq, err := parseVariableQuery(*v.Query.String)
		if err != nil {
			fail("%v", err)
			continue
		}
		if deref(v.Definition) != *v.Query.String {
			fail("definition differs from the query")
		}
		for _, ref := range variableRefs(vq.Query) {
			if !declared[ref] {
				fail("refers to $%s, which is not declared before it", ref)
			}
		}
		for _, err := range fieldErrors(parsedQuery{Query: vq.Query,
			Buckets: []bucketAgg{{ID: "1", Type: "terms", Field: vq.Field}}}, mappings[uid]) {
			fail("%v", err)
		}
		if deref(v.Refresh) != dashboard.VariableRefreshOnTimeRangeChanged {
			fail("refresh %d, want 2 (on time range change)", deref(v.Refresh))
		}
		if deref(v.Multi) && (!deref(v.IncludeAll) || deref(v.AllValue) != "*") {
			fail(`a multi-value variable has All, with the value "*" (a list of every value grows without bound)`)
		}
		declared[v.Name] = true
	}
	return errs
}

// layoutErrors: panels have unique ids and titles, lie within the 24
// columns and do not overlap.
func layoutErrors(b *board) []error {
	var errs []error
	ids := map[uint32]bool{}
	type rect struct {
		title      string
		x, y, w, h uint32
	}
	var rects []rect
	titles := map[string]bool{}
	for _, p := range b.panels {
		if titles[p.title()] {
			errs = append(errs, fmt.Errorf("two panels titled %q", p.title()))
		}
		titles[p.title()] = true
		if p.Id == nil || ids[*p.Id] {
			errs = append(errs, fmt.Errorf("panel %q: missing or repeated id", p.title()))
		} else {
			ids[*p.Id] = true
		}
		g := p.GridPos
		if g == nil || g.W == 0 || g.H == 0 || g.X+g.W > 24 {
			errs = append(errs, fmt.Errorf("panel %q: gridPos %+v", p.title(), g))
			continue
		}
		r := rect{p.title(), g.X, g.Y, g.W, g.H}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				errs = append(errs, fmt.Errorf("panels %q and %q overlap", r.title, o.title))
			}
		}
		rects = append(rects, r)
	}
	return errs
}

// panelErrors checks one panel: a title and a description, its queries
// (data source, aggregations, fields, variables, aliases), its
// transformations and overrides (every field they name exists in the data
// Grafana makes of the response) and its data links.
func panelErrors(p *boardPanel, dss map[string]provisionedDS, mappings map[string]mapping, boards map[string]*board) []error {
	var errs []error
	if p.title() == "" || deref(p.Description) == "" {
		errs = append(errs, errors.New("needs a title and a description that says what the data is"))
	}
	if len(p.targets) == 0 {
		return append(errs, errors.New("no query"))
	}
	vars := map[string]bool{}
	for _, v := range p.board.vars {
		vars[v.Name] = true
	}
	refIDs := map[string]bool{}
	var aliases []string
	var columns []string // the fields of the response, before transformations
	termsFields := map[string]bool{}
	tables := 0
	for _, pt := range p.targets {
		if pt.err != nil {
			errs = append(errs, fmt.Errorf("query %s: %w", pt.refID, pt.err))
			continue
		}
		if pt.refID == "" || refIDs[pt.refID] {
			errs = append(errs, fmt.Errorf("query refId %q missing or repeated", pt.refID))
		}
		refIDs[pt.refID] = true
		ds, ok := dss[pt.dsUID]
		if !ok || pt.model.Datasource.Type == nil || *pt.model.Datasource.Type != "elasticsearch" {
			errs = append(errs, fmt.Errorf("query %s: data source %q is not provisioned", pt.refID, pt.dsUID))
			continue
		}
		if p.Datasource == nil || deref(p.Datasource.Uid) != pt.dsUID {
			errs = append(errs, fmt.Errorf("query %s: panel data source differs from the query's", pt.refID))
		}
		if deref(pt.model.TimeField) != ds.JSONData.TimeField {
			errs = append(errs, fmt.Errorf("query %s: timeField %q, the data source's is %q", pt.refID, deref(pt.model.TimeField), ds.JSONData.TimeField))
		}
		for _, err := range fieldErrors(pt.q, mappings[pt.dsUID]) {
			errs = append(errs, fmt.Errorf("query %s: %w", pt.refID, err))
		}
		for _, mt := range pt.q.Metrics {
			if mt.Type == "sum" && !sumFields.MatchString(mt.Field) {
				errs = append(errs, fmt.Errorf("query %s: sum of %s: only per-tick event counts may be summed; lag over time is the max per bucket", pt.refID, mt.Field))
			}
		}
		for _, b := range pt.q.Buckets {
			if b.Type == "terms" {
				termsFields[b.Field] = true
			}
		}
		for _, ref := range append(variableRefs(pt.q.Query), variableRefs(pt.alias)...) {
			if !vars[ref] {
				errs = append(errs, fmt.Errorf("query %s refers to $%s, which the dashboard does not declare", pt.refID, ref))
			}
		}
		for _, term := range aliasTerms.FindAllStringSubmatch(pt.alias, -1) {
			if !slices.ContainsFunc(pt.q.Buckets, func(b bucketAgg) bool { return b.Type == "terms" && b.Field == term[1] }) {
				errs = append(errs, fmt.Errorf("query %s: alias names {{term %s}}, which is not a terms aggregation of the query", pt.refID, term[1]))
			}
		}
		if pt.q.timeSeries() {
			aliases = append(aliases, pt.alias)
		} else {
			tables++
			columns = tableColumns(pt.q, mappings[pt.dsUID].fields())
		}
	}
	if tables > 0 && (tables != 1 || len(p.targets) != 1) {
		errs = append(errs, errors.New("a panel showing a table has exactly one query"))
	}
	if len(p.Transformations) > 0 && tables == 0 {
		errs = append(errs, errors.New("transformations are only checked on tables; this panel draws time series"))
	}
	final, terrs := transformColumns(p.Transformations, columns)
	errs = append(errs, terrs...)
	errs = append(errs, overrideErrors(p, final, aliases, refIDs)...)
	errs = append(errs, linkErrors(p, columns, termsFields, boards)...)
	return errs
}

var aliasTerms = regexp.MustCompile(`\{\{term ([^}]+)\}\}`)

// Transformation options, decoded strictly.
type (
	organizeOptions struct {
		ExcludeByName map[string]bool   `json:"excludeByName"`
		IndexByName   map[string]int    `json:"indexByName"`
		RenameByName  map[string]string `json:"renameByName"`
		IncludeByName map[string]bool   `json:"includeByName"`
	}
	sortByOptions struct {
		Fields map[string]any `json:"fields"`
		Sort   []struct {
			Field string `json:"field"`
			Desc  bool   `json:"desc"`
		} `json:"sort"`
	}
	// binaryValue is one side of a binary calculation (Grafana 11 and 12):
	// a field matched by name, or a fixed number.
	binaryValue struct {
		Fixed   *string `json:"fixed"`
		Matcher *struct {
			ID      string `json:"id"`
			Options string `json:"options"`
		} `json:"matcher"`
	}
	calculateFieldOptions struct {
		Mode   string `json:"mode"`
		Alias  string `json:"alias"`
		Binary struct {
			Left     binaryValue `json:"left"`
			Operator string      `json:"operator"`
			Right    binaryValue `json:"right"`
		} `json:"binary"`
		Reduce struct {
			Reducer string `json:"reducer"`
		} `json:"reduce"`
		ReplaceFields bool `json:"replaceFields"`
		TimeSeries    bool `json:"timeSeries"`
	}
	limitOptions struct {
		LimitField int `json:"limitField"`
	}
)

func decodeOptions(v any, into any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

// transformColumns applies the transformations to the names of the fields
// of a table, checking every name they refer to, and returns the names
// shown (after renames).
func transformColumns(ts []dashboard.DataTransformerConfig, cols []string) ([]string, []error) {
	var errs []error
	cols = slices.Clone(cols)
	need := func(id, name string) {
		if !slices.Contains(cols, name) {
			errs = append(errs, fmt.Errorf("transformation %s names field %q; the data has %q", id, name, cols))
		}
	}
	for _, t := range ts {
		switch t.Id {
		case "organize":
			var o organizeOptions
			if err := decodeOptions(t.Options, &o); err != nil {
				errs = append(errs, fmt.Errorf("organize: %w", err))
				continue
			}
			for _, k := range append(append(sortedKeys(o.ExcludeByName), sortedKeys(o.IndexByName)...), sortedKeys(o.RenameByName)...) {
				need("organize", k)
			}
			var next []string
			for _, c := range cols {
				if o.ExcludeByName[c] {
					continue
				}
				if r, ok := o.RenameByName[c]; ok && r != "" {
					c = r
				}
				next = append(next, c)
			}
			cols = next
		case "sortBy":
			var o sortByOptions
			if err := decodeOptions(t.Options, &o); err != nil || len(o.Sort) == 0 {
				errs = append(errs, fmt.Errorf("sortBy: %v", err))
				continue
			}
			for _, s := range o.Sort {
				need("sortBy", s.Field)
			}
		case "calculateField":
			var o calculateFieldOptions
			if err := decodeOptions(t.Options, &o); err != nil || o.Mode != "binary" || o.Alias == "" {
				errs = append(errs, fmt.Errorf("calculateField: want mode binary with an alias (%v)", err))
				continue
			}
			for _, side := range []binaryValue{o.Binary.Left, o.Binary.Right} {
				switch {
				case side.Matcher != nil && side.Matcher.ID == "byName":
					need("calculateField", side.Matcher.Options)
				case side.Fixed != nil:
					if _, err := strconv.ParseFloat(*side.Fixed, 64); err != nil {
						errs = append(errs, fmt.Errorf("calculateField: fixed value %q is not a number", *side.Fixed))
					}
				default:
					errs = append(errs, errors.New("calculateField: each side is a byName matcher or a fixed number"))
				}
			}
			cols = append(cols, o.Alias)
		case "limit":
			var o limitOptions
			if err := decodeOptions(t.Options, &o); err != nil || o.LimitField <= 0 {
				errs = append(errs, fmt.Errorf("limit: want limitField > 0 (%v)", err))
			}
		default:
			errs = append(errs, fmt.Errorf("transformation %s is not one this test can check", t.Id))
		}
	}
	return cols, errs
}

// overrideErrors: an override names a field the panel shows (a table
// column, or a series' alias), a query, or a pattern some alias matches.
func overrideErrors(p *boardPanel, cols, aliases []string, refIDs map[string]bool) []error {
	var errs []error
	if p.FieldConfig == nil {
		return nil
	}
	var series []string
	for _, a := range aliases {
		series = append(series, seriesNames(a)...)
	}
	for _, o := range p.FieldConfig.Overrides {
		opt, _ := o.Matcher.Options.(string)
		switch o.Matcher.Id {
		case "byName":
			if !slices.Contains(cols, opt) && !slices.Contains(series, opt) {
				errs = append(errs, fmt.Errorf("override byName %q: no such field (fields %q, series %q)", opt, cols, series))
			}
		case "byFrameRefID":
			if !refIDs[opt] {
				errs = append(errs, fmt.Errorf("override byFrameRefID %q: no such query", opt))
			}
		case "byRegexp":
			rx, err := regexp.Compile(opt)
			if err != nil {
				errs = append(errs, fmt.Errorf("override byRegexp %q: %w", opt, err))
				continue
			}
			if !slices.ContainsFunc(append(slices.Clone(cols), series...), rx.MatchString) {
				errs = append(errs, fmt.Errorf("override byRegexp %q matches no field or series", opt))
			}
		default:
			errs = append(errs, fmt.Errorf("override matcher %s is not one this test can check", o.Matcher.Id))
		}
	}
	return errs
}

// knownValues are the values of keyword fields that take only a few
// (esindex.TickDoc.Result), so that overrides matching series names by those
// values can be checked.
var knownValues = map[string][]string{"lagwatch.collector.result": {"ok", "spooled", "error"}}

var aliasPart = regexp.MustCompile(`\{\{(?:term )?([^}]+)\}\}`)

// seriesNames are example names of the series an alias makes: each
// {{term field}} filled with each of the field's known values, or "x".
func seriesNames(alias string) []string {
	names := []string{alias}
	for {
		loc := aliasPart.FindStringSubmatchIndex(names[0])
		if loc == nil {
			return names
		}
		vals := knownValues[names[0][loc[2]:loc[3]]]
		if vals == nil {
			vals = []string{"x"}
		}
		var next []string
		for _, n := range names {
			loc := aliasPart.FindStringIndex(n)
			for _, v := range vals {
				next = append(next, n[:loc[0]]+v+n[loc[1]:])
			}
		}
		names = next
	}
}

var (
	dataFieldRef  = regexp.MustCompile(`\$\{__data\.fields\["([^"]+)"\]\}`)
	fieldLabelRef = regexp.MustCompile(`\$\{__field\.labels\["([^"]+)"\]\}`)
	anyLinkVar    = regexp.MustCompile(`\$\{([^}]+)\}`)
	dashboardPath = regexp.MustCompile(`^/d/([^/?]+)(?:/[^?]*)?$`)
)

// linkErrors: a data link goes to a lagwatch dashboard, sets only variables
// that dashboard has, and takes its values from fields or labels the data
// has.
func linkErrors(p *boardPanel, columns []string, termsFields map[string]bool, boards map[string]*board) []error {
	var errs []error
	if p.FieldConfig == nil {
		return nil
	}
	for _, o := range p.FieldConfig.Overrides {
		for _, pr := range o.Properties {
			if pr.Id != "links" {
				continue
			}
			raw, _ := json.Marshal(pr.Value)
			var links []struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(raw, &links); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, l := range links {
				for _, m := range dataFieldRef.FindAllStringSubmatch(l.URL, -1) {
					if !slices.Contains(columns, m[1]) {
						errs = append(errs, fmt.Errorf("link %s: the data has no field %q", l.URL, m[1]))
					}
				}
				for _, m := range fieldLabelRef.FindAllStringSubmatch(l.URL, -1) {
					if !termsFields[m[1]] {
						errs = append(errs, fmt.Errorf("link %s: series have no label %q", l.URL, m[1]))
					}
				}
				plain := anyLinkVar.ReplaceAllString(l.URL, "v")
				u, err := url.Parse(plain)
				if err != nil {
					errs = append(errs, fmt.Errorf("link %s: %w", l.URL, err))
					continue
				}
				m := dashboardPath.FindStringSubmatch(u.Path)
				if m == nil || boards[m[1]] == nil {
					errs = append(errs, fmt.Errorf("link %s: not a lagwatch dashboard", l.URL))
					continue
				}
				target := boards[m[1]]
				for k := range u.Query() {
					name, ok := strings.CutPrefix(k, "var-")
					if !ok {
						continue
					}
					if !slices.ContainsFunc(target.vars, func(v dashboard.VariableModel) bool { return v.Name == name }) {
						errs = append(errs, fmt.Errorf("link %s: dashboard %s has no variable %s", l.URL, m[1], name))
					}
				}
			}
		}
	}
	return errs
}

// ---------------------------------------------------------------- requests

// selection is what a test selects in each variable: nil selects All.
type selection map[string][]string

// variablesFor resolves b's variables for sel.
func variablesFor(b *board, sel selection) map[string]variable {
	out := map[string]variable{}
	for _, v := range b.vars {
		vals, ok := sel[v.Name]
		if !ok || vals == nil {
			out[v.Name] = variable{All: true, AllValue: deref(v.AllValue), Multi: deref(v.Multi)}
			continue
		}
		out[v.Name] = variable{Values: vals, Multi: deref(v.Multi)}
	}
	return out
}

// panelRange is the panel's time range: the dashboard's, or the panel's
// relative override (timeFrom).
func panelRange(p *boardPanel, from, to time.Time) (time.Time, time.Time, error) {
	tf := deref(p.TimeFrom)
	if tf == "" {
		return from, to, nil
	}
	n, err := strconv.Atoi(tf[:len(tf)-1])
	if err != nil {
		return from, to, fmt.Errorf("timeFrom %q", tf)
	}
	switch tf[len(tf)-1] {
	case 'm':
		return to.Add(-time.Duration(n) * time.Minute), to, nil
	case 'h':
		return to.Add(-time.Duration(n) * time.Hour), to, nil
	case 'd':
		return to.AddDate(0, 0, -n), to, nil
	case 'w':
		return to.AddDate(0, 0, -7*n), to, nil
	case 'M':
		return to.AddDate(0, -n, 0), to, nil
	case 'y':
		return to.AddDate(-n, 0, 0), to, nil
	}
	return from, to, fmt.Errorf("timeFrom %q", tf)
}

// requestFor builds Grafana's search for a target, with indexOf mapping a
// data source uid to the index to search.
func requestFor(pt *panelTarget, dss map[string]provisionedDS, indexOf map[string]string, vars map[string]variable, from, to time.Time) (search, error) {
	ds := dss[pt.dsUID]
	from, to, err := panelRange(pt.panel, from, to)
	if err != nil {
		return search{}, err
	}
	q, err := interpolateLucene(pt.q.Query, vars)
	if err != nil {
		return search{}, err
	}
	return buildSearch(pt.q, searchParams{Index: indexOf[pt.dsUID], TimeField: ds.JSONData.TimeField,
		From: from, To: to, Interval: ds.interval(), Query: q})
}

// variableRequest builds the terms request of variable v.
func variableRequest(v dashboard.VariableModel, dss map[string]provisionedDS, indexOf map[string]string, vars map[string]variable, from, to time.Time) (variableQuery, search, error) {
	vq, err := parseVariableQuery(*v.Query.String)
	if err != nil {
		return vq, search{}, err
	}
	q, err := interpolateLucene(vq.Query, vars)
	if err != nil {
		return vq, search{}, err
	}
	uid := deref(v.Datasource.Uid)
	s, err := buildVariableSearch(vq, searchParams{Index: indexOf[uid], TimeField: dss[uid].JSONData.TimeField, From: from, To: to, Query: q})
	return vq, s, err
}

// exampleSelection is what the golden requests select.
var exampleSelection = selection{"cluster": {"prod-eu"}, "group": {"orders-consumer.v2"}, "topic": {"orders", "payments-eu"}}

// TestGrafanaRequestsGolden writes down, per dashboard, the _msearch
// searches Grafana sends for every query and variable of the dashboard over
// a fixed time range, the provisioned indices and exampleSelection. Refresh
// with -update.
func TestGrafanaRequestsGolden(t *testing.T) {
	boards := loadBoards(t)
	dss := loadDatasources(t)
	indexOf := map[string]string{}
	for uid, d := range dss {
		indexOf[uid] = d.JSONData.Index
	}
	to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	from := to.Add(-6 * time.Hour)
	type entry struct {
		Panel    string `json:"panel,omitempty"`
		Variable string `json:"variable,omitempty"`
		RefID    string `json:"refId,omitempty"`
		Header   any    `json:"header"`
		Body     any    `json:"body"`
	}
	for _, b := range boards {
		t.Run(b.file, func(t *testing.T) {
			vars := variablesFor(b, exampleSelection)
			var out []entry
			for _, v := range b.vars {
				_, s, err := variableRequest(v, dss, indexOf, vars, from, to)
				if err != nil {
					t.Fatalf("variable %s: %v", v.Name, err)
				}
				out = append(out, entry{Variable: v.Name, Header: s.Header, Body: s.Body})
			}
			for _, p := range b.panels {
				for _, pt := range p.targets {
					if pt.err != nil {
						t.Fatalf("%s: %v", pt.name(), pt.err)
					}
					s, err := requestFor(pt, dss, indexOf, vars, from, to)
					if err != nil {
						t.Fatalf("%s: %v", pt.name(), err)
					}
					out = append(out, entry{Panel: p.title(), RefID: pt.refID, Header: s.Header, Body: s.Body})
				}
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "requests", b.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("requests differ from %s; if the change is intended, run go test -update and review the diff", golden)
			}
		})
	}
}

// TestGrafanaEmulation pins the pieces of Grafana behaviour the other tests
// rely on.
func TestGrafanaEmulation(t *testing.T) {
	vars := map[string]variable{
		"one":   {Values: []string{"orders-consumer.v2"}},
		"multi": {Values: []string{"a b", "c"}, Multi: true},
		"all":   {All: true, AllValue: "*"},
		"num":   {Values: []string{"42"}},
	}
	cases := []struct {
		name, in, want string
	}{
		{"single value: operators escaped", "g:$one", `g:orders\-consumer.v2`},
		{"multi value: quoted OR list", "g:$multi", `g:("a\ b" OR "c")`},
		{"custom All value: not formatted", "g:$all", "g:*"},
		{"braces form", "g:${one}", `g:orders\-consumer.v2`},
		{"numbers stay as they are", "p:$num", "p:42"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := interpolateLucene(tc.in, vars)
			if err != nil || got != tc.want {
				t.Errorf("interpolateLucene(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := interpolateLucene("$nope", vars); err == nil {
		t.Error("an unknown variable must be an error")
	}

	q := parsedQuery{Metrics: []metricAgg{{ID: "1", Type: "max", Field: "a"}, {ID: "5", Type: "max", Field: "b"}, {ID: "6", Type: "count"}},
		Buckets: []bucketAgg{{ID: "2", Type: "terms", Field: "g"}, {ID: "3", Type: "terms", Field: "@timestamp"}}}
	if got, want := tableColumns(q, nil), []string{"g", "@timestamp", "Max a", "Max b", "Count"}; !slices.Equal(got, want) {
		t.Errorf("tableColumns = %q, want %q (a metric's field is named only when another metric has its type)", got, want)
	}
}

// TestStrictDecodingRejects proves the checks above bite: each mutation of a
// real dashboard must be reported.
func TestStrictDecodingRejects(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("json", "lagwatch-overview.json"))
	if err != nil {
		t.Fatal(err)
	}
	// firstOf returns the first panel of type typ.
	firstOf := func(d map[string]any, typ string) map[string]any {
		for _, p := range d["panels"].([]any) {
			if pm := p.(map[string]any); pm["type"] == typ {
				return pm
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	target := func(d map[string]any) map[string]any {
		return firstOf(d, "timeseries")["targets"].([]any)[0].(map[string]any)
	}
	cases := []struct {
		name   string
		mutate func(d map[string]any)
	}{
		{"unknown dashboard field", func(d map[string]any) { d["refreshh"] = "1m" }},
		{"unknown field in an Elasticsearch query", func(d map[string]any) { target(d)["metricz"] = []any{} }},
		{"unknown bucket aggregation setting", func(d map[string]any) {
			target(d)["bucketAggs"].([]any)[0].(map[string]any)["settings"].(map[string]any)["sizee"] = "5"
		}},
		{"unknown panel option", func(d map[string]any) {
			firstOf(d, "timeseries")["options"].(map[string]any)["legend"].(map[string]any)["bogus"] = true
		}},
		{"unknown field config key", func(d map[string]any) {
			firstOf(d, "timeseries")["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["unitt"] = "s"
		}},
		{"unknown custom key in an override", func(d map[string]any) {
			fc := firstOf(d, "timeseries")["fieldConfig"].(map[string]any)
			fc["overrides"] = append(fc["overrides"].([]any), map[string]any{
				"matcher":    map[string]any{"id": "byFrameRefID", "options": "A"},
				"properties": []any{map[string]any{"id": "custom.lineWidthh", "value": 2}}})
		}},
		{"top_metrics (x-pack analytics)", func(d map[string]any) {
			target(d)["metrics"] = []any{map[string]any{"id": "1", "type": "top_metrics",
				"settings": map[string]any{"order": "desc", "orderBy": "@timestamp", "metrics": []any{"lagwatch.group.total_lag"}}}}
		}},
		{"derivative (pipeline aggregation)", func(d map[string]any) {
			target(d)["metrics"] = append(target(d)["metrics"].([]any),
				map[string]any{"id": "9", "type": "derivative", "field": "1"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			tc.mutate(d)
			mutated, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			b, err := decodeBoard("mutated.json", mutated)
			if err != nil {
				t.Logf("rejected: %.300v", err)
				return
			}
			var found []error
			for _, p := range b.panels {
				found = append(found, fieldConfigErrors(p)...)
				for _, pt := range p.targets {
					if pt.err != nil {
						found = append(found, pt.err)
					}
				}
			}
			if len(found) == 0 {
				t.Error("mutation went unnoticed")
			} else {
				t.Logf("rejected: %.300v", found[0])
			}
		})
	}
}

// annotationSearch is the search Grafana's Elasticsearch data source sends
// for an annotation query (annotationQuery): documents whose start, or end,
// lies in the time range, matching the interpolated Lucene query, up to
// 10,000. The range is gte/lte: Grafana's older frontend wrote from/to,
// which Elasticsearch 9 refuses ("[range] query does not support [from]").
func annotationSearch(a esAnnotation, index string, vars map[string]variable, from, to time.Time) (search, error) {
	q, err := interpolateLucene(a.Target.Query, vars)
	if err != nil {
		return search{}, err
	}
	span := func(field string) map[string]any {
		return map[string]any{"range": map[string]any{field: map[string]any{
			"gte": from.UnixMilli(), "lte": to.UnixMilli(), "format": "epoch_millis"}}}
	}
	ranges := []any{span(a.TimeField)}
	if a.TimeEndField != "" {
		ranges = append(ranges, span(a.TimeEndField))
	}
	filter := []any{map[string]any{"bool": map[string]any{"should": ranges, "minimum_should_match": 1}}}
	if q != "" {
		filter = append(filter, map[string]any{"query_string": map[string]any{"query": q}})
	}
	return search{Header: map[string]any{"search_type": "query_then_fetch", "ignore_unavailable": true, "index": index},
		Body: map[string]any{"query": map[string]any{"bool": map[string]any{"filter": filter}}, "size": 10000}}, nil
}

// annotationErrors checks a board's Elasticsearch annotations: a known data
// source, start and end fields of a date type, text and tags fields and the
// Lucene query's fields in its mapping, and variables the board has.
func annotationErrors(b *board, dss map[string]provisionedDS, mappings map[string]mapping) []error {
	var errs []error
	vars := map[string]bool{}
	for _, v := range b.vars {
		vars[v.Name] = true
	}
	for _, a := range b.annotations {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("annotation %q: "+format, append([]any{a.Name}, args...)...))
		}
		if _, ok := dss[a.Datasource.UID]; !ok {
			fail("data source %q is not provisioned", a.Datasource.UID)
			continue
		}
		m := mappings[a.Datasource.UID]
		for _, f := range []string{a.TimeField, a.TimeEndField} {
			if !dateTypes[m[f]] {
				fail("time field %q is %q in the mapping, want a date", f, m[f])
			}
		}
		for _, f := range []string{a.TextField, a.TagsField} {
			if _, ok := m[f]; !ok {
				fail("field %q is not in the mapping", f)
			}
		}
		for _, f := range luceneField.FindAllStringSubmatch(a.Target.Query, -1) {
			if _, ok := m[f[1]]; !ok {
				fail("query field %q is not in the mapping", f[1])
			}
		}
		for _, v := range variableRefs(a.Target.Query) {
			if !vars[v] {
				fail("query uses $%s, which the dashboard does not have", v)
			}
		}
		if !a.Enable || a.Target.Limit <= 0 {
			fail("enable %v, limit %d: want it on, with a limit", a.Enable, a.Target.Limit)
		}
	}
	return errs
}

// TestAnnotations: the Consumer group dashboard marks the group's incidents
// on its graphs, from the incident log, and every annotation query names
// what the mappings hold.
func TestAnnotations(t *testing.T) {
	dss := loadDatasources(t)
	mappings := templateMappings(t)
	found := false
	for _, b := range loadBoards(t) {
		for _, err := range annotationErrors(b, dss, mappings) {
			t.Errorf("%s: %v", b.file, err)
		}
		for _, a := range b.annotations {
			found = found || (strings.HasSuffix(b.file, "lagwatch-group.json") && a.Datasource.UID == "lagwatch-incident-log")
		}
	}
	if !found {
		t.Error("the Consumer group dashboard has no incident annotations from lagwatch-incident-log")
	}
}
