// Package sqlite is the embedded store.Store: one SQLite database file in
// WAL mode, opened with the pure-Go driver modernc.org/sqlite.
//
// Writes of activation records and journal entries go through one writer
// goroutine that commits the calls queued while the previous transaction
// ran in one transaction (group commit, package store/groupcommit); entity
// and subject writes are rare and run directly on the single writer
// connection. Reads use a small pool of read-only connections and see
// every committed write (read-your-writes).
//
// Only internal/app and tests import this package.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/whirlfaas/whirl/internal/store"
)

// Interface guards.
var (
	_ store.Store          = (*Store)(nil)
	_ store.Flusher        = (*Store)(nil)
	_ store.HealthReporter = (*Store)(nil)
)

// Tuning. The page caches are kept small so that an idle server stays
// within its memory budget; the working set of the hot queries (the newest
// activations of a namespace) is small.
const (
	readConns     = 4
	idleReadConns = 1
	cacheKiB      = 2048 // per connection
	busyTimeoutMS = 10000
	maxBatchCalls = 1024 // calls merged into one transaction at most
	queueSize     = 4096
)

// Store is a store.Store kept in one SQLite database. Create it with Open
// and release it with Close.
type Store struct {
	path string
	wdb  *sql.DB // one connection: every write
	rdb  *sql.DB // readers

	gc      *writer
	pending *pending // activation records accepted, not yet committed
	holder  *holder  // of those, the ones waiting for a retry
	// journaled holds the ids with a journal entry: only their records'
	// commits delete one.
	journaled *journaled
	ckpt      *checkpointer // copies the WAL into the database file
	// journalDeletes counts the DELETEs records' commits ran (tests).
	journalDeletes atomic.Int64
	health         health
	// Logf reports write-behind failures, which have no caller to return
	// to, and each change of health; log.Printf when nil. Set it before
	// the first write.
	Logf    func(format string, args ...any)
	maxHeld atomic.Int64 // SetMaxHeldBytes

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database at path, its directory, and
// the schema, and starts the writer. Migrations are idempotent: opening an
// existing database keeps its data.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
	}
	wdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	jids, err := loadJournaled(ctx, wdb)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(idleReadConns)
	rdb.SetConnMaxIdleTime(time.Minute)
	s := &Store{path: path, wdb: wdb, rdb: rdb, pending: newPending(), holder: newHolder(), journaled: jids}
	s.health.logf = s.logf
	if s.ckpt, err = newCheckpointer(path, s.logf); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, err
	}
	s.gc = newWriter(wdb, s.observe)
	go s.retryLoop()
	return s, nil
}

// dsn returns the driver's data source name for path. Every connection
// gets WAL mode, synchronous=NORMAL (a committed transaction survives a
// crash of the process; only a power loss may undo the last ones), a busy
// timeout and a modest page cache. Write transactions start IMMEDIATE so
// that they never fail on lock upgrade.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		// Checkpoints are the checkpointer's (checkpoint.go), not
		// the committing writer's.
		q.Add("_pragma", "wal_autocheckpoint(0)")
		q.Add("_pragma", "journal_size_limit(0)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

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

// Flush waits until every write accepted before it is committed: the
// activation records Put made visible at once become durable. While some
// wait because the database cannot be written, it returns the store's
// health error (matching store.ErrUnavailable).
func (s *Store) Flush(ctx context.Context) error {
	if err := s.gc.Flush(ctx); err != nil {
		return err
	}
	if s.holder.count() > 0 {
		if err := s.health.get(); err != nil {
			return err
		}
		return store.Unavailable("activation records wait for the database")
	}
	return nil
}

func (s *Store) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// observe keeps the health of the database from the writer's batches.
func (s *Store) observe(err error, n int) {
	switch {
	case err != nil:
		s.health.failed(err)
	case n > 0:
		s.ckpt.wrote()
		s.health.ok(s.holder.count())
	}
}

// wrote classifies the outcome of a direct write (entities, subjects):
// an error that says the database cannot be written is returned matching
// store.ErrUnavailable and makes the store unhealthy; a success makes it
// healthy again unless activation records still wait.
func (s *Store) wrote(err error) error {
	err = unavailable(err)
	if err != nil {
		s.health.failed(err)
		return err
	}
	s.ckpt.wrote()
	s.health.ok(s.holder.count())
	return nil
}

// Close waits for queued writes to commit, stops the writer and closes the
// database. Calls after the first return the first's result. Activation
// records still held because the database could not take them are lost
// with the process (and logged): those of accepted asynchronous
// invocations run again at the next start, from their journal entries.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.holder.stop)
		<-s.holder.done
		if ps := s.holder.take(); len(ps) > 0 {
			// A last try; on failure the op holds them again.
			_ = s.gc.Do(context.Background(), s.recordsOp(ps))
		}
		s.gc.close()
		if n := s.holder.count(); n > 0 {
			s.logf("sqlite: closed with %d activation records the database could not take (%v); accepted asynchronous invocations among them run again at the next start", n, s.health.get())
		}
		err0 := s.ckpt.close()
		err1 := s.rdb.Close()
		// Fold the WAL back into the database file so that a closed
		// database is one file.
		_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		err2 := s.wdb.Close()
		s.closeErr = errors.Join(err0, err1, err2)
	})
	return s.closeErr
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint
// violation.
func isUnique(err error) bool {
	type coder interface{ Code() int }
	var c coder
	if errors.As(err, &c) {
		// SQLITE_CONSTRAINT_PRIMARYKEY (1555), SQLITE_CONSTRAINT_UNIQUE (2067).
		return c.Code() == 1555 || c.Code() == 2067
	}
	return false
}
