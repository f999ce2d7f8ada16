package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
)

// hasBeat reports a predicate: a heartbeat from invoker arrived.
func hasBeat(invoker string) func([]*bus.Heartbeat) bool {
	return func(got []*bus.Heartbeat) bool {
		for _, hb := range got {
			if hb.Invoker == invoker {
				return true
			}
		}
		return false
	}
}

// testPresence: every bus carries heartbeats (bus.Presence) to every live
// Heartbeats subscription, with their fields; a subscription stops
// receiving when its context ends, and Beat fails after Close.
func testPresence(t *testing.T, b bus.Bus) {
	p, ok := b.(bus.Presence)
	if !ok {
		t.Fatalf("%T does not implement bus.Presence: controllers could not learn which invokers are alive", b)
	}
	c := ctx(t)
	a, z := newInbox[*bus.Heartbeat](), newInbox[*bus.Heartbeat]()
	actx, acancel := context.WithCancel(c)
	if err := p.Heartbeats(actx, func(_ context.Context, hb *bus.Heartbeat) { a.put(hb) }); err != nil {
		t.Fatalf("Heartbeats: %v", err)
	}
	if err := p.Heartbeats(c, func(_ context.Context, hb *bus.Heartbeat) { z.put(hb) }); err != nil {
		t.Fatalf("a second Heartbeats subscription: %v", err)
	}
	sent := time.Now().UTC().Truncate(time.Millisecond)
	if err := p.Beat(c, &bus.Heartbeat{Invoker: "inv0", Capacity: 7, Sent: sent, Leaving: true}); err != nil {
		t.Fatalf("Beat: %v", err)
	}
	for _, ib := range []*inbox[*bus.Heartbeat]{a, z} {
		got := ib.waitFor(t, "the heartbeat at every subscription", hasBeat("inv0"))
		hb := got[0]
		if hb.Capacity != 7 || !hb.Sent.Equal(sent) || !hb.Leaving {
			t.Errorf("heartbeat arrived as %+v, sent with capacity 7, sent %v, leaving", hb, sent)
		}
	}
	acancel()
	if err := p.Beat(c, &bus.Heartbeat{Invoker: "inv1", Sent: time.Now()}); err != nil {
		t.Fatalf("Beat: %v", err)
	}
	z.waitFor(t, "the second heartbeat", hasBeat("inv1"))
	if hasBeat("inv1")(a.list()) {
		t.Error("a heartbeat reached a subscription whose context had ended")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Beat(c, &bus.Heartbeat{Invoker: "inv2", Sent: time.Now()}); err == nil {
		t.Error("Beat after Close succeeded")
	}
	if err := p.Heartbeats(c, func(context.Context, *bus.Heartbeat) {}); err == nil {
		t.Error("Heartbeats after Close succeeded")
	}
}
