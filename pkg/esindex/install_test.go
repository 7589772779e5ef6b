package esindex

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestInstallTwice installs the templates twice on the real node and reads
// them back; it checks the features the node reports and the warning that
// goes with them.
func TestInstallTwice(t *testing.T) {
	es := testenv.ESClient(t)
	names := testNames(t)
	var f Features
	for i := range 2 {
		var err error
		if f, err = clientOf(t, es, names).Install(ctxT(t), 30*24*time.Hour); err != nil {
			t.Fatalf("Install #%d: %v", i+1, err)
		}
	}
	t.Logf("features: %+v", f)
	if f.Retention != "30d" {
		t.Errorf("Features.Retention = %q, want 30d", f.Retention)
	}
	const notEnforced = "Elasticsearch has no data stream lifecycle: retention of 30d is stored in the templates but not enforced"
	if !f.Lifecycle && !slices.Contains(f.Warnings, notEnforced) {
		t.Errorf("no data stream lifecycle, but the warnings %q lack %q", f.Warnings, notEnforced)
	}
	if f.Lifecycle && slices.Contains(f.Warnings, notEnforced) {
		t.Errorf("the lifecycle runs, yet Warnings say it does not: %q", f.Warnings)
	}

	for _, name := range []string{names.Offsets, names.Groups} {
		var got struct {
			IndexTemplates []struct {
				Name          string
				IndexTemplate struct {
					IndexPatterns []string       `json:"index_patterns"`
					Priority      int            `json:"priority"`
					Version       int            `json:"version"`
					DataStream    map[string]any `json:"data_stream"`
					Meta          map[string]any `json:"_meta"`
					Template      struct {
						Lifecycle struct {
							Enabled       bool   `json:"enabled"`
							DataRetention string `json:"data_retention"`
						} `json:"lifecycle"`
					} `json:"template"`
				} `json:"index_template"`
			} `json:"index_templates"`
		}
		getJSON(t, es, "/_index_template/"+name, &got)
		if len(got.IndexTemplates) != 1 {
			t.Fatalf("GET _index_template/%s: %d templates", name, len(got.IndexTemplates))
		}
		it := got.IndexTemplates[0].IndexTemplate
		switch {
		case !slices.Equal(it.IndexPatterns, []string{name}):
			t.Errorf("%s: index_patterns %v, want exactly the data stream name", name, it.IndexPatterns)
		case it.Priority != 200 || it.Version != TemplateVersion || it.DataStream == nil:
			t.Errorf("%s: priority %d, version %d, data_stream %v", name, it.Priority, it.Version, it.DataStream)
		case it.Meta["managed_by"] != "lagwatch" || it.Meta["version"] != float64(TemplateVersion):
			t.Errorf("%s: _meta %v", name, it.Meta)
		case it.Template.Lifecycle.DataRetention != "30d" || !it.Template.Lifecycle.Enabled:
			t.Errorf("%s: lifecycle %+v, want enabled with 30d", name, it.Template.Lifecycle)
		}
	}
}

func TestInstallRefusesBadRetention(t *testing.T) {
	es := testenv.ESClient(t)
	names := testNames(t)
	if _, err := clientOf(t, es, names).Install(ctxT(t), 90*time.Minute); err == nil || !strings.Contains(err.Error(), "whole number of hours") {
		t.Errorf("Install with 90m = %v, want a whole-hours error", err)
	}
}

// TestMappingsOnTheNode writes a snapshot and reads the mappings the data
// streams got from the templates, then checks that a document with an
// unknown field is refused.
func TestMappingsOnTheNode(t *testing.T) {
	names, es := installed(t)
	w := newWriter(t, es, names, WriterOptions{SpoolDir: t.TempDir()})
	if r, err := w.Write(ctxT(t), tickSnapshot(0, 2, 12)); err != nil || r.Indexed != r.Docs {
		t.Fatalf("Write: %+v, %v", r, err)
	}

	want := map[string]map[string]string{
		names.Offsets: {
			"@timestamp":                           "date",
			"kafka.cluster.name":                   "keyword",
			"kafka.cluster.id":                     "keyword",
			"kafka.consumergroup.id":               "keyword",
			"kafka.consumergroup.type":             "keyword",
			"kafka.consumergroup.state":            "keyword",
			"kafka.consumergroup.offset":           "long",
			"kafka.consumergroup.consumer_lag":     "long",
			"kafka.consumergroup.client.id":        "keyword",
			"kafka.consumergroup.client.host":      "keyword",
			"kafka.consumergroup.client.member_id": "keyword",
			"kafka.topic.name":                     "keyword",
			"kafka.partition.id":                   "integer",
			"kafka.partition.offset.newest":        "long",
			"kafka.partition.offset.oldest":        "long",
			"kafka.partition.offset.stable":        "long",
			"lagwatch.readable_lag":                "long",
			"lagwatch.lag_clamped":                 "boolean",
			"lagwatch.below_log_start":             "boolean",
			"lagwatch.error":                       "keyword",
		},
		names.Groups: {
			"@timestamp":                        "date",
			"kafka.cluster.name":                "keyword",
			"kafka.consumergroup.id":            "keyword",
			"kafka.consumergroup.type":          "keyword",
			"kafka.consumergroup.state":         "keyword",
			"kafka.consumergroup.protocol_type": "keyword",
			"lagwatch.group.members":            "integer",
			"lagwatch.group.partitions":         "integer",
			"lagwatch.group.topics":             "keyword",
			"lagwatch.group.total_lag":          "long",
			"lagwatch.group.total_readable_lag": "long",
			"lagwatch.group.max_lag":            "long",
			"lagwatch.group.max_lag_topic":      "keyword",
			"lagwatch.group.max_lag_partition":  "integer",
			"lagwatch.group.below_log_start":    "integer",
			"lagwatch.error":                    "keyword",
		},
	}
	for stream, fields := range want {
		var got map[string]struct {
			Mappings map[string]any `json:"mappings"`
		}
		getJSON(t, es, "/"+stream+"/_mapping", &got)
		if len(got) != 1 {
			t.Fatalf("%s: mappings of %d backing indices, want 1", stream, len(got))
		}
		for backing, m := range got {
			if !strings.HasPrefix(backing, ".ds-"+stream+"-") {
				t.Errorf("%s is backed by %s, not a data stream backing index", stream, backing)
			}
			if m.Mappings["dynamic"] != "strict" {
				t.Errorf("%s: dynamic = %v, want strict", stream, m.Mappings["dynamic"])
			}
			leaves := map[string]string{}
			collectLeaves(m.Mappings, "", leaves)
			for path, typ := range fields {
				if leaves[path] != typ {
					t.Errorf("%s: %s mapped as %q, want %q", stream, path, leaves[path], typ)
				}
			}
			for path, typ := range leaves {
				if typ == "text" {
					t.Errorf("%s: %s is a text field", stream, path)
				}
				if _, ok := fields[path]; !ok && path != "kafka.cluster.id" {
					t.Errorf("%s: unexpected field %s (%s)", stream, path, typ)
				}
			}
		}
	}

	// Storage: both streams are LogsDB indices sorted by series, then time,
	// with synthetic _source; the offsets document's partition is doc values
	// only (docs/BENCHMARKS.md says what each of these saves).
	wantSort := map[string][]string{
		names.Offsets: {"kafka.cluster.name", "kafka.consumergroup.id", "kafka.topic.name", "kafka.partition.id", "@timestamp"},
		names.Groups:  {"kafka.cluster.name", "kafka.consumergroup.id", "@timestamp"},
	}
	for stream, sortFields := range wantSort {
		var got map[string]struct {
			Settings struct {
				Index struct {
					Mode string `json:"mode"`
					Sort struct {
						Field []string `json:"field"`
					} `json:"sort"`
					Mapping struct {
						Source struct {
							Mode string `json:"mode"`
						} `json:"source"`
					} `json:"mapping"`
				} `json:"index"`
			} `json:"settings"`
		}
		getJSON(t, es, "/"+stream+"/_settings", &got)
		for backing, s := range got {
			ix := s.Settings.Index
			if ix.Mode != "logsdb" || !slices.Equal(ix.Sort.Field, sortFields) || !strings.EqualFold(ix.Mapping.Source.Mode, "synthetic") {
				t.Errorf("%s: mode %q, sort %v, source %q; want logsdb, %v, synthetic", backing, ix.Mode, ix.Sort.Field, ix.Mapping.Source.Mode, sortFields)
			}
		}
	}
	var pm map[string]struct {
		Mappings map[string]struct {
			Mapping map[string]struct {
				Index *bool `json:"index"`
			} `json:"mapping"`
		} `json:"mappings"`
	}
	getJSON(t, es, "/"+names.Offsets+"/_mapping/field/kafka.partition.id", &pm)
	for backing, m := range pm {
		f := m.Mappings["kafka.partition.id"].Mapping["id"]
		if f.Index == nil || *f.Index {
			t.Errorf("%s: kafka.partition.id index = %v, want false (doc values only)", backing, f.Index)
		}
	}

	// Strict: an unknown field is refused, not added.
	body := `{"@timestamp":"2026-03-01T12:00:00.000Z","kafka":{"cluster":{"name":"x"}},"surprise":1}`
	res, err := es.Index(names.Offsets, strings.NewReader(body), es.Index.WithOpType("create"), es.Index.WithContext(ctxT(t)))
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	defer res.Body.Close()
	var e struct {
		Error struct{ Type string } `json:"error"`
	}
	decodeAny(res.Body, &e)
	if res.StatusCode != 400 || e.Error.Type != "strict_dynamic_mapping_exception" {
		t.Errorf("a document with an unknown field: HTTP %d %q, want 400 strict_dynamic_mapping_exception", res.StatusCode, e.Error.Type)
	}
}

// collectLeaves maps each dotted field path of a mapping to its type.
func collectLeaves(m map[string]any, prefix string, out map[string]string) {
	props, _ := m["properties"].(map[string]any)
	for name, v := range props {
		sub, _ := v.(map[string]any)
		path := prefix + name
		if typ, ok := sub["type"].(string); ok {
			out[path] = typ
			continue
		}
		collectLeaves(sub, path+".", out)
	}
}

// TestInstallAddsNewFieldsToExistingStreams: a data stream made by an older
// template, whose strict mapping lacks fields added since, gets them when
// the templates are installed again, so that the newer documents are not
// rejected until it rolls over.
func TestInstallAddsNewFieldsToExistingStreams(t *testing.T) {
	es := testenv.ESClient(t)
	names := testNames(t)
	c := clientOf(t, es, names)
	if _, err := c.Install(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	tmpls, err := templates(names, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Then the collector template as version 7 had it: without the
	// refusal fields.
	var old map[string]any
	for _, tm := range tmpls {
		if tm.Name == names.Ticks {
			if err := json.Unmarshal(tm.Body, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	fields := old["template"].(map[string]any)["mappings"].(map[string]any)["properties"].(map[string]any)["lagwatch"].(map[string]any)["properties"].(map[string]any)["collector"].(map[string]any)["properties"].(map[string]any)
	delete(fields, "documents_refused")
	delete(fields, "write_refusal")
	body, _ := json.Marshal(old)
	res, err := es.Indices.PutIndexTemplate(names.Ticks, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	testenv.MustOK(t, res.StatusCode, res.Body, "put the version 7 template")

	w := newWriter(t, es, names, WriterOptions{SpoolDir: t.TempDir()})
	// The offsets and groups data streams too (LogsDB indices).
	if r, err := w.Write(ctxT(t), tickSnapshot(0, 1, 2)); err != nil || r.Indexed != r.Docs {
		t.Fatalf("Write: %+v, %v", r, err)
	}
	tick := TickDoc{Time: tick0, Cluster: "c", Result: "ok"}
	if r, err := w.WriteTick(ctxT(t), tick); err != nil || r.Indexed != 1 {
		t.Fatalf("tick without refusals on the old mapping: %+v, %v", r, err)
	}
	tick.Time, tick.Result, tick.Refused, tick.Refusal = tick0.Add(time.Second), "spooled", 3, "cluster_block_exception: blocked"
	if r, _ := w.WriteTick(ctxT(t), tick); r.Failed != 1 || !strings.Contains(r.Problems[0].Reason, "strict_dynamic_mapping_exception") {
		t.Fatalf("a tick with the new fields on the old mapping: %+v; want it rejected (or the test proves nothing)", r)
	}
	f, err := c.Install(ctxT(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range f.Warnings {
		if strings.Contains(w, "mapping") {
			t.Errorf("warning %q", w)
		}
	}
	tick.Time = tick0.Add(2 * time.Second)
	if r, err := w.WriteTick(ctxT(t), tick); err != nil || r.Indexed != 1 {
		t.Fatalf("a tick with the new fields once installed again: %+v, %v; want it stored", r, err)
	}
}
