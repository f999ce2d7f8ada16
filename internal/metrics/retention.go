package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pruneMetrics count what activation retention (the store's pruner)
// deleted and reclaimed.
type pruneMetrics struct {
	records, bytes, reclaimed prometheus.Counter
	runs                      *prometheus.CounterVec
	lastDuration, lastSuccess prometheus.Gauge
}

func newPruneMetrics(reg prometheus.Registerer) pruneMetrics {
	p := pruneMetrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whirl_activations_pruned_total",
			Help: "Activation records deleted by retention (activations.retention, activations.maxPerNamespace).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whirl_activations_pruned_bytes_total",
			Help: "Bytes of the activation records (with their logs and results) deleted by retention.",
		}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whirl_store_reclaimed_bytes_total",
			Help: "Bytes the embedded store gave back to the file system after pruning (SQLite incremental vacuum).",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whirl_prune_runs_total",
			Help: "Runs of the activation pruner, by outcome (ok, error).",
		}, []string{"outcome"}),
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whirl_prune_last_duration_seconds",
			Help: "How long the last run of the activation pruner took.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whirl_prune_last_success_timestamp_seconds",
			Help: "When the last successful run of the activation pruner ended (unix seconds).",
		}),
	}
	reg.MustRegister(p.records, p.bytes, p.reclaimed, p.runs, p.lastDuration, p.lastSuccess)
	return p
}

// Pruned records one run of the activation pruner: the records and bytes
// it deleted, the bytes the store gave back to the file system, how long
// it took and whether it failed (what it did before failing counts).
func (m *Metrics) Pruned(records, bytes, reclaimed int64, took time.Duration, err error) {
	p := m.prune
	p.records.Add(float64(records))
	p.bytes.Add(float64(bytes))
	p.reclaimed.Add(float64(reclaimed))
	p.lastDuration.Set(took.Seconds())
	if err != nil {
		p.runs.WithLabelValues("error").Inc()
		return
	}
	p.runs.WithLabelValues("ok").Inc()
	p.lastSuccess.Set(float64(m.now().Unix()))
}
