package metrics

import (
	"sync/atomic"
	"time"
)

// ringSize is how many seconds the per-second record holds; Rate windows
// are bounded by MaxWindow.
const ringSize = 128

// MaxWindow is the longest window Rate answers for.
const MaxWindow = 120 * time.Second

// ring counts completions per second for the last ringSize seconds. Each
// slot packs the second (low 32 bits of the Unix time) in its high half and
// the count in its low half, so one compare-and-swap both claims a slot for
// a new second and counts.
type ring struct {
	total [ringSize]atomic.Uint64
	async [ringSize]atomic.Uint64
	sum   atomic.Uint64 // completions since start
	asum  atomic.Uint64 // async completions since start
}

func bump(w *atomic.Uint64, sec uint64) {
	for {
		old := w.Load()
		n := old & 0xffffffff
		if old>>32 != sec {
			n = 0
		}
		if n == 0xffffffff {
			return
		}
		if w.CompareAndSwap(old, sec<<32|(n+1)) {
			return
		}
	}
}

func (r *ring) add(unix int64, async bool) {
	sec := uint64(uint32(unix))
	i := unix & (ringSize - 1)
	bump(&r.total[i], sec)
	r.sum.Add(1)
	if async {
		bump(&r.async[i], sec)
		r.asum.Add(1)
	}
}

// count returns the completions in the seconds [from, to).
func (r *ring) count(from, to int64) (total, async uint64) {
	for s := from; s < to; s++ {
		i := s & (ringSize - 1)
		want := uint64(uint32(s))
		if w := r.total[i].Load(); w>>32 == want {
			total += w & 0xffffffff
		}
		if w := r.async[i].Load(); w>>32 == want {
			async += w & 0xffffffff
		}
	}
	return total, async
}

// Stats is what Rate reports. Its JSON:
//
//	{
//	  "window": 60,               // seconds measured: the last complete seconds
//	  "completed": 1234,          // activations completed in the window
//	  "perSecond": 20.57,         // completed / window
//	  "asyncCompleted": 1000,     // of which from non-blocking invocations
//	  "asyncPerSecond": 16.67,
//	  "totalCompleted": 99999,    // since the process started
//	  "totalAsyncCompleted": 8888,
//	  "inFlight": 3,              // running now
//	  "queued": 12,               // non-blocking, accepted and not completed
//	  "namespaces": {             // the same window, per namespace (those seen)
//	    "guest": {"completed": 1200, "perSecond": 20, "asyncCompleted": 1000,
//	              "asyncPerSecond": 16.67, "totalCompleted": 99000, "totalAsyncCompleted": 8888}
//	  }
//	}
type Stats struct {
	Window              float64                   `json:"window"`
	Completed           uint64                    `json:"completed"`
	PerSecond           float64                   `json:"perSecond"`
	AsyncCompleted      uint64                    `json:"asyncCompleted"`
	AsyncPerSecond      float64                   `json:"asyncPerSecond"`
	TotalCompleted      uint64                    `json:"totalCompleted"`
	TotalAsyncCompleted uint64                    `json:"totalAsyncCompleted"`
	InFlight            int64                     `json:"inFlight"`
	Queued              int64                     `json:"queued"`
	Namespaces          map[string]NamespaceStats `json:"namespaces"`
}

// NamespaceStats are the completions of one namespace in a Stats window.
type NamespaceStats struct {
	Completed           uint64  `json:"completed"`
	PerSecond           float64 `json:"perSecond"`
	AsyncCompleted      uint64  `json:"asyncCompleted"`
	AsyncPerSecond      float64 `json:"asyncPerSecond"`
	TotalCompleted      uint64  `json:"totalCompleted"`
	TotalAsyncCompleted uint64  `json:"totalAsyncCompleted"`
}

// Rate reports the completions of the last window, counted over whole
// seconds that have ended (the current second is still filling and is left
// out), so that the rate does not dip at the start of each second. The
// window is rounded to whole seconds and clamped to 1s..MaxWindow; a
// window reaching back before the process started is shortened to the
// seconds it has lived, so that a young process does not report a diluted
// rate.
func (m *Metrics) Rate(window time.Duration) Stats {
	secs := int64(window / time.Second)
	if secs < 1 {
		secs = 1
	}
	if secs > int64(MaxWindow/time.Second) {
		secs = int64(MaxWindow / time.Second)
	}
	now := m.now().Unix()
	if lived := now - m.started.Unix(); lived < secs {
		secs = max(lived, 1)
	}
	from := now - secs
	w := float64(secs)
	total, async := m.all.count(from, now)
	st := Stats{
		Window:              w,
		Completed:           total,
		PerSecond:           float64(total) / w,
		AsyncCompleted:      async,
		AsyncPerSecond:      float64(async) / w,
		TotalCompleted:      m.all.sum.Load(),
		TotalAsyncCompleted: m.all.asum.Load(),
		InFlight:            m.inFlight.Load(),
		Queued:              m.queued.Load(),
		Namespaces:          map[string]NamespaceStats{},
	}
	m.namespaces.Range(func(k, v any) bool {
		r := &v.(*nsStats).ring
		t, a := r.count(from, now)
		st.Namespaces[k.(string)] = NamespaceStats{
			Completed:           t,
			PerSecond:           float64(t) / w,
			AsyncCompleted:      a,
			AsyncPerSecond:      float64(a) / w,
			TotalCompleted:      r.sum.Load(),
			TotalAsyncCompleted: r.asum.Load(),
		}
		return true
	})
	return st
}
