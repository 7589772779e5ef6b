package telegraf

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/influxdata/telegraf/plugins/common/tls"
	"github.com/influxdata/telegraf/plugins/inputs/burrow"
	"github.com/influxdata/telegraf/testutil"
	"github.com/lagwatch/lagwatch/internal/testenv"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
)

// TestTelegrafClosedAPI: Telegraf's inputs.burrow reads a closed
// `evaluator serve` (HTTPS with client certificates, a user and password)
// with its own settings, tls_ca, tls_cert, tls_key, username and password,
// and gets every group; without the password it gets none.
func TestTelegrafClosedAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "telegrafclosed")
	seed(ctx, t, h.Writer, time.Now().UTC().Truncate(time.Second).Add(-ticks*interval))
	if err := h.Client.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	pki := testenv.WritePKI(t)
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(buildEvaluator(t), "serve")
	cmd.Env = append(os.Environ(), "ELASTICSEARCH_URL="+testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE="+h.Namespace,
		"EVALUATOR_WINDOW_SIZE="+strconv.Itoa(window), "EVALUATOR_METRICS_ADDR=", "LOG_FORMAT=json", "EVALUATOR_HTTP_ADDR="+addr,
		"EVALUATOR_HTTP_TLS_CERT_FILE="+pki.ServerCert, "EVALUATOR_HTTP_TLS_KEY_FILE="+pki.ServerKey,
		"EVALUATOR_HTTP_TLS_CLIENT_CA_FILE="+pki.CAFile, "EVALUATOR_HTTP_USERNAME=telegraf", "EVALUATOR_HTTP_PASSWORD=tg-pass")
	proc := testenv.StartProcess(t, cmd)
	proc.WaitFor(t, `"msg":"evaluator serving"`, 30*time.Second)

	gather := func(password string) *testutil.Accumulator {
		t.Helper()
		plugin := &burrow.Burrow{Servers: []string{"https://" + addr}, Username: "telegraf", Password: password,
			ClientConfig: tls.ClientConfig{TLSCA: pki.CAFile, TLSCert: pki.ClientCert, TLSKey: pki.ClientKey}}
		var acc testutil.Accumulator
		if err := plugin.Gather(&acc); err != nil {
			t.Fatalf("gather: %v", err)
		}
		return &acc
	}
	// The present window is read within seconds of the start: gather until
	// every group is there.
	var acc *testutil.Accumulator
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		acc = gather("tg-pass")
		groups := points(t, acc, "burrow_group", "cluster", "group")
		if len(acc.Errors) == 0 && len(groups) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Telegraf got %d groups and errors %v within 30 s, want g-ok, g-stop and g-warn", len(groups), acc.Errors)
		}
	}
	groups := points(t, acc, "burrow_group", "cluster", "group")
	for _, g := range []string{"tg/g-ok", "tg/g-stop", "tg/g-warn"} {
		if groups[g] == nil {
			t.Errorf("no burrow_group point for %s", g)
		}
	}
	if topics := points(t, acc, "burrow_topic", "cluster", "topic", "partition"); len(topics) != 3 {
		t.Errorf("%d burrow_topic points, want orders/0, orders/1 and payments/0", len(topics))
	}

	refused := gather("wrong")
	if len(refused.Errors) == 0 || slices.ContainsFunc(refused.Metrics, func(m *testutil.Metric) bool { return m.Measurement == "burrow_group" }) {
		t.Errorf("with a wrong password: errors %v, %d points; want errors and no group", refused.Errors, len(refused.Metrics))
	}
}
