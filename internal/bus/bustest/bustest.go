// Package bustest is the conformance suite that every bus.Bus
// implementation runs from its tests, and the benchmarks they share.
//
// A bus's test calls Run with a function that opens a fresh bus and passes
// the options naming its capabilities (Durable, AtLeastOnce). Its
// benchmarks call BenchmarkRoundTrip and BenchmarkThroughput. Only tests
// import this package.
package bustest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/whisk"
)

// Option declares a capability of the bus under test.
type Option func(*config)

type config struct {
	durable     bool
	atLeastOnce bool
}

// Durable declares that Publish to an invoker nobody subscribed to
// succeeds and the invocation is delivered once a subscriber comes.
// Without it the suite requires Publish to fail in that case.
func Durable() Option { return func(c *config) { c.durable = true } }

// AtLeastOnce declares that the bus may deliver an invocation more than
// once. Without it the suite requires exactly-once delivery.
func AtLeastOnce() Option { return func(c *config) { c.atLeastOnce = true } }

// wait bounds every wait for a message. It is a failure bound, not a
// timing assertion: a healthy bus delivers in well under a second.
const wait = 20 * time.Second

// Run runs the conformance suite. open must return a new bus each call,
// isolated from every other bus it returned (its own subjects or
// streams); it may register its own cleanup. The suite closes the bus when
// the test ends, after any Close of its own, so Close must be idempotent.
func Run(t *testing.T, open func(t *testing.T) bus.Bus, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	get := func(t *testing.T) bus.Bus {
		t.Helper()
		b := open(t)
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return b
	}
	t.Run("Routing", func(t *testing.T) { testRouting(t, get(t)) })
	t.Run("Completions", func(t *testing.T) { testCompletions(t, get(t)) })
	t.Run("NoSubscriber", func(t *testing.T) { testNoSubscriber(t, get(t), c) })
	t.Run("SubscribeTwice", func(t *testing.T) { testSubscribeTwice(t, get(t)) })
	t.Run("Unsubscribe", func(t *testing.T) { testUnsubscribe(t, get(t), c) })
	t.Run("CompletionsUnsubscribe", func(t *testing.T) { testCompletionsUnsubscribe(t, get(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, get(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, get(t), c) })
	t.Run("Order", func(t *testing.T) { testOrder(t, get(t)) })
	t.Run("Presence", func(t *testing.T) { testPresence(t, get(t)) })
}

// ctx returns a context that ends with the test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

// inbox collects what a handler receives, in order.
type inbox[T any] struct {
	mu   sync.Mutex
	got  []T
	more chan struct{} // signalled on each arrival
}

func newInbox[T any]() *inbox[T] { return &inbox[T]{more: make(chan struct{}, 1)} }

func (ib *inbox[T]) put(v T) {
	ib.mu.Lock()
	ib.got = append(ib.got, v)
	ib.mu.Unlock()
	select {
	case ib.more <- struct{}{}:
	default:
	}
}

func (ib *inbox[T]) list() []T {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return append([]T(nil), ib.got...)
}

// waitFor waits until ok holds for what arrived so far, and fails the
// test when it does not within the bound.
func (ib *inbox[T]) waitFor(t testing.TB, what string, ok func([]T) bool) []T {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if got := ib.list(); ok(got) {
			return got
		}
		select {
		case <-ib.more:
		case <-timer.C:
			t.Fatalf("waited %v for %s; have %d messages", wait, what, len(ib.list()))
		}
	}
}

func invocations(ib *inbox[*bus.Invocation]) bus.InvocationHandler {
	return func(_ context.Context, inv *bus.Invocation) { ib.put(inv) }
}

func completions(ib *inbox[*bus.Completion]) bus.CompletionHandler {
	return func(_ context.Context, c *bus.Completion) { ib.put(c) }
}

// hasInv reports a predicate: an invocation with id arrived.
func hasInv(id string) func([]*bus.Invocation) bool {
	return func(got []*bus.Invocation) bool {
		for _, inv := range got {
			if inv.ActivationID == id {
				return true
			}
		}
		return false
	}
}

func hasCompletion(id string) func([]*bus.Completion) bool {
	return func(got []*bus.Completion) bool {
		for _, c := range got {
			if c.ActivationID == id {
				return true
			}
		}
		return false
	}
}

func ids[T any](got []T, id func(T) string) []string {
	out := make([]string, len(got))
	for i, v := range got {
		out[i] = id(v)
	}
	return out
}

func invID(inv *bus.Invocation) string { return inv.ActivationID }
func complID(c *bus.Completion) string { return c.ActivationID }

// fullInvocation returns an invocation with every field set, including
// binary action code and a time with nanoseconds.
func fullInvocation(id string) *bus.Invocation {
	code := "UEsDBBQAAAAIAAAAIQD/////AAAAAA=="
	return &bus.Invocation{
		ActivationID:  id,
		TransactionID: "tid-" + id,
		Action: &whisk.Action{
			Namespace: "guest/pkg",
			Name:      "hello",
			Version:   "0.0.3",
			Publish:   true,
			Exec:      whisk.Exec{Kind: "python:3", Code: &code, Main: "handler", Binary: true},
			Parameters: whisk.KeyValues{
				{Key: "name", Value: json.RawMessage(`"world"`)},
				{Key: "nested", Value: json.RawMessage(`{"a":[1,2.5,"é\u2028"]}`)},
			},
			Limits:      whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
			Annotations: whisk.KeyValues{{Key: "exec", Value: json.RawMessage(`"python:3"`)}, {Key: "final", Value: json.RawMessage(`true`)}},
			Updated:     1764085000123,
		},
		Params:      json.RawMessage(`{"name":"world","n":42,"deep":{"x":null,"y":[true,false]}}`),
		Namespace:   "guest",
		Subject:     "guest@example.com",
		APIKey:      "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP",
		Blocking:    true,
		Received:    time.Date(2026, 11, 25, 15, 55, 6, 123456789, time.UTC),
		Cause:       "0123456789abcdef0123456789abcdef",
		Annotations: whisk.KeyValues{{Key: "binding", Value: json.RawMessage(`"guest/bound"`)}},
		Controller:  "controller0",
		Error:       "",
	}
}

func fullCompletion(id string) *bus.Completion {
	size := 17
	return &bus.Completion{
		ActivationID: id,
		Controller:   "ctlA",
		Activation: &whisk.Activation{
			Namespace:    "guest",
			Name:         "hello",
			Version:      "0.0.3",
			Subject:      "guest@example.com",
			ActivationID: id,
			Start:        1764085000123,
			End:          1764085000150,
			Duration:     27,
			Cause:        "fedcba9876543210fedcba9876543210",
			Response:     whisk.Response{StatusCode: whisk.StatusApplicationError, Result: json.RawMessage(`{"error":"boom","n":[1,2]}`), Size: &size},
			Logs:         []string{"2026-11-25T15:55:06.123Z stdout: hi", "2026-11-25T15:55:06.124Z stderr: \"quoted\""},
			Annotations:  whisk.KeyValues{{Key: "path", Value: json.RawMessage(`"guest/pkg/hello"`)}, {Key: "waitTime", Value: json.RawMessage(`3`)}},
			Publish:      false,
		},
	}
}

// sameJSON fails the test unless want and got encode to the same JSON
// value (field order and whitespace aside).
func sameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	decode := func(v any) any {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: marshal: %v", what, err)
		}
		var out any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: unmarshal: %v", what, err)
		}
		return out
	}
	w, g := decode(want), decode(got)
	if !reflect.DeepEqual(w, g) {
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(g)
		t.Errorf("%s differs:\nwant %s\n got %s", what, wb, gb)
	}
}

func testRouting(t *testing.T, b bus.Bus) {
	c := ctx(t)
	x, y := newInbox[*bus.Invocation](), newInbox[*bus.Invocation]()
	if err := b.Subscribe(c, "invX", invocations(x)); err != nil {
		t.Fatalf("Subscribe invX: %v", err)
	}
	if err := b.Subscribe(c, "invY", invocations(y)); err != nil {
		t.Fatalf("Subscribe invY: %v", err)
	}
	want := fullInvocation("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01")
	if err := b.Publish(c, "invX", want); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := x.waitFor(t, "the invocation at invX", hasInv(want.ActivationID))[0]

	// Every field arrives intact.
	sameJSON(t, "invocation", want, got)
	if got.Action == nil || got.Action.Exec.Code == nil || *got.Action.Exec.Code != *want.Action.Exec.Code {
		t.Errorf("action code = %v, want %q", got.Action, *want.Action.Exec.Code)
	}
	if !got.Received.Equal(want.Received) {
		t.Errorf("Received = %v, want %v", got.Received, want.Received)
	}
	if string(compact(t, got.Params)) != string(compact(t, want.Params)) {
		t.Errorf("Params = %s, want %s", got.Params, want.Params)
	}
	if got.Blocking != want.Blocking || got.APIKey != want.APIKey || got.Controller != want.Controller {
		t.Errorf("got %+v", got)
	}

	// Y saw nothing of it: a marker sent to Y after it arrives alone.
	if err := b.Publish(c, "invY", &bus.Invocation{ActivationID: "marker-y"}); err != nil {
		t.Fatalf("Publish invY: %v", err)
	}
	if got := y.waitFor(t, "the marker at invY", hasInv("marker-y")); len(got) != 1 {
		t.Errorf("invY received %v, want only the marker", ids(got, invID))
	}
	if err := b.Publish(c, "invX", &bus.Invocation{ActivationID: "marker-x"}); err != nil {
		t.Fatalf("Publish invX: %v", err)
	}
	if got := x.waitFor(t, "the marker at invX", hasInv("marker-x")); len(got) != 2 {
		t.Errorf("invX received %v, want the invocation and the marker", ids(got, invID))
	}
}

func compact(t *testing.T, m json.RawMessage) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(m, &v); err != nil {
		t.Fatalf("params %q: %v", m, err)
	}
	b, _ := json.Marshal(v)
	return b
}

func testCompletions(t *testing.T, b bus.Bus) {
	c := ctx(t)
	a, other := newInbox[*bus.Completion](), newInbox[*bus.Completion]()
	if err := b.Completions(c, "ctlA", completions(a)); err != nil {
		t.Fatalf("Completions ctlA: %v", err)
	}
	if err := b.Completions(c, "ctlB", completions(other)); err != nil {
		t.Fatalf("Completions ctlB: %v", err)
	}
	want := fullCompletion("cccccccccccccccccccccccccccccc01")
	if err := b.Complete(c, want); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got := a.waitFor(t, "the completion at ctlA", hasCompletion(want.ActivationID))[0]
	sameJSON(t, "completion", want, got)
	if got.Activation == nil || got.Activation.Response.StatusCode != want.Activation.Response.StatusCode ||
		got.Activation.Duration != want.Activation.Duration || len(got.Activation.Logs) != 2 {
		t.Errorf("activation = %+v", got.Activation)
	}

	if err := b.Complete(c, &bus.Completion{ActivationID: "marker-b", Controller: "ctlB"}); err != nil {
		t.Fatalf("Complete ctlB: %v", err)
	}
	if got := other.waitFor(t, "the marker at ctlB", hasCompletion("marker-b")); len(got) != 1 {
		t.Errorf("ctlB received %v, want only the marker", ids(got, complID))
	}
	if len(a.list()) != 1 {
		t.Errorf("ctlA received %v, want one completion", ids(a.list(), complID))
	}
}

func testNoSubscriber(t *testing.T, b bus.Bus, cfg config) {
	c := ctx(t)
	inv := &bus.Invocation{ActivationID: "early", Action: &whisk.Action{Namespace: "guest", Name: "a"}}
	err := b.Publish(c, "invLate", inv)
	if !cfg.durable {
		if err == nil {
			t.Fatal("Publish to an invoker nobody subscribed to succeeded on a bus that does not keep invocations")
		}
		return
	}
	if err != nil {
		t.Fatalf("Publish before Subscribe on a durable bus: %v", err)
	}
	got := newInbox[*bus.Invocation]()
	if err := b.Subscribe(c, "invLate", invocations(got)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Publish(c, "invLate", &bus.Invocation{ActivationID: "marker"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	list := got.waitFor(t, "the early invocation and the marker", func(l []*bus.Invocation) bool {
		return hasInv("early")(l) && hasInv("marker")(l)
	})
	if !cfg.atLeastOnce && len(list) != 2 {
		t.Errorf("received %v, want [early marker]", ids(list, invID))
	}
	if list[0].ActivationID != "early" || list[0].Action == nil || list[0].Action.Name != "a" {
		t.Errorf("first delivery = %+v, want the early invocation", list[0])
	}
}

func testSubscribeTwice(t *testing.T, b bus.Bus) {
	c := ctx(t)
	first, second := newInbox[*bus.Invocation](), newInbox[*bus.Invocation]()
	c1, cancel1 := context.WithCancel(c)
	if err := b.Subscribe(c1, "inv", invocations(first)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Subscribe(c, "inv", invocations(second)); err == nil {
		t.Fatal("a second live subscription for one invoker was accepted")
	}
	if err := b.Subscribe(c, "inv2", invocations(second)); err != nil {
		t.Fatalf("Subscribe to another invoker: %v", err)
	}
	if err := b.Completions(c1, "ctl", func(context.Context, *bus.Completion) {}); err != nil {
		t.Fatalf("Completions: %v", err)
	}
	if err := b.Completions(c, "ctl", func(context.Context, *bus.Completion) {}); err == nil {
		t.Fatal("a second live completion subscription for one controller was accepted")
	}

	// Once the first subscription's context is done, the name is free
	// again, at once.
	cancel1()
	third := newInbox[*bus.Invocation]()
	if err := b.Subscribe(c, "inv", invocations(third)); err != nil {
		t.Fatalf("Subscribe after the first subscription ended: %v", err)
	}
	if err := b.Completions(c, "ctl", func(context.Context, *bus.Completion) {}); err != nil {
		t.Fatalf("Completions after the first subscription ended: %v", err)
	}
	if err := b.Publish(c, "inv", &bus.Invocation{ActivationID: "to-third"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	third.waitFor(t, "the invocation at the new subscriber", hasInv("to-third"))
	if got := first.list(); len(got) != 0 {
		t.Errorf("the ended subscription received %v", ids(got, invID))
	}
}

func testUnsubscribe(t *testing.T, b bus.Bus, cfg config) {
	c := ctx(t)
	old := newInbox[*bus.Invocation]()
	c1, cancel1 := context.WithCancel(c)
	if err := b.Subscribe(c1, "inv", invocations(old)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Publish(c, "inv", &bus.Invocation{ActivationID: "before"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	old.waitFor(t, "the invocation before cancel", hasInv("before"))
	cancel1()

	// Right after the context ends, nothing more reaches the old handler.
	err := b.Publish(c, "inv", &bus.Invocation{ActivationID: "after"})
	if !cfg.durable {
		if err == nil {
			t.Fatal("Publish after the only subscription ended succeeded on a bus that does not keep invocations")
		}
	} else {
		if err != nil {
			t.Fatalf("Publish after the subscription ended: %v", err)
		}
		next := newInbox[*bus.Invocation]()
		if err := b.Subscribe(c, "inv", invocations(next)); err != nil {
			t.Fatalf("Subscribe again: %v", err)
		}
		next.waitFor(t, "the invocation kept for the next subscriber", hasInv("after"))
	}
	if got := old.list(); len(got) != 1 {
		t.Errorf("the ended subscription received %v, want only [before]", ids(got, invID))
	}
}

func testCompletionsUnsubscribe(t *testing.T, b bus.Bus) {
	c := ctx(t)
	old := newInbox[*bus.Completion]()
	c1, cancel1 := context.WithCancel(c)
	if err := b.Completions(c1, "ctl", completions(old)); err != nil {
		t.Fatalf("Completions: %v", err)
	}
	if err := b.Complete(c, &bus.Completion{ActivationID: "before", Controller: "ctl"}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	old.waitFor(t, "the completion before cancel", hasCompletion("before"))
	cancel1()
	// Nobody listens: the bus may refuse or drop it, never deliver it.
	_ = b.Complete(c, &bus.Completion{ActivationID: "after", Controller: "ctl"})
	next := newInbox[*bus.Completion]()
	if err := b.Completions(c, "ctl", completions(next)); err != nil {
		t.Fatalf("Completions again: %v", err)
	}
	if err := b.Complete(c, &bus.Completion{ActivationID: "marker", Controller: "ctl"}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	next.waitFor(t, "the marker at the new subscriber", hasCompletion("marker"))
	if got := old.list(); len(got) != 1 {
		t.Errorf("the ended subscription received %v, want only [before]", ids(got, complID))
	}
	if hasCompletion("after")(next.list()) {
		t.Error("a completion sent while nobody listened reached a later subscriber; completions are not stored")
	}
}

func testClose(t *testing.T, b bus.Bus) {
	c := ctx(t)
	got := newInbox[*bus.Invocation]()
	if err := b.Subscribe(c, "inv", invocations(got)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	done := newInbox[*bus.Completion]()
	if err := b.Completions(c, "ctl", completions(done)); err != nil {
		t.Fatalf("Completions: %v", err)
	}
	if err := b.Publish(c, "inv", &bus.Invocation{ActivationID: "open"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got.waitFor(t, "the invocation before Close", hasInv("open"))
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Publish(c, "inv", &bus.Invocation{ActivationID: "closed"}); err == nil {
		t.Error("Publish after Close succeeded")
	}
	if err := b.Complete(c, &bus.Completion{ActivationID: "closed", Controller: "ctl"}); err == nil {
		t.Error("Complete after Close succeeded")
	}
	if err := b.Subscribe(c, "inv2", invocations(got)); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
	if err := b.Completions(c, "ctl2", completions(done)); err == nil {
		t.Error("Completions after Close succeeded")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if l := got.list(); len(l) != 1 {
		t.Errorf("received %v after Close, want only [open]", ids(l, invID))
	}
	if l := done.list(); len(l) != 0 {
		t.Errorf("received completions %v after Close", ids(l, complID))
	}
}

// testConcurrent sends many invocations from many goroutines to several
// invokers whose handlers complete each one, as invokers do, and counts
// what arrives at both ends.
func testConcurrent(t *testing.T, b bus.Bus, cfg config) {
	const (
		publishers = 8
		each       = 50
		invokers   = 3
	)
	c := ctx(t)
	type seen struct {
		mu     sync.Mutex
		counts map[string]int
		at     map[string]string // activation id → invoker that ran it
	}
	s := seen{counts: map[string]int{}, at: map[string]string{}}
	done := newInbox[*bus.Completion]()
	if err := b.Completions(c, "ctl", completions(done)); err != nil {
		t.Fatalf("Completions: %v", err)
	}
	for i := range invokers {
		name := fmt.Sprintf("inv%d", i)
		err := b.Subscribe(c, name, func(hctx context.Context, inv *bus.Invocation) {
			s.mu.Lock()
			s.counts[inv.ActivationID]++
			s.at[inv.ActivationID] = name
			s.mu.Unlock()
			// Complete off the bus's goroutine, as the invoker does.
			go func() {
				err := b.Complete(hctx, &bus.Completion{ActivationID: inv.ActivationID, Controller: inv.Controller,
					Activation: &whisk.Activation{ActivationID: inv.ActivationID, Name: inv.Action.Name}})
				if err != nil {
					t.Errorf("Complete %s: %v", inv.ActivationID, err)
				}
			}()
		})
		if err != nil {
			t.Fatalf("Subscribe %s: %v", name, err)
		}
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				id := fmt.Sprintf("%016x%016x", p, n)
				target := fmt.Sprintf("inv%d", (p+n)%invokers)
				inv := &bus.Invocation{ActivationID: id, Controller: "ctl", Action: &whisk.Action{Namespace: "guest", Name: target}}
				if err := b.Publish(c, target, inv); err != nil {
					t.Errorf("Publish %s: %v", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = publishers * each
	distinct := func(l []*bus.Completion) int {
		m := map[string]bool{}
		for _, c := range l {
			m[c.ActivationID] = true
		}
		return len(m)
	}
	done.waitFor(t, fmt.Sprintf("%d completions", total), func(l []*bus.Completion) bool { return distinct(l) == total })

	// Markers behind everything flush out late duplicates before counting.
	for i := range invokers {
		name := fmt.Sprintf("inv%d", i)
		id := "marker-" + name
		if err := b.Publish(c, name, &bus.Invocation{ActivationID: id, Controller: "ctl", Action: &whisk.Action{Name: name}}); err != nil {
			t.Fatalf("Publish marker: %v", err)
		}
		done.waitFor(t, "marker "+id, hasCompletion(id))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range publishers {
		for n := range each {
			id := fmt.Sprintf("%016x%016x", p, n)
			want := fmt.Sprintf("inv%d", (p+n)%invokers)
			switch k := s.counts[id]; {
			case k == 0:
				t.Errorf("%s never delivered", id)
			case k > 1 && !cfg.atLeastOnce:
				t.Errorf("%s delivered %d times on an exactly-once bus", id, k)
			}
			if s.at[id] != want {
				t.Errorf("%s ran at %q, want %q", id, s.at[id], want)
			}
		}
	}
	if !cfg.atLeastOnce && len(done.list()) != total+invokers {
		t.Errorf("%d completions, want %d", len(done.list()), total+invokers)
	}
}

// testOrder checks that invocations published one after another to one
// invoker arrive in that order.
func testOrder(t *testing.T, b bus.Bus) {
	const n = 200
	c := ctx(t)
	got := newInbox[*bus.Invocation]()
	if err := b.Subscribe(c, "inv", invocations(got)); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	for i := range n {
		if err := b.Publish(c, "inv", &bus.Invocation{ActivationID: fmt.Sprintf("%032d", i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	list := got.waitFor(t, fmt.Sprintf("%d invocations", n), func(l []*bus.Invocation) bool { return len(l) >= n })
	for i, inv := range list[:n] {
		if want := fmt.Sprintf("%032d", i); inv.ActivationID != want {
			t.Fatalf("delivery %d is %s, want %s (out of order)", i, inv.ActivationID, want)
		}
	}
}
