package postgres

import (
	"context"
	"errors"
	"fmt"

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
// transaction, opts.Pause apart (store.Prune). The space is not given back
// to the file system: autovacuum makes it reusable by later records, so
// the table stays about the size retention bounds it to
// (docs/operations.md). Every process that runs it deletes the same rows;
// they do not conflict.
func (s *Store) PruneActivations(ctx context.Context, opts store.PruneOptions) (store.PruneResult, error) {
	return store.Prune(ctx, pruneSQL{s}, opts)
}

// pruneSQL is the store.PruneBackend of PostgreSQL.
type pruneSQL struct{ s *Store }

func (p pruneSQL) ActivationNamespaces(ctx context.Context) ([]string, error) {
	return p.s.activationNamespaces(ctx)
}

func (p pruneSQL) DeleteOlder(ctx context.Context, ns string, beforeMs int64, limit int) (int64, int64, error) {
	return p.s.deleteBatch(ctx, sqlPruneOld, ns, beforeMs, limit)
}

func (p pruneSQL) NewestBeyond(ctx context.Context, ns string, keep int) (start, seq int64, ok bool, err error) {
	err = p.s.pool.QueryRow(ctx, sqlNewestBeyond, ns, keep).Scan(&start, &seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("postgres: prune %s: %w", ns, err)
	}
	return start, seq, true, nil
}

func (p pruneSQL) DeleteThrough(ctx context.Context, ns string, start, seq int64, limit int) (int64, int64, error) {
	return p.s.deleteBatch(ctx, sqlPruneBeyond, ns, start, seq, limit)
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
