package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errClosed is returned by writes queued after Close.
var errClosed = errors.New("sqlite: store closed")

// A writeOp is one queued call: its statements run inside the batch's
// transaction. Encoding happens in the caller's goroutine before queueing,
// so the writer only runs SQL.
type writeOp struct {
	apply  func(ctx context.Context, tx *sql.Tx, st *stmts) error
	n      int             // records or entries carried, for the stats
	done   chan error      // buffered(1); nil for a write-behind op
	onDone func(err error) // called by the writer after the commit (write-behind)
}

// answer reports the outcome of op's batch.
func (op *writeOp) answer(err error) {
	if op.done != nil {
		op.done <- err
	}
	if op.onDone != nil {
		op.onDone(err)
	}
}

// stmts are the group commit's statements, prepared once on the writer
// connection and bound to each batch's transaction.
type stmts struct {
	putAct, delJournal, appendJournal *sql.Stmt
}

// groupCommit owns the writer goroutine. Lock order: mu before nothing.
type groupCommit struct {
	db    *sql.DB
	queue chan *writeOp
	wg    sync.WaitGroup

	prep    sync.Once
	base    stmts
	prepErr error

	mu     sync.RWMutex // held (read) while sending on queue; (write) to close it
	closed bool

	// observe, when set, is told after each batch whether it failed
	// (the error of a failed call, else nil) and how many records or
	// entries it carried.
	observe func(err error, n int)

	statMu  sync.Mutex
	batches int64
	records int64
	total   time.Duration
	longest time.Duration
}

func newGroupCommit(db *sql.DB, observe func(err error, n int)) *groupCommit {
	g := &groupCommit{db: db, queue: make(chan *writeOp, queueSize), observe: observe}
	g.wg.Add(1)
	go g.run()
	return g
}

// do queues op and waits until the batch that carries it has committed, or
// ctx ends. A call whose ctx ended after it was queued may still commit.
func (g *groupCommit) do(ctx context.Context, op *writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op.done = make(chan error, 1)
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return errClosed
	}
	select {
	case g.queue <- op:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit queues op without waiting for its commit (write-behind); the
// writer calls op.onDone afterwards. It blocks only while the queue is full.
func (g *groupCommit) submit(op *writeOp) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return errClosed
	}
	g.queue <- op
	return nil
}

// flush waits until every op queued before it has committed.
func (g *groupCommit) flush(ctx context.Context) error {
	return g.do(ctx, &writeOp{apply: func(context.Context, *sql.Tx, *stmts) error { return nil }})
}

// close stops accepting writes, lets the writer commit what is queued and
// waits for it to exit.
func (g *groupCommit) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.mu.Unlock()
	g.wg.Wait()
	for _, s := range []*sql.Stmt{g.base.putAct, g.base.delJournal, g.base.appendJournal} {
		if s != nil {
			s.Close()
		}
	}
}

// run is the writer: it takes the first queued call, adds every call that
// queued meanwhile (up to maxBatchCalls), and commits them in one
// transaction. A lone call that someone waits on therefore commits at
// once; under load batches grow while the previous commit runs. A batch
// of write-behind ops only, which nobody waits on, lingers up to
// lingerFor to gather more: fewer, larger commits cost less per record.
func (g *groupCommit) run() {
	defer g.wg.Done()
	batch := make([]*writeOp, 0, maxBatchCalls)
	for {
		op, ok := <-g.queue
		if !ok {
			return
		}
		batch = append(batch[:0], op)
	fill:
		for len(batch) < maxBatchCalls {
			select {
			case op, ok := <-g.queue:
				if !ok {
					break fill
				}
				batch = append(batch, op)
			default:
				break fill
			}
		}
		if !anyWaiter(batch) {
			batch = g.linger(batch)
		}
		g.commit(batch)
		clear(batch)
	}
}

// lingerFor is how long a batch that nobody waits on gathers more ops.
const lingerFor = 2 * time.Millisecond

func anyWaiter(batch []*writeOp) bool {
	for _, op := range batch {
		if op.done != nil {
			return true
		}
	}
	return false
}

// linger adds ops arriving within lingerFor to batch, and stops as soon as
// one that a caller waits on arrives.
func (g *groupCommit) linger(batch []*writeOp) []*writeOp {
	t := time.NewTimer(lingerFor)
	defer t.Stop()
	for len(batch) < maxBatchCalls {
		select {
		case op, ok := <-g.queue:
			if !ok {
				return batch
			}
			batch = append(batch, op)
			if op.done != nil {
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
func (g *groupCommit) commit(batch []*writeOp) {
	start := time.Now()
	err := g.runTx(batch)
	if err != nil && len(batch) > 1 {
		err = nil
		for _, op := range batch {
			opErr := g.runTx([]*writeOp{op})
			if opErr != nil {
				err = opErr
			}
			op.answer(opErr)
		}
	} else {
		for _, op := range batch {
			op.answer(err)
		}
	}
	d := time.Since(start)
	n := 0
	for _, op := range batch {
		n += op.n
	}
	if g.observe != nil {
		g.observe(err, n)
	}
	g.statMu.Lock()
	g.batches++
	g.records += int64(n)
	g.total += d
	g.longest = max(g.longest, d)
	g.statMu.Unlock()
}

// runTx runs batch in one transaction. An error that says the database
// cannot be written now matches store.ErrUnavailable.
func (g *groupCommit) runTx(batch []*writeOp) error { return unavailable(g.runBatch(batch)) }

func (g *groupCommit) runBatch(batch []*writeOp) error {
	// The writer is not tied to any caller's context: a batch carries
	// many callers and must commit or fail as one.
	ctx := context.Background()
	g.prep.Do(func() { g.prepErr = g.prepare(ctx) })
	if g.prepErr != nil {
		return g.prepErr
	}
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	st := &stmts{
		putAct:        tx.StmtContext(ctx, g.base.putAct),
		delJournal:    tx.StmtContext(ctx, g.base.delJournal),
		appendJournal: tx.StmtContext(ctx, g.base.appendJournal),
	}
	for _, op := range batch {
		if err := op.apply(ctx, tx, st); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (g *groupCommit) prepare(ctx context.Context) error {
	var err error
	if g.base.putAct, err = g.db.PrepareContext(ctx, sqlPutActivation); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if g.base.delJournal, err = g.db.PrepareContext(ctx, sqlDeleteJournal); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if g.base.appendJournal, err = g.db.PrepareContext(ctx, sqlAppendJournal); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

func (g *groupCommit) stats() (batches, records int64, total, longest time.Duration) {
	g.statMu.Lock()
	defer g.statMu.Unlock()
	return g.batches, g.records, g.total, g.longest
}

const (
	sqlPutActivation = `INSERT INTO activations (id, namespace, path, start, doc) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, path = excluded.path, start = excluded.start, doc = excluded.doc`
	sqlDeleteJournal = `DELETE FROM journal WHERE id = ?`
	sqlAppendJournal = `INSERT INTO journal (id, payload, accepted) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`
)
