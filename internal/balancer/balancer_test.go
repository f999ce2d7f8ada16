package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/whirlfaas/whirl/internal/balancer"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/local"
	"github.com/whirlfaas/whirl/whisk"
)

func invocation(ns, name string) *bus.Invocation {
	return &bus.Invocation{ActivationID: whisk.NewActivationID(), Action: &whisk.Action{Namespace: ns, Name: name}}
}

// TestHomeInvoker: an action always goes to the same invoker, different
// actions spread over all of them, and the message names the controller
// that waits for the completion.
func TestHomeInvoker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := local.New()
	got := map[string]map[string]bool{} // invoker -> actions
	for _, name := range []string{"inv0", "inv1", "inv2"} {
		got[name] = map[string]bool{}
		b.Subscribe(ctx, name, func(_ context.Context, inv *bus.Invocation) {
			if inv.Controller != "ctl0" {
				t.Errorf("published for controller %q", inv.Controller)
			}
			got[name][inv.Action.Name] = true
		})
	}
	lb := balancer.New(balancer.Config{Name: "ctl0", Bus: b, Invokers: []string{"inv0", "inv1", "inv2"}})
	for i := range 60 {
		for range 2 {
			if _, err := lb.Publish(ctx, invocation("guest", fmt.Sprint("a", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]string{}
	for inv, actions := range got {
		if len(actions) == 0 {
			t.Errorf("invoker %s got nothing", inv)
		}
		for a := range actions {
			if prev, ok := seen[a]; ok {
				t.Errorf("action %s went to %s and %s", a, prev, inv)
			}
			seen[a] = inv
		}
	}
}

func TestNoInvokers(t *testing.T) {
	lb := balancer.New(balancer.Config{Name: "ctl0", Bus: local.New()})
	if _, err := lb.Publish(context.Background(), invocation("guest", "a")); !errors.Is(err, balancer.ErrNoInvokers) {
		t.Fatalf("Publish with no invokers = %v", err)
	}
}

func TestPublishFails(t *testing.T) {
	lb := balancer.New(balancer.Config{Name: "ctl0", Bus: local.New(), Invokers: []string{"inv0"}})
	if _, err := lb.Publish(context.Background(), invocation("guest", "a")); !errors.Is(err, local.ErrNoSubscriber) {
		t.Fatalf("Publish to an invoker nobody serves = %v", err)
	}
}
