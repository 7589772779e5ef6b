package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/testenv"
)

// silentListener accepts connections on a loopback port and never answers
// on them; it returns the address. Connections and listener are closed when
// the test ends.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestSilentClusterCostsOnlyItself ticks over two clusters: the real broker,
// and a listener that accepts connections and never answers. The real
// cluster's documents are stored and its tick is ok; the silent one fails
// its own tick, and no other.
func TestSilentClusterCostsOnlyItself(t *testing.T) {
	group := committedGroup(t, "silent", map[int]int64{0: 4}, 10)
	ns := setCollectorEnv(t, group)
	for k, v := range map[string]string{
		"KAFKA_CLUSTERS": "good,silent", "KAFKA_GOOD_BROKERS": strings.Join(testenv.Kafka(t), ","),
		"KAFKA_GOOD_GROUP_ALLOW": "^" + group + "$", "KAFKA_SILENT_BROKERS": silentListener(t),
		"KAFKA_BROKERS": "", "KAFKA_GROUP_ALLOW": "", "COLLECTOR_METRICS_ADDR": "",
		"COLLECTOR_TICK_TIMEOUT": "10s", "COLLECTOR_KAFKA_TIMEOUT": "1s", "COLLECTOR_KAFKA_REQUEST_TIMEOUT": "2s",
	} {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := newCollector(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)

	_, err = c.core.Tick(ctx)
	t.Logf("tick error: %v", err)
	if err == nil || !strings.Contains(err.Error(), `cluster "silent"`) || strings.Contains(err.Error(), `cluster "good"`) {
		t.Errorf("tick error %v; want the silent cluster's only", err)
	}
	wantOneLag(t, ns, 6)
	type tickDoc struct {
		Kafka struct {
			Cluster struct{ Name string }
		}
		Lagwatch struct {
			Collector struct{ Result string }
		}
	}
	results := map[string]string{}
	for _, d := range testenv.SearchAll[tickDoc](t, "metrics-lagwatch.collector-"+ns) {
		results[d.Kafka.Cluster.Name] = d.Lagwatch.Collector.Result
	}
	if results["good"] != "ok" || results["silent"] != "error" {
		t.Errorf("tick results %v; want good ok, silent error", results)
	}
}
