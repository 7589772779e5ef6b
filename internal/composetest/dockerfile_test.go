package composetest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// The Dockerfile is read by a small parser that knows the instructions this
// repository uses; it is a check of this one file, not of Dockerfiles at
// large.

type dfInstr struct {
	cmd   string            // upper case: FROM, COPY, RUN, ...
	flags map[string]string // --from=build -> from: build
	args  []string          // a JSON array's items, or the words
}

type dfStage struct {
	name, base string // base: the image or earlier stage it starts from
	instrs     []dfInstr
}

type dockerfile struct {
	path   string
	args   map[string]string // ARG defaults before the first FROM
	stages []dfStage
}

func parseDockerfile(t *testing.T, file string) *dockerfile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("the Dockerfile: %v", err)
	}
	defer f.Close()
	df := &dockerfile{path: file, args: map[string]string{}}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`) + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		cmd, rest, _ := strings.Cut(l, " ")
		in := dfInstr{cmd: strings.ToUpper(cmd), flags: map[string]string{}}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			if err := json.Unmarshal([]byte(rest), &in.args); err != nil {
				t.Fatalf("%s: %s: %v", file, l, err)
			}
		} else {
			for _, w := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(strings.TrimPrefix(w, "--"), "="); strings.HasPrefix(w, "--") && ok && len(in.args) == 0 {
					in.flags[k] = v
					continue
				}
				in.args = append(in.args, w)
			}
		}
		switch {
		case in.cmd == "FROM":
			st := dfStage{base: df.expand(in.args[0])}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "AS") {
				st.name = in.args[2]
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args[0], "=")
			df.args[k] = v
		case len(df.stages) == 0:
			t.Fatalf("%s: %s before the first FROM", file, in.cmd)
		default:
			st := &df.stages[len(df.stages)-1]
			st.instrs = append(st.instrs, in)
		}
	}
	return df
}

// expand replaces ${NAME} and $NAME with the global ARG defaults.
func (df *dockerfile) expand(s string) string {
	return os.Expand(s, func(k string) string { return df.args[k] })
}

func (df *dockerfile) stage(name string) (dfStage, bool) {
	i := slices.IndexFunc(df.stages, func(s dfStage) bool { return s.name == name })
	if i < 0 {
		return dfStage{}, false
	}
	return df.stages[i], true
}

// chain is st and the stages it is built on, st first.
func (df *dockerfile) chain(st dfStage) []dfStage {
	out := []dfStage{st}
	for {
		b, ok := df.stage(st.base)
		if !ok {
			return out
		}
		out, st = append(out, b), b
	}
}

// last is the last instruction cmd in st or, failing that, in its bases.
func (df *dockerfile) last(st dfStage, cmd string) (dfInstr, bool) {
	for _, s := range df.chain(st) {
		for i := len(s.instrs) - 1; i >= 0; i-- {
			if s.instrs[i].cmd == cmd {
				return s.instrs[i], true
			}
		}
	}
	return dfInstr{}, false
}

func (df *dockerfile) entrypoint(st dfStage) []string {
	in, _ := df.last(st, "ENTRYPOINT")
	return in.args
}

// volumes are st's VOLUME paths whose folder is copied in with an owner, so
// that a volume mounted there starts out writable by that owner.
func (df *dockerfile) volumes(st dfStage) []string {
	var vols []string
	for _, s := range df.chain(st) {
		for _, in := range s.instrs {
			if in.cmd != "VOLUME" {
				continue
			}
			for _, v := range in.args {
				if slices.ContainsFunc(s.instrs, func(c dfInstr) bool {
					return c.cmd == "COPY" && c.flags["chown"] != "" && len(c.args) > 1 && path.Clean(c.args[len(c.args)-1]) == path.Clean(v)
				}) {
					vols = append(vols, v)
				}
			}
		}
	}
	return vols
}

// TestDockerfile checks the Dockerfile without building it: stages and
// COPY --from refer to earlier stages, the programs built are the
// repository's commands, each program target starts its program on
// distroless as a non-root user, the Go version fits go.mod, and the build
// context holds every file the build needs.
func TestDockerfile(t *testing.T) {
	root := testenv.RepoRoot(t)
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))

	var built []string // program names the build stage writes to its -o folder
	seen := map[string]bool{}
	for _, st := range df.stages {
		if strings.Contains(st.base, "$") {
			t.Errorf("stage %s: base image %q has a variable without a default ARG", st.name, st.base)
		}
		for _, in := range st.instrs {
			switch in.cmd {
			case "COPY":
				if from := in.flags["from"]; from != "" && !seen[from] {
					t.Errorf("stage %s: COPY --from=%s does not name an earlier stage", st.name, from)
				}
			case "RUN":
				run := strings.Join(in.args, " ")
				if !strings.Contains(run, "go build") {
					continue
				}
				for _, w := range in.args {
					if !strings.HasPrefix(w, "./cmd/") {
						continue
					}
					if !isMainPackage(t, filepath.Join(root, w)) {
						t.Errorf("stage %s builds %s, which is not a main package of the repository", st.name, w)
					}
					built = append(built, path.Base(w))
				}
			}
		}
		seen[st.name] = true
	}

	for _, prog := range programs {
		if !slices.Contains(built, prog) {
			t.Errorf("the Dockerfile does not build ./cmd/%s", prog)
		}
		st, ok := df.stage(prog)
		if !ok {
			t.Errorf("no stage %q: each program has its own build target", prog)
			continue
		}
		chain := df.chain(st)
		if base := chain[len(chain)-1].base; base != "gcr.io/distroless/static-debian12:nonroot" {
			t.Errorf("target %s runs on %s, want gcr.io/distroless/static-debian12:nonroot", prog, base)
		}
		if u, ok := df.last(st, "USER"); !ok || !slices.Contains([]string{"nonroot", "nonroot:nonroot", "65532", "65532:65532"}, strings.Join(u.args, " ")) {
			t.Errorf("target %s: USER %v, want nonroot", prog, u.args)
		}
		ep := df.entrypoint(st)
		if len(ep) == 0 || path.Base(ep[0]) != prog {
			t.Errorf("target %s: ENTRYPOINT %v, want its program", prog, ep)
			continue
		}
		// The entrypoint is a binary the stage copies from the build.
		if !slices.ContainsFunc(st.instrs, func(in dfInstr) bool {
			return in.cmd == "COPY" && in.flags["from"] != "" && len(in.args) == 2 &&
				path.Base(in.args[0]) == prog && in.args[1] == ep[0]
		}) {
			t.Errorf("target %s: nothing copies the built %s to %s", prog, prog, ep[0])
		}
	}

	checkGoVersion(t, root, df)
	checkContext(t, root, df)
}

// isMainPackage reports whether dir holds a Go main package.
func isMainPackage(t *testing.T, dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return regexp.MustCompile(`(?m)^package main\b`).Match(b)
	}
	return false
}

// checkGoVersion: the builder image's Go is at least go.mod's. The official
// golang images run with GOTOOLCHAIN=local, so an older Go fails the build
// instead of fetching a newer one.
func checkGoVersion(t *testing.T, root string, df *dockerfile) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?\s*$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	var builder string
	for _, st := range df.stages {
		if strings.HasPrefix(st.base, "golang:") {
			builder = st.base
		}
	}
	v := regexp.MustCompile(`^golang:(\d+)\.(\d+)(?:\.(\d+))?(-.*)?$`).FindStringSubmatch(builder)
	switch {
	case v == nil:
		t.Errorf("builder image %q is not golang:<version>", builder)
	case v[1] != m[1] || v[2] != m[2]:
		t.Errorf("builder image %s, go.mod says go %s.%s", builder, m[1], m[2])
	case v[3] != "" && atoiOr(v[3], 0) < atoiOr(m[3], 0):
		t.Errorf("builder image %s is older than go.mod's go %s.%s.%s", builder, m[1], m[2], m[3])
	}
}

// checkContext: what the build stage copies from the context exists and
// passes .dockerignore, and so does every file of the repository's packages
// the programs are built from.
func checkContext(t *testing.T, root string, df *dockerfile) {
	t.Helper()
	ig := readDockerignore(t, filepath.Join(root, ".dockerignore"))
	var copied []string
	for _, st := range df.stages {
		for _, in := range st.instrs {
			if in.cmd != "COPY" || in.flags["from"] != "" {
				continue
			}
			for _, src := range in.args[:len(in.args)-1] {
				src = path.Clean(src)
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("the Dockerfile copies %s: %v", src, err)
				}
				if ig.excluded(src) {
					t.Errorf("the Dockerfile copies %s, which .dockerignore leaves out", src)
				}
				copied = append(copied, src)
			}
		}
	}

	args := []string{"list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`}
	for _, prog := range programs {
		args = append(args, "./cmd/"+prog)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		n++
		if ig.excluded(rel) {
			t.Errorf("the build needs %s, which .dockerignore leaves out", rel)
		}
		if !slices.ContainsFunc(copied, func(c string) bool { return rel == c || strings.HasPrefix(rel, c+"/") }) {
			t.Errorf("the build needs %s, which the Dockerfile does not copy", rel)
		}
	}
	if n == 0 {
		t.Error("go list found no files of the programs")
	}
}

// dockerignore holds .dockerignore's patterns; the last that matches a path
// or one of its parent folders decides, as in Docker.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(t *testing.T, file string) dockerignore {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var ig dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		p := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(l, "!")), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		re.WriteString("$")
		ig = append(ig, struct {
			re     *regexp.Regexp
			negate bool
		}{regexp.MustCompile(re.String()), neg})
	}
	return ig
}

func (ig dockerignore) excluded(rel string) bool {
	parts := strings.Split(rel, "/")
	out := false
	for _, p := range ig {
		for i := 1; i <= len(parts); i++ {
			if p.re.MatchString(strings.Join(parts[:i], "/")) {
				out = !p.negate
				break
			}
		}
	}
	return out
}

func TestDockerignoreMatcher(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".dockerignore")
	if err := os.WriteFile(file, []byte("*\n!cmd\n**/testdata\n**/*_test.go\n!keep/**/x.go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ig := readDockerignore(t, file)
	cases := []struct {
		path     string
		excluded bool
		reason   string
	}{
		{"README.md", true, "* leaves out everything"},
		{".git/HEAD", true, "folders too"},
		{"cmd/collector/main.go", false, "!cmd takes the folder back"},
		{"cmd/collector/main_test.go", true, "a later pattern wins"},
		{"cmd/x/testdata/a.json", true, "** matches any depth"},
		{"keep/a/b/x.go", false, "** inside a pattern"},
	}
	for _, tc := range cases {
		if got := ig.excluded(tc.path); got != tc.excluded {
			t.Errorf("%s: excluded(%s) = %v", tc.reason, tc.path, got)
		}
	}
}
