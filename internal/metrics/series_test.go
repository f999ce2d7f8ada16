package metrics

import (
	"testing"
	"time"
)

func TestBucketCount(t *testing.T) {
	if nBuckets != len(DurationBuckets)+1 {
		t.Fatalf("nBuckets = %d, want %d", nBuckets, len(DurationBuckets)+1)
	}
}

// TestHistoryPerNamespace: each second's point holds only that second's
// completions of that namespace, split sync/async, by status and start,
// with latency quantiles; idle seconds are not stored; another
// namespace's work never shows.
func TestHistoryPerNamespace(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := New(WithClock(c.Now))
	h := NewHistory(m)

	m.Accepted("alice", false)
	m.Accepted("alice", false)
	m.ActivationCompleted("alice", "a", "success", StartCold, 2*time.Millisecond)
	m.AsyncActivationCompleted("alice", "a", "application error", StartWarm, 2*time.Millisecond)
	m.ActivationCompleted("bob", "b", "success", StartWarm, time.Second)
	c.Add(time.Second)
	h.Sample(c.Now())

	pts := h.Points("alice")
	if len(pts) != 1 {
		t.Fatalf("alice points = %+v", pts)
	}
	p := pts[0]
	if p.Sync != 1 || p.Async != 1 || p.Status != [4]uint64{1, 1, 0, 0} || p.Starts != [4]uint64{1, 0, 1, 0} || p.Queued != 1 {
		t.Fatalf("alice point = %+v", p)
	}
	if p.P50 <= 0.001 || p.P50 > 0.0025 || p.P99 <= 0.001 || p.P99 > 0.0025 {
		t.Fatalf("alice quantiles p50=%v p99=%v, want within (1ms, 2.5ms]", p.P50, p.P99)
	}
	if b := h.Points("bob"); len(b) != 1 || b[0].Sync != 1 || b[0].P50 <= 0.5 {
		t.Fatalf("bob points = %+v", b)
	}

	// The next second only counts what happened in it.
	m.AsyncActivationCompleted("alice", "a", "success", StartWarm, time.Millisecond)
	c.Add(time.Second)
	h.Sample(c.Now())
	pts = h.Points("alice")
	if len(pts) != 2 || pts[1].Async != 1 || pts[1].Sync != 0 || pts[1].Queued != 0 {
		t.Fatalf("alice points = %+v", pts)
	}
	if got := h.Latest("alice", c.Now().Unix()); got != pts[1] {
		t.Fatalf("Latest = %+v, want %+v", got, pts[1])
	}
	// An idle second is not stored; bob's idle seconds neither.
	c.Add(time.Second)
	h.Sample(c.Now())
	if len(h.Points("alice")) != 2 || len(h.Points("bob")) != 1 {
		t.Fatalf("idle second stored: %+v %+v", h.Points("alice"), h.Points("bob"))
	}
	if got := h.Latest("alice", c.Now().Unix()); got != (Point{T: c.Now().Unix()}) {
		t.Fatalf("Latest of an idle second = %+v", got)
	}
	// After HistoryLength the points are gone.
	c.Add(HistoryLength)
	h.Sample(c.Now())
	if len(h.Points("alice")) != 0 || len(h.Points("bob")) != 0 {
		t.Fatal("points older than HistoryLength kept")
	}
}

func TestQuantile(t *testing.T) {
	var hist [nBuckets]uint64
	hist[len(DurationBuckets)] = 1 // above 60s
	if q := quantile(hist, 1, 0.99); q != 60 {
		t.Fatalf("quantile of an observation above every bound = %v, want 60", q)
	}
	if q := quantile(hist, 0, 0.5); q != 0 {
		t.Fatalf("quantile of nothing = %v", q)
	}
}
