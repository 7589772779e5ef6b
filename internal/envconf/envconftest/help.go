package envconftest

import (
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/envconf"
)

// HelpListsVariables checks that help, a program's --help text, lists every
// variable spec reads under prefix with its default, and that each has a
// description.
func HelpListsVariables(t *testing.T, help, prefix string, spec any) {
	t.Helper()
	vars, err := envconf.Variables(prefix, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		want := "  " + v.Name
		if v.Default != "" {
			want += " (default " + v.Default + ")"
		}
		if !strings.Contains(help, want+"\n") {
			t.Errorf("--help lacks %q", want)
		}
		if v.Desc == "" {
			t.Errorf("%s has no description (a desc tag on its field)", v.Name)
		}
	}
}
