package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is the latest migration; PRAGMA user_version holds the one
// a database is at.
var schemaVersion = len(migrations)

// migrations[i] brings a database from user_version i to i+1. Each runs in
// one transaction together with the version bump, so a crash leaves a
// database at one version or the next.
var migrations = []string{
	`
CREATE TABLE IF NOT EXISTS entities (
	namespace  TEXT NOT NULL,
	scope      TEXT NOT NULL,   -- '' for actions, triggers, rules, packages; 'apis' for APIs
	key        TEXT NOT NULL,
	collection TEXT NOT NULL,
	rev        INTEGER NOT NULL,
	doc        BLOB NOT NULL,
	updated    INTEGER NOT NULL, -- unix nanoseconds
	PRIMARY KEY (namespace, scope, key)
);
CREATE INDEX IF NOT EXISTS entities_by_collection ON entities (namespace, collection, key);

CREATE TABLE IF NOT EXISTS activations (
	id        TEXT PRIMARY KEY,
	namespace TEXT NOT NULL,    -- the owner namespace: record namespace up to any '/'
	path      TEXT NOT NULL,    -- "ns/pkg/name" of what ran: the name filter
	start     INTEGER NOT NULL, -- epoch milliseconds
	doc       BLOB NOT NULL     -- the record's JSON
);
CREATE INDEX IF NOT EXISTS activations_by_start ON activations (namespace, start DESC, id DESC);
CREATE INDEX IF NOT EXISTS activations_by_path ON activations (namespace, path, start DESC, id DESC);

CREATE TABLE IF NOT EXISTS subjects (
	uuid      TEXT PRIMARY KEY,
	key_hash  TEXT NOT NULL,
	namespace TEXT NOT NULL,
	created   INTEGER NOT NULL  -- unix nanoseconds
);
CREATE INDEX IF NOT EXISTS subjects_by_namespace ON subjects (namespace, uuid);

CREATE TABLE IF NOT EXISTS journal (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       TEXT NOT NULL UNIQUE,
	payload  BLOB NOT NULL,
	accepted INTEGER NOT NULL   -- unix nanoseconds
);
`,
	// 2: newest first means latest start, then latest written (rowid),
	// not the larger random id: two warm runs often start in the same
	// millisecond. Ascending indexes, scanned backwards.
	`
DROP INDEX IF EXISTS activations_by_start;
DROP INDEX IF EXISTS activations_by_path;
CREATE INDEX activations_by_start ON activations (namespace, start);
CREATE INDEX activations_by_path ON activations (namespace, path, start);
`,
}

// migrate brings db to schemaVersion.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > schemaVersion {
		return fmt.Errorf("the database is at schema %d, newer than this whirl's %d: use a newer whirl", v, schemaVersion)
	}
	if v == 0 {
		// Before the first table: a new database gets incremental
		// auto-vacuum without a VACUUM.
		if _, err := db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return fmt.Errorf("auto_vacuum: %w", err)
		}
	}
	for ; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return ensureIncremental(ctx, db)
}

// ensureIncremental turns on incremental auto-vacuum (so that the pruner
// can give deleted records' pages back to the file system) in a database
// created without it, by Whirl before it had retention: the setting
// takes effect only through one VACUUM, which rewrites the file (it needs
// as much free disk as the database and runs once, at the first start of
// a whirl with retention).
func ensureIncremental(ctx context.Context, db *sql.DB) error {
	var mode int
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("auto_vacuum: %w", err)
	}
	if mode == 2 {
		return nil
	}
	if _, err := db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return fmt.Errorf("auto_vacuum: %w", err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("auto_vacuum: convert with VACUUM: %w", err)
	}
	return nil
}
