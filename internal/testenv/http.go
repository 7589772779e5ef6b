package testenv

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// FreeAddr is a loopback address with a port free a moment ago, for a
// program under test to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Get fetches url and returns the status code and body; a failed request or
// read fails the test.
func Get(t testing.TB, url string) (status int, body string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// Sample returns the value of series in a Prometheus text exposition, the
// series spelled as the exposition writes it: the name, then the labels in
// name order (`x_total{a="1",b="2"}`). ok is false when no line holds it.
func Sample(exposition, series string) (value float64, ok bool) {
	for _, line := range strings.Split(exposition, "\n") {
		if v, found := strings.CutPrefix(line, series+" "); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}
