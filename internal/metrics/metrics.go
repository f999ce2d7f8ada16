// Package metrics counts what Whirl runs and exports it: Prometheus metrics
// for GET /metrics, and an in-memory per-second record of completions that
// answers "how many activations completed per second in the last minute",
// overall and for asynchronous invocations alone, without a Prometheus
// server.
//
// Metrics has its own registry (never the global default one), so tests and
// several servers in one process do not collide. Every recording method is
// safe for concurrent use and cheap enough for the invocation hot path: a
// few atomic operations and cached label children, no locks, no
// allocations once a label combination has been seen.
//
// The controller and the invoker record into it; internal/app mounts
// Handler and serves Rate.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Start kinds of an activation, the "start" label.
const (
	StartCold    = "cold"    // a container was created for it
	StartPrewarm = "prewarm" // a stem cell was initialised for it
	StartWarm    = "warm"    // a warm container was reused
	StartNone    = "none"    // no container (a sequence, or failed before one)
)

// DurationBuckets are the bounds, in seconds, of the activation duration
// histogram: 100µs to 60s.
var DurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
}

// Metrics is the set of Whirl's metrics. Create it with New.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	activations   *prometheus.CounterVec
	asyncDone     *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	accepted      *prometheus.CounterVec
	inFlight      atomic.Int64
	queued        atomic.Int64
	children      sync.Map // completionKey -> *completionChildren
	asyncChildren sync.Map // namespace -> prometheus.Counter
	acceptedKids  sync.Map // namespace -> *[2]prometheus.Counter

	prune      pruneMetrics // retention.go
	all        ring
	namespaces sync.Map // namespace -> *nsStats
	started    time.Time
}

type completionKey struct{ namespace, action, status, start string }

type completionChildren struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

// nsStats is the per-second record of one namespace.
type nsStats struct {
	ring ring
	c    nsCounters // cumulative, for History
}

// Option configures Metrics.
type Option func(*Metrics)

// WithClock makes Metrics read time from now instead of time.Now; tests use
// it to move through seconds.
func WithClock(now func() time.Time) Option { return func(m *Metrics) { m.now = now } }

// New returns Metrics registered in a fresh registry, together with the Go
// runtime and process collectors.
func New(opts ...Option) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: time.Now}
	for _, o := range opts {
		o(m)
	}
	m.started = m.now()
	m.activations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "whirl_activations_total",
		Help: "Activations completed, by namespace, action, status (as the record spells it: success, application error, action developer error, whisk internal error) and start kind (cold, prewarm, warm, none).",
	}, []string{"namespace", "action", "status", "start"})
	m.asyncDone = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "whirl_async_activations_completed_total",
		Help: "Activations of non-blocking invocations completed, by namespace.",
	}, []string{"namespace"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "whirl_activation_duration_seconds",
		Help:    "Duration of completed activations, by namespace, action and start kind.",
		Buckets: DurationBuckets,
	}, []string{"namespace", "action", "start"})
	m.accepted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "whirl_invocations_accepted_total",
		Help: "Invocations accepted by the controller, by namespace and whether the caller waits (blocking).",
	}, []string{"namespace", "blocking"})
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "whirl_activations_in_flight",
		Help: "Activations running now.",
	}, func() float64 { return float64(m.inFlight.Load()) })
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "whirl_activations_queued",
		Help: "Non-blocking invocations accepted and not yet completed.",
	}, func() float64 { return float64(m.queued.Load()) })
	m.reg.MustRegister(m.activations, m.asyncDone, m.duration, m.accepted, inFlight, queued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.prune = newPruneMetrics(m.reg)
	return m
}

// Registry returns the registry, for packages that export metrics of their
// own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ActivationCompleted records a completed activation of a blocking
// invocation (or one whose caller is unknown): its namespace, action path
// within the namespace, status as the activation record spells it, start
// kind (StartCold, StartPrewarm, StartWarm, StartNone) and duration.
func (m *Metrics) ActivationCompleted(namespace, action, status, start string, duration time.Duration) {
	m.complete(namespace, action, status, start, duration, false)
}

// AsyncActivationCompleted records a completed activation of a non-blocking
// invocation, as ActivationCompleted does, and counts it among the
// asynchronous completions. It does not change the queued gauge: the caller
// does that with Queued(-1).
func (m *Metrics) AsyncActivationCompleted(namespace, action, status, start string, duration time.Duration) {
	m.complete(namespace, action, status, start, duration, true)
}

func (m *Metrics) complete(namespace, action, status, start string, d time.Duration, async bool) {
	k := completionKey{namespace, action, status, start}
	var c *completionChildren
	if v, ok := m.children.Load(k); ok {
		c = v.(*completionChildren)
	} else {
		c = &completionChildren{
			count: m.activations.WithLabelValues(namespace, action, status, start),
			dur:   m.duration.WithLabelValues(namespace, action, start),
		}
		v, _ := m.children.LoadOrStore(k, c)
		c = v.(*completionChildren)
	}
	c.count.Inc()
	c.dur.Observe(d.Seconds())

	sec := m.now().Unix()
	m.all.add(sec, async)
	ns := m.nsStats(namespace)
	ns.ring.add(sec, async)
	ns.c.count(status, start, d, async)
	if async {
		ns.c.queued.Add(-1)
	}
	if async {
		m.asyncCounter(namespace).Inc()
	}
}

func (m *Metrics) asyncCounter(namespace string) prometheus.Counter {
	if v, ok := m.asyncChildren.Load(namespace); ok {
		return v.(prometheus.Counter)
	}
	v, _ := m.asyncChildren.LoadOrStore(namespace, m.asyncDone.WithLabelValues(namespace))
	return v.(prometheus.Counter)
}

func (m *Metrics) nsStats(namespace string) *nsStats {
	if v, ok := m.namespaces.Load(namespace); ok {
		return v.(*nsStats)
	}
	v, _ := m.namespaces.LoadOrStore(namespace, new(nsStats))
	return v.(*nsStats)
}

// Accepted records an invocation accepted by the controller.
func (m *Metrics) Accepted(namespace string, blocking bool) {
	var kids *[2]prometheus.Counter
	if v, ok := m.acceptedKids.Load(namespace); ok {
		kids = v.(*[2]prometheus.Counter)
	} else {
		kids = &[2]prometheus.Counter{
			m.accepted.WithLabelValues(namespace, "false"),
			m.accepted.WithLabelValues(namespace, "true"),
		}
		v, _ := m.acceptedKids.LoadOrStore(namespace, kids)
		kids = v.(*[2]prometheus.Counter)
	}
	if blocking {
		kids[1].Inc()
	} else {
		kids[0].Inc()
		m.nsStats(namespace).c.queued.Add(1)
	}
}

// InFlight adds delta to the number of activations running now: +1 when
// one starts, -1 when it ends.
func (m *Metrics) InFlight(delta int) { m.inFlight.Add(int64(delta)) }

// Queued adds delta to the number of non-blocking invocations accepted and
// not yet completed: +1 on accept, -1 on completion.
func (m *Metrics) Queued(delta int) { m.queued.Add(int64(delta)) }

// RegisterContainers exports the gauge whirl_containers{state}, whose
// values f returns when scraped (state -> count, e.g. "warm", "prewarm",
// "busy"). The invoker calls it once; f must be safe for concurrent use.
func (m *Metrics) RegisterContainers(f func() map[string]int) error {
	return m.reg.Register(&containerCollector{f: f})
}

var containersDesc = prometheus.NewDesc("whirl_containers",
	"Action containers held by the pool, by state.", []string{"state"}, nil)

type containerCollector struct{ f func() map[string]int }

func (c *containerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- containersDesc }

func (c *containerCollector) Collect(ch chan<- prometheus.Metric) {
	for state, n := range c.f() {
		ch <- prometheus.MustNewConstMetric(containersDesc, prometheus.GaugeValue, float64(n), state)
	}
}
