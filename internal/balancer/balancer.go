// Package balancer sits between the controller and the invokers: it picks
// an invoker for each invocation, journals accepted asynchronous
// invocations so that none is lost across a crash, publishes them on the
// bus, and wakes blocking callers when their completion arrives.
//
// The controller imports it; it knows nothing of how invokers run code.
package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/whisk"
)

// ErrNoInvokers is returned when no invoker is registered; the controller
// answers 503.
var ErrNoInvokers = errors.New("balancer: no invokers")

// Balancer routes invocations. Create it with New and call Start before
// Publish.
type Balancer struct {
	name     string
	bus      bus.Bus
	journal  store.Journal // nil when the bus itself is durable
	invokers []string

	// Rehydrate, when set, restores the action of a journaled invocation
	// at Recover. Journal entries do not carry the action's code (it may
	// be a 48 MB zip); without Rehydrate they carry it.
	Rehydrate func(ctx context.Context, inv *bus.Invocation) error
	// Resume, when set, is offered each recovered invocation before it is
	// published; it returns true when it took the invocation over (the
	// controller resumes the sequences it journaled itself).
	Resume func(ctx context.Context, inv *bus.Invocation) bool

	mu      sync.Mutex
	waiters map[string]*waiter
}

type waiter struct {
	ch   chan *whisk.Activation // buffered 1; nil for fire-and-forget
	done func(*whisk.Activation)
}

// New returns a balancer named name (the controller's id on the bus) over
// the given invokers. journal may be nil when the bus persists published
// invocations itself.
func New(name string, b bus.Bus, journal store.Journal, invokers []string) *Balancer {
	return &Balancer{name: name, bus: b, journal: journal, invokers: invokers, waiters: map[string]*waiter{}}
}

// Start subscribes to completions until ctx is done.
func (lb *Balancer) Start(ctx context.Context) error {
	return lb.bus.Completions(ctx, lb.name, lb.complete)
}

// Publish sends inv to an invoker. When wait is true the returned channel
// receives the activation record once it is stored; otherwise it is nil.
// done, when not nil, is called exactly once with the record when the
// activation completes (to release throttling slots, say), whether or not
// anyone still waits, or with nil when a journaled invocation could not be
// handed to an invoker (it runs after a restart). A non-blocking invocation is journaled durably
// before Publish returns.
func (lb *Balancer) Publish(ctx context.Context, inv *bus.Invocation, wait bool, done func(*whisk.Activation)) (<-chan *whisk.Activation, error) {
	if len(lb.invokers) == 0 {
		return nil, ErrNoInvokers
	}
	inv.Controller = lb.name
	var w *waiter
	if wait || done != nil {
		w = &waiter{done: done}
		if wait {
			w.ch = make(chan *whisk.Activation, 1)
		}
		lb.mu.Lock()
		lb.waiters[inv.ActivationID] = w
		lb.mu.Unlock()
	}
	if !inv.Blocking && lb.journal != nil {
		payload, err := json.Marshal(lb.journaled(inv))
		if err != nil {
			lb.forget(inv.ActivationID)
			return nil, fmt.Errorf("journal %s: %w", inv.ActivationID, err)
		}
		if err := lb.journal.Append(ctx, store.JournalEntry{ID: inv.ActivationID, Payload: payload, Accepted: inv.Received}); err != nil {
			lb.forget(inv.ActivationID)
			return nil, fmt.Errorf("journal %s: %w", inv.ActivationID, err)
		}
	}
	if err := lb.bus.Publish(ctx, lb.choose(inv), inv); err != nil {
		if !inv.Blocking && lb.journal != nil {
			// The journal holds it: it runs on the next start. Tell the
			// caller nothing is lost by not failing, and release what
			// done holds now: no completion will come in this process.
			lb.forget(inv.ActivationID)
			if done != nil {
				done(nil)
			}
			return nil, nil
		}
		lb.forget(inv.ActivationID)
		return nil, fmt.Errorf("publish %s: %w", inv.ActivationID, err)
	}
	if w == nil || w.ch == nil {
		return nil, nil
	}
	return w.ch, nil
}

// Recover republishes every journaled invocation that has no record yet.
// Call it once at start, after the invokers subscribed.
func (lb *Balancer) Recover(ctx context.Context) (int, error) {
	if lb.journal == nil {
		return 0, nil
	}
	pending, err := lb.journal.Pending(ctx)
	if err != nil {
		return 0, fmt.Errorf("recover: %w", err)
	}
	for _, e := range pending {
		var inv bus.Invocation
		if err := json.Unmarshal(e.Payload, &inv); err != nil {
			return 0, fmt.Errorf("recover %s: %w", e.ID, err)
		}
		inv.Controller = lb.name
		if lb.Resume != nil && lb.Resume(ctx, &inv) {
			continue
		}
		if lb.Rehydrate != nil && inv.Action != nil && inv.Action.Exec.Code == nil {
			if err := lb.Rehydrate(ctx, &inv); err != nil {
				// The action is gone or unreadable: the invocation still
				// leaves a record, saying why it did not run.
				inv.Error = fmt.Sprintf("The action could not be loaded to run this invocation: %v", err)
			}
		}
		if err := lb.bus.Publish(ctx, lb.choose(&inv), &inv); err != nil {
			return 0, fmt.Errorf("recover %s: %w", e.ID, err)
		}
	}
	return len(pending), nil
}

// journaled returns what the journal keeps of inv: everything but the
// action's code when Rehydrate can restore it.
func (lb *Balancer) journaled(inv *bus.Invocation) *bus.Invocation {
	if lb.Rehydrate == nil || inv.Action == nil || inv.Action.Exec.Code == nil {
		return inv
	}
	j := *inv
	a := *inv.Action
	a.Exec.Code = nil
	j.Action = &a
	return &j
}

func (lb *Balancer) forget(id string) {
	lb.mu.Lock()
	delete(lb.waiters, id)
	lb.mu.Unlock()
}

func (lb *Balancer) complete(_ context.Context, c *bus.Completion) {
	lb.mu.Lock()
	w := lb.waiters[c.ActivationID]
	delete(lb.waiters, c.ActivationID)
	lb.mu.Unlock()
	if w == nil {
		return
	}
	if w.done != nil {
		w.done(c.Activation)
	}
	if w.ch != nil {
		w.ch <- c.Activation
	}
}

// choose picks the home invoker of the action by hash. With one invoker
// (standalone) it is that one.
func (lb *Balancer) choose(inv *bus.Invocation) string {
	if len(lb.invokers) == 1 {
		return lb.invokers[0]
	}
	h := fnv.New32a()
	if inv.Action != nil {
		h.Write([]byte(inv.Action.Namespace + "/" + inv.Action.Name))
	}
	return lb.invokers[int(h.Sum32())%len(lb.invokers)]
}

// Pending returns how many activations are published and not yet
// completed with a waiter or callback registered.
func (lb *Balancer) Pending() int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return len(lb.waiters)
}

// WaitFor waits on ch until the record arrives, ctx ends or d passes.
// It returns nil when the wait ran out.
func WaitFor(ctx context.Context, ch <-chan *whisk.Activation, d time.Duration) *whisk.Activation {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case a := <-ch:
		return a
	case <-t.C:
		return nil
	case <-ctx.Done():
		return nil
	}
}
