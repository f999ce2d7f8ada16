package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/groupcommit"
)

// errClosed is returned by writes queued after Close.
var errClosed = errors.New("postgres: store closed")

// A write is one queued call's part of a batch: activation records to
// put, journal entries to append, or journal ids to retire (exactly one is
// set). Encoding happens in the caller's goroutine before queueing.
type write struct {
	acts    []store.ActivationRow
	entries []store.JournalRow
	done    []string
}

func (w write) op() groupcommit.Op[write] {
	return groupcommit.Op[write]{Write: w, N: len(w.acts) + len(w.entries) + len(w.done)}
}

// newWriter starts the group commit (package groupcommit) on pool. Every
// call waits for its commit, so batches never linger.
func newWriter(pool *pgxpool.Pool) *groupcommit.Writer[write] {
	return groupcommit.New(groupcommit.Config[write]{
		Commit:    func(batch []write) error { return runTx(pool, batch) },
		MaxBatch:  maxBatchCalls,
		QueueSize: queueSize,
		Closed:    errClosed,
	})
}

// runTx sends every call's statements in one pipeline that ends in a
// single Sync: PostgreSQL runs such a pipeline as one implicit
// transaction, committed at the Sync or rolled back whole at the first
// error, so a batch costs one round trip.
func runTx(pool *pgxpool.Pool, batch []write) error {
	if len(batch) == 0 {
		return nil // a Flush alone
	}
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
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return unavailable(fmt.Errorf("postgres: write batch: %w", err))
	}
	return nil
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
func queuePut(b *pgx.Batch, ops []write) {
	last := map[string]int{}
	var rows []store.ActivationRow
	for _, op := range ops {
		for _, r := range op.acts {
			if i, ok := last[r.ID]; ok {
				rows[i] = r
				continue
			}
			last[r.ID] = len(rows)
			rows = append(rows, r)
		}
	}
	ids := make([]string, len(rows))
	nss := make([]string, len(rows))
	paths := make([]string, len(rows))
	starts := make([]int64, len(rows))
	docs := make([][]byte, len(rows))
	for i, r := range rows {
		ids[i], nss[i], paths[i], starts[i], docs[i] = r.ID, r.Namespace, r.Path, r.Start, r.Doc
	}
	b.Queue(sqlPutActivations, ids, nss, paths, starts, docs)
	b.Queue(sqlDeleteJournal, ids)
}

// queueAppend adds one insert of every entry of ops; ids already present,
// or repeated, are ignored.
func queueAppend(b *pgx.Batch, ops []write) {
	var ids []string
	var payloads [][]byte
	var accepted []int64
	for _, op := range ops {
		for _, e := range op.entries {
			ids = append(ids, e.ID)
			payloads = append(payloads, e.Payload)
			accepted = append(accepted, e.Accepted)
		}
	}
	b.Queue(sqlAppendJournal, ids, payloads, accepted)
}

// queueDone adds one delete of every id of ops.
func queueDone(b *pgx.Batch, ops []write) {
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.done...)
	}
	b.Queue(sqlDeleteJournal, ids)
}
