package balancer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/balancer"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/local"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/whisk"
)

// journal is an in-memory store.Journal that records the order of calls.
type journal struct {
	mu      sync.Mutex
	entries []store.JournalEntry
	events  *[]string
}

func (j *journal) Append(_ context.Context, es ...store.JournalEntry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, e := range es {
		j.entries = append(j.entries, e)
		*j.events = append(*j.events, "journal "+e.ID)
	}
	return nil
}

func (j *journal) Done(_ context.Context, ids ...string) error { return nil }

func (j *journal) Pending(context.Context) ([]store.JournalEntry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]store.JournalEntry(nil), j.entries...), nil
}

func action() *whisk.Action {
	return &whisk.Action{Namespace: "guest", Name: "hello", Version: "0.0.1"}
}

func TestAsyncIsJournaledBeforePublish(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events []string
	var mu sync.Mutex
	b := local.New()
	j := &journal{events: &events}
	b.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) {
		mu.Lock()
		events = append(events, "publish "+inv.ActivationID)
		mu.Unlock()
	})
	lb := balancer.New("ctl0", b, j, []string{"inv0"})
	if err := lb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ch, err := lb.Publish(ctx, &bus.Invocation{ActivationID: "a1", Action: action()}, false, nil)
	if err != nil || ch != nil {
		t.Fatalf("Publish = %v, %v", ch, err)
	}
	if len(events) != 2 || events[0] != "journal a1" || events[1] != "publish a1" {
		t.Fatalf("events %v; want the journal first", events)
	}
	// A blocking invocation is not journaled: its caller waits.
	if _, err := lb.Publish(ctx, &bus.Invocation{ActivationID: "b1", Blocking: true, Action: action()}, true, nil); err != nil {
		t.Fatal(err)
	}
	if len(j.entries) != 1 {
		t.Fatalf("journal %v; blocking invocations are not journaled", j.entries)
	}
}

func TestBlockingWaiterAndDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := local.New()
	// An invoker that completes every invocation at once, on another
	// goroutine, as the real one does.
	b.Subscribe(ctx, "inv0", func(ctx context.Context, inv *bus.Invocation) {
		go b.Complete(ctx, &bus.Completion{ActivationID: inv.ActivationID, Controller: inv.Controller,
			Activation: &whisk.Activation{ActivationID: inv.ActivationID}})
	})
	lb := balancer.New("ctl0", b, nil, []string{"inv0"})
	if err := lb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 2)
	ch, err := lb.Publish(ctx, &bus.Invocation{ActivationID: "x1", Blocking: true, Action: action()}, true, func(a *whisk.Activation) { done <- a.ActivationID })
	if err != nil {
		t.Fatal(err)
	}
	a := balancer.WaitFor(ctx, ch, 5*time.Second)
	if a == nil || a.ActivationID != "x1" {
		t.Fatalf("WaitFor = %+v", a)
	}
	if id := <-done; id != "x1" {
		t.Fatalf("done(%s)", id)
	}
	if lb.Pending() != 0 {
		t.Fatalf("Pending = %d after completion", lb.Pending())
	}
	// A wait that runs out returns nil; done still fires on completion.
	b2 := local.New()
	var held *bus.Invocation
	b2.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) { held = inv })
	lb2 := balancer.New("ctl0", b2, nil, []string{"inv0"})
	lb2.Start(ctx)
	ch, _ = lb2.Publish(ctx, &bus.Invocation{ActivationID: "slow", Blocking: true, Action: action()}, true, func(a *whisk.Activation) { done <- a.ActivationID })
	if a := balancer.WaitFor(ctx, ch, 10*time.Millisecond); a != nil {
		t.Fatalf("WaitFor returned %+v before completion", a)
	}
	b2.Complete(ctx, &bus.Completion{ActivationID: held.ActivationID, Controller: "ctl0", Activation: &whisk.Activation{ActivationID: "slow"}})
	if id := <-done; id != "slow" {
		t.Fatalf("done(%s) after the wait ran out", id)
	}
}

func TestRecoverRepublishesJournal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events []string
	j := &journal{events: &events}
	// Accept two invocations while no invoker listens: they stay journaled
	// and Publish does not fail (nothing is lost).
	b := local.New()
	lb := balancer.New("ctl0", b, j, []string{"inv0"})
	for _, id := range []string{"r1", "r2"} {
		if _, err := lb.Publish(ctx, &bus.Invocation{ActivationID: id, Action: action(), Params: []byte(`{"n":1}`)}, false, nil); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
	// A restart: a new bus and balancer over the same journal.
	b2 := local.New()
	var got []*bus.Invocation
	b2.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) { got = append(got, inv) })
	lb2 := balancer.New("ctl1", b2, j, []string{"inv0"})
	n, err := lb2.Recover(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if len(got) != 2 || got[0].ActivationID != "r1" || string(got[0].Params) != `{"n":1}` || got[0].Action.Name != "hello" || got[1].Controller != "ctl1" {
		t.Fatalf("republished %+v", got)
	}
}

func TestNoInvokers(t *testing.T) {
	lb := balancer.New("ctl0", local.New(), nil, nil)
	if _, err := lb.Publish(context.Background(), &bus.Invocation{ActivationID: "z"}, true, nil); !errors.Is(err, balancer.ErrNoInvokers) {
		t.Fatalf("Publish with no invokers = %v", err)
	}
}

// TestJournalKeepsNoCode: with Rehydrate, a journal entry does not carry
// the action's code (it may be a 48 MB zip); Recover restores the action,
// and an invocation whose action is gone is published with an error to
// record instead of being dropped.
func TestJournalKeepsNoCode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events []string
	j := &journal{events: &events}
	code := "def main(args):\n    return args\n"
	a := action()
	a.Exec = whisk.Exec{Kind: "python:3.11", Code: &code}
	lb := balancer.New("ctl0", local.New(), j, []string{"inv0"})
	lb.Rehydrate = func(context.Context, *bus.Invocation) error { return nil }
	for _, id := range []string{"k1", "k2"} {
		if _, err := lb.Publish(ctx, &bus.Invocation{ActivationID: id, Action: a}, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range j.entries {
		if strings.Contains(string(e.Payload), "return args") {
			t.Fatalf("journal entry carries the code: %s", e.Payload)
		}
	}
	if a.Exec.Code == nil {
		t.Fatal("journaling stripped the caller's action")
	}
	b2 := local.New()
	var got []*bus.Invocation
	b2.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) { got = append(got, inv) })
	lb2 := balancer.New("ctl1", b2, j, []string{"inv0"})
	lb2.Rehydrate = func(_ context.Context, inv *bus.Invocation) error {
		if inv.ActivationID == "k2" {
			return errors.New("not found")
		}
		restored := *inv.Action
		restored.Exec.Code = &code
		inv.Action = &restored
		return nil
	}
	if n, err := lb2.Recover(ctx); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if got[0].Action.Exec.CodeString() != code || got[0].Error != "" {
		t.Fatalf("k1 not restored: %+v", got[0])
	}
	if !strings.Contains(got[1].Error, "not found") {
		t.Fatalf("k2 (action gone) carries no error: %+v", got[1])
	}
}
