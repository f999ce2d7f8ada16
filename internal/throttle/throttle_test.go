package throttle

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 10, 0, 5, 0, time.UTC)} }

func wantTooMany(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted, want 429 %q", msg)
	}
	if s := whisk.StatusOf(err); s != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", s)
	}
	if err.Error() != msg {
		t.Fatalf("message %q, want %q", err.Error(), msg)
	}
}

func TestInvokesPerMinute(t *testing.T) {
	c := newClock()
	th := New(Limits{InvokesPerMinute: 3, ConcurrentInvokes: 10, FiresPerMinute: 10}, WithClock(c.Now))
	for i := 0; i < 3; i++ {
		if err := th.CheckInvoke("guest"); err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
	}
	wantTooMany(t, th.CheckInvoke("guest"), "Too many requests in the last minute (count: 3, allowed: 3).")
	// Another namespace has its own count.
	if err := th.CheckInvoke("other"); err != nil {
		t.Fatalf("other namespace: %v", err)
	}
	// Still the same minute.
	c.Add(50 * time.Second)
	wantTooMany(t, th.CheckInvoke("guest"), "Too many requests in the last minute (count: 3, allowed: 3).")
	// The minute turns: the count starts again.
	c.Add(10 * time.Second)
	for i := 0; i < 3; i++ {
		if err := th.CheckInvoke("guest"); err != nil {
			t.Fatalf("next minute invoke %d: %v", i, err)
		}
	}
	wantTooMany(t, th.CheckInvoke("guest"), "Too many requests in the last minute (count: 3, allowed: 3).")
}

func TestFiresPerMinuteSeparateFromInvokes(t *testing.T) {
	c := newClock()
	th := New(Limits{InvokesPerMinute: 1, ConcurrentInvokes: 1, FiresPerMinute: 2}, WithClock(c.Now))
	if err := th.CheckInvoke("ns"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := th.CheckFire("ns"); err != nil {
			t.Fatalf("fire %d: %v", i, err)
		}
	}
	wantTooMany(t, th.CheckFire("ns"), "Too many requests in the last minute (count: 2, allowed: 2).")
	c.Add(time.Minute)
	if err := th.CheckFire("ns"); err != nil {
		t.Fatalf("fire after a minute: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	th := New(Limits{InvokesPerMinute: Unlimited, ConcurrentInvokes: 2, FiresPerMinute: Unlimited})
	r1, err := th.Acquire("ns")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := th.Acquire("ns")
	if err != nil {
		t.Fatal(err)
	}
	_, err = th.Acquire("ns")
	wantTooMany(t, err, "Too many concurrent requests in flight (count: 2, allowed: 2).")
	if n := th.InFlight("ns"); n != 2 {
		t.Fatalf("in flight %d, want 2 (a rejected acquire must not hold a slot)", n)
	}
	r1()
	r1() // idempotent
	if n := th.InFlight("ns"); n != 1 {
		t.Fatalf("in flight %d after release, want 1", n)
	}
	r3, err := th.Acquire("ns")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	r2()
	r3()
	if n := th.InFlight("ns"); n != 0 {
		t.Fatalf("in flight %d, want 0", n)
	}
}

func TestZeroBlocksNegativeUnlimited(t *testing.T) {
	th := New(Limits{InvokesPerMinute: 0, ConcurrentInvokes: 0, FiresPerMinute: 0})
	wantTooMany(t, th.CheckInvoke("ns"), "Too many requests in the last minute (count: 0, allowed: 0).")
	_, err := th.Acquire("ns")
	wantTooMany(t, err, "Too many concurrent requests in flight (count: 0, allowed: 0).")
	th.SetOverrides(map[string]Limits{"vip": {InvokesPerMinute: Unlimited, ConcurrentInvokes: Unlimited, FiresPerMinute: Unlimited}})
	for i := 0; i < 1000; i++ {
		if err := th.CheckInvoke("vip"); err != nil {
			t.Fatal(err)
		}
		if _, err := th.Acquire("vip"); err != nil {
			t.Fatal(err)
		}
		if err := th.CheckFire("vip"); err != nil {
			t.Fatal(err)
		}
	}
	if err := th.CheckInvoke("ns"); err == nil {
		t.Fatal("override leaked to another namespace")
	}
}

func TestOverrides(t *testing.T) {
	th := New(Limits{InvokesPerMinute: 1, ConcurrentInvokes: 1, FiresPerMinute: 1})
	m := map[string]Limits{"big": {InvokesPerMinute: 2, ConcurrentInvokes: 2, FiresPerMinute: 2}}
	th.SetOverrides(m)
	m["big"] = Limits{} // SetOverrides copies
	if got := th.LimitsFor("big"); got.InvokesPerMinute != 2 {
		t.Fatalf("LimitsFor(big) = %+v", got)
	}
	if got := th.LimitsFor("small"); got.InvokesPerMinute != 1 {
		t.Fatalf("LimitsFor(small) = %+v", got)
	}
	for i := 0; i < 2; i++ {
		if err := th.CheckInvoke("big"); err != nil {
			t.Fatal(err)
		}
	}
	wantTooMany(t, th.CheckInvoke("big"), "Too many requests in the last minute (count: 2, allowed: 2).")
}

// TestConcurrentAdmissionsExact checks that racing callers never admit more
// than the limit.
func TestConcurrentAdmissionsExact(t *testing.T) {
	const limit = 500
	c := newClock() // a fixed minute: the wall clock must not turn it mid-test
	th := New(Limits{InvokesPerMinute: limit, ConcurrentInvokes: limit, FiresPerMinute: limit}, WithClock(c.Now))
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, acquired := 0, 0
	var releases []func()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if th.CheckInvoke("ns") == nil {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
				if r, err := th.Acquire("ns"); err == nil {
					mu.Lock()
					acquired++
					releases = append(releases, r)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if admitted != limit || acquired != limit {
		t.Fatalf("admitted %d, acquired %d, want %d each", admitted, acquired, limit)
	}
	for _, r := range releases {
		r()
	}
	if n := th.InFlight("ns"); n != 0 {
		t.Fatalf("in flight %d after all releases", n)
	}
}

func BenchmarkCheckInvoke(b *testing.B) {
	th := New(Limits{InvokesPerMinute: 1 << 30, ConcurrentInvokes: 1 << 30, FiresPerMinute: 60})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := th.CheckInvoke("guest"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAcquireRelease(b *testing.B) {
	th := New(Limits{InvokesPerMinute: 60, ConcurrentInvokes: 1 << 30, FiresPerMinute: 60})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := th.Acquire("guest")
			if err != nil {
				b.Fatal(err)
			}
			r()
		}
	})
}

func BenchmarkCheckInvokeManyNamespaces(b *testing.B) {
	th := New(Limits{InvokesPerMinute: 1 << 30, ConcurrentInvokes: 1 << 30, FiresPerMinute: 60})
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("ns%d", i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := th.CheckInvoke(names[i%len(names)]); err != nil {
			b.Fatal(err)
		}
	}
}
