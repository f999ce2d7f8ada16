// Package local is the in-process bus of standalone Whirl: Publish hands an
// invocation straight to the invoker's handler and Complete hands a
// completion straight to the controller's, with no copy and no
// serialisation.
//
// Delivery is exactly once and synchronous: the handler runs on the
// publisher's goroutine, so invocations one caller publishes to one
// invoker arrive in order, and handlers may run concurrently for
// concurrent publishers. Nothing is stored: Publish and Complete fail with
// ErrNoSubscriber when nobody listens. Durability of accepted asynchronous
// invocations is not the bus's job in standalone mode: the balancer
// journals them in the store before publishing.
package local

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/whirlfaas/whirl/internal/bus"
)

// ErrNoSubscriber is returned by Publish and Complete when nobody listens
// on the target.
var ErrNoSubscriber = errors.New("local bus: no subscriber")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("local bus: closed")

// Bus is an in-process bus.Bus. The zero value is not usable; call New.
type Bus struct {
	mu          sync.RWMutex
	invokers    map[string]*subscription[bus.InvocationHandler]
	controllers map[string]*subscription[bus.CompletionHandler]
	closed      bool
	beats       beats
	ctx         context.Context // handed to handlers; done at Close
	cancel      context.CancelFunc
}

// subscription is one registered handler and the context that bounds it.
type subscription[H any] struct {
	h   H
	ctx context.Context
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty bus.
func New() *Bus {
	ctx, cancel := context.WithCancel(context.Background())
	return &Bus{
		invokers:    map[string]*subscription[bus.InvocationHandler]{},
		controllers: map[string]*subscription[bus.CompletionHandler]{},
		ctx:         ctx, cancel: cancel,
	}
}

// Publish calls the invoker's handler on the caller's goroutine. The
// handler receives the bus's own context, not ctx: the invocation outlives
// the request that published it.
func (b *Bus) Publish(ctx context.Context, invoker string, inv *bus.Invocation) error {
	h, err := lookup(b, b.invokers, invoker)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", invoker, err)
	}
	h(b.ctx, inv)
	return nil
}

// Subscribe registers h for invoker until ctx is done. It returns at once.
func (b *Bus) Subscribe(ctx context.Context, invoker string, h bus.InvocationHandler) error {
	if err := register(ctx, b, b.invokers, invoker, h); err != nil {
		return fmt.Errorf("subscribe %s: %w", invoker, err)
	}
	return nil
}

// Complete calls the controller's completion handler on the caller's
// goroutine.
func (b *Bus) Complete(ctx context.Context, c *bus.Completion) error {
	h, err := lookup(b, b.controllers, c.Controller)
	if err != nil {
		return fmt.Errorf("complete %s: %w", c.ActivationID, err)
	}
	h(b.ctx, c)
	return nil
}

// Completions registers h for controller until ctx is done.
func (b *Bus) Completions(ctx context.Context, controller string, h bus.CompletionHandler) error {
	if err := register(ctx, b, b.controllers, controller, h); err != nil {
		return fmt.Errorf("completions %s: %w", controller, err)
	}
	return nil
}

// Close stops delivery: every later call fails with ErrClosed. It returns
// nil, also when called again.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	return nil
}

// lookup returns the live handler registered under name. A subscription
// whose context is done counts as gone even before its AfterFunc removed
// it, so no handler runs after its context ended.
func lookup[H any](b *Bus, m map[string]*subscription[H], name string) (H, error) {
	b.mu.RLock()
	s := m[name]
	closed := b.closed
	b.mu.RUnlock()
	var zero H
	if closed {
		return zero, ErrClosed
	}
	if s == nil || s.ctx.Err() != nil {
		return zero, ErrNoSubscriber
	}
	return s.h, nil
}

// register adds h under name unless a live subscription holds the name.
func register[H any](ctx context.Context, b *Bus, m map[string]*subscription[H], name string, h H) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if old := m[name]; old != nil && old.ctx.Err() == nil {
		return errors.New("already subscribed")
	}
	s := &subscription[H]{h: h, ctx: ctx}
	m[name] = s
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		if m[name] == s { // not replaced by a later subscription
			delete(m, name)
		}
		b.mu.Unlock()
	})
	return nil
}

var _ bus.Presence = (*Bus)(nil)

// beats is the live Heartbeats subscriptions of a local bus.
type beats struct {
	mu   sync.Mutex
	next int
	subs map[int]*subscription[bus.HeartbeatHandler]
}

// Beat calls every live Heartbeats handler on the caller's goroutine.
func (b *Bus) Beat(ctx context.Context, hb *bus.Heartbeat) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return fmt.Errorf("beat %s: %w", hb.Invoker, ErrClosed)
	}
	b.beats.mu.Lock()
	hs := make([]bus.HeartbeatHandler, 0, len(b.beats.subs))
	for _, s := range b.beats.subs {
		if s.ctx.Err() == nil {
			hs = append(hs, s.h)
		}
	}
	b.beats.mu.Unlock()
	for _, h := range hs {
		c := *hb
		h(b.ctx, &c)
	}
	return nil
}

// Heartbeats registers h until ctx is done; any number may be live.
func (b *Bus) Heartbeats(ctx context.Context, h bus.HeartbeatHandler) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return fmt.Errorf("heartbeats: %w", ErrClosed)
	}
	b.beats.mu.Lock()
	defer b.beats.mu.Unlock()
	if b.beats.subs == nil {
		b.beats.subs = map[int]*subscription[bus.HeartbeatHandler]{}
	}
	id := b.beats.next
	b.beats.next++
	b.beats.subs[id] = &subscription[bus.HeartbeatHandler]{h: h, ctx: ctx}
	context.AfterFunc(ctx, func() {
		b.beats.mu.Lock()
		delete(b.beats.subs, id)
		b.beats.mu.Unlock()
	})
	return nil
}
