package balancer_test

import (
	"context"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/balancer"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/local"
)

// cluster is a local bus with invokers that record what reaches them.
type cluster struct {
	b   *local.Bus
	got chan string // "invoker activation"
}

func newCluster(t *testing.T, names ...string) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &cluster{b: local.New(), got: make(chan string, 100)}
	for _, n := range names {
		if err := c.b.Subscribe(ctx, n, func(_ context.Context, inv *bus.Invocation) { c.got <- n }); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *cluster) beat(t *testing.T, name string, capacity int, leaving bool) {
	t.Helper()
	if err := c.b.Beat(context.Background(), &bus.Heartbeat{Invoker: name, Capacity: capacity, Sent: time.Now(), Leaving: leaving}); err != nil {
		t.Error(err) // called from goroutines too: no Fatal
	}
}

// publish publishes inv and returns where it went.
func publish(t *testing.T, lb *balancer.Balancer, inv *bus.Invocation) string {
	t.Helper()
	name, err := lb.Publish(context.Background(), inv)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return name
}

// TestFailover: invokers become live with their first heartbeat; an
// invoker whose heartbeats stop is declared dead after the timeout (and
// Changes says so), and its actions go to another live invoker; when it
// beats again they go home.
func TestFailover(t *testing.T) {
	c := newCluster(t, "inv0", "inv1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lb := balancer.New(balancer.Config{Name: "ctl0", Bus: c.b, Presence: c.b, Timeout: 300 * time.Millisecond})
	changed := lb.Changes()
	if _, err := lb.Publish(ctx, invocation("guest", "a")); err == nil {
		t.Fatal("Publish before any heartbeat succeeded")
	}
	c.beat(t, "inv0", 0, false) // Start waits for a first heartbeat: send one after it subscribed
	beating, stop := context.WithCancel(ctx)
	go func() {
		for beating.Err() == nil {
			c.beat(t, "inv0", 0, false)
			c.beat(t, "inv1", 0, false)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := lb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for len(lb.LiveInvokers()) < 2 {
		<-changed
	}
	// Find an action whose home is inv0.
	var home *bus.Invocation
	for i := 0; home == nil; i++ {
		inv := invocation("guest", string(rune('a'+i)))
		if publish(t, lb, inv) == "inv0" {
			home = inv
		}
	}
	// inv0 stops beating: only inv1's heartbeats go on.
	stop()
	go func() {
		for ctx.Err() == nil {
			c.beat(t, "inv1", 0, false)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for lb.Live("inv0") {
		<-changed
	}
	if got := lb.LiveInvokers(); len(got) != 1 || got[0] != "inv1" {
		t.Fatalf("live after inv0 stopped: %v", got)
	}
	if got := publish(t, lb, home); got != "inv1" {
		t.Fatalf("home dead: went to %s, want inv1", got)
	}
	c.beat(t, "inv0", 0, false)
	if got := publish(t, lb, home); got != "inv0" {
		t.Fatalf("home back: went to %s, want inv0", got)
	}
	c.beat(t, "inv0", 0, true) // leaving: routed around at once
	if got := publish(t, lb, home); got != "inv1" {
		t.Fatalf("home leaving: went to %s, want inv1", got)
	}
}

// TestCapacityStepping: an action stays on its home invoker while its
// memory fits the home's capacity, overflows to the next one when it does
// not, and comes home once Release gave the memory back; with no room
// anywhere it goes to a live invoker all the same.
func TestCapacityStepping(t *testing.T) {
	c := newCluster(t, "inv0", "inv1", "inv2")
	lb := balancer.New(balancer.Config{Name: "ctl0", Bus: c.b, Presence: c.b, Timeout: time.Hour})
	for _, n := range []string{"inv0", "inv1", "inv2"} {
		c.beat(t, n, 512, false)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Heartbeats before Start are not seen: beat again after.
	go func() { time.Sleep(10 * time.Millisecond); c.beat(t, "inv0", 512, false) }()
	if err := lb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"inv1", "inv2"} {
		c.beat(t, n, 512, false)
	}
	mk := func() *bus.Invocation {
		inv := invocation("guest", "big")
		inv.Action.Limits.Memory = 256
		return inv
	}
	first, second := mk(), mk()
	home := publish(t, lb, first)
	if got := publish(t, lb, second); got != home {
		t.Fatalf("second of two 256 MB in 512 MB went to %s, home %s", got, home)
	}
	third := mk()
	over := publish(t, lb, third)
	if over == home {
		t.Fatalf("a third 256 MB activation went to the full home %s", home)
	}
	lb.Release(home, first)
	if got := publish(t, lb, mk()); got != home {
		t.Fatalf("after a release the action went to %s, not home %s", got, home)
	}
	for range 10 { // everything full: still placed, on a live invoker
		if _, err := lb.Publish(ctx, mk()); err != nil {
			t.Fatalf("overloaded Publish: %v", err)
		}
	}
}

// TestAllowList: with Presence, Invokers is an allow-list: heartbeats of
// other invokers are ignored.
func TestAllowList(t *testing.T) {
	c := newCluster(t, "inv0", "rogue")
	lb := balancer.New(balancer.Config{Name: "ctl0", Bus: c.b, Presence: c.b, Invokers: []string{"inv0"}, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { time.Sleep(10 * time.Millisecond); c.beat(t, "rogue", 0, false); c.beat(t, "inv0", 0, false) }()
	if err := lb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for !lb.Live("inv0") {
		time.Sleep(time.Millisecond)
	}
	if lb.Live("rogue") {
		t.Fatal("an invoker outside the allow-list became live")
	}
}
