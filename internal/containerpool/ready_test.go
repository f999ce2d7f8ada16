package containerpool

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/whirlfaas/whirl/internal/container"
)

// readyFactory wraps fakeFactory so that its containers implement Readier:
// Ready blocks until the test sends the container's answer.
type readyFactory struct {
	*fakeFactory
	answers chan error
}

type readyContainer struct {
	*fakeContainer
	answers chan error
	readied chan struct{}
}

func (c *readyContainer) Ready(ctx context.Context) error {
	select {
	case err := <-c.answers:
		if err == nil {
			close(c.readied)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *readyFactory) Create(ctx context.Context, spec container.Spec) (container.Container, error) {
	c, err := f.fakeFactory.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &readyContainer{fakeContainer: c.(*fakeContainer), answers: f.answers, readied: make(chan struct{})}, nil
}

// TestStemCellOfferedOnceReady checks that a stem cell is offered only once
// its runtime says it has started, and that one that never starts is
// destroyed and replaced.
func TestStemCellOfferedOnceReady(t *testing.T) {
	f := &readyFactory{fakeFactory: &fakeFactory{}, answers: make(chan error)}
	p := New(f, Config{StemCells: []StemCell{{Kind: "python:3", MemoryMB: 256, InitialCount: 1}}})
	closePool(t, p)
	p.Start(t.Context())
	waitFor(t, "the stem cell's creation", func() bool { return f.creates.Load() == 1 })
	if s := p.Stats(); s.Prewarm != 0 || s.PrewarmStarting != 1 {
		t.Fatalf("a stem cell not yet started is offered: %+v", s)
	}
	// It dies while starting: destroyed, its memory given back, and
	// another is created at the next upkeep.
	f.answers <- fmt.Errorf("wait: %w", container.ErrExited)
	waitFor(t, "the dead stem cell's destruction", func() bool { return f.destroys.Load() == 1 && p.Stats().PrewarmStarting == 0 })
	if s := p.Stats(); s.Prewarm != 0 || s.MemoryUsedMB != 0 {
		t.Fatalf("a dead stem cell is offered or holds memory: %+v", s)
	}
	p.tick(p.cfg.Now())
	waitFor(t, "the replacement's creation", func() bool { return f.creates.Load() == 2 })
	f.answers <- nil
	waitFor(t, "the stem cell to be ready", func() bool { return p.Stats().Prewarm == 1 })
	l := mustAcquire(t, p, req("p@1", "python:3", 256))
	defer l.Release()
	if l.Start != Prewarmed {
		t.Fatalf("start %v, want prewarm", l.Start)
	}
	select {
	case <-l.Container.(*readyContainer).readied:
	default:
		t.Fatal("the lease's container never became ready")
	}
	// The replacement waits for its own start; release it for Close.
	waitFor(t, "replenishment", func() bool { return f.creates.Load() == 3 })
	go func() { f.answers <- errors.New("closing") }()
}
