package groupcommit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeDB is a Commit that records every batch it gets and fails any batch
// that carries "bad". While gate is set, each Commit first waits on it.
type fakeDB struct {
	mu      sync.Mutex
	batches [][]string
	gate    chan struct{}
	entered chan struct{} // told when a Commit starts waiting on gate
}

var errBad = errors.New("bad write")

func (f *fakeDB) commit(batch []string) error {
	if f.gate != nil {
		f.entered <- struct{}{}
		<-f.gate
	}
	f.mu.Lock()
	f.batches = append(f.batches, slices.Clone(batch))
	f.mu.Unlock()
	if slices.Contains(batch, "bad") {
		return errBad
	}
	return nil
}

func (f *fakeDB) committed() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.batches)
}

// blocked returns a fakeDB whose Commits wait until release is called.
func blocked() (f *fakeDB, release func()) {
	f = &fakeDB{gate: make(chan struct{}), entered: make(chan struct{}, 64)}
	var once sync.Once
	return f, func() { once.Do(func() { close(f.gate) }) }
}

// queuedLen waits until exactly n calls wait in w's queue.
func queuedLen(t *testing.T, w *Writer[string], n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(w.queue) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", len(w.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCallsQueuedDuringACommitShareTheNext: the calls that queue while a
// transaction runs are committed together in the next one, and each
// caller learns that its write committed.
func TestCallsQueuedDuringACommitShareTheNext(t *testing.T) {
	f, release := blocked()
	w := New(Config[string]{Commit: f.commit})
	defer w.Close()
	defer release()

	first := make(chan error, 1)
	go func() { first <- w.Do(context.Background(), Op[string]{Write: "w0", N: 1}) }()
	<-f.entered // the writer is inside the first Commit
	errs := make(chan error, 5)
	for i := range 5 {
		go func() { errs <- w.Do(context.Background(), Op[string]{Write: string(rune('a' + i)), N: 1}) }()
	}
	queuedLen(t, w, 5)
	release()
	if err := <-first; err != nil {
		t.Fatalf("first Do: %v", err)
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatalf("Do: %v", err)
		}
	}
	got := f.committed()
	if len(got) != 2 || len(got[1]) != 5 {
		t.Fatalf("batches %q, want [w0] then the five calls queued meanwhile in one", got)
	}
	if b, r, _, _ := w.Stats(); b != 2 || r != 6 {
		t.Errorf("Stats: %d batches, %d records; want 2, 6", b, r)
	}
}

// TestOneBadCallFailsOnlyItself: when a batch's transaction fails, each
// call is committed alone, so only the bad one fails; Observe is told the
// failure and every record of the batch.
func TestOneBadCallFailsOnlyItself(t *testing.T) {
	f, release := blocked()
	type obs struct {
		err error
		n   int
	}
	observed := make(chan obs, 8)
	w := New(Config[string]{Commit: f.commit, Observe: func(err error, n int) { observed <- obs{err, n} }})
	defer w.Close()
	defer release()

	first := make(chan error, 1)
	go func() { first <- w.Do(context.Background(), Op[string]{Write: "w0", N: 1}) }()
	<-f.entered
	names := []string{"a", "bad", "c"}
	errs := make([]chan error, len(names))
	for i, name := range names {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- w.Do(context.Background(), Op[string]{Write: name, N: 2}) }()
	}
	queuedLen(t, w, len(names))
	release()
	if err := <-first; err != nil {
		t.Fatalf("w0: %v", err)
	}
	for i, name := range names {
		err := <-errs[i]
		if want := name == "bad"; errors.Is(err, errBad) != want || (!want && err != nil) {
			t.Errorf("Do(%s) = %v; only bad should fail", name, err)
		}
	}
	if o := <-observed; o.err != nil || o.n != 1 {
		t.Errorf("Observe of w0's batch: %v, %d; want nil, 1", o.err, o.n)
	}
	if o := <-observed; !errors.Is(o.err, errBad) || o.n != 6 {
		t.Errorf("Observe of the failed batch: %v, %d; want errBad, 6", o.err, o.n)
	}
	if got := f.committed(); len(got) != 5 {
		t.Errorf("batches %q: want w0, the three together, then each alone", got)
	}
}

// TestWriteBehind: Submit returns before the commit and OnDone gets the
// outcome; a batch of write-behind calls lingers until a call that
// someone waits on arrives, and both then commit in one transaction; the
// OnDone of a call runs before any later call is answered.
func TestWriteBehind(t *testing.T) {
	f := &fakeDB{}
	w := New(Config[string]{Commit: f.commit, Linger: time.Hour})
	defer w.Close()

	var mu sync.Mutex
	var settled []error
	onDone := func(err error) {
		mu.Lock()
		settled = append(settled, err)
		mu.Unlock()
	}
	if err := w.Submit(Op[string]{Write: "behind", N: 1, OnDone: onDone}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	queuedLen(t, w, 0) // the writer holds it: lingering
	if err := w.Do(context.Background(), Op[string]{Write: "waited", N: 1}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(settled) != 1 || settled[0] != nil {
		t.Errorf("OnDone of the write-behind call: %v; want one nil before Do returned", settled)
	}
	if got := f.committed(); len(got) != 1 || !slices.Equal(got[0], []string{"behind", "waited"}) {
		t.Errorf("batches %q; want [behind waited] in one (the lingering batch ends when a waited call comes)", got)
	}
}

// TestFlushAndClose: Flush returns once every call before it committed
// (alone, it commits an empty batch); Close commits what is queued;
// calls after Close fail with Config.Closed.
func TestFlushAndClose(t *testing.T) {
	f := &fakeDB{}
	errClosed := errors.New("test store closed")
	w := New(Config[string]{Commit: f.commit, Linger: time.Hour, Closed: errClosed})

	var done sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		done.Add(1)
		if err := w.Submit(Op[string]{Write: name, OnDone: func(error) { done.Done() }}); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	done.Wait() // returns: Flush came after both commits
	if err := w.Flush(context.Background()); err != nil {
		t.Fatalf("Flush alone: %v", err)
	}
	if got := f.committed(); len(got) != 2 || !slices.Equal(got[0], []string{"a", "b"}) || len(got[1]) != 0 {
		t.Errorf("batches %q; want [a b] then an empty one", got)
	}

	if err := w.Submit(Op[string]{Write: "last"}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	w.Close()
	if got := f.committed(); !slices.Equal(got[len(got)-1], []string{"last"}) {
		t.Errorf("Close did not commit the queued call: %q", got)
	}
	if err := w.Do(context.Background(), Op[string]{Write: "late"}); !errors.Is(err, errClosed) {
		t.Errorf("Do after Close = %v, want %v", err, errClosed)
	}
	if err := w.Submit(Op[string]{Write: "late"}); !errors.Is(err, errClosed) {
		t.Errorf("Submit after Close = %v, want %v", err, errClosed)
	}
	w.Close() // twice is fine
}

// TestDoHonoursItsContext: a caller whose context ends stops waiting.
func TestDoHonoursItsContext(t *testing.T) {
	f, release := blocked()
	w := New(Config[string]{Commit: f.commit})
	defer w.Close()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- w.Do(ctx, Op[string]{Write: "slow"}) }()
	<-f.entered
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("Do = %v, want context.Canceled", err)
	}
}
