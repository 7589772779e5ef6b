package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/golden"
)

// TestAlertmanagerBodies pins what each kind of alert posts to
// Alertmanager (testdata/alertmanager-*.json, -update to refresh): open and
// resend fire the status's alert; an update resolves the old status's alert
// and fires the new one; a close resolves the last status's alert. Every
// Alertmanager of the list gets the same body.
func TestAlertmanagerBodies(t *testing.T) {
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != AlertmanagerAPI || r.Method != http.MethodPost {
			t.Errorf("%s %s, want POST %s", r.Method, r.URL.Path, AlertmanagerAPI)
		}
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
	}))
	defer srv.Close()
	am := &Alertmanager{DashboardURL: "http://grafana:3000/", Targets: []*Webhook{
		{Name: "alertmanager", URL: srv.URL + AlertmanagerAPI}, {Name: "alertmanager", URL: srv.URL + AlertmanagerAPI}}}
	opened := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	base := Alert{Cluster: "prod", Group: "billing", OpenedAt: opened, TotalLag: 120, MaxLagTopic: "orders", MaxLagPartition: 2,
		MaxLag: 100, TimeLagSeconds: 754.4}
	for _, tc := range []struct {
		name             string
		kind             Kind
		status, previous string
	}{
		{"open", Open, "WARN", ""},
		{"update", Update, "ERR", "WARN"},
		{"close", Close, "OK", "ERR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bodies = nil
			a := base
			a.Kind, a.Status, a.Previous, a.At = tc.kind, tc.status, tc.previous, opened.Add(10*time.Minute)
			if err := am.Send(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if len(bodies) != 2 || string(bodies[0]) != string(bodies[1]) {
				t.Fatalf("%d bodies, want the same one to each of 2 Alertmanagers", len(bodies))
			}
			var v any
			if err := json.Unmarshal(bodies[0], &v); err != nil {
				t.Fatal(err)
			}
			pretty, _ := json.MarshalIndent(v, "", "  ")
			golden.Check(t, filepath.Join("testdata", "alertmanager-"+tc.name+".json"), append(pretty, '\n'), "the body")
		})
	}
}
