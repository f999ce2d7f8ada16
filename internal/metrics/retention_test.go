package metrics

import (
	"errors"
	"testing"
	"time"
)

// TestPruned: the pruner's runs add up in /metrics, failed ones too.
func TestPruned(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	m := New(WithClock(c.Now))
	m.Pruned(300, 600000, 4096, 2*time.Second, nil)
	m.Pruned(200, 400000, 0, time.Second, nil)
	m.Pruned(5, 10, 0, 500*time.Millisecond, errors.New("disk I/O error"))
	body := scrape(t, m)
	wantLine(t, body, `whirl_activations_pruned_total 505`)
	wantLine(t, body, `whirl_activations_pruned_bytes_total 1.00001e+06`)
	wantLine(t, body, `whirl_store_reclaimed_bytes_total 4096`)
	wantLine(t, body, `whirl_prune_runs_total{outcome="ok"} 2`)
	wantLine(t, body, `whirl_prune_runs_total{outcome="error"} 1`)
	wantLine(t, body, `whirl_prune_last_duration_seconds 0.5`)
	wantLine(t, body, `whirl_prune_last_success_timestamp_seconds 1.7e+09`)
}
