package local_test

import (
	"context"
	"errors"
	"testing"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/local"
)

func TestDeliveryAndUnsubscribe(t *testing.T) {
	b := local.New()
	ctx, cancel := context.WithCancel(context.Background())
	var got []string
	if err := b.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) { got = append(got, inv.ActivationID) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "inv0", func(context.Context, *bus.Invocation) {}); err == nil {
		t.Fatal("a second subscriber for one invoker was accepted")
	}
	if err := b.Publish(context.Background(), "inv0", &bus.Invocation{ActivationID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), "other", &bus.Invocation{ActivationID: "b"}); !errors.Is(err, local.ErrNoSubscriber) {
		t.Fatalf("Publish to nobody = %v", err)
	}
	var done []string
	b.Completions(ctx, "ctl0", func(_ context.Context, c *bus.Completion) { done = append(done, c.ActivationID) })
	if err := b.Complete(context.Background(), &bus.Completion{ActivationID: "a", Controller: "ctl0"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "a" || len(done) != 1 {
		t.Fatalf("got %v, done %v", got, done)
	}
	cancel()
	// The subscription ends with its context, at once.
	if err := b.Publish(context.Background(), "inv0", &bus.Invocation{ActivationID: "c"}); !errors.Is(err, local.ErrNoSubscriber) {
		t.Fatalf("Publish after the subscription ended = %v", err)
	}
	if err := b.Complete(context.Background(), &bus.Completion{ActivationID: "c", Controller: "ctl0"}); !errors.Is(err, local.ErrNoSubscriber) {
		t.Fatalf("Complete after the subscription ended = %v", err)
	}
	b.Close()
	if err := b.Publish(context.Background(), "inv0", &bus.Invocation{}); !errors.Is(err, local.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
}
