package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// Backup writes a consistent copy of the database at path to dest (which
// must not exist) while other processes keep reading and writing it: a
// VACUUM INTO on a connection of its own reads one snapshot of the WAL
// database (writers go on; the copy holds what was committed when it
// began) and writes it compacted. Activation records a running Whirl has
// accepted but not yet committed (write-behind, milliseconds) are not in
// the copy; journal entries of accepted invocations are, so those run
// again after a restore.
func Backup(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("sqlite: backup: %s exists", dest)
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("sqlite: backup %s into %s: %w", path, dest, err)
	}
	return nil
}

// Check opens the database file at path read-only and reports its schema
// version, failing when it is not a SQLite database, fails SQLite's quick
// integrity check, or is newer than this Whirl reads.
func Check(ctx context.Context, path string) (version int, err error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("sqlite: check: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil {
		return 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	if ok != "ok" {
		return 0, fmt.Errorf("sqlite: check %s: %s", path, ok)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('entities', 'activations', 'subjects', 'journal')`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("sqlite: check %s: %w", path, err)
	}
	switch {
	case tables != 4 || version == 0:
		return version, errors.New("sqlite: " + path + " is not a Whirl database")
	case version > schemaVersion:
		return version, fmt.Errorf("sqlite: %s is at schema %d, newer than this whirl's %d: use a newer whirl", path, version, schemaVersion)
	}
	return version, nil
}

// SchemaVersion is the schema version this Whirl's databases are at (PRAGMA
// user_version); docs/operations.md lists the versions.
func SchemaVersion() int { return schemaVersion }
