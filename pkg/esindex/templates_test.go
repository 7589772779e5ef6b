package esindex

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/golden"
)

// TestTemplatesGolden compares the template bodies Install sends with
// testdata/*.template.json. Refresh them with `go test -run Golden -update`.
func TestTemplatesGolden(t *testing.T) {
	names, err := NewNames("default")
	if err != nil {
		t.Fatal(err)
	}
	tmpls, err := templates(names, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	eval, err := evaluatorTemplates(names, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tmpls = append(tmpls, eval...)
	files := map[string]string{names.Offsets: "offsets.template.json", names.Groups: "groups.template.json",
		names.Status: "status.template.json", names.Incidents: "incidents.template.json", names.Ticks: "collector.template.json",
		names.IncidentLog: "incident-log.template.json"}
	if len(tmpls) != len(files) {
		t.Fatalf("%d templates, want %d", len(tmpls), len(files))
	}
	for _, tm := range tmpls {
		golden.Check(t, filepath.Join("testdata", files[tm.Name]), tm.Body, "template "+tm.Name)
	}
}

func TestTemplatesRetention(t *testing.T) {
	names, _ := NewNames("default")
	for _, tc := range []struct {
		name      string
		retention time.Duration
		want      string // the lifecycle object
	}{
		{"no retention: lifecycle enabled for rollover only", 0, `"lifecycle": {
      "enabled": true
    }`},
		{"36 hours in hours", 36 * time.Hour, `"data_retention": "36h"`},
		{"seven days in days", 7 * 24 * time.Hour, `"data_retention": "7d"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpls, err := templates(names, tc.retention)
			if err != nil {
				t.Fatal(err)
			}
			for _, tm := range tmpls {
				if !strings.Contains(string(tm.Body), tc.want) {
					t.Errorf("%s lacks %s:\n%s", tm.Name, tc.want, tm.Body)
				}
			}
		})
	}
}

func TestFormatRetention(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       time.Duration
		want    string
		wantErr bool
	}{
		{"zero keeps forever", 0, "", false},
		{"whole days", 30 * 24 * time.Hour, "30d", false},
		{"hours that are not whole days", 25 * time.Hour, "25h", false},
		{"one hour", time.Hour, "1h", false},
		{"minutes are refused", 90 * time.Minute, "", true},
		{"negative is refused", -time.Hour, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := formatRetention(tc.d)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("formatRetention(%s) = %q, %v; want %q, error %v", tc.d, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestClassifyProbe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   presence
	}{
		{"200 means the API answered", 200, `{}`, present},
		{"404 index_not_found: the handler exists, the data stream not yet", 404, `{"error":{"type":"index_not_found_exception"}}`, present},
		{"400 no handler: the module is missing (integ-test node)", 400, `{"error":"no handler found for uri [/_data_stream/x/_lifecycle] and method [GET]"}`, absent},
		{"405: only another method is routed there (integ-test node)", 405, `{"error":"Incorrect HTTP method"}`, absent},
		{"plain 404: nothing there", 404, ``, absent},
		{"403 says nothing about the API", 403, `{"error":{"type":"security_exception"}}`, unknown},
		{"401 says nothing about the API", 401, ``, unknown},
		{"another 400 says nothing", 400, `{"error":{"type":"illegal_argument_exception"}}`, unknown},
		{"5xx says nothing", 503, ``, unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyProbe(tc.status, tc.body); got != tc.want {
				t.Errorf("classifyProbe(%d, %s) = %v, want %v", tc.status, tc.body, got, tc.want)
			}
		})
	}
}
