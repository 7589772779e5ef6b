package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// TestSecuredElasticsearch runs `evaluator --once` against the test node that
// has security on: it works with the elastic user, its password and the CA,
// and fails, without showing the password, when the password is wrong.
func TestSecuredElasticsearch(t *testing.T) {
	url, password, ca := testenv.SecureElasticsearch(t)
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"right password", password, true},
		{"wrong password", "not-" + password, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ELASTICSEARCH_URL", url)
			t.Setenv("ELASTICSEARCH_USERNAME", "elastic")
			t.Setenv("ELASTICSEARCH_PASSWORD", tc.password)
			t.Setenv("ELASTICSEARCH_CA_FILE", ca)
			t.Setenv("ELASTICSEARCH_NAMESPACE", strings.ReplaceAll(testenv.Name(t, "evalauth"), "-", ""))
			t.Setenv("EVALUATOR_METRICS_ADDR", "")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stderr bytes.Buffer
			err := run(ctx, []string{"--once"}, io.Discard, &stderr)
			if strings.Contains(stderr.String(), tc.password) {
				t.Errorf("the password shows in the output:\n%s", stderr.String())
			}
			if (err == nil) != tc.ok {
				t.Fatalf("evaluator --once: %v, want success %v\n%s", err, tc.ok, stderr.String())
			}
		})
	}
}
