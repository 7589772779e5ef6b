package esindex

import (
	"strings"
	"testing"
)

func TestNewNames(t *testing.T) {
	tests := []struct {
		name, ns string
		wantErr  string // substring; "" means valid
	}{
		{"plain lower case is Elastic's example", "default", ""},
		{"digits, dots and underscores are allowed", "prod_eu.1", ""},
		{"100 bytes is the limit, inclusive", strings.Repeat("a", 100), ""},
		{"empty has nothing to name", "", "empty"},
		{"101 bytes is too long", strings.Repeat("a", 101), "101 bytes"},
		{"a hyphen would split the name's parts", "prod-eu", `"-"`},
		{"upper case is refused by Elasticsearch", "Prod", "lower case"},
		{"a space is refused", "prod eu", "space"},
		{"a backslash is refused", `prod\eu`, `'\\'`},
		{"a slash is refused", "prod/eu", `'/'`},
		{"an asterisk is refused", "prod*", `'*'`},
		{"a question mark is refused", "prod?", `'?'`},
		{"a double quote is refused", `prod"`, `'"'`},
		{"a less-than is refused", "prod<", `'<'`},
		{"a greater-than is refused", "prod>", `'>'`},
		{"a pipe is refused", "prod|", `'|'`},
		{"a comma is refused", "prod,eu", `','`},
		{"a hash is refused", "prod#", `'#'`},
		{"a colon is refused since 7.0", "prod:eu", `':'`},
		{"invalid UTF-8 is refused", "prod\xff", "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNames(tc.ns)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewNames(%q): %v", tc.ns, err)
				}
				want := Names{Namespace: tc.ns, Offsets: "metrics-lagwatch.offsets-" + tc.ns,
					Groups: "metrics-lagwatch.groups-" + tc.ns, Status: "metrics-lagwatch.status-" + tc.ns, Incidents: "lagwatch-incidents-" + tc.ns, Ticks: "metrics-lagwatch.collector-" + tc.ns,
					IncidentLog: "lagwatch-incident-log-" + tc.ns}
				if n != want {
					t.Errorf("got %+v, want %+v", n, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewNames(%q) = %v, want an error containing %s", tc.ns, err, tc.wantErr)
			}
		})
	}
}
