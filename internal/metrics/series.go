package metrics

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Statuses are the activation statuses a Point counts, in the order of
// Point.Status; any other status is counted in the last slot.
var Statuses = [...]string{"success", "application error", "action developer error", "whisk internal error"}

// Starts are the start kinds a Point counts, in the order of Point.Starts.
var Starts = [...]string{StartCold, StartPrewarm, StartWarm, StartNone}

// nBuckets is len(DurationBuckets)+1: its bounds and the bucket above
// them (a test keeps it in step).
const nBuckets = 19

// HistoryLength is how far back History keeps the points of a namespace.
const HistoryLength = 15 * time.Minute

// nsCounters are one namespace's cumulative counts, for History to take
// per-second differences of: a few atomic additions on the hot path.
type nsCounters struct {
	sync, async atomic.Uint64
	status      [len(Statuses)]atomic.Uint64
	start       [len(Starts)]atomic.Uint64
	buckets     [nBuckets]atomic.Uint64 // the last: above every bound
	queued      atomic.Int64            // non-blocking accepted, not completed
}

// snapshot is a copy of nsCounters at one instant.
type snapshot struct {
	sync, async uint64
	status      [len(Statuses)]uint64
	start       [len(Starts)]uint64
	buckets     [nBuckets]uint64
}

func (c *nsCounters) count(status, start string, d time.Duration, async bool) {
	if async {
		c.async.Add(1)
	} else {
		c.sync.Add(1)
	}
	i := len(Statuses) - 1
	for j, s := range Statuses {
		if s == status {
			i = j
			break
		}
	}
	c.status[i].Add(1)
	i = len(Starts) - 1
	for j, s := range Starts {
		if s == start {
			i = j
			break
		}
	}
	c.start[i].Add(1)
	sec := d.Seconds()
	b := sort.SearchFloat64s(DurationBuckets, sec)
	c.buckets[b].Add(1)
}

func (c *nsCounters) snapshot() snapshot {
	var s snapshot
	s.sync, s.async = c.sync.Load(), c.async.Load()
	for i := range c.status {
		s.status[i] = c.status[i].Load()
	}
	for i := range c.start {
		s.start[i] = c.start[i].Load()
	}
	for i := range c.buckets {
		s.buckets[i] = c.buckets[i].Load()
	}
	return s
}

// Point is one second of one namespace's completions. Its JSON:
//
//	{"t": 1700000000, "sync": 12, "async": 30,
//	 "status": [40, 2, 0, 0], "starts": [1, 0, 41, 0],
//	 "p50": 0.004, "p99": 0.25, "queued": 3}
//
// Status counts follow Statuses, Starts follow Starts; p50 and p99 are
// seconds, estimated from the duration histogram's buckets (0 when
// nothing completed); queued is the namespace's non-blocking invocations
// accepted and not completed at the end of the second.
type Point struct {
	T      int64                 `json:"t"`
	Sync   uint64                `json:"sync"`
	Async  uint64                `json:"async"`
	Status [len(Statuses)]uint64 `json:"status"`
	Starts [len(Starts)]uint64   `json:"starts"`
	P50    float64               `json:"p50"`
	P99    float64               `json:"p99"`
	Queued int64                 `json:"queued"`
}

// idle reports whether nothing happened in p.
func (p Point) idle() bool { return p.Sync == 0 && p.Async == 0 && p.Queued == 0 }

// History keeps, per namespace, one Point per second for the last
// HistoryLength, taken by Sample from Metrics' cumulative counters. Only
// seconds where something happened are stored, so an idle namespace costs
// nothing. Safe for concurrent use.
type History struct {
	m *Metrics

	mu     sync.Mutex
	last   map[string]snapshot
	points map[string][]Point
}

// NewHistory returns an empty History of m's namespaces. Call Sample once
// a second.
func NewHistory(m *Metrics) *History {
	return &History{m: m, last: map[string]snapshot{}, points: map[string][]Point{}}
}

// Sample records the second ending at now for every namespace seen.
func (h *History) Sample(now time.Time) {
	t := now.Unix()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m.namespaces.Range(func(k, v any) bool {
		ns := k.(string)
		c := &v.(*nsStats).c
		cur := c.snapshot()
		p := diff(h.last[ns], cur)
		p.T = t
		p.Queued = max(c.queued.Load(), 0)
		h.last[ns] = cur
		pts := h.points[ns]
		if !p.idle() {
			pts = append(pts, p)
		}
		cut := 0
		for cut < len(pts) && pts[cut].T <= t-int64(HistoryLength/time.Second) {
			cut++
		}
		if cut > 0 {
			pts = append(pts[:0:0], pts[cut:]...)
		}
		if len(pts) == 0 {
			delete(h.points, ns)
		} else {
			h.points[ns] = pts
		}
		return true
	})
}

// Points returns namespace's stored points, oldest first; seconds not
// listed had nothing.
func (h *History) Points(namespace string) []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Point(nil), h.points[namespace]...)
}

// Latest returns namespace's point for the second t, or an idle point.
func (h *History) Latest(namespace string, t int64) Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	pts := h.points[namespace]
	if n := len(pts); n > 0 && pts[n-1].T == t {
		return pts[n-1]
	}
	return Point{T: t}
}

// diff is the Point of the counts between a and b.
func diff(a, b snapshot) Point {
	p := Point{Sync: b.sync - a.sync, Async: b.async - a.async}
	for i := range p.Status {
		p.Status[i] = b.status[i] - a.status[i]
	}
	for i := range p.Starts {
		p.Starts[i] = b.start[i] - a.start[i]
	}
	var hist [nBuckets]uint64
	var n uint64
	for i := range hist {
		hist[i] = b.buckets[i] - a.buckets[i]
		n += hist[i]
	}
	p.P50, p.P99 = quantile(hist, n, 0.5), quantile(hist, n, 0.99)
	return p
}

// quantile estimates the q-quantile of n observations in hist, by linear
// interpolation within the bucket that holds it (the last, unbounded,
// bucket answers its lower bound).
func quantile(hist [nBuckets]uint64, n uint64, q float64) float64 {
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range hist {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(DurationBuckets) {
				return DurationBuckets[i-1]
			}
			lo := 0.0
			if i > 0 {
				lo = DurationBuckets[i-1]
			}
			return lo + (DurationBuckets[i]-lo)*(rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return DurationBuckets[len(DurationBuckets)-1]
}
