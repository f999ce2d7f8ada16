package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errClosed is returned by writes queued after Close.
var errClosed = errors.New("postgres: store closed")

// A writeOp is one queued call: activation records to put, journal
// entries to append, or journal ids to retire (exactly one is set).
// Encoding happens in the caller's goroutine before queueing.
type writeOp struct {
	acts    []actRow
	entries []journalRow
	done    []string

	result chan error // buffered(1)
}

func (op *writeOp) n() int { return len(op.acts) + len(op.entries) + len(op.done) }

// groupCommit owns the writer goroutine. Lock order: mu before nothing.
type groupCommit struct {
	pool  *pgxpool.Pool
	queue chan *writeOp
	wg    sync.WaitGroup

	mu     sync.RWMutex // held (read) while sending on queue; (write) to close it
	closed bool

	statMu  sync.Mutex
	batches int64
	records int64
	total   time.Duration
	longest time.Duration
}

func newGroupCommit(pool *pgxpool.Pool) *groupCommit {
	g := &groupCommit{pool: pool, queue: make(chan *writeOp, queueSize)}
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
	op.result = make(chan error, 1)
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
	case err := <-op.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
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
}

// run is the writer: it takes the first queued call, adds every call that
// queued meanwhile (up to maxBatchCalls), and commits them in one
// transaction. A lone call therefore commits at once; under load batches
// grow while the previous commit runs.
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
		g.commit(batch)
		clear(batch)
	}
}

// commit runs batch in one transaction and answers every call. When the
// transaction fails, each call is retried in a transaction of its own so
// that one bad call does not fail the others.
func (g *groupCommit) commit(batch []*writeOp) {
	start := time.Now()
	err := g.runTx(batch)
	if err != nil && len(batch) > 1 {
		for _, op := range batch {
			op.result <- g.runTx([]*writeOp{op})
		}
	} else {
		for _, op := range batch {
			op.result <- err
		}
	}
	d := time.Since(start)
	n := 0
	for _, op := range batch {
		n += op.n()
	}
	g.statMu.Lock()
	g.batches++
	g.records += int64(n)
	g.total += d
	g.longest = max(g.longest, d)
	g.statMu.Unlock()
}

// runTx sends every call's statements in one pipeline that ends in a
// single Sync: PostgreSQL runs such a pipeline as one implicit
// transaction, committed at the Sync or rolled back whole at the first
// error, so a batch costs one round trip.
func (g *groupCommit) runTx(batch []*writeOp) error {
	// The writer is not tied to any caller's context: a batch carries
	// many callers and must commit or fail as one.
	ctx := context.Background()
	b := &pgx.Batch{}
	// Consecutive calls of one kind become one multi-row statement; the
	// order of kinds is kept (an Append, then the Put that retires it).
	for i := 0; i < len(batch); {
		j := i + 1
		switch {
		case batch[i].acts != nil:
			for j < len(batch) && batch[j].acts != nil {
				j++
			}
			queuePut(b, batch[i:j])
		case batch[i].entries != nil:
			for j < len(batch) && batch[j].entries != nil {
				j++
			}
			queueAppend(b, batch[i:j])
		default:
			for j < len(batch) && batch[j].done != nil {
				j++
			}
			queueDone(b, batch[i:j])
		}
		i = j
	}
	if err := g.pool.SendBatch(ctx, b).Close(); err != nil {
		return unavailable(fmt.Errorf("postgres: write batch: %w", err))
	}
	return nil
}

func (g *groupCommit) stats() (batches, records int64, total, longest time.Duration) {
	g.statMu.Lock()
	defer g.statMu.Unlock()
	return g.batches, g.records, g.total, g.longest
}

const (
	sqlPutActivations = `INSERT INTO activations (id, namespace, path, start, doc)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])
ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, path = excluded.path, start = excluded.start, doc = excluded.doc`
	sqlDeleteJournal = `DELETE FROM journal WHERE id = ANY($1::text[])`
	sqlAppendJournal = `INSERT INTO journal (id, payload, accepted)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[]) ORDER BY 3
ON CONFLICT (id) DO NOTHING`
)

// queuePut adds one upsert of every record of ops, the last of a repeated
// id winning (one statement may not touch a row twice), and the retiring
// of their journal entries.
func queuePut(b *pgx.Batch, ops []*writeOp) {
	last := map[string]int{}
	var rows []actRow
	for _, op := range ops {
		for _, r := range op.acts {
			if i, ok := last[r.id]; ok {
				rows[i] = r
				continue
			}
			last[r.id] = len(rows)
			rows = append(rows, r)
		}
	}
	ids := make([]string, len(rows))
	nss := make([]string, len(rows))
	paths := make([]string, len(rows))
	starts := make([]int64, len(rows))
	docs := make([][]byte, len(rows))
	for i, r := range rows {
		ids[i], nss[i], paths[i], starts[i], docs[i] = r.id, r.namespace, r.path, r.start, r.doc
	}
	b.Queue(sqlPutActivations, ids, nss, paths, starts, docs)
	b.Queue(sqlDeleteJournal, ids)
}

// queueAppend adds one insert of every entry of ops; ids already present,
// or repeated, are ignored.
func queueAppend(b *pgx.Batch, ops []*writeOp) {
	var ids []string
	var payloads [][]byte
	var accepted []int64
	for _, op := range ops {
		for _, e := range op.entries {
			ids = append(ids, e.id)
			payloads = append(payloads, e.payload)
			accepted = append(accepted, e.accepted)
		}
	}
	b.Queue(sqlAppendJournal, ids, payloads, accepted)
}

// queueDone adds one delete of every id of ops.
func queueDone(b *pgx.Batch, ops []*writeOp) {
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.done...)
	}
	b.Queue(sqlDeleteJournal, ids)
}
