package controller

import (
	"context"
)

// Failover: the intake knows every invocation it published and where it
// went (pending.invoker). When the balancer's live set changes — an
// invoker's heartbeats stopped, or it said it was leaving — moveDead
// publishes every pending invocation of a dead invoker again, to a live
// one. The blocking caller still waits on the same pending entry, so it
// gets the re-run's completion within its wait; a non-blocking one gets
// its record from the re-run. The same activation id may thus run twice
// (the dead invoker may have been partitioned, not dead, or may run its
// stale copy from the stream when it comes back): at least once, and the
// record, keyed by the id, is stored once. Lock order: intake.mu, then
// the balancer's own.

// publish hands p's message to the balancer and records where it went.
func (c *Controller) publish(ctx context.Context, p *pending) error {
	name, err := c.in.lb.Publish(ctx, p.msg)
	if err != nil {
		return err
	}
	c.in.mu.Lock()
	still := c.in.pending[p.msg.ActivationID] == p
	if still {
		p.invoker = name
	}
	c.in.mu.Unlock()
	if !still { // completed already (bus/local runs it on this goroutine)
		c.in.lb.Release(name, p.msg)
	}
	return nil
}

// failover moves the work of dead invokers each time the balancer's live
// set changes, until life ends.
func (c *Controller) failover(life context.Context) {
	for {
		select {
		case <-life.Done():
			return
		case <-c.in.lb.Changes():
			c.moveDead()
		}
	}
}

// moveDead publishes again, to live invokers, every pending invocation
// whose invoker is no longer live. failover calls it (one call at a time)
// whenever the live set changes; what cannot be moved now (no live
// invoker) is tried again at the next change.
func (c *Controller) moveDead() {
	c.in.mu.Lock()
	var moving []*pending
	var from []string
	for _, p := range c.in.pending {
		if p.invoker != "" && !c.in.lb.Live(p.invoker) {
			moving = append(moving, p)
			from = append(from, p.invoker)
		}
	}
	c.in.mu.Unlock()
	if len(moving) == 0 {
		return
	}
	moved := 0
	for i, p := range moving {
		m := *p.msg // the dead invoker's bus may still hold the old one
		name, err := c.in.lb.Publish(c.in.life, &m)
		if err != nil {
			c.cfg.Logger.Warn("invocation of a dead invoker not moved yet", "activation", m.ActivationID, "invoker", from[i], "err", err)
			continue
		}
		c.in.mu.Lock()
		still := c.in.pending[m.ActivationID] == p && p.invoker == from[i]
		if still {
			p.invoker = name
		}
		c.in.mu.Unlock()
		if still {
			c.in.lb.Release(from[i], p.msg)
			moved++
		} else {
			c.in.lb.Release(name, &m)
		}
	}
	c.cfg.Logger.Warn("moved the invocations of dead invokers", "moved", moved, "of", len(moving))
}

// Controllers returns how many controllers are live, by their heartbeats
// (1 without presence): the throttles split the namespaces' limits by it.
func (c *Controller) Controllers() int { return c.in.lb.Controllers() }
