package throttle

import (
	"sync/atomic"
	"testing"
)

// TestShare: with n controllers splitting the limits, each admits
// ceil(limit/n) per minute and of concurrent invocations, so n
// controllers together admit the limit (plus at most n-1 from rounding);
// 0 and unlimited stay so; a change of n applies at once.
func TestShare(t *testing.T) {
	var n atomic.Int64
	n.Store(2)
	limits := Limits{InvokesPerMinute: 10, ConcurrentInvokes: 3, FiresPerMinute: Unlimited}
	controllers := []*Throttle{
		New(limits, WithShare(func() int { return int(n.Load()) })),
		New(limits, WithShare(func() int { return int(n.Load()) })),
	}
	admitted := 0
	for i := range 40 { // spread evenly, as a round-robin load balancer does
		if controllers[i%2].CheckInvoke("ns") == nil {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("two controllers admitted %d invokes of a limit of 10 per minute", admitted)
	}
	held := 0
	for i := range 10 {
		if _, err := controllers[i%2].Acquire("ns"); err == nil {
			held++
		}
	}
	if held != 4 { // ceil(3/2) each: the rounding bound, n-1 = 1 over
		t.Fatalf("two controllers admitted %d concurrent invocations of a limit of 3, want 4 (bound: limit + n - 1)", held)
	}
	for i := range 5 {
		if err := controllers[0].CheckFire("ns"); err != nil {
			t.Fatalf("unlimited fires refused at %d: %v", i, err)
		}
	}
	n.Store(1) // the other controller died: this one takes the whole limit
	alone := New(limits, WithShare(func() int { return int(n.Load()) }))
	got := 0
	for range 20 {
		if alone.CheckInvoke("ns") == nil {
			got++
		}
	}
	if got != 10 {
		t.Fatalf("alone, a controller admitted %d of 10", got)
	}
	zero := New(Limits{InvokesPerMinute: 0}, WithShare(func() int { return 3 }))
	if zero.CheckInvoke("ns") == nil {
		t.Fatal("a limit of 0 admitted an invoke")
	}
}
