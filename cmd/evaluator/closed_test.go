package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/internal/testenv"
)

// closedClient is an HTTPS client of the test PKI: with the client
// certificate when cert is true.
func closedClient(t *testing.T, pki testenv.PKI, cert bool) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: pki.CAPool, MinVersion: tls.VersionTLS12}
	if cert {
		pair, err := tls.LoadX509KeyPair(pki.ClientCert, pki.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxConnsPerHost: 0}}
}

// answer is one response, or the error that took its place.
type answer struct {
	code   int
	header http.Header
	body   string
	err    error
}

// fetch GETs url with c, setting auth as the Authorization header when not
// empty.
func fetch(c *http.Client, url, auth string) answer {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{code: res.StatusCode, header: res.Header, body: string(b), err: err}
}

// burrowError decodes Burrow's error body.
func burrowError(t *testing.T, a answer) (isError bool, message string) {
	t.Helper()
	var body struct {
		Error   bool   `json:"error"`
		Message string `json:"message"`
		Request struct {
			URL string `json:"url"`
		} `json:"request"`
	}
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Request.URL == "" {
		t.Errorf("not Burrow's error body (%v): %.300s", err, a.body)
	}
	return body.Error, body.Message
}

// TestServeClosedAPI runs `evaluator serve` with mutual TLS and a token on
// the API, basic authentication on /metrics, a bound of 3 requests in
// flight, and Elasticsearch behind a proxy that counts and holds searches.
// It checks who gets in, then a table of hostile requests: made-up names
// in a loop (no search for them), instants outside the history, names too
// long, and more requests at once than the bound.
func TestServeClosedAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns, ticks := apiHistory(ctx, t, "closed")
	now := time.Now().UTC().Truncate(time.Second)

	const token, scrapeUser, scrapePass, inFlight = "api-t0ken", "prometheus", "scrape-pw", 3
	pki := testenv.WritePKI(t)
	counter := testenv.CountES(t)
	httpAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	for k, v := range map[string]string{
		"ELASTICSEARCH_URL": counter.URL(), "ELASTICSEARCH_NAMESPACE": ns,
		"EVALUATOR_HTTP_ADDR": httpAddr, "EVALUATOR_METRICS_ADDR": metricsAddr,
		"EVALUATOR_HTTP_TLS_CERT_FILE": pki.ServerCert, "EVALUATOR_HTTP_TLS_KEY_FILE": pki.ServerKey,
		"EVALUATOR_HTTP_TLS_CLIENT_CA_FILE": pki.CAFile, "EVALUATOR_HTTP_BEARER_TOKEN": token,
		"EVALUATOR_METRICS_USERNAME": scrapeUser, "EVALUATOR_METRICS_PASSWORD": scrapePass,
		"EVALUATOR_HTTP_MAX_IN_FLIGHT": fmt.Sprint(inFlight), "LOG_FORMAT": "json",
	} {
		t.Setenv(k, v)
	}
	srvCtx, stop := context.WithCancel(ctx)
	var logs testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(srvCtx, []string{"serve"}, io.Discard, &logs) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
		for _, secret := range []string{token, scrapePass} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log shows a secret: %s", logs.String())
			}
		}
	})

	withCert, withoutCert := closedClient(t, pki, true), closedClient(t, pki, false)
	base := "https://" + httpAddr
	bearer := "Bearer " + token
	deadline := time.Now().Add(30 * time.Second)
	for a := fetch(withCert, base+"/burrow/admin/ready", ""); a.code != 200; a = fetch(withCert, base+"/burrow/admin/ready", "") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30 s: %d %v %s\n%s", a.code, a.err, a.body, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	basic := func(user, pass string) string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	scrape := basic(scrapeUser, scrapePass)

	t.Run("who gets in", func(t *testing.T) {
		plain := &http.Client{Timeout: 10 * time.Second}
		cases := []struct {
			name   string
			client *http.Client
			url    string
			auth   string
			code   int // 0: the connection fails
			reason string
		}{
			{"no client certificate", withoutCert, base + "/v3/kafka", bearer, 0, "mutual TLS: the handshake fails"},
			{"no client certificate, health", withoutCert, base + "/healthz", "", 0, "probes go through TLS too"},
			{"certificate, no token", withCert, base + "/v3/kafka", "", 401, "the token is asked for as well"},
			{"certificate, wrong token", withCert, base + "/v3/kafka", "Bearer api-t0keN", 401, "one character off"},
			{"certificate, metrics credentials on the API", withCert, base + "/v3/kafka", scrape, 401, "each has its own"},
			{"certificate and token", withCert, base + "/v3/kafka", bearer, 200, "in"},
			{"health without token", withCert, base + "/healthz", "", 200, "probes carry no credentials"},
			{"Burrow's health check without token", withCert, base + "/burrow/admin", "", 200, "load balancers carry none"},
			{"metrics with the API token", withCert, base + "/metrics", bearer, 401, "/metrics has its own credentials"},
			{"metrics with its credentials", withCert, base + "/metrics", scrape, 200, "in"},
			{"metrics listener without credentials", plain, "http://" + metricsAddr + "/metrics", "", 401, "closed on its own listener too"},
			{"metrics listener, wrong password", plain, "http://" + metricsAddr + "/metrics", basic(scrapeUser, "nope"), 401, "refused"},
			{"metrics listener with credentials", plain, "http://" + metricsAddr + "/metrics", scrape, 200, "in"},
			{"metrics listener health", plain, "http://" + metricsAddr + "/healthz", "", 200, "open for probes"},
			{"plain HTTP to the TLS port", plain, "http://" + httpAddr + "/v3/kafka", bearer, 400, "Go's answer to HTTP on an HTTPS port, never the API"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := fetch(tc.client, tc.url, tc.auth)
				switch {
				case tc.code == 0 && a.err == nil:
					t.Fatalf("%d %q, want a failed connection: %s", a.code, a.body, tc.reason)
				case tc.code == 0:
					return
				case a.err != nil || a.code != tc.code:
					t.Fatalf("%d %v, want %d: %s; %.300s", a.code, a.err, tc.code, tc.reason, a.body)
				}
				if tc.code == 401 && a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if tc.code == 401 && strings.Contains(tc.url, "/v3/") {
					if isErr, _ := burrowError(t, a); !isErr {
						t.Errorf("401 body is not an error: %s", a.body)
					}
				}
				if tc.code == 200 && strings.HasSuffix(tc.url, "/v3/kafka") && !strings.Contains(a.body, `"alerts"`) {
					t.Errorf("clusters: %s", a.body)
				}
				if tc.code == 400 && strings.Contains(a.body, "alerts") {
					t.Errorf("plain HTTP read the API: %s", a.body)
				}
			})
		}
	})

	get := func(path string) answer { return fetch(withCert, base+path, bearer) }

	t.Run("made-up names in a loop", func(t *testing.T) {
		// What the history knows is read by the first of them.
		get("/v3/kafka/made-up/consumer")
		get("/v3/kafka/alerts/consumer/made-up/lag")
		start, before := time.Now(), counter.Searches()
		for i := range 200 {
			for _, path := range []string{"/v3/kafka/made-up-%d/consumer", "/v3/kafka/made-up-%d/topic/orders",
				"/v3/kafka/made-up-%d/consumer/billing/lag", "/v3/kafka/alerts/consumer/made-up-%d/lag", "/v3/kafka/alerts/consumer/made-up-%d"} {
				if a := get(fmt.Sprintf(path, i)); a.code != 404 {
					t.Fatalf("%s: %d %v %.200s, want 404", fmt.Sprintf(path, i), a.code, a.err, a.body)
				}
			}
		}
		// The present view's refresher checks the cluster's ticks once a
		// second (and the clusters once a minute): that, and nothing per
		// name.
		took := time.Since(start)
		n, most := counter.Searches()-before, 2*int64(took/time.Second)+3
		if n > most {
			t.Errorf("%d searches during 1000 requests for made-up names in %s; want at most the refresher's %d", n, took, most)
		}
		t.Logf("%d searches during 1000 requests for made-up names in %s", n, took)
		if a := get("/v3/kafka/alerts/consumer/billing/lag"); a.code != 200 {
			t.Errorf("a known group afterwards: %d", a.code)
		}
	})

	t.Run("hostile requests", func(t *testing.T) {
		at := func(tm time.Time) string { return url.QueryEscape(tm.Format(time.RFC3339)) }
		long := strings.Repeat("x", burrowapi.MaxNameLength+1)
		tooLong := fmt.Sprintf("name of %d characters", burrowapi.MaxNameLength+1)
		cases := []struct {
			name, path string
			code       int
			want       string // in the body
			reason     string
		}{
			{"zero time", "/v3/kafka/alerts/consumer?at=0001-01-01T00:00:00Z", 400, "the zero time", "it was read as now"},
			{"before 1970", "/v3/kafka?at=1960-01-01T00:00:00Z", 400, "earlier than any history", "older than Kafka"},
			{"before the oldest tick", "/v3/kafka/alerts/consumer/billing/lag?at=" + at(ticks[0].Add(-time.Hour)), 400, "the oldest tick of the history", "nothing to answer from"},
			{"before the retention", "/v3/kafka?at=" + at(now.Add(-31*24*time.Hour)), 400, "before", "the retention or the oldest tick, whichever is later"},
			{"the oldest tick", "/v3/kafka/alerts/topic/orders?at=" + at(ticks[0]), 200, `"offsets"`, "the history starts there"},
			{"in the future", "/v3/kafka/alerts/consumer/billing/lag?at=" + at(now.Add(time.Hour)), 400, "in the future", "beyond a minute's skew"},
			{"not a time", "/v3/kafka?at=yesterday", 400, "RFC 3339", "syntax"},
			{"a cluster name too long", "/v3/kafka/" + long + "/consumer", 400, "cluster " + tooLong, "the history cannot hold it"},
			{"a group name too long", "/v3/kafka/alerts/consumer/" + long + "/status", 400, "group " + tooLong, "an error, not a NOTFOUND"},
			{"a topic name too long", "/v3/kafka/alerts/topic/" + long, 400, "topic " + tooLong, "likewise"},
			{"a request line too long", "/v3/kafka/" + strings.Repeat("x", 100<<10), 431, "", "beyond the header limit: refused before any handler"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := get(tc.path)
				if a.err != nil || a.code != tc.code || !strings.Contains(a.body, tc.want) {
					t.Fatalf("%d %v %.300s; want %d with %q: %s", a.code, a.err, a.body, tc.code, tc.want, tc.reason)
				}
				if tc.code == 400 {
					if isErr, msg := burrowError(t, a); !isErr || msg == "" {
						t.Errorf("400 body: %s", a.body)
					}
				}
			})
		}
	})

	t.Run("more requests at once than the bound", func(t *testing.T) {
		// Requests for an instant read the history; their searches, which
		// name that instant, are held.
		held := ticks[len(ticks)-1].Add(-1234 * time.Millisecond)
		counter.Hold(held.Format(time.RFC3339Nano))
		var wg sync.WaitGroup
		answers := make(chan answer, inFlight)
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers <- get("/v3/kafka/alerts/consumer/billing/lag?at=" + url.QueryEscape(held.Format(time.RFC3339Nano)))
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for counter.Held() < inFlight {
			if time.Now().After(deadline) {
				t.Fatalf("%d searches held within 30 s, want %d", counter.Held(), inFlight)
			}
			time.Sleep(10 * time.Millisecond)
		}
		a := get("/v3/kafka/alerts/consumer/shipping/lag")
		if a.code != 503 || a.header.Get("Retry-After") == "" {
			t.Errorf("one more: %d (Retry-After %q) %v, want 503 at once", a.code, a.header.Get("Retry-After"), a.err)
		} else if isErr, msg := burrowError(t, a); !isErr || !strings.Contains(msg, fmt.Sprint("at most ", inFlight)) {
			t.Errorf("503 body: %s", a.body)
		}
		if a := fetch(withCert, base+"/healthz", ""); a.code != 200 {
			t.Errorf("/healthz while full: %d", a.code)
		}
		counter.Release()
		wg.Wait()
		close(answers)
		for a := range answers {
			if a.code != 200 {
				t.Errorf("a held request: %d %v %.200s, want 200", a.code, a.err, a.body)
			}
		}
		if a := get("/v3/kafka/alerts/consumer/shipping/lag"); a.code != 200 {
			t.Errorf("after the held requests: %d, want 200", a.code)
		}
	})
}

// TestScheduleClosedAPI: the scheduled evaluator closes its listeners the
// same way: TLS and basic authentication on the API, the metrics listener
// with a certificate and a token of its own, while it evaluates.
func TestScheduleClosedAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, _ := apiHistory(ctx, t, "closedsched")
	pki := testenv.WritePKI(t)
	httpAddr, metricsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	for k, v := range map[string]string{
		"ELASTICSEARCH_URL": testenv.Elasticsearch(t), "ELASTICSEARCH_NAMESPACE": ns, "EVALUATOR_SCHEDULE": "*/1 * * * * *",
		"EVALUATOR_HTTP_ADDR": httpAddr, "EVALUATOR_METRICS_ADDR": metricsAddr,
		"EVALUATOR_HTTP_TLS_CERT_FILE": pki.ServerCert, "EVALUATOR_HTTP_TLS_KEY_FILE": pki.ServerKey,
		"EVALUATOR_HTTP_USERNAME": "telegraf", "EVALUATOR_HTTP_PASSWORD": "tg-pass",
		"EVALUATOR_METRICS_TLS_CERT_FILE": pki.ServerCert, "EVALUATOR_METRICS_TLS_KEY_FILE": pki.ServerKey,
		"EVALUATOR_METRICS_BEARER_TOKEN": "scrape-t0ken", "LOG_FORMAT": "json",
	} {
		t.Setenv(k, v)
	}
	srvCtx, stop := context.WithCancel(ctx)
	var logs testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(srvCtx, nil, io.Discard, &logs) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the scheduled evaluator returned %v after cancel, want nil", err)
		}
	})
	c := closedClient(t, pki, false)
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("telegraf", "tg-pass")
	basic := req.Header.Get("Authorization")
	deadline := time.Now().Add(30 * time.Second)
	for a := fetch(c, "https://"+metricsAddr+"/metrics", "Bearer scrape-t0ken"); !strings.Contains(a.body, `lagwatch_evaluator_runs_total{result="ok"}`); a = fetch(c, "https://"+metricsAddr+"/metrics", "Bearer scrape-t0ken") {
		if time.Now().After(deadline) {
			t.Fatalf("no evaluation on /metrics within 30 s: %d %v\n%s", a.code, a.err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cases := []struct {
		name, url, auth string
		code            int
	}{
		{"API without credentials", "https://" + httpAddr + "/v3/kafka", "", 401},
		{"API with the user", "https://" + httpAddr + "/v3/kafka/alerts/consumer/billing/lag", basic, 200},
		{"metrics without the token", "https://" + metricsAddr + "/metrics", "", 401},
		{"metrics with the API's user", "https://" + metricsAddr + "/metrics", basic, 401},
		{"health", "https://" + metricsAddr + "/healthz", "", 200},
	}
	for _, tc := range cases {
		if a := fetch(c, tc.url, tc.auth); a.err != nil || a.code != tc.code {
			t.Errorf("%s: %d %v, want %d", tc.name, a.code, a.err, tc.code)
		}
	}
	if a := fetch(&http.Client{Timeout: 5 * time.Second}, "http://"+metricsAddr+"/healthz", ""); a.err == nil && a.code == 200 {
		t.Errorf("plain HTTP to the metrics listener's TLS port answered 200")
	}
}
