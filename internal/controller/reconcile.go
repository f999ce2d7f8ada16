package controller

import (
	"context"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/whisk"
)

// Completions travel over core NATS in scale-out: one sent while NATS or
// the controller's connection is down is lost, although the invoker stored
// the record. Without more, the blocking caller would get 202 after its
// whole wait, and the invocation's throttle slot would stay taken for
// good. So on a durable bus the intake looks, every reconcileEvery, for the
// records of invocations pending longer than reconcileAfter, and completes
// those it finds as if their completion had come.
const (
	reconcileEvery = time.Second
	reconcileAfter = 2 * time.Second
)

// reconcile completes pending invocations whose records exist, until life
// ends.
func (c *Controller) reconcile(life context.Context) {
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-life.Done():
			return
		case <-t.C:
		}
		c.reconcileOnce(life, time.Now().Add(-reconcileAfter))
	}
}

// reconcileOnce completes the pending invocations sent before cutoff whose
// records are stored.
func (c *Controller) reconcileOnce(ctx context.Context, cutoff time.Time) {
	c.in.mu.Lock()
	var old []*bus.Invocation
	for _, p := range c.in.pending {
		if p.msg.Received.Before(cutoff) {
			old = append(old, p.msg)
		}
	}
	c.in.mu.Unlock()
	for _, m := range old {
		act, err := c.cfg.Store.Activations().Get(ctx, m.Namespace, m.ActivationID)
		if err != nil {
			continue // not stored yet (or the store is away): the next round
		}
		c.complete(ctx, &bus.Completion{ActivationID: m.ActivationID, Controller: c.cfg.Name, Activation: act, Reason: whisk.ReasonOf(act.Response.StatusCode)})
	}
}
