package envconf

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// WriteVariables writes the variables spec reads under prefix (Variables),
// one block each: the name with its default, then its description wrapped
// to the width of a terminal. It is what --help shows, from the same
// structs that are read and that the documentation is checked against.
func WriteVariables(w io.Writer, prefix string, spec any) error {
	vars, err := Variables(prefix, spec)
	if err != nil {
		return err
	}
	for _, v := range vars {
		head := "  " + v.Name
		if v.Default != "" {
			head += " (default " + v.Default + ")"
		}
		fmt.Fprintln(w, head)
		for _, line := range wrap(v.Desc, 72) {
			fmt.Fprintln(w, "      "+line)
		}
	}
	return nil
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// Version is the program's version line: its module version and the VCS
// revision and time it was built from, as the Go toolchain recorded them
// (`go build` in a git checkout records them; `go run` does not).
func Version(program string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	out := fmt.Sprintf("%s %s %s", program, info.Main.Path, version)
	if rev != "" {
		out += ", revision " + rev
		if at != "" {
			out += " (" + at + ")"
		}
		if dirty {
			out += ", with uncommitted changes"
		}
	}
	return out + ", " + info.GoVersion
}
