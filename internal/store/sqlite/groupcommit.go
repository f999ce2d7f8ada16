package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/store/groupcommit"
)

// errClosed is returned by writes queued after Close.
var errClosed = errors.New("sqlite: store closed")

// A txWrite is one queued call's part of a batch: its statements, run
// inside the batch's transaction. Encoding happens in the caller's
// goroutine before queueing, so the writer only runs SQL.
type txWrite func(ctx context.Context, tx *sql.Tx, st *stmts) error

// stmts are the group commit's statements, prepared once on the writer
// connection and bound to each batch's transaction.
type stmts struct {
	putAct, delJournal, appendJournal *sql.Stmt
}

// writer is the store's group commit (package groupcommit) over the
// writer connection: each batch is one transaction.
type writer struct {
	*groupcommit.Writer[txWrite]
	db *sql.DB

	prep    sync.Once // on the writer goroutine
	base    stmts
	prepErr error
}

// newWriter starts the group commit on db. A batch that nobody waits on
// (write-behind activation records only) lingers to gather more; observe
// is told the outcome of every batch.
func newWriter(db *sql.DB, observe func(err error, n int)) *writer {
	w := &writer{db: db}
	w.Writer = groupcommit.New(groupcommit.Config[txWrite]{
		Commit:    w.commit,
		MaxBatch:  maxBatchCalls,
		QueueSize: queueSize,
		Linger:    lingerFor,
		Observe:   observe,
		Closed:    errClosed,
	})
	return w
}

// lingerFor is how long a batch that nobody waits on gathers more calls.
const lingerFor = 2 * time.Millisecond

// close commits what is queued, stops the writer and releases the
// prepared statements.
func (w *writer) close() {
	w.Close()
	for _, s := range []*sql.Stmt{w.base.putAct, w.base.delJournal, w.base.appendJournal} {
		if s != nil {
			s.Close()
		}
	}
}

// commit runs batch in one transaction. An error that says the database
// cannot be written now matches store.ErrUnavailable.
func (w *writer) commit(batch []txWrite) error { return unavailable(w.runBatch(batch)) }

func (w *writer) runBatch(batch []txWrite) error {
	// The writer is not tied to any caller's context: a batch carries
	// many callers and must commit or fail as one.
	ctx := context.Background()
	w.prep.Do(func() { w.prepErr = w.prepare(ctx) })
	if w.prepErr != nil {
		return w.prepErr
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	st := &stmts{
		putAct:        tx.StmtContext(ctx, w.base.putAct),
		delJournal:    tx.StmtContext(ctx, w.base.delJournal),
		appendJournal: tx.StmtContext(ctx, w.base.appendJournal),
	}
	for _, apply := range batch {
		if err := apply(ctx, tx, st); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (w *writer) prepare(ctx context.Context) error {
	var err error
	if w.base.putAct, err = w.db.PrepareContext(ctx, sqlPutActivation); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if w.base.delJournal, err = w.db.PrepareContext(ctx, sqlDeleteJournal); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if w.base.appendJournal, err = w.db.PrepareContext(ctx, sqlAppendJournal); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	return nil
}

const (
	sqlPutActivation = `INSERT INTO activations (id, namespace, path, start, doc) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, path = excluded.path, start = excluded.start, doc = excluded.doc`
	sqlDeleteJournal = `DELETE FROM journal WHERE id = ?`
	sqlAppendJournal = `INSERT INTO journal (id, payload, accepted) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`
)
