package composetest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/lagwatch/lagwatch/internal/testenv"
)

// composeFile is the file under test, at the top of the repository.
const composeFile = "docker-compose.yml"

// Services of docker-compose.yml and the program each lagwatch one runs.
var programs = map[string]string{"collector": "collector", "evaluator": "evaluator", "demo": "demoload"}

// loadProject loads docker-compose.yml as `docker compose up` would in a
// shell with none of its variables set, so that what is checked is what the
// file gives by itself. compose-go validates the file against the compose
// schema and checks that the services, volumes and networks named exist.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	root := testenv.RepoRoot(t)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, composeFile)}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("lagwatch", true) })
	if err != nil {
		t.Fatalf("load %s: %v", composeFile, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return s
}

// environment is a service's environment as its container gets it. A
// variable listed without a value (taken from the shell) is left out: with
// an empty shell it is not set.
func environment(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// listenPorts are the container ports on which a service accepts
// connections, from its own configuration where it has one.
func listenPorts(t *testing.T, s types.ServiceConfig) []int {
	t.Helper()
	env := environment(s)
	portOf := func(addr string) int {
		_, p, err := net.SplitHostPort(addr)
		n, err2 := strconv.Atoi(p)
		if err != nil || err2 != nil {
			t.Fatalf("service %s: listen address %q has no port", s.Name, addr)
		}
		return n
	}
	switch s.Name {
	case "kafka":
		var ports []int
		for _, l := range kafkaListeners(t, env["KAFKA_LISTENERS"]) {
			ports = append(ports, portOf(l.addr))
		}
		return ports
	case "elasticsearch":
		return []int{atoiOr(env["http.port"], 9200)}
	case "grafana":
		return []int{atoiOr(env["GF_SERVER_HTTP_PORT"], 3000)}
	case "collector":
		return []int{portOf(or(env["COLLECTOR_METRICS_ADDR"], ":9308"))}
	case "evaluator":
		return []int{portOf(or(env["EVALUATOR_METRICS_ADDR"], ":9309"))}
	}
	return nil
}

type listener struct{ name, addr string }

// kafkaListeners parses a Kafka listener list, "NAME://host:port,...".
func kafkaListeners(t *testing.T, s string) []listener {
	t.Helper()
	var ls []listener
	for _, f := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(f), "://")
		if !ok {
			t.Fatalf("kafka listener %q is not NAME://host:port", f)
		}
		ls = append(ls, listener{name, addr})
	}
	return ls
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// varRefRE finds ${NAME...} references and bareRefRE $NAME ones, once $$
// (an escaped dollar) is removed.
var (
	varRefRE  = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}`)
	bareRefRE = regexp.MustCompile(`\$[A-Za-z_][A-Za-z0-9_]*`)
)

// TestComposeLoads: the file loads and validates, and every variable it
// takes from the shell has a default, so that `docker compose up` needs no
// .env file.
func TestComposeLoads(t *testing.T) {
	p := loadProject(t)
	want := []string{"collector", "demo", "elasticsearch", "evaluator", "grafana", "kafka"}
	if got := p.ServiceNames(); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), composeFile))
	if err != nil {
		t.Fatal(err)
	}
	// YAML comments are not interpolated.
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if i := strings.Index(l, "#"); i >= 0 && (strings.TrimSpace(l[:i]) == "" || strings.HasSuffix(l[:i], " ")) {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	text := strings.ReplaceAll(strings.Join(lines, "\n"), "$$", "")
	for _, m := range varRefRE.FindAllStringSubmatch(text, -1) {
		if !strings.HasPrefix(m[2], ":-") && !strings.HasPrefix(m[2], "-") {
			t.Errorf("%s: ${%s%s} has no default (write ${%s:-value})", composeFile, m[1], m[2], m[1])
		}
	}
	if m := bareRefRE.FindString(varRefRE.ReplaceAllString(text, "")); m != "" {
		t.Errorf("%s: %s has no default (write ${%s:-value}, or $$ for a dollar)", composeFile, m, m[1:])
	}
}
