// Package local is the in-process bus of standalone Whirl: Publish hands an
// invocation straight to the invoker's handler and Complete hands a
// completion straight to the controller's, with no copy and no
// serialisation.
//
// Durability of accepted asynchronous invocations is not the bus's job in
// standalone mode: the balancer journals them in the store before
// publishing.
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

// Bus is an in-process bus.Bus. The zero value is not usable; call New.
type Bus struct {
	mu          sync.RWMutex
	invokers    map[string]bus.InvocationHandler
	controllers map[string]bus.CompletionHandler
	closed      bool
	ctx         context.Context
	cancel      context.CancelFunc
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty bus.
func New() *Bus {
	ctx, cancel := context.WithCancel(context.Background())
	return &Bus{invokers: map[string]bus.InvocationHandler{}, controllers: map[string]bus.CompletionHandler{}, ctx: ctx, cancel: cancel}
}

// Publish calls the invoker's handler on the caller's goroutine. The
// handler receives the bus's own context, not ctx: the invocation outlives
// the request that published it.
func (b *Bus) Publish(ctx context.Context, invoker string, inv *bus.Invocation) error {
	b.mu.RLock()
	h, ok := b.invokers[invoker]
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return fmt.Errorf("publish to %s: bus closed", invoker)
	}
	if !ok {
		return fmt.Errorf("publish to %s: %w", invoker, ErrNoSubscriber)
	}
	h(b.ctx, inv)
	return nil
}

// Subscribe registers h for invoker until ctx is done. It returns at once.
func (b *Bus) Subscribe(ctx context.Context, invoker string, h bus.InvocationHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.invokers[invoker]; dup {
		return fmt.Errorf("subscribe %s: already subscribed", invoker)
	}
	b.invokers[invoker] = h
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		delete(b.invokers, invoker)
		b.mu.Unlock()
	})
	return nil
}

// Complete calls the controller's completion handler on the caller's
// goroutine.
func (b *Bus) Complete(ctx context.Context, c *bus.Completion) error {
	b.mu.RLock()
	h, ok := b.controllers[c.Controller]
	b.mu.RUnlock()
	if !ok {
		return fmt.Errorf("complete %s: %w", c.ActivationID, ErrNoSubscriber)
	}
	h(b.ctx, c)
	return nil
}

// Completions registers h for controller until ctx is done.
func (b *Bus) Completions(ctx context.Context, controller string, h bus.CompletionHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.controllers[controller]; dup {
		return fmt.Errorf("completions %s: already subscribed", controller)
	}
	b.controllers[controller] = h
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		delete(b.controllers, controller)
		b.mu.Unlock()
	})
	return nil
}

// Close stops delivery: later Publish calls fail.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	return nil
}
