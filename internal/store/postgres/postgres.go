// Package postgres is the scale-out store.Store: PostgreSQL through
// github.com/jackc/pgx/v5 (pgxpool), shared by every controller and invoker.
//
// Activation records and journal changes are written by one writer
// goroutine per process that sends the calls queued while the previous
// transaction ran as one transaction in one round trip (group commit,
// package store/groupcommit, with array-bound multi-row statements).
// Entities and subjects are written directly. The schema is created
// idempotently by Open, in the schema that the connection's search_path
// names first.
//
// Only internal/app and tests import this package.
package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/groupcommit"
)

// Interface guards.
var _ store.Store = (*Store)(nil)

const (
	maxBatchCalls = 1024 // calls merged into one transaction at most
	queueSize     = 4096
	// migrationLock is the advisory lock key that serializes schema
	// creation among processes starting at once.
	migrationLock = 0x7768_6972_6c00 // "whirl"
)

// Store is a store.Store kept in PostgreSQL. Create it with Open and
// release it with Close.
type Store struct {
	pool *pgxpool.Pool
	gc   *groupcommit.Writer[write]

	closeOnce sync.Once
}

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; pgxpool's pool_* parameters apply, and other unknown
// parameters such as search_path are sent as run-time parameters), creates
// the schema if needed and starts the writer.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	return &Store{pool: pool, gc: newWriter(pool)}, nil
}

// Entities returns the entity collections.
func (s *Store) Entities() store.Entities { return entities{s} }

// Activations returns the activation records.
func (s *Store) Activations() store.Activations { return activations{s} }

// Auth returns the authentication subjects.
func (s *Store) Auth() store.Auth { return auth{s} }

// Journal returns the journal of accepted invocations.
func (s *Store) Journal() store.Journal { return journal{s} }

// GroupCommitStats reports, since Open, how many group-commit transactions
// the writer ran, how many activation records and journal changes they
// carried, and the total and longest time spent in them (begin to commit).
func (s *Store) GroupCommitStats() (batches, records int64, total, longest time.Duration) {
	return s.gc.Stats()
}

// Close waits for queued writes to commit, stops the writer and closes the
// pool. Calls after the first do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.gc.Close()
		s.pool.Close()
	})
	return nil
}

// schema is created in one transaction under an advisory lock. Keys use
// the "C" collation so that ordering is bytewise, as in every backend.
const schema = `
CREATE TABLE IF NOT EXISTS entities (
	namespace  text COLLATE "C" NOT NULL,
	scope      text COLLATE "C" NOT NULL, -- '' for actions, triggers, rules, packages; 'apis' for APIs
	key        text COLLATE "C" NOT NULL,
	collection text COLLATE "C" NOT NULL,
	rev        bigint NOT NULL,
	doc        bytea NOT NULL,
	updated    bigint NOT NULL,           -- unix nanoseconds
	PRIMARY KEY (namespace, scope, key)
);
CREATE INDEX IF NOT EXISTS entities_by_collection ON entities (namespace, collection, key);

CREATE TABLE IF NOT EXISTS activations (
	id        text COLLATE "C" PRIMARY KEY,
	namespace text COLLATE "C" NOT NULL, -- the owner namespace: record namespace up to any '/'
	path      text COLLATE "C" NOT NULL, -- "ns/pkg/name" of what ran: the name filter
	start     bigint NOT NULL,           -- epoch milliseconds
	doc       bytea NOT NULL             -- the record's JSON
);
-- Newest first is latest start, then latest written (seq): two warm runs
-- often start in the same millisecond.
ALTER TABLE activations ADD COLUMN IF NOT EXISTS seq bigserial;
DROP INDEX IF EXISTS activations_by_start;
DROP INDEX IF EXISTS activations_by_path;
CREATE INDEX IF NOT EXISTS activations_by_start_seq ON activations (namespace, start DESC, seq DESC);
CREATE INDEX IF NOT EXISTS activations_by_path_seq ON activations (namespace, path, start DESC, seq DESC);

CREATE TABLE IF NOT EXISTS subjects (
	uuid      text COLLATE "C" PRIMARY KEY,
	key_hash  text NOT NULL,
	namespace text COLLATE "C" NOT NULL,
	created   bigint NOT NULL            -- unix nanoseconds
);
CREATE INDEX IF NOT EXISTS subjects_by_namespace ON subjects (namespace, uuid);

CREATE TABLE IF NOT EXISTS journal (
	seq      bigserial PRIMARY KEY,
	id       text COLLATE "C" NOT NULL UNIQUE,
	payload  bytea NOT NULL,
	accepted bigint NOT NULL             -- unix nanoseconds
);
`

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
