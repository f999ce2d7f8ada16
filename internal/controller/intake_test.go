package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	buslocal "github.com/whirlfaas/whirl/internal/bus/local"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/throttle"
	"github.com/whirlfaas/whirl/whisk"
)

// intakeRig is a controller over a real embedded store and the in-process
// bus, with no invoker: each test plays the invoker itself.
type intakeRig struct {
	c     *Controller
	st    *sqlite.Store
	bus   *buslocal.Bus
	th    *throttle.Throttle
	dir   string
	code  string
	which *whisk.Action
}

func newIntakeRig(t *testing.T, dir string, concurrent int) *intakeRig {
	return newIntakeRigWith(t, dir, concurrent, false)
}

// newIntakeRigWith is newIntakeRig, with durable saying whether the
// controller treats its bus as durable (scale-out).
func newIntakeRigWith(t *testing.T, dir string, concurrent int, durable bool) *intakeRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "whirl.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &intakeRig{st: st, bus: buslocal.New(), dir: dir, code: "def main(args):\n    return args\n"}
	r.th = throttle.New(throttle.Limits{InvokesPerMinute: throttle.Unlimited, ConcurrentInvokes: concurrent, FiresPerMinute: throttle.Unlimited})
	r.c = New(Config{Name: "ctl0", Store: st, Throttle: r.th, Bus: r.bus, Invokers: []string{"inv0"}, DurableBus: durable})
	if err := r.c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.c.Close(context.Background()) })
	a := &whisk.Action{Namespace: "guest", Name: "hello", Version: "0.0.1", Exec: whisk.Exec{Kind: "python:3.11", Code: &r.code}}
	doc, _ := json.Marshal(a)
	if _, err := st.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: doc}, 0); err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	r.which = a
	return r
}

func (r *intakeRig) invocation(blocking bool, wait time.Duration) *invocation {
	return &invocation{id: auth.Identity{Namespace: "guest", Subject: "guest"}, ra: &resolvedAction{action: r.which},
		params: json.RawMessage(`{"n":1}`), blocking: blocking, wait: wait}
}

// journaled returns the ids the journal holds.
func (r *intakeRig) journaled(t *testing.T) map[string]bus.Invocation {
	t.Helper()
	es, err := r.st.Journal().Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bus.Invocation{}
	for _, e := range es {
		var m bus.Invocation
		if err := json.Unmarshal(e.Payload, &m); err != nil {
			t.Fatal(err)
		}
		out[e.ID] = m
	}
	return out
}

// TestIntakeJournalsBeforePublishing: an accepted asynchronous invocation
// is in the journal (without its code) before its invoker sees it; a
// blocking one is not journaled, its caller waits.
func TestIntakeJournalsBeforePublishing(t *testing.T) {
	r := newIntakeRig(t, t.TempDir(), 10)
	ctx := context.Background()
	var seen []string
	r.bus.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) {
		if _, ok := r.journaled(t)[inv.ActivationID]; ok {
			seen = append(seen, "journaled "+inv.ActivationID)
		} else {
			seen = append(seen, "not journaled "+inv.ActivationID)
		}
		if inv.Action.Exec.Code == nil || inv.Controller != "ctl0" {
			t.Errorf("published without code or controller: %+v", inv)
		}
	})
	aid, comp, err := r.c.invoke(ctx, r.invocation(false, 0))
	if err != nil || comp != nil {
		t.Fatalf("invoke = %v, %v", comp, err)
	}
	if len(seen) != 1 || seen[0] != "journaled "+aid {
		t.Fatalf("the invoker saw %v; want the journal first", seen)
	}
	if m := r.journaled(t)[aid]; m.Action == nil || m.Action.Exec.Code != nil {
		t.Fatalf("the journal entry carries the code: %+v", m.Action)
	}
	if r.code == "" {
		t.Fatal("journaling changed the caller's action")
	}
	bid, _, _ := r.c.invoke(ctx, r.invocation(true, time.Millisecond))
	if _, ok := r.journaled(t)[bid]; ok {
		t.Fatal("a blocking invocation was journaled")
	}
}

// TestIntakeCompletionReleases: a blocking caller gets its completion, with
// its reason; the concurrency slot comes back with the completion, also
// when the caller stopped waiting, and for non-blocking invocations.
func TestIntakeCompletionReleases(t *testing.T) {
	r := newIntakeRig(t, t.TempDir(), 1)
	ctx := context.Background()
	var mu sync.Mutex
	var held []*bus.Invocation
	r.bus.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) {
		mu.Lock()
		held = append(held, inv)
		mu.Unlock()
	})
	complete := func(i int, reason whisk.Reason) {
		mu.Lock()
		inv := held[i]
		mu.Unlock()
		r.bus.Complete(ctx, &bus.Completion{ActivationID: inv.ActivationID, Controller: inv.Controller,
			Activation: &whisk.Activation{ActivationID: inv.ActivationID}, Reason: reason})
	}
	// A wait that runs out: nil, and the slot is held until completion.
	if _, comp, err := r.c.invoke(ctx, r.invocation(true, 10*time.Millisecond)); err != nil || comp != nil {
		t.Fatalf("invoke = %v, %v; want nil after the wait", comp, err)
	}
	if _, _, err := r.c.invoke(ctx, r.invocation(true, 10*time.Millisecond)); whisk.StatusOf(err) != 429 {
		t.Fatalf("second invoke with the slot held: %v; want 429", err)
	}
	complete(0, whisk.ReasonSuccess)
	// The slot is back: a blocking caller whose completion comes in time.
	go func() {
		for {
			mu.Lock()
			n := len(held)
			mu.Unlock()
			if n == 2 {
				complete(1, whisk.ReasonOverloaded)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, comp, err := r.c.invoke(ctx, r.invocation(true, 5*time.Second))
	if err != nil || comp == nil || comp.Reason != whisk.ReasonOverloaded {
		t.Fatalf("invoke = %+v, %v", comp, err)
	}
	w := httptest.NewRecorder()
	r.c.writeCompletion(w, comp, false)
	if w.Code != 503 || !strings.Contains(w.Body.String(), whisk.MsgOverloaded) {
		t.Fatalf("an overloaded completion answers %d %s", w.Code, w.Body)
	}
	// Non-blocking: the slot is held until the completion too.
	if _, _, err := r.c.invoke(ctx, r.invocation(false, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.c.invoke(ctx, r.invocation(false, 0)); whisk.StatusOf(err) != 429 {
		t.Fatalf("async invoke with the slot held: %v; want 429", err)
	}
	complete(2, whisk.ReasonSuccess)
	if _, _, err := r.c.invoke(ctx, r.invocation(false, 0)); err != nil {
		t.Fatalf("async invoke after the completion: %v", err)
	}
	if n := len(r.c.in.pending); n != 1 {
		t.Fatalf("%d invocations pending; want 1", n)
	}
}

// TestIntakeUndeliveredStaysJournaled: an asynchronous invocation the bus
// cannot deliver is still accepted (the journal holds it and Recover runs
// it after a restart, with its code loaded again, or with an error when
// its action is gone); its slot is released at once. A blocking one fails
// and leaves nothing behind.
func TestIntakeUndeliveredStaysJournaled(t *testing.T) {
	dir := t.TempDir()
	r := newIntakeRig(t, dir, 1)
	ctx := context.Background()
	var ids []string
	for range 2 {
		aid, _, err := r.c.invoke(ctx, r.invocation(false, 0))
		if err != nil {
			t.Fatalf("invoke with no invoker listening: %v", err)
		}
		ids = append(ids, aid)
	}
	if _, _, err := r.c.invoke(ctx, r.invocation(true, time.Second)); err == nil {
		t.Fatal("a blocking invoke with no invoker listening succeeded")
	}
	if n := len(r.c.in.pending); n != 0 {
		t.Fatalf("%d invocations pending", n)
	}
	got := r.journaled(t)
	if len(got) != 2 {
		t.Fatalf("journal %v", got)
	}
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			t.Fatalf("accepted %s is not in the journal %v", id, got)
		}
	}
	// A journal entry of another controller is not this one's to recover.
	other := bus.Invocation{ActivationID: whisk.NewActivationID(), Controller: "ctl9", Action: r.which}
	payload, _ := json.Marshal(other)
	r.st.Journal().Append(ctx, store.JournalEntry{ID: other.ActivationID, Payload: payload, Accepted: time.Now()})
	// A restart.
	r.c.Close(ctx)
	r.st.Close()

	r2 := newIntakeRig(t, dir, 1)
	var republished []*bus.Invocation
	r2.bus.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) { republished = append(republished, inv) })
	n, err := r2.c.Recover(ctx)
	if err != nil || n != 2 || len(republished) != 2 {
		t.Fatalf("Recover = %d, %v; republished %d", n, err, len(republished))
	}
	for _, inv := range republished {
		if inv.Action.Exec.Code == nil || *inv.Action.Exec.Code != r.code || string(inv.Params) != `{"n":1}` || inv.Controller != "ctl0" || inv.Error != "" {
			t.Fatalf("recovered %+v", inv)
		}
	}
	// An action deleted meanwhile: published with an error to record.
	r2.st.Entities().Delete(ctx, store.Actions, "guest", "hello", 0)
	republished = nil
	if n, err := r2.c.Recover(ctx); err != nil || n != 2 || !strings.Contains(republished[0].Error, "could not be loaded") {
		t.Fatalf("Recover after delete = %d, %v, %+v", n, err, republished)
	}
}

// TestIntakeCloseStopsChains: Close waits for the sequences the
// controller runs, then stops those that do not end, which record nothing
// (their journal entries run them again after a restart).
func TestIntakeCloseStopsChains(t *testing.T) {
	r := newIntakeRig(t, t.TempDir(), 10)
	ctx := context.Background()
	started := make(chan struct{})
	r.c.spawn(func(life context.Context) { close(started); <-life.Done() })
	<-started
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.c.Close(cctx); err == nil {
		t.Fatal("Close returned nil with a chain that never ends")
	}
	if err := r.c.Close(ctx); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// TestEntityWritesInvalidate: every entity write through the controller
// drops the entity from its cache and tells EntityChanged (scale-out sends
// it to the other controllers), including writes that fail.
func TestEntityWritesInvalidate(t *testing.T) {
	r := newIntakeRig(t, t.TempDir(), 1)
	ctx := context.Background()
	var told []string
	r.c.cfg.EntityChanged = func(_ context.Context, coll, ns, key string) { told = append(told, coll+" "+ns+"/"+key) }
	a, rev, err := r.c.getActionEntity(ctx, whisk.FQN{Namespace: "guest", Name: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(&whisk.Action{Namespace: "guest", Name: "hello", Version: "0.0.2", Exec: a.Exec})
	if _, err := r.c.ents.Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: doc}, rev); err != nil {
		t.Fatal(err)
	}
	if b, _, _ := r.c.getActionEntity(ctx, whisk.FQN{Namespace: "guest", Name: "hello"}); b.Version != "0.0.2" {
		t.Fatalf("the cache still serves version %s", b.Version)
	}
	if err := r.c.ents.Delete(ctx, store.Actions, "guest", "nothing", 0); err == nil {
		t.Fatal("deleting a missing entity succeeded")
	}
	if strings.Join(told, ",") != "actions guest/hello,actions guest/nothing" {
		t.Fatalf("EntityChanged was told %v", told)
	}
}

// TestLostCompletionReconciled: on a durable bus (scale-out) a completion
// can be lost (core NATS down for a moment) although the record is stored;
// the intake finds the record, so the blocking caller gets it within its
// wait and the throttle slot comes back. Without it the caller got 202
// after its whole wait and the slot stayed taken.
func TestLostCompletionReconciled(t *testing.T) {
	r := newIntakeRigWith(t, t.TempDir(), 1, true)
	ctx := context.Background()
	// An invoker that stores every record and never sends a completion.
	r.bus.Subscribe(ctx, "inv0", func(_ context.Context, inv *bus.Invocation) {
		act := &whisk.Activation{Namespace: inv.Namespace, Name: "hello", Version: "0.0.1", Subject: inv.Subject,
			ActivationID: inv.ActivationID, Start: time.Now().UnixMilli(), End: time.Now().UnixMilli() + 1,
			Response: whisk.Response{StatusCode: whisk.StatusSuccess, Result: json.RawMessage(`{"ok":true}`)}}
		if err := r.st.Activations().Put(ctx, act); err != nil {
			t.Error(err)
		}
	})
	_, comp, err := r.c.invoke(ctx, r.invocation(true, 15*time.Second))
	if err != nil || comp == nil || !comp.Activation.Response.Success() {
		t.Fatalf("invoke = %+v, %v; want the stored record", comp, err)
	}
	// The slot (the namespace's only one) is free again.
	if _, _, err := r.c.invoke(ctx, r.invocation(false, 0)); err != nil {
		t.Fatalf("the slot stayed taken: %v", err)
	}
}
