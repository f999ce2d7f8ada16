package bus

import (
	"context"
	"time"
)

// Heartbeat says that an invoker (or a controller) is alive and how much
// work it takes. Invokers send one every interval (app: one a second);
// controllers declare an invoker dead when its heartbeats stop for longer
// than their timeout, and route around it (internal/balancer).
// Controllers send them too, naming themselves in Controller, so that
// each knows how many share the invokers' capacity and the namespaces'
// limits.
type Heartbeat struct {
	Invoker    string `json:"invoker,omitempty"`
	Controller string `json:"controller,omitempty"`
	// Capacity is how many activations the invoker runs at once (its
	// container memory over the smallest action memory); 0: unknown.
	Capacity int       `json:"capacity,omitempty"`
	Sent     time.Time `json:"sent"`
	// Leaving is set on the last heartbeat of an invoker that shuts
	// down: controllers take it out of the live set at once.
	Leaving bool `json:"leaving,omitempty"`
}

// HeartbeatHandler receives heartbeats. Like the other handlers it must
// return quickly and may be called from several goroutines.
type HeartbeatHandler func(ctx context.Context, hb *Heartbeat)

// Presence is a bus that carries invokers' heartbeats to every
// controller. Unlike invocations, a heartbeat is not stored and goes to
// every live Heartbeats subscription (of any process on the bus), at most
// once: a heartbeat sent while nobody listens is lost, which is harmless
// since the next one follows. Both buses of this repository implement it
// and bus/bustest checks it; it is a separate interface so that a bus
// without presence still carries invocations (its controllers then
// balance over a static list).
type Presence interface {
	// Beat sends hb to every Heartbeats subscription.
	Beat(ctx context.Context, hb *Heartbeat) error
	// Heartbeats delivers every heartbeat sent after it returns to h,
	// until ctx is done. Any number of subscriptions may be live at once.
	Heartbeats(ctx context.Context, h HeartbeatHandler) error
}
