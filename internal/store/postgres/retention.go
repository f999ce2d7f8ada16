package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whirlfaas/whirl/internal/store"
)

// Interface guards.
var (
	_ store.Pruner          = (*Store)(nil)
	_ store.NamespaceLister = (*Store)(nil)
)

// sqlActivationNamespaces lists the distinct owner namespaces of the
// activation records with a loose index scan of activations_by_start_seq
// (one index probe per namespace).
const sqlActivationNamespaces = `WITH RECURSIVE ns(n) AS (
	SELECT (SELECT min(namespace) FROM activations)
	UNION ALL
	SELECT (SELECT min(namespace) FROM activations WHERE namespace > ns.n) FROM ns WHERE ns.n IS NOT NULL
) SELECT n FROM ns WHERE n IS NOT NULL`

const (
	sqlPruneOld = `DELETE FROM activations WHERE id IN
	(SELECT id FROM activations WHERE namespace = $1 AND start < $2 LIMIT $3) RETURNING octet_length(doc)`
	sqlPruneBeyond = `DELETE FROM activations WHERE id IN
	(SELECT id FROM activations WHERE namespace = $1 AND (start < $2 OR start = $2 AND seq <= $3) LIMIT $4) RETURNING octet_length(doc)`
	sqlNewestBeyond = `SELECT start, seq FROM activations WHERE namespace = $1 ORDER BY start DESC, seq DESC LIMIT 1 OFFSET $2`
)

// PruneActivations deletes old records (store.Pruner) namespace by
// namespace with plain DELETEs of opts.Batch rows, each its own
// transaction, opts.Pause apart. The space is not given back to the file
// system: autovacuum makes it reusable by later records, so the table
// stays about the size retention bounds it to (docs/operations.md). Every
// process that runs it deletes the same rows; they do not conflict.
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
			var start, seq int64
			err := s.pool.QueryRow(ctx, sqlNewestBeyond, ns, opts.MaxPerNamespace).Scan(&start, &seq)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return res, fmt.Errorf("postgres: prune %s: %w", ns, err)
			}
			if err := s.pruneBatches(ctx, &res, opts, sqlPruneBeyond, ns, start, seq); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

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
		t := time.NewTimer(opts.Pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Store) deleteBatch(ctx context.Context, q string, args ...any) (n, bytes int64, err error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: prune: %w", unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			return n, bytes, fmt.Errorf("postgres: prune: %w", err)
		}
		n++
		bytes += size
	}
	if err := rows.Err(); err != nil {
		return n, bytes, fmt.Errorf("postgres: prune: %w", unavailable(err))
	}
	return n, bytes, nil
}

func (s *Store) activationNamespaces(ctx context.Context) ([]string, error) {
	return s.strings(ctx, sqlActivationNamespaces)
}

// Namespaces lists every namespace that has entities, subjects or
// activation records (store.NamespaceLister), in order.
func (s *Store) Namespaces(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT namespace FROM entities UNION SELECT namespace FROM subjects UNION `+
		`SELECT n FROM (`+sqlActivationNamespaces+`) a ORDER BY 1`)
}

func (s *Store) strings(ctx context.Context, q string) ([]string, error) {
	rows, err := s.pool.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("postgres: namespaces: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: namespaces: %w", err)
	}
	return out, nil
}
