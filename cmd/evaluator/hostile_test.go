package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// hostileIDs are group ids Kafka accepts that break a careless client: the
// characters a URL path, a query, JSON or a shell treat specially, and
// lengths past Elasticsearch's default keyword limit. Each is used after a
// unique prefix.
var hostileIDs = []struct{ name, suffix string }{
	{"slash", "odd/slash"},
	{"space", "a space"},
	{"percent-encoded slash", "%2F"},
	{"unicode", "ユニコード-łódź"},
	{"double quote", `dq"uote`},
	{"backslash", `back\slash`},
	{"query and fragment", "?q=1#f"},
	{"dots", "/../.."},
	{"300 characters", strings.Repeat("x", 300)},
	{"5,000 characters", strings.Repeat("y", 5000)},
}

// TestHostileGroupIDs takes groups with every hostile id through the real
// collector, an evaluator run that opens an incident and alerts a webhook
// for each, the incident log, `status` and the Burrow API; a group id
// longer than lagwatch stores is refused at collection and counted.
func TestHostileGroupIDs(t *testing.T) {
	brokers, esURL, prefix, ns := endToEnd(t, "hostile")
	t.Cleanup(func() {
		es := testenv.ESClient(t)
		if res, err := es.Indices.Delete([]string{"lagwatch-incidents-" + ns, "lagwatch-incident-log-" + ns},
			es.Indices.Delete.WithIgnoreUnavailable(true)); err == nil {
			res.Body.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	topic := testenv.CreateTopic(t, prefix, 1)
	testenv.Produce(t, topic, 0, 10)
	var groups []string
	for _, h := range hostileIDs {
		g := prefix + "-" + h.suffix
		groups = append(groups, g)
		testenv.Commit(t, g, topic, map[int]int64{0: 4}) // stopped 6 behind: ERR
	}
	tooLong := prefix + "-" + strings.Repeat("z", snapshot.MaxGroupIDLength)
	testenv.Commit(t, tooLong, topic, map[int]int64{0: 4})

	bin := testenv.BuildProgram(t, "../collector")
	spool := t.TempDir()
	for i := range 3 {
		next := time.Now().Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(next))
		cmd := exec.CommandContext(ctx, bin, "--once")
		cmd.Env = append(os.Environ(), "KAFKA_BROKERS="+strings.Join(brokers, ","), "ELASTICSEARCH_URL="+esURL,
			"ELASTICSEARCH_NAMESPACE="+ns, "KAFKA_GROUP_ALLOW=^"+prefix+"-", "COLLECTOR_SPOOL_DIR="+spool,
			"COLLECTOR_METRICS_ADDR=", "LOG_FORMAT=json")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("collector tick %d: %v\n%s", i, err, out)
		}
		if !strings.Contains(string(out), `"msg":"groups left out: their id is longer than lagwatch stores"`) ||
			!strings.Contains(string(out), `"refused":1`) {
			t.Errorf("collector tick %d did not say it left out the group with a %d-character id:\n%s", i, len(tooLong), out)
		}
	}

	h := newHook(t)
	t.Setenv("ELASTICSEARCH_URL", esURL)
	t.Setenv("ELASTICSEARCH_NAMESPACE", ns)
	t.Setenv("EVALUATOR_WEBHOOK_URL", h.srv.URL)
	t.Setenv("EVALUATOR_WEBHOOK_RETRIES", "0")
	t.Setenv("EVALUATOR_METRICS_ADDR", "")
	t.Setenv("EVALUATOR_HTTP_ADDR", "")
	statuses := map[string]string{}
	for g, s := range evaluateOnce(ctx, t, ns) {
		statuses[g] = s.Lagwatch.Status.Status
	}
	alerted := map[string]string{}
	h.mu.Lock()
	for _, a := range h.alerts {
		g, _ := a["group"].(string)
		alerted[g] += a["kind"].(string) + ":" + a["status"].(string)
	}
	h.mu.Unlock()
	type logged struct {
		Kafka struct {
			Consumergroup struct {
				ID string `json:"id"`
			} `json:"consumergroup"`
		} `json:"kafka"`
	}
	inLog := map[string]bool{}
	for _, d := range testenv.SearchAll[logged](t, "lagwatch-incident-log-"+ns) {
		inLog[d.Kafka.Consumergroup.ID] = true
	}
	for i, hc := range hostileIDs {
		g := groups[i]
		if statuses[g] != "ERR" {
			t.Errorf("%s: status %q, want ERR", hc.name, statuses[g])
		}
		if alerted[g] != "open:ERR" {
			t.Errorf("%s: alerts %q, want one open:ERR", hc.name, alerted[g])
		}
		if !inLog[g] {
			t.Errorf("%s: no incident log document", hc.name)
		}
	}
	if _, ok := statuses[tooLong]; ok {
		t.Errorf("the group with a %d-character id was judged; it should have been left out", len(tooLong))
	}

	// `status --group` and the Burrow API name each group exactly.
	addr := testenv.FreeAddr(t)
	t.Setenv("EVALUATOR_HTTP_ADDR", addr)
	base := serveInProcess(ctx, t, addr)
	waitHealthy(t, base+"/burrow/admin/ready")
	var consumers struct {
		Consumers []string `json:"consumers"`
	}
	getJSON(t, base+"/v3/kafka/default/consumer", 200, &consumers)
	for i, hc := range hostileIDs {
		g := groups[i]
		if !slices.Contains(consumers.Consumers, g) {
			t.Errorf("%s: not in the API's consumer list", hc.name)
		}
		var body struct {
			Status struct {
				Group, Status string
			} `json:"status"`
		}
		getJSON(t, base+"/v3/kafka/default/consumer/"+url.PathEscape(g)+"/status", 200, &body)
		if body.Status.Group != g || body.Status.Status != "ERR" {
			t.Errorf("%s: API status of group %.40q is %.40q %s", hc.name, g, body.Status.Group, body.Status.Status)
		}
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"status", "--json", "--group", g}, &out, &errOut); err != nil {
			t.Errorf("%s: status --group: %v\n%s", hc.name, err, errOut.String())
			continue
		}
		var st struct {
			Status struct {
				Group, Status string
			} `json:"status"`
		}
		if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Status.Group != g || st.Status.Status != "ERR" {
			t.Errorf("%s: status --group printed %.200s (%v)", hc.name, out.String(), err)
		}
	}
}
