package evaluator

import (
	"time"

	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the evaluator's Prometheus series (served in schedule mode),
// with the Go runtime and process series, and Burrow's gauges of the latest
// live evaluation (burrowmetrics.go).
type metrics struct {
	reg          *prometheus.Registry
	runs         *prometheus.CounterVec
	duration     prometheus.Histogram
	groups       *prometheus.GaugeVec
	esRequests   prometheus.Counter
	docsRead     prometheus.Counter
	statusDocs   *prometheus.CounterVec
	sinkSends    *prometheus.CounterVec
	sinkFailures *prometheus.CounterVec
	unrecorded   prometheus.Counter
	backlog      prometheus.Gauge
	unsaved      prometheus.Gauge
	burrow       *burrowGauges
	// tickAge and stale are each cluster's freshness at the latest live
	// evaluation that could read it.
	tickAge, stale *prometheus.GaugeVec
}

func newMetrics() *metrics {
	ns, sub := "lagwatch", "evaluator"
	m := &metrics{burrow: &burrowGauges{}}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "runs_total",
		Help: "Evaluation runs by result (ok or error)."}, []string{"result"})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "run_duration_seconds",
		Help: "Wall time of one evaluation run.", Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120}})
	m.groups = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "groups",
		Help: "Groups by status in the last evaluation."}, []string{"status"})
	m.esRequests = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "elasticsearch_requests_total",
		Help: "Elasticsearch requests made to read windows."})
	m.docsRead = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "documents_read_total",
		Help: "Offsets documents read."})
	m.statusDocs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "status_documents_total",
		Help: "Status documents by outcome: written, duplicate, failed (rejected for their content, or dropped from a full backlog), " +
			"kept (Elasticsearch refused them for now: written by a later run)."}, []string{"outcome"})
	m.unrecorded = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "alerts_unrecorded_total",
		Help: "Alerts sent (or tried) whose incident the store refused to save: remembered by this evaluator until it can."})
	m.backlog = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "status_backlog",
		Help: "Status documents Elasticsearch refused for now, kept in memory for the next run."})
	m.unsaved = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "incidents_unsaved",
		Help: "Incidents whose alert was sent but which the store refused to save, kept by this evaluator until it can."})
	m.sinkSends = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "alerts_sent_total",
		Help: "Alerts delivered, by sink and kind."}, []string{"sink", "kind"})
	m.sinkFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "alert_failures_total",
		Help: "Alerts a sink did not take, after retries."}, []string{"sink"})
	m.tickAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "newest_tick_age_seconds",
		Help: "Age of the cluster's newest collector tick that read lag data, at the latest evaluation (absent when none did)."}, []string{"cluster"})
	m.stale = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "cluster_stale",
		Help: "1 when the cluster is stale at the latest evaluation (its collector silent, or ticking but reading nothing), 0 otherwise."}, []string{"cluster"})
	m.reg = service.NewRegistry(m.runs, m.duration, m.groups, m.esRequests, m.docsRead, m.statusDocs, m.sinkSends, m.sinkFailures,
		m.unrecorded, m.backlog, m.unsaved, m.burrow, m.tickAge, m.stale)
	return m
}

// publishFreshness sets the freshness gauges to fresh at at, one series per
// cluster (those gone from it go); nil (not read) leaves the previous ones.
func (m *metrics) publishFreshness(fresh map[string]evaluate.Freshness, at time.Time) {
	if fresh == nil {
		return
	}
	m.tickAge.Reset()
	m.stale.Reset()
	for c, f := range fresh {
		if !f.NewestTick.IsZero() {
			m.tickAge.WithLabelValues(c).Set(f.Age(at).Seconds())
		}
		v := 0.0
		if f.Stale {
			v = 1
		}
		m.stale.WithLabelValues(c).Set(v)
	}
}

func (m *metrics) observe(st runStats, wr esindex.WriteResult, al alertStats, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.runs.WithLabelValues(result).Inc()
	m.duration.Observe(took.Seconds())
	for _, s := range []evaluate.Status{evaluate.NotFound, evaluate.OK, evaluate.Warn, evaluate.Err} {
		m.groups.WithLabelValues(s.String()).Set(float64(st.byStatus[s]))
	}
	m.esRequests.Add(float64(st.requests))
	m.docsRead.Add(float64(st.window.Docs))
	m.statusDocs.WithLabelValues("written").Add(float64(wr.Indexed))
	m.statusDocs.WithLabelValues("duplicate").Add(float64(wr.Duplicates))
	m.statusDocs.WithLabelValues("failed").Add(float64(wr.Failed + wr.Dropped))
	m.statusDocs.WithLabelValues("kept").Add(float64(wr.Spooled))
	m.unrecorded.Add(float64(al.unrecorded))
}

// unwritten sets what waits for Elasticsearch to take writes again.
func (m *metrics) unwritten(statuses, incidents int) {
	m.backlog.Set(float64(statuses))
	m.unsaved.Set(float64(incidents))
}
