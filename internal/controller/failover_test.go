package controller

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	buslocal "github.com/whirlfaas/whirl/internal/bus/local"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/throttle"
	"github.com/whirlfaas/whirl/whisk"
)

// TestFailoverMovesPending: two invokers announce themselves; one takes
// invocations and never completes them (it died with them), then its
// heartbeats stop. The intake publishes what it had outstanding there to
// the live invoker: the blocking caller gets the re-run's completion
// within its wait, and the non-blocking invocation runs there too.
func TestFailoverMovesPending(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "whirl.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := buslocal.New()
	th := throttle.New(throttle.Limits{InvokesPerMinute: throttle.Unlimited, ConcurrentInvokes: 100, FiresPerMinute: throttle.Unlimited})
	c := New(Config{Name: "ctl0", Store: st, Throttle: th, Bus: b, Presence: b, InvokerTimeout: 300 * time.Millisecond})
	defer c.Close(context.Background())

	var mu sync.Mutex
	swallowed := map[string]bool{}
	ran := map[string]bool{}
	b.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) { // dies with what it gets
		mu.Lock()
		swallowed[inv.ActivationID] = true
		mu.Unlock()
	})
	b.Subscribe(ctx, "inv1", func(_ context.Context, inv *bus.Invocation) {
		mu.Lock()
		ran[inv.ActivationID] = true
		mu.Unlock()
		go b.Complete(ctx, &bus.Completion{ActivationID: inv.ActivationID, Controller: inv.Controller,
			Activation: &whisk.Activation{ActivationID: inv.ActivationID, Response: whisk.Response{StatusCode: 0}}})
	})
	inv0Alive, stop0 := context.WithCancel(ctx)
	go func() {
		for ctx.Err() == nil {
			if inv0Alive.Err() == nil {
				b.Beat(ctx, &bus.Heartbeat{Invoker: "inv0", Sent: time.Now()})
			}
			b.Beat(ctx, &bus.Heartbeat{Invoker: "inv1", Sent: time.Now()})
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for len(c.in.lb.LiveInvokers()) < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	// An action whose home is inv0.
	var act *whisk.Action
	for i := 0; act == nil; i++ {
		code := "x"
		a := &whisk.Action{Namespace: "guest", Name: string(rune('a' + i)), Exec: whisk.Exec{Kind: "python:3.11", Code: &code}}
		mu.Lock()
		n := len(swallowed)
		mu.Unlock()
		if _, _, err := c.invoke(ctx, &invocation{ra: &resolvedAction{action: a}, id: identity("guest"), params: json.RawMessage(`{}`), blocking: false}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if len(swallowed) > n {
			act = a
		}
		mu.Unlock()
	}
	stop0()
	// A blocking invoke published to inv0 just before it is declared
	// dead: its caller gets the re-run's completion.
	id, comp, err := c.invoke(ctx, &invocation{ra: &resolvedAction{action: act}, id: identity("guest"), params: json.RawMessage(`{}`), blocking: true, wait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if comp == nil || comp.ActivationID != id {
		t.Fatalf("blocking invoke of a dead invoker's action: completion %+v, want %s within the wait", comp, id)
	}
	mu.Lock()
	defer mu.Unlock()
	for a := range swallowed {
		if !ran[a] {
			t.Errorf("invocation %s swallowed by the dead invoker was not moved", a)
		}
	}
}

func identity(ns string) auth.Identity { return auth.Identity{Namespace: ns, Subject: ns} }
