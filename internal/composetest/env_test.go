package composetest

import (
	"bufio"
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

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/lagwatch/lagwatch/internal/envconf"
	"github.com/lagwatch/lagwatch/internal/testenv"
)

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
