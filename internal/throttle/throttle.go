// Package throttle enforces OpenWhisk's per-namespace admission limits:
// action invocations per minute, concurrent invocations in flight and
// trigger fires per minute.
//
// The controller calls it on every invoke and fire, so every check is a few
// atomic operations on a per-namespace entry found in a lock-free map; no
// call takes a lock that another namespace contends for. A Throttle is safe
// for concurrent use. It imports only the whisk vocabulary, for its errors.
package throttle

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// Limits are the admission limits of a namespace. As in OpenWhisk a limit of
// 0 rejects every request (an operator's way to block a namespace); a
// negative limit means no limit.
type Limits struct {
	InvokesPerMinute  int
	ConcurrentInvokes int
	FiresPerMinute    int
}

// Unlimited is a limit value that never rejects.
const Unlimited = -1

// Throttle counts admissions per namespace. Per-minute limits count the
// requests admitted in the current wall-clock minute, as OpenWhisk's rate
// throttler does: the count starts again at zero when the minute turns.
// Rejected requests are not counted.
type Throttle struct {
	now       func() time.Time
	defaults  Limits
	overrides atomic.Pointer[map[string]Limits]
	entries   sync.Map // namespace -> *entry

	// share is how many controllers split the limits (share.go); nil: 1.
	share func() int
}

// entry is the state of one namespace. invokes and fires pack the epoch
// minute in the high 32 bits and the count within it in the low 32 bits, so
// that one compare-and-swap both rolls the window and counts.
type entry struct {
	invokes  atomic.Uint64
	fires    atomic.Uint64
	inFlight atomic.Int64
}

// Option configures a Throttle.
type Option func(*Throttle)

// WithClock makes the Throttle read time from now instead of time.Now; tests
// use it to turn the minute.
func WithClock(now func() time.Time) Option {
	return func(t *Throttle) { t.now = now }
}

// New returns a Throttle that applies defaults to every namespace without an
// override.
func New(defaults Limits, opts ...Option) *Throttle {
	t := &Throttle{now: time.Now, defaults: defaults}
	for _, o := range opts {
		o(t)
	}
	return t
}

// SetOverrides replaces the per-namespace limits. A namespace absent from m
// gets the defaults. m is copied; counts already taken are kept.
func (t *Throttle) SetOverrides(m map[string]Limits) {
	c := make(map[string]Limits, len(m))
	for k, v := range m {
		c[k] = v
	}
	t.overrides.Store(&c)
}

// LimitsFor returns the limits that apply to namespace ns.
func (t *Throttle) LimitsFor(ns string) Limits {
	if m := t.overrides.Load(); m != nil {
		if l, ok := (*m)[ns]; ok {
			return l
		}
	}
	return t.defaults
}

func (t *Throttle) entry(ns string) *entry {
	if e, ok := t.entries.Load(ns); ok {
		return e.(*entry)
	}
	e, _ := t.entries.LoadOrStore(ns, new(entry))
	return e.(*entry)
}

func (t *Throttle) minute() uint64 {
	return uint64(t.now().Unix() / 60)
}

// take counts one admission against limit in the current minute. It returns
// the count before this admission and whether it was admitted.
func take(w *atomic.Uint64, minute uint64, limit int) (int, bool) {
	for {
		old := w.Load()
		count := old & 0xffffffff
		if old>>32 != minute {
			count = 0
		}
		if limit >= 0 && count >= uint64(limit) {
			return int(count), false
		}
		if count == 0xffffffff { // saturate rather than wrap
			return int(count), true
		}
		if w.CompareAndSwap(old, minute<<32|(count+1)) {
			return int(count), true
		}
	}
}

func tooMany(format string, count, allowed int) error {
	return whisk.Errorf(http.StatusTooManyRequests, format, count, allowed)
}

// CheckInvoke admits one action invocation of namespace ns against its
// invocations-per-minute limit, or returns a 429 *whisk.Error with
// OpenWhisk's message. An admitted invocation is counted.
func (t *Throttle) CheckInvoke(ns string) error {
	limit := t.part(t.LimitsFor(ns).InvokesPerMinute)
	if limit < 0 {
		return nil
	}
	if n, ok := take(&t.entry(ns).invokes, t.minute(), limit); !ok {
		return tooMany(whisk.MsgTooManyPerMinute, n, limit)
	}
	return nil
}

// CheckFire admits one trigger fire of namespace ns against its
// fires-per-minute limit, or returns a 429 *whisk.Error.
func (t *Throttle) CheckFire(ns string) error {
	limit := t.part(t.LimitsFor(ns).FiresPerMinute)
	if limit < 0 {
		return nil
	}
	if n, ok := take(&t.entry(ns).fires, t.minute(), limit); !ok {
		return tooMany(whisk.MsgTooManyPerMinute, n, limit)
	}
	return nil
}

// Acquire takes one slot of namespace ns's concurrent-invocations limit for
// an activation about to run, or returns a 429 *whisk.Error with OpenWhisk's
// message. The caller must call release once the activation completes;
// calling it again does nothing.
func (t *Throttle) Acquire(ns string) (release func(), err error) {
	limit := t.part(t.LimitsFor(ns).ConcurrentInvokes)
	e := t.entry(ns)
	n := e.inFlight.Add(1)
	if limit >= 0 && n > int64(limit) {
		e.inFlight.Add(-1)
		return nil, tooMany(whisk.MsgTooManyConcurrent, int(n-1), limit)
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			e.inFlight.Add(-1)
		}
	}, nil
}

// InFlight returns how many activations of namespace ns hold a slot.
func (t *Throttle) InFlight(ns string) int {
	if e, ok := t.entries.Load(ns); ok {
		return int(e.(*entry).inFlight.Load())
	}
	return 0
}
