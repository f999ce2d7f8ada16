package invoker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/local"
	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/containerpool"
	"github.com/whirlfaas/whirl/internal/invoker"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// The seam between the invoker and the container pool, tested with the
// real pool over a fake container factory: no processes, and every
// container call observable. (The pool's Lease cannot be made by a double,
// and the pool's queue and accounting are what is under test.)

// fakeFactory makes fakeContainers and records their init requests. A run
// of an action whose code is "hold" waits for the gate (or its context).
type fakeFactory struct {
	mu      sync.Mutex
	inits   []container.InitRequest
	creates int
	gate    chan struct{}
	holding int // runs waiting at the gate
}

func newFactory() *fakeFactory { return &fakeFactory{gate: make(chan struct{})} }

func (f *fakeFactory) Create(ctx context.Context, spec container.Spec) (container.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	return &fakeContainer{f: f, id: fmt.Sprintf("c%d", f.creates)}, nil
}

func (f *fakeFactory) Kinds() []string                 { return []string{"python:3.11"} }
func (f *fakeFactory) Close(ctx context.Context) error { return nil }

// open lets every held run finish.
func (f *fakeFactory) open() { close(f.gate) }

func (f *fakeFactory) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holding
}

func (f *fakeFactory) initRequests() []container.InitRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]container.InitRequest(nil), f.inits...)
}

type fakeContainer struct {
	f    *fakeFactory
	id   string
	code string
}

func (c *fakeContainer) ID() string { return c.id }

func (c *fakeContainer) Init(ctx context.Context, req container.InitRequest) ([]string, error) {
	c.f.mu.Lock()
	c.f.inits = append(c.f.inits, req)
	c.f.mu.Unlock()
	c.code = string(req.Code)
	return nil, nil
}

func (c *fakeContainer) Run(ctx context.Context, req container.RunRequest) (container.RunResult, error) {
	if c.code == "hold" {
		c.f.mu.Lock()
		c.f.holding++
		c.f.mu.Unlock()
		defer func() {
			c.f.mu.Lock()
			c.f.holding--
			c.f.mu.Unlock()
		}()
		select {
		case <-c.f.gate:
		case <-ctx.Done():
			return container.RunResult{}, fmt.Errorf("run: %w", container.ErrExited)
		}
	}
	return container.RunResult{Body: []byte(`{"ran":"` + c.id + `"}`)}, nil
}

func (c *fakeContainer) Destroy(ctx context.Context) error { return nil }

// memActivations is an in-memory store.Activations.
type memActivations struct {
	mu   sync.Mutex
	recs map[string]*whisk.Activation
}

func (m *memActivations) Put(ctx context.Context, acts ...*whisk.Activation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range acts {
		m.recs[a.ActivationID] = a
	}
	return nil
}

func (m *memActivations) Get(ctx context.Context, namespace, id string) (*whisk.Activation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.recs[id]; ok {
		return a, nil
	}
	return nil, store.ErrNotFound
}

func (m *memActivations) List(ctx context.Context, namespace string, q store.ActivationQuery) ([]*whisk.Activation, error) {
	return nil, nil
}

func (m *memActivations) Count(ctx context.Context, namespace string, q store.ActivationQuery) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs), nil
}

// ackBus is bus/local with SubscribeAck, as a durable bus: it records
// which invocations were acknowledged.
type ackBus struct {
	*local.Bus
	mu    sync.Mutex
	acked map[string]bool
}

func (b *ackBus) SubscribeAck(ctx context.Context, name string, h bus.AckHandler) error {
	return b.Subscribe(ctx, name, func(hctx context.Context, inv *bus.Invocation) {
		h(hctx, inv, func() {
			b.mu.Lock()
			b.acked[inv.ActivationID] = true
			b.mu.Unlock()
		})
	})
}

// harness is an invoker named "invoker0" on a bus, over a real pool with
// a fake factory, completing to the controller "ctl".
type harness struct {
	t      *testing.T
	bus    bus.Bus
	f      *fakeFactory
	pool   *containerpool.Pool
	acts   *memActivations
	iv     *invoker.Invoker
	cancel context.CancelFunc

	mu     sync.Mutex
	done   map[string]*whisk.Activation // completions by activation id
	reason map[string]whisk.Reason      // and what ended each
}

func start(t *testing.T, b bus.Bus, cfg containerpool.Config) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, bus: b, f: newFactory(), acts: &memActivations{recs: map[string]*whisk.Activation{}}, cancel: cancel, done: map[string]*whisk.Activation{}, reason: map[string]whisk.Reason{}}
	// The controller outlives the invoker (App.Close stops the invoker
	// first): its subscription ends with the test.
	if err := b.Completions(t.Context(), "ctl", func(_ context.Context, c *bus.Completion) {
		h.mu.Lock()
		h.done[c.ActivationID] = c.Activation
		h.reason[c.ActivationID] = c.Reason
		h.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	h.pool = containerpool.New(h.f, cfg)
	h.pool.Start(ctx)
	h.iv = invoker.New(invoker.Config{
		Name:        "invoker0",
		Bus:         b,
		Pool:        h.pool,
		Activations: h.acts,
		Resolve:     func(kind string) (string, error) { return "python:3.11", nil },
	})
	if err := h.iv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-h.f.gate:
		default:
			h.f.open()
		}
		h.stop()
		_ = b.Close()
	})
	return h
}

// stop cancels the invoker's context, waits for its activations and
// closes the pool, as App.Close does.
func (h *harness) stop() {
	h.cancel()
	h.iv.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.pool.Close(ctx); err != nil {
		h.t.Errorf("close pool: %v", err)
	}
}

// invoke publishes an invocation of an action with code and limits.
func (h *harness) invoke(id, code string, blocking bool, lim whisk.Limits) {
	h.t.Helper()
	if lim.Timeout == 0 {
		lim.Timeout = 60000
	}
	if lim.Memory == 0 {
		lim.Memory = 256
	}
	act := &whisk.Action{Namespace: "guest", Name: "act-" + code, Version: "0.0.1", Exec: whisk.Exec{Kind: "python:3", Code: &code}, Limits: lim}
	inv := &bus.Invocation{ActivationID: id, Action: act, Namespace: "guest", Blocking: blocking, Received: time.Now(), Controller: "ctl"}
	if err := h.bus.Publish(context.Background(), "invoker0", inv); err != nil {
		h.t.Fatal(err)
	}
}

// completion waits for the completion of id. A generous bound turns a
// hang (the failure this suite guards against) into a failure.
func (h *harness) completion(id string) *whisk.Activation {
	h.t.Helper()
	var act *whisk.Activation
	h.eventually("the completion of "+id, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		act = h.done[id]
		return act != nil
	})
	return act
}

func (h *harness) completed(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done[id] != nil
}

func (h *harness) stored(id string) bool {
	_, err := h.acts.Get(context.Background(), "guest", id)
	return err == nil
}

func (h *harness) eventually(what string, f func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// errorOf returns the record's status and its result's "error".
func errorOf(t *testing.T, act *whisk.Activation) (int, string) {
	t.Helper()
	var res struct{ Error string }
	if err := json.Unmarshal(act.Response.Result, &res); err != nil {
		t.Fatalf("result %s: %v", act.Response.Result, err)
	}
	return act.Response.StatusCode, res.Error
}

// TestConcurrencyReachesInit: the action's limits.concurrency is in the
// container's init request (a runtime that runs several at once learns it
// there), and that many activations share one container.
func TestConcurrencyReachesInit(t *testing.T) {
	h := start(t, local.New(), containerpool.Config{UserMemoryMB: 1024})
	for i := range 3 {
		h.invoke(fmt.Sprint("c", i), "hold", true, whisk.Limits{Concurrency: 3})
	}
	h.eventually("three runs in flight", func() bool { return h.f.held() == 3 })
	h.f.open()
	for i := range 3 {
		if act := h.completion(fmt.Sprint("c", i)); act.Response.StatusCode != whisk.StatusSuccess {
			t.Fatalf("record %+v", act.Response)
		}
	}
	inits := h.f.initRequests()
	if len(inits) != 1 || h.f.creates != 1 {
		t.Fatalf("%d inits, %d containers for 3 runs of concurrency 3, want 1", len(inits), h.f.creates)
	}
	if inits[0].Concurrency != 3 {
		t.Fatalf("init request concurrency %d, want the action's 3", inits[0].Concurrency)
	}
}

// TestNeverFitsEndsAtOnce: an action larger than the whole pool gets a
// record at once, blocking or not, saying why with both sizes; waiting
// cannot help, so nothing waits (and stopping the invoker does not hang).
func TestNeverFitsEndsAtOnce(t *testing.T) {
	h := start(t, local.New(), containerpool.Config{UserMemoryMB: 256})
	for _, blocking := range []bool{true, false} {
		id := fmt.Sprint("big-", blocking)
		h.invoke(id, "big", blocking, whisk.Limits{Memory: 512})
		act := h.completion(id)
		status, msg := errorOf(t, act)
		if status != whisk.StatusWhiskError || msg != fmt.Sprintf(invoker.MsgNeverFits, 512, 256) {
			t.Fatalf("blocking %v: status %d, error %q", blocking, status, msg)
		}
		if !strings.Contains(msg, "512 MB") || !strings.Contains(msg, "256 MB") {
			t.Fatalf("the message names neither size: %q", msg)
		}
		if !h.stored(id) {
			t.Fatalf("blocking %v: no record stored", blocking)
		}
		if r := h.reasonOf(id); r != whisk.ReasonNeverFits {
			t.Fatalf("blocking %v: reason %q", blocking, r)
		}
	}
	if s := h.pool.Stats(); s.Queued != 0 {
		t.Fatalf("pool queue %+v", s)
	}
}

// TestOverloadedBlockingRefusedAsyncWaits: with the pool full and no
// queue for blocking work, a blocking activation ends at once as
// overloaded (the controller answers 503); a non-blocking one waits in
// the pool's own queue, not in a retry loop, and runs once there is room.
func TestOverloadedBlockingRefusedAsyncWaits(t *testing.T) {
	h := start(t, local.New(), containerpool.Config{UserMemoryMB: 256, MaxQueue: -1})
	h.invoke("busy", "hold", true, whisk.Limits{})
	h.eventually("the only container to be busy", func() bool { return h.f.held() == 1 })

	h.invoke("refused", "other", true, whisk.Limits{})
	status, msg := errorOf(t, h.completion("refused"))
	if status != whisk.StatusWhiskError || msg != whisk.MsgOverloaded || h.reasonOf("refused") != whisk.ReasonOverloaded {
		t.Fatalf("blocking past the queue: status %d, error %q, reason %q", status, msg, h.reasonOf("refused"))
	}

	h.invoke("waits", "other", false, whisk.Limits{})
	h.eventually("the non-blocking one to wait in the pool's queue", func() bool {
		s := h.pool.Stats()
		return s.Queued == 1 && s.QueuedAsync == 1
	})
	if h.completed("waits") {
		t.Fatal("the non-blocking one ended without room")
	}
	h.f.open()
	if act := h.completion("waits"); act.Response.StatusCode != whisk.StatusSuccess {
		t.Fatalf("waiting one: %+v", act.Response)
	}
	if act := h.completion("busy"); act.Response.StatusCode != whisk.StatusSuccess || h.reasonOf("busy") != whisk.ReasonSuccess {
		t.Fatalf("busy one: %+v, reason %q", act.Response, h.reasonOf("busy"))
	}
}

// TestShutdownMidRun: stopping the invoker ends a non-blocking activation
// waiting for a container and one running without a record (the
// balancer's journal, or a durable bus, delivers them again), and a
// blocking one running with a completion for its caller. On a durable bus
// nothing cut short is acknowledged or stored.
func TestShutdownMidRun(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		h := start(t, local.New(), containerpool.Config{UserMemoryMB: 512, MaxQueue: -1})
		h.invoke("running-blocking", "hold", true, whisk.Limits{})
		h.invoke("running-async", "hold", false, whisk.Limits{})
		h.eventually("two runs in flight", func() bool { return h.f.held() == 2 })
		h.invoke("waiting-async", "other", false, whisk.Limits{})
		h.eventually("the third to wait in the pool's queue", func() bool { return h.pool.Stats().QueuedAsync == 1 })

		h.stop()
		if !h.completed("running-blocking") {
			t.Fatal("the blocking caller got no completion")
		}
		for _, id := range []string{"running-async", "waiting-async"} {
			if h.stored(id) || h.completed(id) {
				t.Errorf("%s cut short by shutdown left a record: the journal would not run it again", id)
			}
		}
	})
	t.Run("durable", func(t *testing.T) {
		b := &ackBus{Bus: local.New(), acked: map[string]bool{}}
		h := start(t, b, containerpool.Config{UserMemoryMB: 256, MaxQueue: -1})
		h.invoke("done", "other", false, whisk.Limits{})
		h.completion("done")
		h.invoke("running", "hold", true, whisk.Limits{})
		h.eventually("a run in flight", func() bool { return h.f.held() == 1 })
		h.invoke("waiting", "other", false, whisk.Limits{})
		h.eventually("one to wait in the pool's queue", func() bool { return h.pool.Stats().QueuedAsync == 1 })

		h.stop()
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.acked["done"] || !h.stored("done") {
			t.Fatal("a finished activation must be stored and acknowledged")
		}
		for _, id := range []string{"running", "waiting"} {
			if b.acked[id] || h.stored(id) {
				t.Errorf("%s cut short by shutdown was acknowledged or stored: it would not be delivered again", id)
			}
		}
	})
}

// reasonOf returns the reason the completion of id carried.
func (h *harness) reasonOf(id string) whisk.Reason {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reason[id]
}
