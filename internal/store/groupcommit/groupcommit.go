// Package groupcommit is the writer that the store backends (store/sqlite,
// store/postgres) share for their frequent small writes: activation
// records and journal changes. One goroutine takes the calls queued while
// its previous transaction ran and commits them together in one
// transaction (group commit), so that many concurrent callers cost one
// commit. What a transaction is, and how a batch's writes become
// statements, is the backend's: it hands a Commit function to New.
//
// The package knows nothing of SQL or of Whirl's records and imports only
// the standard library; the backends import it, nothing else does.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by writes queued after Close, unless Config.Closed
// says otherwise.
var ErrClosed = errors.New("groupcommit: writer closed")

// Config is what New needs. Only Commit is required.
type Config[T any] struct {
	// Commit writes batch in one transaction: all of it or, on error,
	// none of it. It runs on the writer goroutine only, one batch at a
	// time, in queue order. batch is empty for a Flush that carried
	// nothing; it is valid only during the call.
	Commit func(batch []T) error
	// MaxBatch bounds the calls merged into one transaction (default 1024).
	MaxBatch int
	// QueueSize is how many calls may wait for the writer before callers
	// block (default 4096).
	QueueSize int
	// Linger is how long a batch of write-behind calls only (Submit),
	// which nobody waits on, waits to gather more: fewer, larger commits
	// cost less per record. A call that someone waits on ends the wait.
	// Zero commits every batch at once.
	Linger time.Duration
	// Observe, when set, is told after each batch, on the writer
	// goroutine, whether it failed (the error of a failed call, else nil)
	// and how many records or entries it carried (the sum of Op.N).
	Observe func(err error, n int)
	// Closed is returned by writes queued after Close (default ErrClosed).
	Closed error
}

// Op is one call to the writer: what Commit gets, and how the outcome is
// told.
type Op[T any] struct {
	// Write is the call's element of the batch Commit gets.
	Write T
	// N is how many records or entries the call carries, for Stats and
	// Config.Observe.
	N int
	// OnDone, when set, is called on the writer goroutine with the
	// outcome of the call's commit, before the writer answers any later
	// call. It is not called for a call that was never queued (Do or
	// Submit returned an error before queueing it).
	OnDone func(err error)
}

// queued is an Op in the queue.
type queued[T any] struct {
	Op[T]
	barrier bool       // a Flush: nothing for Commit
	done    chan error // buffered(1); nil for a write-behind call
}

// answer reports the outcome of q's batch.
func (q *queued[T]) answer(err error) {
	if q.done != nil {
		q.done <- err
	}
	if q.OnDone != nil {
		q.OnDone(err)
	}
}

// Writer owns the writer goroutine. Create it with New and stop it with
// Close. Its methods are safe for concurrent use. Lock order: mu before
// nothing; statMu before nothing.
type Writer[T any] struct {
	cfg   Config[T]
	queue chan *queued[T]
	wg    sync.WaitGroup
	buf   []T // Commit's batch, reused; writer goroutine only

	mu     sync.RWMutex // held (read) while sending on queue; (write) to close it
	closed bool

	statMu  sync.Mutex
	batches int64
	records int64
	total   time.Duration
	longest time.Duration
}

// New starts a writer that commits with cfg.Commit.
func New[T any](cfg Config[T]) *Writer[T] {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.Closed == nil {
		cfg.Closed = ErrClosed
	}
	w := &Writer[T]{cfg: cfg, queue: make(chan *queued[T], cfg.QueueSize), buf: make([]T, 0, cfg.MaxBatch)}
	w.wg.Add(1)
	go w.run()
	return w
}

// Do queues op and waits until the batch that carries it has committed,
// returning the commit's error, or until ctx ends. A call whose ctx ended
// after it was queued may still commit (and op.OnDone is then still
// called).
func (w *Writer[T]) Do(ctx context.Context, op Op[T]) error {
	return w.do(ctx, &queued[T]{Op: op})
}

func (w *Writer[T]) do(ctx context.Context, q *queued[T]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.done = make(chan error, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return w.cfg.Closed
	}
	select {
	case w.queue <- q:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Submit queues op without waiting for its commit (write-behind): the
// outcome goes to op.OnDone. It blocks only while the queue is full.
func (w *Writer[T]) Submit(op Op[T]) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return w.cfg.Closed
	}
	w.queue <- &queued[T]{Op: op}
	return nil
}

// Flush waits until every call queued before it has committed. It
// returns the error of the transaction that carried it (Commit of its
// batch; an empty batch when it went alone), not those of the calls
// before it.
func (w *Writer[T]) Flush(ctx context.Context) error {
	return w.do(ctx, &queued[T]{barrier: true})
}

// Close stops accepting calls, lets the writer commit what is queued and
// waits for it to exit. Later calls return Config.Closed.
func (w *Writer[T]) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// Stats reports, since New, how many batches the writer committed (or
// failed), how many records or entries they carried (the sum of Op.N),
// and the total and longest time spent committing them.
func (w *Writer[T]) Stats() (batches, records int64, total, longest time.Duration) {
	w.statMu.Lock()
	defer w.statMu.Unlock()
	return w.batches, w.records, w.total, w.longest
}

// run is the writer: it takes the first queued call, adds every call that
// queued meanwhile (up to MaxBatch), and commits them in one transaction.
// A lone call that someone waits on therefore commits at once; under load
// batches grow while the previous commit runs. A batch of write-behind
// calls only lingers (Config.Linger) to gather more.
func (w *Writer[T]) run() {
	defer w.wg.Done()
	batch := make([]*queued[T], 0, w.cfg.MaxBatch)
	for {
		q, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], q)
	fill:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case q, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		if w.cfg.Linger > 0 && !anyWaiter(batch) {
			batch = w.linger(batch)
		}
		w.commit(batch)
		clear(batch)
	}
}

func anyWaiter[T any](batch []*queued[T]) bool {
	for _, q := range batch {
		if q.done != nil {
			return true
		}
	}
	return false
}

// linger adds calls arriving within Config.Linger to batch, and stops as
// soon as one that a caller waits on arrives.
func (w *Writer[T]) linger(batch []*queued[T]) []*queued[T] {
	t := time.NewTimer(w.cfg.Linger)
	defer t.Stop()
	for len(batch) < w.cfg.MaxBatch {
		select {
		case q, ok := <-w.queue:
			if !ok {
				return batch
			}
			batch = append(batch, q)
			if q.done != nil {
				return batch
			}
		case <-t.C:
			return batch
		}
	}
	return batch
}

// commit runs batch in one transaction and answers every call. When the
// transaction fails, each call is retried in a transaction of its own so
// that one bad call does not fail the others.
func (w *Writer[T]) commit(batch []*queued[T]) {
	start := time.Now()
	err := w.runTx(batch)
	if err != nil && len(batch) > 1 {
		err = nil
		for _, q := range batch {
			qErr := w.runTx([]*queued[T]{q})
			if qErr != nil {
				err = qErr
			}
			q.answer(qErr)
		}
	} else {
		for _, q := range batch {
			q.answer(err)
		}
	}
	d := time.Since(start)
	n := 0
	for _, q := range batch {
		n += q.N
	}
	if w.cfg.Observe != nil {
		w.cfg.Observe(err, n)
	}
	w.statMu.Lock()
	w.batches++
	w.records += int64(n)
	w.total += d
	w.longest = max(w.longest, d)
	w.statMu.Unlock()
}

// runTx hands the writes of batch (Flushes carry none) to Commit.
func (w *Writer[T]) runTx(batch []*queued[T]) error {
	buf := w.buf[:0]
	for _, q := range batch {
		if !q.barrier {
			buf = append(buf, q.Write)
		}
	}
	err := w.cfg.Commit(buf)
	clear(buf)
	w.buf = buf[:0]
	return err
}
