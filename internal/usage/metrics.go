package usage

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry         *prometheus.Registry
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	authOutcomes     *prometheus.CounterVec
	rateLimited      prometheus.Counter
	replays          prometheus.Counter
	deliveries       *prometheus.CounterVec
	queueDepth       prometheus.Gauge
	commitDuration   prometheus.Histogram
	commitBatch      prometheus.Histogram
	securityEvents   *prometheus.CounterVec
	usageFlushErrors prometheus.Counter
	ready            prometheus.Gauge
	readyChanges     *prometheus.CounterVec
	storageFaults    *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with Go runtime metrics.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.Registry.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novamed_http_requests_total",
		Help: "HTTP requests by route pattern, method and status code."}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "novamed_http_request_duration_seconds",
		Help: "HTTP request latency by route pattern.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"})
	m.authOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novamed_auth_outcomes_total",
		Help: "Authentication outcomes by reason."}, []string{"outcome"})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{Name: "novamed_rate_limited_requests_total",
		Help: "Requests refused by the per-key rate limit."})
	m.replays = prometheus.NewCounter(prometheus.CounterOpts{Name: "novamed_idempotent_replays_total",
		Help: "Requests answered from a remembered Idempotency-Key response."})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novamed_webhook_delivery_attempts_total",
		Help: "Webhook delivery attempts by outcome (succeeded, retrying, failed)."}, []string{"outcome"})
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{Name: "novamed_webhook_queue_depth",
		Help: "Webhook deliveries waiting to be attempted."})
	m.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "novamed_db_commit_duration_seconds",
		Help: "Duration of write transactions (a group commit counts once).", Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)})
	m.commitBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "novamed_db_group_commit_batch_size",
		Help: "Writes committed together in one transaction.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}})
	m.securityEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novamed_security_events_total",
		Help: "Security events by rule."}, []string{"rule"})
	m.usageFlushErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "novamed_usage_flush_errors_total",
		Help: "Failed flushes of per-key usage counters."})
	m.ready = prometheus.NewGauge(prometheus.GaugeOpts{Name: "novamed_ready",
		Help: "1 while this replica can commit writes to its database (what /readyz answers), else 0."})
	m.readyChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novamed_ready_transitions_total",
		Help: "Readiness transitions by new state (ready, not_ready)."}, []string{"to"})
	m.storageFaults = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novamed_storage_fault_responses_total",
		Help: "Requests answered 503 because the database was unavailable or full, by code."}, []string{"code"})
	for _, c := range []prometheus.Collector{m.ready, m.readyChanges, m.storageFaults, m.requests, m.duration, m.authOutcomes, m.rateLimited, m.replays, m.deliveries,
		m.queueDepth, m.commitDuration, m.commitBatch, m.securityEvents, m.usageFlushErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Request counts one HTTP request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Auth counts an authentication outcome.
func (m *Metrics) Auth(outcome string) {
	if m != nil {
		m.authOutcomes.WithLabelValues(outcome).Inc()
	}
}

// RateLimited counts a refused request.
func (m *Metrics) RateLimited() {
	if m != nil {
		m.rateLimited.Inc()
	}
}

// Replay counts an idempotent replay.
func (m *Metrics) Replay() {
	if m != nil {
		m.replays.Inc()
	}
}

// Delivery counts a webhook attempt by outcome.
func (m *Metrics) Delivery(outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(outcome).Inc()
	}
}

// QueueDepth sets the number of waiting deliveries.
func (m *Metrics) QueueDepth(n int) {
	if m != nil {
		m.queueDepth.Set(float64(n))
	}
}

// Commit observes one write transaction and how many writes it carried.
func (m *Metrics) Commit(batch int, d time.Duration) {
	if m != nil {
		m.commitBatch.Observe(float64(batch))
		m.commitDuration.Observe(d.Seconds())
	}
}

// SecurityEvent counts an event of a rule.
func (m *Metrics) SecurityEvent(rule string) {
	if m != nil {
		m.securityEvents.WithLabelValues(rule).Inc()
	}
}

// SetBuildInfo publishes novamed_build_info{version,commit,commit_time} 1,
// so dashboards can tell which build each replica runs.
func (m *Metrics) SetBuildInfo(version, commit, commitTime string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "novamed_build_info",
		Help: "The running build: module version, VCS commit and commit time (always 1)."}, []string{"version", "commit", "commit_time"})
	g.WithLabelValues(version, commit, commitTime).Set(1)
	m.Registry.MustRegister(g)
}

// Ready sets the readiness gauge; changed counts a transition.
func (m *Metrics) Ready(ready, changed bool) {
	if m == nil {
		return
	}
	to := "not_ready"
	if ready {
		m.ready.Set(1)
		to = "ready"
	} else {
		m.ready.Set(0)
	}
	if changed {
		m.readyChanges.WithLabelValues(to).Inc()
	}
}

// StorageFault counts a 503 answered for a storage outage (code
// STORAGE_UNAVAILABLE or STORAGE_FULL).
func (m *Metrics) StorageFault(code string) {
	if m != nil {
		m.storageFaults.WithLabelValues(code).Inc()
	}
}
