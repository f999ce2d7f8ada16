package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
)

// Interface guards.
var (
	_ store.Pruner          = (*Store)(nil)
	_ store.NamespaceLister = (*Store)(nil)
)

// vacuumStep is how many free pages one incremental vacuum step returns
// to the file system (with 4 KiB pages, 1 MiB).
const vacuumStep = 256

// sqlActivationNamespaces lists the distinct owner namespaces of the
// activation records by skipping through the (namespace, start) index
// (one seek per namespace, not a scan of every record).
const sqlActivationNamespaces = `WITH RECURSIVE ns(n) AS (
	SELECT (SELECT min(namespace) FROM activations)
	UNION ALL
	SELECT (SELECT min(namespace) FROM activations WHERE namespace > n) FROM ns WHERE n IS NOT NULL
) SELECT n FROM ns WHERE n IS NOT NULL`

const (
	// sqlPruneOld deletes one batch of a namespace's records that started
	// before a time.
	sqlPruneOld = `DELETE FROM activations WHERE rowid IN
	(SELECT rowid FROM activations WHERE namespace = ? AND start < ? LIMIT ?) RETURNING length(doc)`
	// sqlPruneBeyond deletes one batch of a namespace's records at or
	// older than (start, rowid) in List's order.
	sqlPruneBeyond = `DELETE FROM activations WHERE rowid IN
	(SELECT rowid FROM activations WHERE namespace = ? AND (start < ? OR start = ? AND rowid <= ?) LIMIT ?) RETURNING length(doc)`
	// sqlNewestBeyond finds the newest record past a namespace's newest n.
	sqlNewestBeyond = `SELECT start, rowid FROM activations WHERE namespace = ? ORDER BY start DESC, rowid DESC LIMIT 1 OFFSET ?`
)

// PruneActivations deletes old records (store.Pruner) namespace by
// namespace, in batches of opts.Batch on the writer connection with
// opts.Pause between them: the group commit waits for at most one batch.
// Records accepted by Put and not yet committed are not in the table and
// are never deleted; the journal is not touched. Then it returns the free
// pages to the file system by incremental vacuum, in steps as small.
func (s *Store) PruneActivations(ctx context.Context, opts store.PruneOptions) (store.PruneResult, error) {
	res, err := store.Prune(ctx, pruneSQL{s}, opts)
	if err != nil || res.Records == 0 {
		return res, err
	}
	res.Reclaimed, err = s.vacuum(ctx, opts.Normalized().Pause)
	return res, err
}

// pruneSQL is the store.PruneBackend of SQLite: deletes go through the
// writer connection, so the group commit waits for at most one batch.
type pruneSQL struct{ s *Store }

func (p pruneSQL) ActivationNamespaces(ctx context.Context) ([]string, error) {
	return p.s.activationNamespaces(ctx)
}

func (p pruneSQL) DeleteOlder(ctx context.Context, ns string, beforeMs int64, limit int) (int64, int64, error) {
	return p.s.deleteBatch(ctx, sqlPruneOld, ns, beforeMs, limit)
}

func (p pruneSQL) NewestBeyond(ctx context.Context, ns string, keep int) (start, rowid int64, ok bool, err error) {
	err = p.s.rdb.QueryRowContext(ctx, sqlNewestBeyond, ns, keep).Scan(&start, &rowid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("sqlite: prune %s: %w", ns, err)
	}
	return start, rowid, true, nil
}

func (p pruneSQL) DeleteThrough(ctx context.Context, ns string, start, rowid int64, limit int) (int64, int64, error) {
	return p.s.deleteBatch(ctx, sqlPruneBeyond, ns, start, start, rowid, limit)
}

func (s *Store) deleteBatch(ctx context.Context, q string, args ...any) (n, bytes int64, err error) {
	rows, err := s.wdb.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: prune: %w", unavailable(err))
	}
	defer rows.Close()
	defer s.ckpt.wrote()
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return n, bytes, fmt.Errorf("sqlite: prune: %w", err)
		}
		n++
		bytes += size
	}
	if err := rows.Err(); err != nil {
		return n, bytes, fmt.Errorf("sqlite: prune: %w", unavailable(err))
	}
	return n, bytes, nil
}

// vacuum returns the database's free pages to the file system, vacuumStep
// pages at a time with pause between steps, and reports the bytes given
// back. Without incremental auto-vacuum (a database ensureIncremental
// could not convert) it does nothing.
func (s *Store) vacuum(ctx context.Context, wait time.Duration) (int64, error) {
	var mode, pageSize int64
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != 2 {
		return 0, err
	}
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return 0, fmt.Errorf("sqlite: vacuum: %w", err)
	}
	var freed int64
	for {
		var before, after int64
		if err := s.wdb.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&before); err != nil {
			return freed, fmt.Errorf("sqlite: vacuum: %w", err)
		}
		if before == 0 {
			return freed, nil
		}
		err := drain(s.wdb.QueryContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", vacuumStep)))
		s.ckpt.wrote()
		if err != nil {
			return freed, fmt.Errorf("sqlite: vacuum: %w", err)
		}
		if err := s.wdb.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&after); err != nil {
			return freed, fmt.Errorf("sqlite: vacuum: %w", err)
		}
		freed += (before - after) * pageSize
		if after >= before {
			return freed, nil
		}
		if err := store.Pause(ctx, wait); err != nil {
			return freed, err
		}
	}
}

// drain steps a statement's rows to the end (a pragma runs as it is
// stepped).
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

func (s *Store) activationNamespaces(ctx context.Context) ([]string, error) {
	return s.strings(ctx, sqlActivationNamespaces)
}

// Namespaces lists every namespace that has entities, subjects or
// activation records (store.NamespaceLister), in order.
func (s *Store) Namespaces(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT namespace FROM entities UNION SELECT namespace FROM subjects UNION `+
		`SELECT n FROM (`+sqlActivationNamespaces+`) ORDER BY 1`)
}

func (s *Store) strings(ctx context.Context, q string) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: namespaces: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ns string
		if err := rows.Scan(&ns); err != nil {
			return nil, fmt.Errorf("sqlite: namespaces: %w", err)
		}
		out = append(out, ns)
	}
	return out, rows.Err()
}
