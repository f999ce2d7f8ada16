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
	opts = opts.Normalized()
	var res store.PruneResult
	nss, err := s.activationNamespaces(ctx)
	if err != nil {
		return res, err
	}
	for _, ns := range nss {
		if !opts.Before.IsZero() {
			if err := s.pruneBatches(ctx, &res, opts, sqlPruneOld, ns, opts.Before.UnixMilli()); err != nil {
				return res, err
			}
		}
		if opts.MaxPerNamespace > 0 {
			var start, rowid int64
			err := s.rdb.QueryRowContext(ctx, sqlNewestBeyond, ns, opts.MaxPerNamespace).Scan(&start, &rowid)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return res, fmt.Errorf("sqlite: prune %s: %w", ns, err)
			}
			if err := s.pruneBatches(ctx, &res, opts, sqlPruneBeyond, ns, start, start, rowid); err != nil {
				return res, err
			}
		}
	}
	if res.Records > 0 {
		n, err := s.vacuum(ctx, opts.Pause)
		res.Reclaimed = n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// pruneBatches runs the delete q (its last parameter the batch size)
// until a batch deletes fewer than opts.Batch records.
func (s *Store) pruneBatches(ctx context.Context, res *store.PruneResult, opts store.PruneOptions, q string, args ...any) error {
	args = append(args, opts.Batch)
	for {
		n, bytes, err := s.deleteBatch(ctx, q, args...)
		res.Records += n
		res.Bytes += bytes
		res.Batches++
		if err != nil {
			return err
		}
		if n < int64(opts.Batch) {
			return nil
		}
		if err := pause(ctx, opts.Pause); err != nil {
			return err
		}
	}
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
		if err := pause(ctx, wait); err != nil {
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

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
