package composetest

import (
	"context"
	"encoding/base64"
	"fmt"
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
