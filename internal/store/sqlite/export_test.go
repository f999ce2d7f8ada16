package sqlite

// JournalDeletes returns how many journal DELETEs the commits of
// activation records have run since Open.
func (s *Store) JournalDeletes() int64 { return s.journalDeletes.Load() }
