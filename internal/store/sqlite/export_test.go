package sqlite

// JournalDeletes returns how many journal DELETEs the commits of
// activation records have run since Open.
func (s *Store) JournalDeletes() int64 { return s.journalDeletes.Load() }

// WriterAutocheckpoint returns the writer connection's
// wal_autocheckpoint.
func (s *Store) WriterAutocheckpoint() (n int, err error) {
	err = s.wdb.QueryRow("PRAGMA wal_autocheckpoint").Scan(&n)
	return n, err
}

// Checkpoints returns how many checkpoints the checkpointer ran.
func (s *Store) Checkpoints() int64 { return s.ckpt.runs.Load() }
