package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/balancer"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// The intake is the one way into the system for every invocation: an
// invoke through the API, each component of a sequence, each rule of a
// trigger fire and of an alarm, a web action and a gateway call all come
// through invoke, which, in this order:
//
//  1. throttles: the namespace's invocations per minute (429), then, for
//     an action the invokers run, a slot of its concurrent invocations,
//     held until the completion arrives;
//  2. journals what must outlive a crash before it is acknowledged: every
//     accepted non-blocking invocation (sequences always; actions unless
//     the bus stores them itself, as NATS JetStream does), without the
//     action's code (Recover loads it again);
//  3. hands it on: an action to the balancer (which publishes it to its
//     invoker), a sequence to its chain (sequences.go), whose components
//     come back through invoke, a built-in action to its provider;
//  4. waits, for a blocking caller, for the completion — delivered by the
//     bus to complete, which also gives the throttle slot back.
//
// Completions carry a whisk.Reason; the caller never compares messages.

// intake is the controller's state of invocations in flight.
type intake struct {
	lb *balancer.Balancer
	// journalActions is false when the bus keeps what it is given, so
	// that actions need no journal of their own.
	journalActions bool

	mu      sync.Mutex
	pending map[string]*pending // by activation id

	// life ends when the controller closes: chains stop, and their
	// journal entries make them run again after the next start.
	life   context.Context
	cancel context.CancelFunc
	chains sync.WaitGroup
	loops  sync.WaitGroup // the intake's own loops (reconcile.go), until life ends
}

// pending is an invocation published and not yet completed.
type pending struct {
	release func()               // gives the throttle slot back
	done    chan *bus.Completion // buffered 1; nil when nobody waits
	// msg is what was published and invoker where it went (guarded by
	// intake.mu): failover.go moves it when that invoker dies.
	msg     *bus.Invocation
	invoker string
}

func newIntake(cfg Config) *intake {
	life, cancel := context.WithCancel(context.Background())
	return &intake{
		lb: balancer.New(balancer.Config{Name: cfg.Name, Bus: cfg.Bus, Invokers: cfg.Invokers,
			Presence: cfg.Presence, Timeout: cfg.InvokerTimeout,
			Logger: cfg.Logger}),
		journalActions: !cfg.DurableBus,
		pending:        map[string]*pending{},
		life:           life,
		cancel:         cancel,
	}
}

// Start subscribes to this controller's completions and, in scale-out,
// to the invokers' heartbeats, until ctx ends. Call it before serving and
// before Recover.
func (c *Controller) Start(ctx context.Context) error {
	if err := c.cfg.Bus.Completions(ctx, c.cfg.Name, c.complete); err != nil {
		return err
	}
	if c.cfg.DurableBus {
		c.loop(c.reconcile)
	}
	if c.cfg.Presence != nil {
		c.loop(c.failover)
	}
	return c.in.lb.Start(ctx)
}

// loop runs fn on a goroutine of the intake's own until the controller
// closes (Close waits for it).
func (c *Controller) loop(fn func(life context.Context)) {
	c.in.loops.Add(1)
	go func() {
		defer c.in.loops.Done()
		fn(c.in.life)
	}()
}

// invoke runs inv through the intake. It returns the activation id and,
// for a blocking invocation that finished within its wait, its
// completion.
func (c *Controller) invoke(ctx context.Context, inv *invocation) (string, *bus.Completion, error) {
	ns := inv.id.Namespace
	if err := c.cfg.Throttle.CheckInvoke(ns); err != nil {
		return "", nil, err
	}
	msg := c.message(inv)
	switch inv.ra.action.Exec.Kind {
	case whisk.KindSequence:
		return c.startSequence(ctx, inv, msg)
	case whisk.KindBuiltin:
		return c.runBuiltin(ctx, inv, msg.ActivationID)
	}
	release, err := c.cfg.Throttle.Acquire(ns)
	if err != nil {
		return "", nil, err
	}
	journaled := !inv.blocking && c.in.journalActions
	if journaled {
		if err := c.journal(ctx, msg); err != nil {
			release()
			return "", nil, err
		}
	}
	p := &pending{release: release, msg: msg}
	if inv.blocking {
		p.done = make(chan *bus.Completion, 1)
	}
	c.in.mu.Lock()
	c.in.pending[msg.ActivationID] = p
	c.in.mu.Unlock()
	if err := c.publish(ctx, p); err != nil {
		c.forget(msg.ActivationID)
		release()
		if !journaled {
			return "", nil, err
		}
		// The journal holds it: it runs after the next start.
		c.cfg.Logger.Warn("accepted invocation not handed to an invoker; it runs after a restart", "activation", msg.ActivationID, "err", err)
	}
	if c.cfg.OnAccepted != nil {
		c.cfg.OnAccepted(ns, inv.blocking)
	}
	if !inv.blocking {
		return msg.ActivationID, nil, nil
	}
	return msg.ActivationID, waitFor(ctx, p.done, inv.wait), nil
}

// message is the bus message of inv, with a fresh activation id unless
// inv has one.
func (c *Controller) message(inv *invocation) *bus.Invocation {
	id := inv.activation
	if id == "" {
		id = whisk.NewActivationID()
	}
	return &bus.Invocation{
		ActivationID:  id,
		TransactionID: c.transactionID(),
		Action:        inv.ra.action,
		Params:        inv.params,
		Namespace:     inv.id.Namespace,
		Subject:       inv.id.Subject,
		APIKey:        apiKey(inv.id),
		Blocking:      inv.blocking,
		Received:      time.Now(),
		Cause:         inv.cause,
		Annotations:   inv.ra.annotations.Merge(inv.annotations),
		Controller:    c.cfg.Name,
	}
}

// journal makes an accepted non-blocking invocation durable. The entry
// does not carry the action's code (it may be a 48 MB zip): Recover loads
// the action again. The transaction that stores the activation's record
// retires the entry.
func (c *Controller) journal(ctx context.Context, msg *bus.Invocation) error {
	j := *msg
	if msg.Action != nil && msg.Action.Exec.Code != nil {
		a := *msg.Action
		a.Exec.Code = nil
		j.Action = &a
	}
	payload, err := json.Marshal(&j)
	if err != nil {
		return fmt.Errorf("journal %s: %w", msg.ActivationID, err)
	}
	if err := c.cfg.Store.Journal().Append(ctx, store.JournalEntry{ID: msg.ActivationID, Payload: payload, Accepted: msg.Received}); err != nil {
		return fmt.Errorf("journal %s: %w", msg.ActivationID, err)
	}
	return nil
}

// complete receives this controller's completions from the bus: the
// throttle slot goes back, and a waiting caller gets the completion.
func (c *Controller) complete(_ context.Context, comp *bus.Completion) {
	p := c.forget(comp.ActivationID)
	if p == nil {
		return
	}
	c.in.lb.Release(p.invoker, p.msg)
	p.release()
	if p.done != nil {
		p.done <- comp
	}
}

// forget removes and returns the pending invocation id, if any.
func (c *Controller) forget(id string) *pending {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	p := c.in.pending[id]
	delete(c.in.pending, id)
	return p
}

// waitFor waits on ch until the completion arrives, ctx ends or d passes.
// It returns nil when the wait ran out.
func waitFor(ctx context.Context, ch <-chan *bus.Completion, d time.Duration) *bus.Completion {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case comp := <-ch:
		return comp
	case <-t.C:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// Recover takes over every journaled invocation of this controller that
// has no record yet: an action is published again (its code loaded from
// the store; an action deleted meanwhile still leaves a record saying
// so), a sequence's chain runs again from its first component. Call it
// once at start, after Start and after the invokers subscribed. It returns
// how many it took over.
func (c *Controller) Recover(ctx context.Context) (int, error) {
	entries, err := c.cfg.Store.Journal().Pending(ctx)
	if err != nil {
		return 0, fmt.Errorf("recover: %w", err)
	}
	n := 0
	for _, e := range entries {
		var m bus.Invocation
		if err := json.Unmarshal(e.Payload, &m); err != nil {
			return n, fmt.Errorf("recover %s: %w", e.ID, err)
		}
		if m.Controller != "" && m.Controller != c.cfg.Name {
			continue // another controller's, which recovers it itself
		}
		n++
		if m.Action != nil && m.Action.Exec.Kind == whisk.KindSequence {
			c.resumeSequence(&m)
			continue
		}
		if m.Action != nil && m.Action.Exec.Code == nil {
			if err := c.reload(ctx, &m); err != nil {
				m.Error = fmt.Sprintf("The action could not be loaded to run this invocation: %v", err)
			}
		}
		if _, err := c.in.lb.Publish(ctx, &m); err != nil {
			return n, fmt.Errorf("recover %s: %w", e.ID, err)
		}
	}
	return n, nil
}

// reload restores the action of a journaled invocation from the store.
func (c *Controller) reload(ctx context.Context, m *bus.Invocation) error {
	f := m.Action.FQN()
	e, err := c.ents.Get(ctx, store.Actions, f.Namespace, f.Key())
	if err != nil {
		return fmt.Errorf("load %s: %w", f, err)
	}
	var a whisk.Action
	if err := json.Unmarshal(e.Doc, &a); err != nil {
		return fmt.Errorf("decode %s: %w", f, err)
	}
	m.Action = &a
	return nil
}

// spawn runs fn on a goroutine the controller owns: Close waits for it.
func (c *Controller) spawn(fn func(ctx context.Context)) {
	c.in.chains.Add(1)
	go func() {
		defer c.in.chains.Done()
		fn(c.in.life)
	}()
}

// Close stops the controller's own work: it waits, until ctx ends, for the
// sequences it runs to finish, then stops those still running (their
// journal entries make them run again after the next start) and waits for
// them to return.
func (c *Controller) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { c.in.chains.Wait(); close(done) }()
	select {
	case <-done:
		c.in.cancel()
		c.in.loops.Wait()
		return nil
	case <-ctx.Done():
	}
	c.in.cancel()
	<-done
	c.in.loops.Wait()
	return ctx.Err()
}
