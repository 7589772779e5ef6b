package main

import (
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the collector's Prometheus series. Every per-cluster series
// carries the `cluster` label. The registry also holds the Go runtime and
// process series.
type metrics struct {
	reg *prometheus.Registry

	tickDuration  *prometheus.HistogramVec
	ticks         *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	groups        *prometheus.GaugeVec
	partitions    *prometheus.GaugeVec
	kafkaRequests *prometheus.CounterVec
	kafkaErrors   *prometheus.CounterVec
	negativeLags  *prometheus.CounterVec
	docs          *prometheus.CounterVec
	spoolSegments prometheus.Gauge
	spoolBytes    prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{}
	ns, sub := "lagwatch", "collector"
	m.tickDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "tick_duration_seconds",
		Help:    "Wall time of one cluster's tick: reading Kafka and writing (or spooling) the snapshot.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}}, []string{"cluster"})
	m.ticks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ticks_total",
		Help: "Ticks per cluster by result (ok or error)."}, []string{"cluster", "result"})
	m.lastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_success_timestamp_seconds",
		Help: "Unix time of the cluster's last successful tick."}, []string{"cluster"})
	m.groups = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "groups",
		Help: "Consumer groups seen in the cluster's last tick."}, []string{"cluster"})
	m.partitions = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "partitions",
		Help: "Group partitions (offsets documents) seen in the cluster's last tick."}, []string{"cluster"})
	m.kafkaRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "kafka_requests_total",
		Help: "Kafka requests sent."}, []string{"cluster"})
	m.kafkaErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "kafka_errors_total",
		Help: "Kafka failures by scope: cluster (nothing read), group, partition."}, []string{"cluster", "scope"})
	m.negativeLags = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "negative_lags_total",
		Help: "Partitions whose log-end offset read below the committed offset; stored as lag 0."}, []string{"cluster"})
	m.docs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "documents_total",
		Help: "Documents by outcome: written, duplicate (already stored), failed (rejected), spooled, replayed, dropped (spool full)."},
		[]string{"cluster", "outcome"})
	m.spoolSegments = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_segments",
		Help: "Snapshots waiting in the on-disk spool."})
	m.spoolBytes = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_bytes",
		Help: "Bytes waiting in the on-disk spool."})
	m.reg = service.NewRegistry(m.tickDuration, m.ticks, m.lastSuccess, m.groups, m.partitions, m.kafkaRequests,
		m.kafkaErrors, m.negativeLags, m.docs, m.spoolSegments, m.spoolBytes)
	return m
}
