// Package balancer picks the invoker of each invocation and publishes it
// there on the bus. It is the last step of the controller's intake
// (internal/controller/intake.go), which throttles, journals and waits;
// the balancer knows nothing of how invokers run code, and calls nothing
// above it.
package balancer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/whirlfaas/whirl/internal/bus"
)

// ErrNoInvokers is returned when no invoker is configured; the controller
// answers 503.
var ErrNoInvokers = errors.New("balancer: no invokers")

// Config is everything a Balancer needs; it does not change afterwards.
type Config struct {
	// Name is the controller's name on the bus: invokers send its
	// completions there.
	Name string
	// Bus carries the invocations.
	Bus bus.Bus
	// Invokers are the invokers' names; an action's home invoker is
	// chosen among them by hash.
	Invokers []string
}

// Balancer routes invocations. It is safe for concurrent use.
type Balancer struct {
	cfg Config
}

// New returns a balancer.
func New(cfg Config) *Balancer {
	return &Balancer{cfg: cfg}
}

// Publish sends inv to its invoker, naming this controller as the one
// that waits for the completion.
func (lb *Balancer) Publish(ctx context.Context, inv *bus.Invocation) error {
	if len(lb.cfg.Invokers) == 0 {
		return ErrNoInvokers
	}
	inv.Controller = lb.cfg.Name
	if err := lb.cfg.Bus.Publish(ctx, lb.choose(inv), inv); err != nil {
		return fmt.Errorf("publish %s: %w", inv.ActivationID, err)
	}
	return nil
}

// choose picks the home invoker of the action by hash. With one invoker
// (standalone) it is that one.
func (lb *Balancer) choose(inv *bus.Invocation) string {
	if len(lb.cfg.Invokers) == 1 {
		return lb.cfg.Invokers[0]
	}
	h := fnv.New32a()
	if inv.Action != nil {
		h.Write([]byte(inv.Action.Namespace + "/" + inv.Action.Name))
	}
	return lb.cfg.Invokers[int(h.Sum32())%len(lb.cfg.Invokers)]
}
