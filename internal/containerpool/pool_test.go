package containerpool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/whisk"
)

func req(key, kind string, memMB int) Request {
	return Request{
		Key:  key,
		Spec: container.Spec{Kind: kind, MemoryMB: memMB, Name: key},
		Init: container.InitRequest{Name: "/ns/" + key, Code: []byte("code of " + key)},
	}
}

func mustAcquire(t *testing.T, p *Pool, r Request) *Lease {
	t.Helper()
	l, err := p.Acquire(t.Context(), r)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", r.Key, err)
	}
	return l
}

func closePool(t *testing.T, p *Pool) {
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// holders counts the leases and joiners on the containers of key.
func holders(p *Pool, key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for e := range p.live {
		if e.key == key {
			n += e.active
		}
	}
	return n
}

func TestStartKindString(t *testing.T) {
	for k, want := range map[StartKind]string{Cold: "cold", Prewarmed: "prewarm", Warm: "warm"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}

func TestWarmReuse(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{})
	closePool(t, p)

	l1 := mustAcquire(t, p, req("a@1", "python:3", 256))
	if l1.Start != Cold || len(l1.InitLogs) != 1 {
		t.Fatalf("first lease: start %v, init logs %q; want cold with logs", l1.Start, l1.InitLogs)
	}
	if s := p.Stats(); s.Busy != 1 || s.Warm != 0 || s.MemoryUsedMB != 256 {
		t.Fatalf("stats while busy: %+v", s)
	}
	l1.Release()
	if s := p.Stats(); s.Busy != 0 || s.Warm != 1 || s.MemoryUsedMB != 256 {
		t.Fatalf("stats after release: %+v", s)
	}
	l2 := mustAcquire(t, p, req("a@1", "python:3", 256))
	if l2.Start != Warm || l2.Container != l1.Container || l2.InitDuration != 0 || l2.InitLogs != nil {
		t.Fatalf("second lease: start %v, same container %v; want a warm reuse", l2.Start, l2.Container == l1.Container)
	}
	l2.Release()
	l2.Release() // no-op
	if c, i := f.creates.Load(), f.inits.Load(); c != 1 || i != 1 {
		t.Fatalf("creates %d, inits %d; want 1, 1", c, i)
	}
	if s := p.Stats(); s.ColdStarts != 1 || s.WarmStarts != 1 || s.Warm != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestUpdatedActionGetsNewContainer(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{})
	closePool(t, p)

	l1 := mustAcquire(t, p, req("a@1", "python:3", 256))
	l1.Release()
	l2 := mustAcquire(t, p, req("a@2", "python:3", 256))
	if l2.Start != Cold || l2.Container == l1.Container {
		t.Fatalf("new version: start %v, reused old container %v", l2.Start, l2.Container == l1.Container)
	}
	if got := l2.Container.(*fakeContainer).Code(); got != "code of a@2" {
		t.Fatalf("new container runs %q", got)
	}
	l2.Release()
	if f.creates.Load() != 2 {
		t.Fatalf("creates = %d, want 2", f.creates.Load())
	}
}

func TestConcurrencyShareContainer(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{})
	closePool(t, p)

	r := req("n@1", "nodejs:20", 256)
	r.Concurrency = 2
	l1 := mustAcquire(t, p, r)
	l2 := mustAcquire(t, p, r)
	if l2.Container != l1.Container || l2.Start != Warm {
		t.Fatalf("second lease should share the container warm, got %v", l2.Start)
	}
	l3 := mustAcquire(t, p, r)
	if l3.Container == l1.Container || l3.Start != Cold {
		t.Fatalf("third lease should get a new container, got %v", l3.Start)
	}
	l1.Release()
	l4 := mustAcquire(t, p, r)
	if l4.Start != Warm || f.creates.Load() != 2 {
		t.Fatalf("a free slot should be reused: %v, creates %d", l4.Start, f.creates.Load())
	}
	for _, l := range []*Lease{l2, l3, l4} {
		l.Release()
	}
	if s := p.Stats(); s.Warm != 2 || s.Busy != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestConcurrentAcquireSameKeyInitsOnce(t *testing.T) {
	f := &fakeFactory{initGate: make(chan struct{})}
	p := New(f, Config{})
	closePool(t, p)

	const n = 4
	r := req("n@1", "nodejs:20", 256)
	r.Concurrency = n
	leases := make(chan *Lease, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			l, err := p.Acquire(t.Context(), r)
			if err != nil {
				errs <- err
				return
			}
			leases <- l
		}()
	}
	// All n fit in one container; every acquirer either initialises it
	// or joins the one initialising it.
	waitFor(t, "the first init", func() bool { return f.inits.Load() == 1 })
	close(f.initGate)
	var got []*Lease
	for range n {
		select {
		case l := <-leases:
			got = append(got, l)
		case err := <-errs:
			t.Fatal(err)
		}
	}
	cold := 0
	for _, l := range got {
		if l.Container != got[0].Container {
			t.Fatal("leases on different containers")
		}
		if l.Start == Cold {
			cold++
		}
	}
	if cold != 1 || f.creates.Load() != 1 || f.inits.Load() != 1 {
		t.Fatalf("cold %d, creates %d, inits %d; want 1 each", cold, f.creates.Load(), f.inits.Load())
	}
	for _, l := range got {
		l.Release()
	}
}

func TestConcurrentAcquireSingleSlot(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 1 << 20})
	closePool(t, p)

	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[container.Container]bool{}
	hold := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := p.Acquire(t.Context(), req("a@1", "python:3", 128))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if seen[l.Container] {
				t.Error("two leases on a single-slot container")
			}
			seen[l.Container] = true
			mu.Unlock()
			<-hold
			l.Release()
		}()
	}
	waitFor(t, "all leases", func() bool { return p.Stats().Busy == n })
	close(hold)
	wg.Wait()
	if f.creates.Load() != n || f.inits.Load() != n {
		t.Fatalf("creates %d, inits %d; want %d each", f.creates.Load(), f.inits.Load(), n)
	}
}

func TestEvictOldestIdleFirst(t *testing.T) {
	f := &fakeFactory{}
	clock := newClock()
	p := New(f, Config{UserMemoryMB: 512, Now: clock.Now})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	b := mustAcquire(t, p, req("b@1", "python:3", 256))
	a.Release()
	clock.Advance(time.Second)
	b.Release()

	c := mustAcquire(t, p, req("c@1", "python:3", 256))
	if c.Start != Cold {
		t.Fatalf("c: %v", c.Start)
	}
	waitFor(t, "the oldest idle container (a) to be evicted", func() bool { return a.Container.(*fakeContainer).destroyed.Load() == 1 })
	if b.Container.(*fakeContainer).destroyed.Load() != 0 {
		t.Fatal("the oldest idle container (a) should have been evicted, not b")
	}
	b2 := mustAcquire(t, p, req("b@1", "python:3", 256))
	if b2.Start != Warm {
		t.Fatalf("b should still be warm, got %v", b2.Start)
	}
	if s := p.Stats(); s.Evictions != 1 || s.MemoryUsedMB != 512 {
		t.Fatalf("stats: %+v", s)
	}
	b2.Release()
	c.Release()
}

func TestEvictStemCellsAfterWarm(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 768, StemCells: []StemCell{{Kind: "nodejs:20", MemoryMB: 256, InitialCount: 1}}})
	closePool(t, p)
	p.Start(t.Context())
	waitFor(t, "a stem cell", func() bool { return p.Stats().Prewarm == 1 })
	f.setStemGate(make(chan struct{})) // no replenishment from here on

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	a.Release()
	b := mustAcquire(t, p, req("b@1", "python:3", 256)) // fits
	c := mustAcquire(t, p, req("c@1", "python:3", 256)) // evicts a
	waitFor(t, "warm a to be evicted", func() bool { return a.Container.(*fakeContainer).destroyed.Load() == 1 })
	if p.Stats().Prewarm != 1 {
		t.Fatalf("warm a should go before the stem cell: %+v", p.Stats())
	}
	d := mustAcquire(t, p, req("d@1", "python:3", 256)) // evicts the stem cell
	if s := p.Stats(); s.Prewarm != 0 || s.Busy != 3 || s.MemoryUsedMB != 768 {
		t.Fatalf("stats: %+v", s)
	}
	for _, l := range []*Lease{b, c, d} {
		l.Release()
	}
}

func TestQueueAndOverloaded(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 256, MaxQueue: 1})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	got := make(chan *Lease, 1)
	go func() {
		l, err := p.Acquire(t.Context(), req("b@1", "python:3", 256))
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitFor(t, "b to queue", func() bool { return p.Stats().Queued == 1 })

	_, err := p.Acquire(t.Context(), req("c@1", "python:3", 256))
	if !errors.Is(err, ErrOverloaded) || whisk.StatusOf(err) != 503 || err.Error() != whisk.MsgOverloaded {
		t.Fatalf("past the queue: %v (status %d), want ErrOverloaded", err, whisk.StatusOf(err))
	}
	// A warm hit never queues.
	a.Release()
	b := <-got
	if b == nil || b.Start != Cold {
		t.Fatal("b should get a fresh container once a is released")
	}
	// Evicted containers are destroyed in the background.
	waitFor(t, "idle a to be evicted for b", func() bool { return a.Container.(*fakeContainer).destroyed.Load() == 1 })
	if s := p.Stats(); s.Queued != 0 || s.MemoryUsedMB != 256 {
		t.Fatalf("stats: %+v", s)
	}
	b.Release()
}

func TestQueuedWaiterGetsFreedMemoryInOrder(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 512})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	b := mustAcquire(t, p, req("b@1", "python:3", 256))
	type res struct {
		key string
		l   *Lease
	}
	got := make(chan res, 2)
	for i, key := range []string{"x@1", "y@1"} {
		go func() {
			l, err := p.Acquire(t.Context(), req(key, "python:3", 256))
			if err != nil {
				t.Error(err)
			}
			got <- res{key, l}
		}()
		waitFor(t, "queue", func() bool { return p.Stats().Queued == i+1 })
	}
	a.Destroy()
	r := <-got
	if r.key != "x@1" {
		t.Fatalf("first freed memory went to %s, want the first waiter", r.key)
	}
	b.Destroy()
	if r := <-got; r.key != "y@1" {
		t.Fatalf("got %s", r.key)
	}
}

func TestWarmHitPassesQueue(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 256})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	a.Release()
	a2 := mustAcquire(t, p, req("a@1", "python:3", 256))
	queued := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_, err := p.Acquire(ctx, req("big@1", "python:3", 256))
		queued <- err
	}()
	waitFor(t, "queue", func() bool { return p.Stats().Queued == 1 })
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	a2.Release()
}

func TestCancelWhileQueued(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 256})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctx, req("b@1", "python:3", 256))
		done <- err
	}()
	waitFor(t, "b to queue", func() bool { return p.Stats().Queued == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire after cancel: %v", err)
	}
	if s := p.Stats(); s.Queued != 0 {
		t.Fatalf("waiter not removed: %+v", s)
	}
	a.Release()
	if s := p.Stats(); s.Warm != 1 || s.MemoryUsedMB != 256 {
		t.Fatalf("a cancelled waiter must not take the released container: %+v", s)
	}
	c := mustAcquire(t, p, req("c@1", "python:3", 256))
	c.Release()
}

// TestTooLargeForPool: a container larger than the whole budget is a
// permanent refusal (ErrNeverFits, with both sizes), not the transient
// ErrOverloaded a caller would retry, and it is refused even when the
// request would otherwise wait (Async).
func TestTooLargeForPool(t *testing.T) {
	p := New(&fakeFactory{}, Config{UserMemoryMB: 256})
	closePool(t, p)
	for _, async := range []bool{false, true} {
		r := req("a@1", "python:3", 512)
		r.Async = async
		_, err := p.Acquire(t.Context(), r)
		var nf *NeverFitsError
		if !errors.Is(err, ErrNeverFits) || !errors.As(err, &nf) || errors.Is(err, ErrOverloaded) {
			t.Fatalf("async %v: got %v, want ErrNeverFits and not ErrOverloaded", async, err)
		}
		if nf.MemoryMB != 512 || nf.UserMemoryMB != 256 {
			t.Fatalf("sizes %+v", nf)
		}
	}
	if s := p.Stats(); s.Queued != 0 {
		t.Fatalf("a request that never fits must not queue: %+v", s)
	}
}

// TestAsyncWaitsPastMaxQueue: with no room and no queue for blocking
// callers (MaxQueue < 0), an Async request still waits in the pool's
// queue, counted in Stats.QueuedAsync, and is served in order once memory
// frees; a blocking request behind it is refused at once.
func TestAsyncWaitsPastMaxQueue(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 256, MaxQueue: -1})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	got := make(chan *Lease, 2)
	for i, key := range []string{"b@1", "c@1"} {
		r := req(key, "python:3", 256)
		r.Async = true
		go func() {
			l, err := p.Acquire(t.Context(), r)
			if err != nil {
				t.Error(err)
			}
			got <- l
		}()
		waitFor(t, key+" to queue", func() bool { return p.Stats().QueuedAsync == i+1 })
	}
	if s := p.Stats(); s.Queued != 2 || s.QueuedAsync != 2 {
		t.Fatalf("stats: %+v", s)
	}
	if _, err := p.Acquire(t.Context(), req("d@1", "python:3", 256)); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("blocking with no queue: %v, want ErrOverloaded", err)
	}
	a.Release()
	b := <-got
	if code := b.Container.(*fakeContainer).Code(); code != "code of b@1" {
		t.Fatalf("first served: %q, want b@1's", code)
	}
	b.Release()
	c := <-got
	if s := p.Stats(); s.Queued != 0 || s.QueuedAsync != 0 {
		t.Fatalf("stats: %+v", s)
	}
	c.Release()
}

func TestDestroyedContainerNotReused(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{})
	closePool(t, p)

	l1 := mustAcquire(t, p, req("a@1", "python:3", 256))
	l1.Destroy()
	l1.Release() // no-op after Destroy
	if s := p.Stats(); s.MemoryUsedMB != 0 || s.Warm != 0 || s.Busy != 0 {
		t.Fatalf("stats after destroy: %+v", s)
	}
	l2 := mustAcquire(t, p, req("a@1", "python:3", 256))
	if l2.Start != Cold || l2.Container == l1.Container {
		t.Fatal("a destroyed container was reused")
	}
	waitFor(t, "destroy", func() bool { return l1.Container.(*fakeContainer).destroyed.Load() == 1 })
	l2.Release()
}

func TestInitFailure(t *testing.T) {
	f := &fakeFactory{initFn: func(req container.InitRequest) ([]string, error) {
		return []string{"SyntaxError"}, &container.InitError{Message: "bad code"}
	}}
	p := New(f, Config{})
	closePool(t, p)

	_, err := p.Acquire(t.Context(), req("a@1", "python:3", 256))
	var fail *InitFailure
	var ie *container.InitError
	if !errors.As(err, &fail) || !errors.As(err, &ie) || ie.Message != "bad code" {
		t.Fatalf("Acquire: %v; want an *InitFailure around the *InitError", err)
	}
	if fail.Start != Cold || len(fail.Logs) != 1 || fail.Logs[0] != "SyntaxError" {
		t.Fatalf("failure: %+v", fail)
	}
	if f.destroys.Load() != 1 {
		t.Fatalf("destroys = %d, want the failed container destroyed", f.destroys.Load())
	}
	if s := p.Stats(); s.MemoryUsedMB != 0 || s.Warm != 0 || s.Busy != 0 {
		t.Fatalf("stats: %+v", s)
	}
	f.mu.Lock()
	f.initFn = func(container.InitRequest) ([]string, error) {
		return nil, fmt.Errorf("init: %w", container.ErrTimeout)
	}
	f.mu.Unlock()
	_, err = p.Acquire(t.Context(), req("a@1", "python:3", 256))
	if !errors.Is(err, container.ErrTimeout) || f.creates.Load() != 2 {
		t.Fatalf("second try: %v, creates %d", err, f.creates.Load())
	}
}

func TestInitFailureReachesJoiners(t *testing.T) {
	f := &fakeFactory{initGate: make(chan struct{}), initFn: func(container.InitRequest) ([]string, error) {
		return nil, fmt.Errorf("init: %w", container.ErrExited)
	}}
	p := New(f, Config{})
	closePool(t, p)

	r := req("n@1", "nodejs:20", 256)
	r.Concurrency = 3
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := p.Acquire(t.Context(), r)
			errs <- err
		}()
	}
	waitFor(t, "all three on one container", func() bool { return holders(p, r.Key) == 3 })
	close(f.initGate)
	for range 3 {
		if err := <-errs; !errors.Is(err, container.ErrExited) {
			t.Fatalf("got %v, want ErrExited", err)
		}
	}
	if f.creates.Load() != 1 || p.Stats().MemoryUsedMB != 0 {
		t.Fatalf("creates %d, stats %+v", f.creates.Load(), p.Stats())
	}
}

func TestCreateFailure(t *testing.T) {
	boom := errors.New("no bwrap")
	f := &fakeFactory{createErr: boom}
	p := New(f, Config{})
	closePool(t, p)
	_, err := p.Acquire(t.Context(), req("a@1", "python:3", 256))
	var fail *InitFailure
	if !errors.Is(err, boom) || !errors.As(err, &fail) {
		t.Fatalf("got %v", err)
	}
	if s := p.Stats(); s.MemoryUsedMB != 0 || s.Busy != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestStemCellConsumedAndReplenished(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{StemCells: []StemCell{{Kind: "nodejs:20", MemoryMB: 256, InitialCount: 1}}, StemCellEnv: map[string]string{"__OW_API_HOST": "h"}})
	closePool(t, p)
	p.Start(t.Context())
	waitFor(t, "the initial stem cell", func() bool { return p.Stats().Prewarm == 1 })
	if s := p.Stats(); s.MemoryUsedMB != 256 {
		t.Fatalf("stem cells count against memory: %+v", s)
	}

	l := mustAcquire(t, p, req("n@1", "nodejs:20", 256))
	if l.Start != Prewarmed || l.InitLogs == nil {
		t.Fatalf("start %v, want prewarm", l.Start)
	}
	fc := l.Container.(*fakeContainer)
	if fc.spec.Env["__OW_API_HOST"] != "h" {
		t.Fatalf("stem cell env: %v", fc.spec.Env)
	}
	waitFor(t, "replenishment", func() bool { return p.Stats().Prewarm == 1 })
	if f.creates.Load() != 2 {
		t.Fatalf("creates = %d, want 2", f.creates.Load())
	}

	// Another memory size or kind does not take a stem cell.
	for _, r := range []Request{req("m@1", "nodejs:20", 512), req("p@1", "python:3", 256)} {
		l2 := mustAcquire(t, p, r)
		if l2.Start != Cold {
			t.Fatalf("%s: %v, want cold", r.Key, l2.Start)
		}
		l2.Release()
	}
	l.Release()
	if s := p.Stats(); s.PrewarmStarts != 1 || s.ColdStarts != 2 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestReactivePrewarm(t *testing.T) {
	f := &fakeFactory{}
	clock := newClock()
	p := New(f, Config{
		Now:           clock.Now,
		CheckInterval: time.Hour, // ticks are driven by the test
		StemCells: []StemCell{{Kind: "nodejs:20", MemoryMB: 256, InitialCount: 1,
			Reactive: &Reactive{MinCount: 1, MaxCount: 3, TTL: 3 * time.Minute, Threshold: 1, Increment: 1}}},
	})
	closePool(t, p)
	p.Start(t.Context())
	waitFor(t, "the initial stem cell", func() bool { return p.Stats().Prewarm == 1 })

	gate := make(chan struct{})
	f.setStemGate(gate)
	var leases []*Lease
	for i := range 5 {
		leases = append(leases, mustAcquire(t, p, req(fmt.Sprintf("n%d@1", i), "nodejs:20", 256)))
	}
	if leases[0].Start != Prewarmed {
		t.Fatalf("first: %v", leases[0].Start)
	}
	for _, l := range leases[1:] {
		if l.Start != Cold {
			t.Fatalf("later: %v", l.Start)
		}
		l.Release()
	}
	leases[0].Release()
	close(gate)
	f.setStemGate(nil)
	waitFor(t, "replenishment", func() bool { return p.Stats().Prewarm == 1 })

	// 4 cold starts / threshold 1 × increment 1 = 4, capped at 3.
	p.tick(clock.Advance(time.Minute))
	waitFor(t, "growth", func() bool { s := p.Stats(); return s.Prewarm == 3 && s.PrewarmStarting == 0 })

	// A quiet period: the target falls to MinCount, but nothing expires
	// before its TTL.
	p.tick(clock.Advance(time.Minute))
	if s := p.Stats(); s.Prewarm != 3 {
		t.Fatalf("before TTL: %+v", s)
	}
	before := f.destroys.Load()
	p.tick(clock.Advance(2 * time.Minute))
	if s := p.Stats(); s.Prewarm != 1 || s.PrewarmStarting != 0 {
		t.Fatalf("after TTL: %+v, want MinCount kept", s)
	}
	if got := f.destroys.Load() - before; got != 2 {
		t.Fatalf("expired stem cells destroyed: %d, want 2", got)
	}
	// The one kept is past its TTL too, yet MinCount stays.
	p.tick(clock.Advance(10 * time.Minute))
	if s := p.Stats(); s.Prewarm+s.PrewarmStarting != 1 {
		t.Fatalf("min count: %+v", s)
	}
}

func TestReactiveTarget(t *testing.T) {
	r := &Reactive{MinCount: 1, MaxCount: 4, Threshold: 2, Increment: 3}
	for cold, want := range map[int]int{0: 1, 1: 1, 2: 3, 3: 3, 4: 4, 100: 4} {
		if got := reactiveTarget(r, cold); got != want {
			t.Errorf("reactiveTarget(%d) = %d, want %d", cold, got, want)
		}
	}
}

func TestIdleReaping(t *testing.T) {
	f := &fakeFactory{}
	clock := newClock()
	p := New(f, Config{Now: clock.Now, IdleTimeout: 10 * time.Minute})
	closePool(t, p)

	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	b := mustAcquire(t, p, req("b@1", "python:3", 256))
	a.Release()
	p.tick(clock.Advance(9 * time.Minute))
	if s := p.Stats(); s.Warm != 1 || s.Reaped != 0 {
		t.Fatalf("before the timeout: %+v", s)
	}
	p.tick(clock.Advance(time.Minute))
	if s := p.Stats(); s.Warm != 0 || s.Reaped != 1 || s.MemoryUsedMB != 256 {
		t.Fatalf("after the timeout: %+v", s)
	}
	if a.Container.(*fakeContainer).destroyed.Load() != 1 {
		t.Fatal("reaped container not destroyed")
	}
	// Busy containers are never reaped.
	if b.Container.(*fakeContainer).destroyed.Load() != 0 {
		t.Fatal("busy container reaped")
	}
	b.Release()
}

func TestBackgroundLoopReaps(t *testing.T) {
	f := &fakeFactory{}
	clock := newClock()
	p := New(f, Config{Now: clock.Now, IdleTimeout: time.Minute, CheckInterval: time.Millisecond})
	closePool(t, p)
	p.Start(t.Context())
	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	a.Release()
	clock.Advance(time.Hour)
	waitFor(t, "reaping", func() bool { return p.Stats().Reaped == 1 })
}

func TestCloseDestroysAll(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{StemCells: []StemCell{{Kind: "nodejs:20", MemoryMB: 256, InitialCount: 2}}})
	p.Start(t.Context())
	waitFor(t, "stem cells", func() bool { return p.Stats().Prewarm == 2 })
	warm := mustAcquire(t, p, req("a@1", "python:3", 256))
	warm.Release()
	busy := mustAcquire(t, p, req("b@1", "python:3", 256))

	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if live := f.liveContainers(); live != 0 || f.creates.Load() != 4 {
		t.Fatalf("after Close: %d live of %d created", live, f.creates.Load())
	}
	busy.Release() // no-op
	if _, err := p.Acquire(t.Context(), req("a@1", "python:3", 256)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseFailsWaiters(t *testing.T) {
	p := New(&fakeFactory{}, Config{UserMemoryMB: 256})
	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	done := make(chan error, 1)
	go func() {
		_, err := p.Acquire(t.Context(), req("b@1", "python:3", 256))
		done <- err
	}()
	waitFor(t, "queue", func() bool { return p.Stats().Queued == 1 })
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter: %v", err)
	}
	a.Destroy()
}

// TestStress mixes keys, memory pressure, concurrency, destroys and
// cancellations; it checks that nothing deadlocks and the books balance.
func TestStress(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 1024, MaxQueue: 8})
	closePool(t, p)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				r := req(fmt.Sprintf("k%d@1", rng.IntN(6)), "nodejs:20", 128*(1+rng.IntN(3)))
				r.Concurrency = 1 + rng.IntN(2)
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rng.IntN(2000))*time.Microsecond)
				l, err := p.Acquire(ctx, r)
				cancel()
				if err != nil {
					if !errors.Is(err, ErrOverloaded) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
						t.Error(err)
					}
					continue
				}
				if rng.IntN(5) == 0 {
					l.Destroy()
				} else {
					l.Release()
				}
			}
		}()
	}
	wg.Wait()
	s := p.Stats()
	if s.Busy != 0 || s.Queued != 0 || s.MemoryUsedMB > s.MemoryLimitMB {
		t.Fatalf("after the storm: %+v", s)
	}
	p.mu.Lock()
	sum := 0
	for e := range p.live {
		sum += e.memMB
	}
	p.mu.Unlock()
	if sum != s.MemoryUsedMB {
		t.Fatalf("memory books: live sum %d, used %d", sum, s.MemoryUsedMB)
	}
	waitFor(t, "background destroys", func() bool { return f.liveContainers() == s.Warm })
}

func BenchmarkAcquireReleaseWarm(b *testing.B) {
	p := New(&fakeFactory{}, Config{})
	defer p.Close(context.Background())
	ctx := context.Background()
	r := req("a@1", "python:3", 256)
	l, err := p.Acquire(ctx, r)
	if err != nil {
		b.Fatal(err)
	}
	l.Release()
	b.ReportAllocs()
	for b.Loop() {
		l, err := p.Acquire(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		l.Release()
	}
}

func BenchmarkAcquireReleaseWarmParallel(b *testing.B) {
	p := New(&fakeFactory{}, Config{UserMemoryMB: 1 << 20})
	defer p.Close(context.Background())
	ctx := context.Background()
	r := req("a@1", "python:3", 256)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := p.Acquire(ctx, r)
			if err != nil {
				b.Error(err)
				return
			}
			l.Release()
		}
	})
}

// TestAbandonUndoesGrants covers a waiter whose context ends just as it is
// handed a container: what it was given goes back.
func TestAbandonUndoesGrants(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{StemCells: []StemCell{{Kind: "nodejs:20", MemoryMB: 256, InitialCount: 1}}})
	closePool(t, p)
	p.Start(t.Context())
	waitFor(t, "a stem cell", func() bool { return p.Stats().Prewarm == 1 })
	f.setStemGate(make(chan struct{}))

	grantFor := func(r Request) grant {
		t.Helper()
		p.mu.Lock()
		defer p.mu.Unlock()
		g, ok := p.tryLocked(&r, r.Spec.MemoryMB, true)
		if !ok {
			t.Fatalf("no grant for %s", r.Key)
		}
		return g
	}

	// A cold reservation gives its memory back.
	g := grantFor(req("a@1", "python:3", 256))
	if g.kind != grantCold || p.Stats().MemoryUsedMB != 512 {
		t.Fatalf("grant %v, stats %+v", g.kind, p.Stats())
	}
	p.abandon(g)
	if s := p.Stats(); s.MemoryUsedMB != 256 || s.Busy != 0 {
		t.Fatalf("after abandoning a cold grant: %+v", s)
	}

	// A warm container goes back to idle.
	l := mustAcquire(t, p, req("a@1", "python:3", 256))
	l.Release()
	g = grantFor(req("a@1", "python:3", 256))
	if g.kind != grantWarm {
		t.Fatalf("grant %v, want warm", g.kind)
	}
	p.abandon(g)
	if s := p.Stats(); s.Warm != 1 || s.Busy != 0 {
		t.Fatalf("after abandoning a warm grant: %+v", s)
	}

	// A stem cell is destroyed (replenishment makes a new one).
	g = grantFor(req("n@1", "nodejs:20", 256))
	if g.kind != grantStem {
		t.Fatalf("grant %v, want stem", g.kind)
	}
	p.abandon(g)
	if s := p.Stats(); s.Prewarm != 0 || s.Busy != 0 || g.e.c.(*fakeContainer).destroyed.Load() != 1 {
		t.Fatalf("after abandoning a stem grant: %+v", s)
	}
}

func TestImageSpecSkipsStemCells(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{StemCells: []StemCell{{Kind: "blackbox", MemoryMB: 256, InitialCount: 1}}})
	closePool(t, p)
	p.Start(t.Context())
	waitFor(t, "a stem cell", func() bool { return p.Stats().Prewarm == 1 })
	r := req("b@1", "blackbox", 256)
	r.Spec.Image = "example/skeleton"
	l := mustAcquire(t, p, r)
	if l.Start != Cold || p.Stats().Prewarm != 1 {
		t.Fatalf("an image action took a stem cell: %v", l.Start)
	}
	l.Release()
}

// TestInitTimeoutExcludesWaiting: InitTimeout bounds start and init only;
// time spent queued for room is not counted against it.
func TestInitTimeoutExcludesWaiting(t *testing.T) {
	f := &fakeFactory{}
	p := New(f, Config{UserMemoryMB: 256})
	closePool(t, p)
	a := mustAcquire(t, p, req("a@1", "python:3", 256))
	got := make(chan error, 1)
	go func() {
		r := req("b@1", "python:3", 256)
		r.InitTimeout = 20 * time.Millisecond
		l, err := p.Acquire(t.Context(), r)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	waitFor(t, "b to queue", func() bool { return p.Stats().Queued == 1 })
	time.Sleep(60 * time.Millisecond) // queued for longer than b's init may take
	a.Release()
	if err := <-got; err != nil {
		t.Fatalf("b failed after waiting for room: %v", err)
	}
}

// TestInitTimeoutBoundsInit: an init that outlasts InitTimeout fails with
// the container's timeout while the caller's context is still alive.
func TestInitTimeoutBoundsInit(t *testing.T) {
	f := &fakeFactory{}
	f.mu.Lock()
	f.initGate = make(chan struct{}) // never opened: init hangs
	f.mu.Unlock()
	p := New(f, Config{UserMemoryMB: 256})
	closePool(t, p)
	r := req("a@1", "python:3", 256)
	r.InitTimeout = 20 * time.Millisecond
	_, err := p.Acquire(t.Context(), r)
	var fail *InitFailure
	if !errors.As(err, &fail) || !errors.Is(err, container.ErrTimeout) || t.Context().Err() != nil {
		t.Fatalf("Acquire = %v; want an init failure by timeout", err)
	}
}
