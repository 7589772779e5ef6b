package collector

import (
	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collector's Prometheus series. Every per-cluster series
// carries the `cluster` label. The registry also holds the Go runtime and
// process series.
type Metrics struct {
	reg *prometheus.Registry

	tickDuration  *prometheus.HistogramVec
	ticks         *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	groups        *prometheus.GaugeVec
	partitions    *prometheus.GaugeVec
	kafkaRequests *prometheus.CounterVec
	kafkaRetries  *prometheus.CounterVec
	kafkaErrors   *prometheus.CounterVec
	negativeLags  *prometheus.CounterVec
	docs          *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	rejections    *prometheus.CounterVec
	spoolSegments prometheus.Gauge
	spoolBytes    prometheus.Gauge
}

// opts names a series lagwatch_collector_<name>.
func opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "lagwatch", Subsystem: "collector", Name: name, Help: help}
}

func counters(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts(opts(name, help)), labels)
}

func gauges(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts(opts(name, help)), labels)
}

// NewMetrics makes the series and their registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		tickDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "lagwatch", Subsystem: "collector",
			Name: "tick_duration_seconds", Help: "Wall time of one cluster's tick: reading Kafka and writing (or spooling) the snapshot.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}}, []string{"cluster"}),
		ticks:         counters("ticks_total", "Ticks per cluster by result (ok or error).", "cluster", "result"),
		lastSuccess:   gauges("last_success_timestamp_seconds", "Unix time of the cluster's last successful tick.", "cluster"),
		groups:        gauges("groups", "Consumer groups seen in the cluster's last tick.", "cluster"),
		partitions:    gauges("partitions", "Group partitions (offsets documents) seen in the cluster's last tick.", "cluster"),
		kafkaRequests: counters("kafka_requests_total", "Kafka requests sent.", "cluster"),
		kafkaRetries: counters("kafka_retries_total",
			"Items asked again within a tick after a failure (a broker's group list, a group, a partition's log offsets).", "cluster"),
		kafkaErrors: counters("kafka_errors_total",
			"Kafka failures by scope: cluster (nothing read), broker (its groups not listed), group, partition, txn_read (a transaction-marker read that failed: the readable lag stays an upper bound), refused_group (a group id longer than lagwatch stores).",
			"cluster", "scope"),
		negativeLags: counters("negative_lags_total",
			"Partitions whose log-end offset read below the committed offset; stored as lag 0.", "cluster"),
		docs: counters("documents_total",
			"Documents by outcome: written, duplicate (already stored), failed (rejected), spooled, replayed, dropped (spool full).",
			"cluster", "outcome"),
		refusals: counters("documents_refused_total",
			"Times Elasticsearch did not take a document for a reason other than its content, by cause: its error type "+
				"(cluster_block_exception for a write block, security_exception for a missing privilege, "+
				"es_rejected_execution_exception, ...) or connection, timeout, no_answer, not_sent. Each attempt counts; "+
				"the documents are retried or spooled and replayed in order, not lost.",
			"cluster", "cause"),
		rejections: counters("documents_rejected_total",
			"Documents Elasticsearch rejected for their content (a mapping conflict), by error type: not stored, not kept.",
			"cluster", "cause"),
		spoolSegments: prometheus.NewGauge(prometheus.GaugeOpts(opts("spool_segments", "Snapshots waiting in the on-disk spool."))),
		spoolBytes:    prometheus.NewGauge(prometheus.GaugeOpts(opts("spool_bytes", "Bytes waiting in the on-disk spool."))),
	}
	m.reg = service.NewRegistry(m.tickDuration, m.ticks, m.lastSuccess, m.groups, m.partitions, m.kafkaRequests,
		m.kafkaRetries, m.kafkaErrors, m.negativeLags, m.docs, m.refusals, m.rejections, m.spoolSegments, m.spoolBytes)
	return m
}

// Registry holds the series, for /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// observe counts one cluster's tick. A cluster not read leaves the groups
// and partitions gauges and the document counters as they were.
func (m *Metrics) observe(s Summary) {
	cl := s.Cluster
	m.kafkaRequests.WithLabelValues(cl).Add(float64(s.Stats.Requests))
	m.kafkaRetries.WithLabelValues(cl).Add(float64(s.Stats.Retries))
	m.kafkaErrors.WithLabelValues(cl, "broker").Add(float64(s.Stats.BrokerErrors))
	m.negativeLags.WithLabelValues(cl).Add(float64(s.Stats.NegativeLags))
	m.kafkaErrors.WithLabelValues(cl, "group").Add(float64(s.Stats.GroupErrors))
	m.kafkaErrors.WithLabelValues(cl, "txn_read").Add(float64(s.Stats.TxnReadErrors))
	m.kafkaErrors.WithLabelValues(cl, "refused_group").Add(float64(s.Stats.RefusedGroups))
	m.kafkaErrors.WithLabelValues(cl, "partition").Add(float64(s.PartitionErrors))
	m.tickDuration.WithLabelValues(cl).Observe(s.Duration.Seconds())
	if s.ReadErr != nil {
		m.kafkaErrors.WithLabelValues(cl, "cluster").Inc()
		m.ticks.WithLabelValues(cl, resultError).Inc()
		return
	}
	m.groups.WithLabelValues(cl).Set(float64(s.Groups))
	m.partitions.WithLabelValues(cl).Set(float64(s.Partitions))
	w := s.Write
	for outcome, n := range map[string]int{"written": w.Indexed, "duplicate": w.Duplicates, "failed": w.Failed,
		"spooled": w.Spooled, "replayed": w.Replayed, "dropped": w.Dropped} {
		m.docs.WithLabelValues(cl, outcome).Add(float64(n))
	}
	for _, c := range w.Refusals {
		m.refusals.WithLabelValues(cl, c.Cause).Add(float64(c.Count))
	}
	for _, c := range w.Rejections {
		m.rejections.WithLabelValues(cl, c.Cause).Add(float64(c.Count))
	}
	if s.Result == resultError {
		m.ticks.WithLabelValues(cl, resultError).Inc()
		return
	}
	// A spooled tick is a successful one: its documents are written later.
	m.ticks.WithLabelValues(cl, resultOK).Inc()
	m.lastSuccess.WithLabelValues(cl).SetToCurrentTime()
}

// spool sets the spool's depth.
func (m *Metrics) spool(segments int, bytes int64) {
	m.spoolSegments.Set(float64(segments))
	m.spoolBytes.Set(float64(bytes))
}
