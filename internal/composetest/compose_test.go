package composetest

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/lagwatch/lagwatch/internal/envconf"
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
		return []int{portOf(or(env["EVALUATOR_METRICS_ADDR"], ":9309")), portOf(or(env["EVALUATOR_HTTP_ADDR"], ":8000"))}
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

// TestComposeImages: the lagwatch services build from the Dockerfile at the
// top of the repository, each from the target of its own program; the
// others run pinned releases of the images the project supports.
func TestComposeImages(t *testing.T) {
	p := loadProject(t)
	root := testenv.RepoRoot(t)
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	for svc, prog := range programs {
		s := service(t, p, svc)
		b := s.Build
		if b == nil {
			t.Errorf("service %s has no build section", svc)
			continue
		}
		if b.Context != root || filepath.Join(b.Context, or(b.Dockerfile, "Dockerfile")) != filepath.Join(root, "Dockerfile") {
			t.Errorf("service %s builds %s from %s, want the Dockerfile at the top of the repository", svc, b.Dockerfile, b.Context)
		}
		st, ok := df.stage(b.Target)
		if !ok {
			t.Errorf("service %s builds target %q, which is not a stage of the Dockerfile", svc, b.Target)
			continue
		}
		if ep := df.entrypoint(st); len(ep) == 0 || filepath.Base(ep[0]) != prog {
			t.Errorf("service %s: target %s starts %v, want the %s", svc, b.Target, ep, prog)
		}
		if len(s.Entrypoint) > 0 {
			t.Errorf("service %s overrides the image's entrypoint with %v", svc, s.Entrypoint)
		}
	}
	pinned := map[string]*regexp.Regexp{
		"kafka":         regexp.MustCompile(`^apache/kafka:4\.[1-9]\d*\.\d+$`),
		"elasticsearch": regexp.MustCompile(`^docker\.elastic\.co/elasticsearch/elasticsearch:8\.19\.\d+$`),
		"grafana":       regexp.MustCompile(`^grafana/grafana(-oss)?:1[12]\.\d+\.\d+$`),
	}
	for svc, re := range pinned {
		if img := service(t, p, svc).Image; !re.MatchString(img) {
			t.Errorf("service %s runs image %q, want one matching %s", svc, img, re)
		}
	}

	// The broker's cluster id must be a Kafka UUID: 16 bytes, base64url.
	if id := environment(service(t, p, "kafka"))["CLUSTER_ID"]; id != "" {
		if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 16 {
			t.Errorf("kafka CLUSTER_ID %q is not 16 bytes in unpadded base64url", id)
		}
	} else {
		t.Error("kafka: CLUSTER_ID is required by the image in KRaft mode")
	}
}

// TestComposePorts: published ports do not collide, Grafana and
// Elasticsearch are where the demo says, and every published port is one
// the service listens on.
func TestComposePorts(t *testing.T) {
	p := loadProject(t)
	taken := map[string]string{}
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		listens := listenPorts(t, s)
		for _, pc := range s.Ports {
			if pc.Published == "" {
				t.Errorf("service %s: port %d is published on a random host port", name, pc.Target)
				continue
			}
			key := fmt.Sprintf("%s/%s", pc.Published, or(pc.Protocol, "tcp"))
			if other, ok := taken[key]; ok {
				t.Errorf("host port %s is published by both %s and %s", key, other, name)
			}
			taken[key] = name
			if !slices.Contains(listens, int(pc.Target)) {
				t.Errorf("service %s publishes container port %d, but listens on %v", name, pc.Target, listens)
			}
		}
	}
	for svc, port := range map[string]string{"grafana": "3000", "elasticsearch": "9200"} {
		if taken[port+"/tcp"] != svc {
			t.Errorf("host port %s: published by %q, want %s", port, taken[port+"/tcp"], svc)
		}
	}
}

// TestComposeVolumes: bind-mounted folders exist in the repository, named
// volumes are declared, Grafana gets the agreed folders, and the
// collector's spool is a volume at the directory it is told to use.
func TestComposeVolumes(t *testing.T) {
	p := loadProject(t)
	root := testenv.RepoRoot(t)
	for _, name := range p.ServiceNames() {
		for _, v := range service(t, p, name).Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				rel, err := filepath.Rel(root, v.Source)
				if err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("service %s mounts %s, outside the repository", name, v.Source)
					continue
				}
				if fi, err := os.Stat(v.Source); err != nil || !fi.IsDir() {
					t.Errorf("service %s mounts ./%s at %s, but ./%s is not a folder of the repository (yet): %v",
						name, filepath.ToSlash(rel), v.Target, filepath.ToSlash(rel), err)
				}
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("service %s mounts volume %q, which is not declared", name, v.Source)
				}
			}
		}
	}

	g := service(t, p, "grafana")
	for src, target := range map[string]string{
		"dashboards/provisioning": "/etc/grafana/provisioning",
		"dashboards/json":         "/var/lib/grafana/dashboards",
	} {
		if !slices.ContainsFunc(g.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeBind && v.Source == filepath.Join(root, src) && v.Target == target
		}) {
			t.Errorf("grafana: ./%s is not mounted at %s", src, target)
		}
	}
	checkProvisioning(t, p, root)

	c := service(t, p, "collector")
	spool := environment(c)["COLLECTOR_SPOOL_DIR"]
	if !slices.ContainsFunc(c.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == spool
	}) {
		t.Errorf("collector: COLLECTOR_SPOOL_DIR %q is not a named volume, so the spool would not outlive the container", spool)
	}
	df := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if st, ok := df.stage(c.Build.Target); !ok || !slices.Contains(df.volumes(st), spool) {
		t.Errorf("collector: the image does not prepare %s as a volume its user can write (VOLUME and a chown'd folder)", spool)
	}
}

var provisionedRE = regexp.MustCompile(`(?m)^\s*(path|url|index):\s*['"]?([^'"\s#]+)`)

// checkProvisioning reads the Grafana provisioning files, when they exist,
// for what must agree with docker-compose.yml: a dashboard provider's path
// lies in the mounted dashboards folder, and a data source's URL is a
// service of the file (directly or through a variable of Grafana's
// environment), and its index is in the namespace the collector writes.
func checkProvisioning(t *testing.T, p *types.Project, root string) {
	t.Helper()
	g := service(t, p, "grafana")
	env := environment(g)
	namespace := or(environment(service(t, p, "collector"))["ELASTICSEARCH_NAMESPACE"], "default")
	for _, kind := range []string{"dashboards", "datasources"} {
		files, _ := filepath.Glob(filepath.Join(root, "dashboards", "provisioning", kind, "*.y*ml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := filepath.Rel(root, file)
			for _, m := range provisionedRE.FindAllStringSubmatch(string(b), -1) {
				key, val := m[1], m[2]
				if strings.HasPrefix(val, "$") {
					// Grafana expands $NAME and ${NAME} from its environment.
					name := strings.Trim(val, "${}")
					v, ok := env[name]
					if !ok {
						t.Errorf("%s: %s %s is not set in grafana's environment", f, key, val)
						continue
					}
					val = v
				}
				switch {
				case key == "index":
					if !strings.HasSuffix(val, "-"+namespace) {
						t.Errorf("%s: index %s is not of the namespace %q the collector writes", f, val, namespace)
					}
				case kind == "dashboards" && key == "path":
					if val != "/var/lib/grafana/dashboards" && !strings.HasPrefix(val, "/var/lib/grafana/dashboards/") {
						t.Errorf("%s: dashboards path %s is outside /var/lib/grafana/dashboards, where ./dashboards/json is mounted", f, val)
					}
				case kind == "datasources" && key == "url":
					checkURL(t, p, "grafana", "data source url", val)
				}
			}
		}
	}
}

// TestComposeStartOrder: who waits for whom, and that every service waited
// for as healthy has a health check.
func TestComposeStartOrder(t *testing.T) {
	p := loadProject(t)
	want := map[string]map[string]string{
		"collector": {"kafka": types.ServiceConditionHealthy, "elasticsearch": types.ServiceConditionHealthy},
		"evaluator": {"elasticsearch": types.ServiceConditionHealthy},
		"grafana":   {"elasticsearch": types.ServiceConditionHealthy},
		"demo":      {"kafka": types.ServiceConditionHealthy},
	}
	for svc, deps := range want {
		s := service(t, p, svc)
		for dep, cond := range deps {
			if got := s.DependsOn[dep].Condition; got != cond {
				t.Errorf("service %s waits for %s with condition %q, want %q", svc, dep, got, cond)
			}
		}
	}
	for _, name := range p.ServiceNames() {
		for dep, d := range service(t, p, name).DependsOn {
			ds := service(t, p, dep)
			switch d.Condition {
			case types.ServiceConditionHealthy:
				hc := ds.HealthCheck
				if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
					t.Errorf("service %s waits for %s to be healthy, but %s has no health check", name, dep, dep)
					continue
				}
				// The check must probe a port the service listens on.
				cmd := strings.Join(hc.Test[1:], " ")
				if !slices.ContainsFunc(listenPorts(t, ds), func(port int) bool {
					return strings.Contains(cmd, ":"+strconv.Itoa(port))
				}) {
					t.Errorf("service %s: health check %q probes none of its ports %v", dep, cmd, listenPorts(t, ds))
				}
			case types.ServiceConditionCompletedSuccessfully:
				if ds.Restart != "" && ds.Restart != types.RestartPolicyNo {
					t.Errorf("service %s waits for %s to complete, but %s restarts (%s)", name, dep, dep, ds.Restart)
				}
			}
		}
	}
}

// docVar is one row of a variable table in docs/configuration.md.
type docVar struct {
	name string
	// def is the default; hasDefault is false for "—".
	def        string
	hasDefault bool
	// required: the meaning says "Required." or "Required unless"; unless names the variable
	// whose presence lifts the requirement ("Required unless `X` is set").
	required bool
	unless   string
}

var (
	docRowRE    = regexp.MustCompile("^\\|\\s*`([A-Z][A-Z0-9_]*)`\\s*\\|\\s*([^|]*?)\\s*\\|(.*)\\|\\s*$")
	docUnlessRE = regexp.MustCompile("Required unless `([A-Z][A-Z0-9_]*)` is set")
	// "Required when ..." is a rule between variables, not a requirement.
	docRequiredRE = regexp.MustCompile(`\bRequired(\.|\s+unless\b)`)
)

// docVars reads the variable tables of docs/configuration.md, the list
// that cmd/collector and cmd/evaluator test against their own envconfig
// structs. Tables under "# Configuring the collector" belong to the
// collector, those under "# Configuring the evaluator" to the evaluator;
// a collector section whose heading says "shared with the evaluator"
// belongs to both.
func docVars(t *testing.T) map[string]map[string]docVar {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(t), "docs", "configuration.md")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the variables' reference: %v", err)
	}
	defer f.Close()
	vars := map[string]map[string]docVar{"collector": {}, "evaluator": {}}
	var owners []string
	fenced := false // inside a ``` block, where "# " is not a heading
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		switch {
		case fenced:
			continue
		case strings.HasPrefix(line, "# "):
			owners = nil
			for p := range vars {
				if strings.Contains(line, "the "+p) {
					owners = []string{p}
				}
			}
		case strings.HasPrefix(line, "## ") && len(owners) > 0:
			owners = owners[:1]
			if owners[0] == "collector" && strings.Contains(line, "shared with the evaluator") {
				owners = append(owners, "evaluator")
			}
		}
		m := docRowRE.FindStringSubmatch(line)
		if m == nil || len(owners) == 0 {
			continue
		}
		v := docVar{name: m[1], def: strings.Trim(m[2], "`"), hasDefault: m[2] != "—"}
		v.required = docRequiredRE.MatchString(m[3])
		if u := docUnlessRE.FindStringSubmatch(m[3]); u != nil {
			v.unless = u[1]
		}
		if !v.hasDefault {
			v.def = ""
		}
		for _, o := range owners {
			vars[o][v.name] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for p, vs := range vars {
		if len(vs) < 10 {
			t.Fatalf("%s: found only %d variables of the %s; has the table layout changed?", path, len(vs), p)
		}
	}
	return vars
}

// TestComposeSetsEveryVariable: for the collector and the evaluator, every
// variable set is one the program reads (a misspelt name would silently be
// ignored), every required one is set, and both use the same Elasticsearch
// namespace.
func TestComposeSetsEveryVariable(t *testing.T) {
	p := loadProject(t)
	docs := docVars(t)
	effective := map[string]map[string]string{}
	for _, prog := range []string{"collector", "evaluator"} {
		env := environment(service(t, p, prog))
		eff := map[string]string{}
		for name, v := range docs[prog] {
			eff[name] = v.def
			val, set := env[name]
			if set && strings.TrimSpace(val) != "" {
				eff[name] = val
			}
			if v.required && eff[name] == "" && (v.unless == "" || env[v.unless] == "") {
				t.Errorf("service %s: %s is required and has no default; set it", prog, name)
			}
		}
		for name := range env {
			if _, ok := docs[prog][name]; !ok {
				t.Errorf("service %s sets %s, which the %s does not read (see docs/configuration.md)", prog, name, prog)
			}
		}
		effective[prog] = eff
	}
	for _, name := range []string{envconf.ESVars.URL, envconf.ESVars.Namespace} {
		if c, e := effective["collector"][name], effective["evaluator"][name]; c != e {
			t.Errorf("%s: collector %q, evaluator %q; the evaluator reads what the collector writes", name, c, e)
		}
	}
}

// TestComposeValues checks the values set for the programs in their own
// terms where that is cheap: schedules and durations parse, addresses name
// a service of the file on a port it listens on, and the evaluator's window
// fills within the five minutes the demo promises.
func TestComposeValues(t *testing.T) {
	p := loadProject(t)
	docs := docVars(t)
	for _, prog := range []string{"collector", "evaluator"} {
		env := environment(service(t, p, prog))
		get := func(name string) string { return or(env[name], docs[prog][name].def) }
		for name := range docs[prog] {
			val := get(name)
			switch {
			case val == "":
			case strings.HasSuffix(name, "_SCHEDULE"):
				if err := envconf.CheckSchedule(val); err != nil {
					t.Errorf("service %s: %s %q: %v", prog, name, val, err)
				}
			case strings.HasSuffix(name, "_TIMEOUT") || strings.HasSuffix(name, "_MAX_AGE") || strings.HasSuffix(name, "_LOOKBACK"):
				if d, err := time.ParseDuration(val); err != nil || d <= 0 {
					t.Errorf("service %s: %s %q is not a positive duration", prog, name, val)
				}
			case name == envconf.ESVars.URL:
				for _, u := range envconf.SplitList(val) {
					checkURL(t, p, prog, name, u)
				}
			case name == "KAFKA_BROKERS":
				for _, b := range envconf.SplitList(val) {
					checkBroker(t, p, prog, name, b)
				}
			case strings.HasSuffix(name, "_ADDR"):
				if err := envconf.CheckListenAddr(val); err != nil {
					t.Errorf("service %s: %s %q %v", prog, name, val, err)
				}
			}
		}
	}
	checkBroker(t, p, "demo", "KAFKA_BROKERS", environment(service(t, p, "demo"))["KAFKA_BROKERS"])

	// The window: EVALUATOR_WINDOW_SIZE observations, one per collector
	// tick, must fit in EVALUATOR_MAX_AGE and fill within five minutes.
	col, ev := environment(service(t, p, "collector")), environment(service(t, p, "evaluator"))
	every := everyOf(t, or(col["COLLECTOR_SCHEDULE"], docs["collector"]["COLLECTOR_SCHEDULE"].def))
	size, err := strconv.Atoi(or(ev["EVALUATOR_WINDOW_SIZE"], docs["evaluator"]["EVALUATOR_WINDOW_SIZE"].def))
	if err != nil {
		t.Fatalf("EVALUATOR_WINDOW_SIZE: %v", err)
	}
	maxAge, err := time.ParseDuration(or(ev["EVALUATOR_MAX_AGE"], docs["evaluator"]["EVALUATOR_MAX_AGE"].def))
	if err != nil {
		t.Fatalf("EVALUATOR_MAX_AGE: %v", err)
	}
	fill := time.Duration(size) * every
	if fill > maxAge {
		t.Errorf("a window of %d ticks every %v spans %v, longer than EVALUATOR_MAX_AGE %v: it never fills", size, every, fill, maxAge)
	}
	if fill > 5*time.Minute {
		t.Errorf("a window of %d ticks every %v takes %v to fill; the demo promises verdicts within about five minutes", size, every, fill)
	}
}

// everyOf is the interval of an "@every D" schedule.
func everyOf(t *testing.T, spec string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every")))
	if !strings.HasPrefix(spec, "@every") || err != nil {
		t.Fatalf("COLLECTOR_SCHEDULE %q: the demo's schedule should be @every <duration>", spec)
	}
	return d
}

// checkURL: u names a service of the file, on a port it listens on.
func checkURL(t *testing.T, p *types.Project, prog, name, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		t.Errorf("service %s: %s %q is not a URL", prog, name, u)
		return
	}
	port := pu.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[pu.Scheme]
	}
	checkAddr(t, p, prog, name, net.JoinHostPort(pu.Hostname(), port))
}

// checkBroker: b is a Kafka listener of a service of the file, and one that
// advertises that same host, so that the clients, which connect to the
// advertised address after the first request, reach it from their network.
func checkBroker(t *testing.T, p *types.Project, prog, name, b string) {
	t.Helper()
	if !checkAddr(t, p, prog, name, b) {
		return
	}
	host, port, _ := net.SplitHostPort(b)
	s := service(t, p, host)
	advertised := environment(s)["KAFKA_ADVERTISED_LISTENERS"]
	for _, l := range kafkaListeners(t, advertised) {
		if _, ap, _ := net.SplitHostPort(l.addr); ap == port {
			if ah, _, _ := net.SplitHostPort(l.addr); ah != host {
				t.Errorf("service %s: %s %s: the broker advertises %s on that port, which the %s container cannot reach", prog, name, b, l.addr, prog)
			}
			return
		}
	}
	t.Errorf("service %s: %s %s: no advertised listener on port %s (KAFKA_ADVERTISED_LISTENERS %q)", prog, name, b, port, advertised)
}

// checkAddr: host:port names a service of the file and a port it listens on.
func checkAddr(t *testing.T, p *types.Project, prog, name, addr string) bool {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(port)
	if err != nil || err2 != nil {
		t.Errorf("service %s: %s %q is not host:port", prog, name, addr)
		return false
	}
	s, err := p.GetService(host)
	if err != nil {
		t.Errorf("service %s: %s names %q, which is not a service of %s", prog, name, host, composeFile)
		return false
	}
	if ports := listenPorts(t, s); !slices.Contains(ports, n) {
		t.Errorf("service %s: %s names port %d of %s, which listens on %v", prog, name, n, host, ports)
		return false
	}
	return true
}
