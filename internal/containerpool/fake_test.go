package containerpool

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
)

// fakeFactory is a container.Factory that counts what the pool does with
// it. Create and Init can be made to fail or to block on a gate.
type fakeFactory struct {
	creates, inits, destroys atomic.Int64

	mu        sync.Mutex
	seq       int
	all       []*fakeContainer
	createErr error
	stemGate  chan struct{} // when non-nil, stem cell creation waits for it
	initGate  chan struct{} // when non-nil, Init waits for it
	initFn    func(req container.InitRequest) ([]string, error)
}

var _ container.Factory = (*fakeFactory)(nil)

func (f *fakeFactory) Create(ctx context.Context, spec container.Spec) (container.Container, error) {
	f.mu.Lock()
	err, gate := f.createErr, f.stemGate
	f.mu.Unlock()
	if gate != nil && strings.HasPrefix(spec.Name, "prewarm-") {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	f.creates.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	c := &fakeContainer{id: fmt.Sprintf("c%d", f.seq), spec: spec, f: f}
	f.all = append(f.all, c)
	return c, nil
}

func (f *fakeFactory) Kinds() []string                 { return []string{"nodejs:20", "python:3"} }
func (f *fakeFactory) Close(ctx context.Context) error { return nil }

func (f *fakeFactory) setStemGate(ch chan struct{}) {
	f.mu.Lock()
	f.stemGate = ch
	f.mu.Unlock()
}

func (f *fakeFactory) liveContainers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.all {
		if c.destroyed.Load() == 0 {
			n++
		}
	}
	return n
}

type fakeContainer struct {
	id   string
	spec container.Spec
	f    *fakeFactory

	initCount atomic.Int32
	destroyed atomic.Int32
	mu        sync.Mutex
	code      string
}

func (c *fakeContainer) ID() string { return c.id }

func (c *fakeContainer) Init(ctx context.Context, req container.InitRequest) ([]string, error) {
	if c.initCount.Add(1) > 1 {
		panic("fake container " + c.id + " initialised twice")
	}
	c.f.inits.Add(1)
	c.f.mu.Lock()
	gate, fn := c.f.initGate, c.f.initFn
	c.f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("init: %w", container.ErrTimeout)
		}
	}
	c.mu.Lock()
	c.code = string(req.Code)
	c.mu.Unlock()
	if fn != nil {
		return fn(req)
	}
	return []string{"init " + c.id}, nil
}

func (c *fakeContainer) Run(ctx context.Context, req container.RunRequest) (container.RunResult, error) {
	return container.RunResult{Body: []byte(`{}`)}, nil
}

func (c *fakeContainer) Destroy(ctx context.Context) error {
	if c.destroyed.Add(1) == 1 {
		c.f.destroys.Add(1)
	}
	return nil
}

func (c *fakeContainer) Code() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// fakeClock is an injectable clock for idle times and stem cell ages.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
