package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// journaled is the set of activation ids that have (or are about to
// have) a journal entry: those loaded at Open and those appended since.
// A record's commit retires its journal entry only when its id is here,
// so that the records of blocking invocations, which have no entry, cost
// no DELETE. The data directory's lock makes this process the only
// writer, so the set is complete.
type journaled struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// loadJournaled returns the ids of db's journal entries.
func loadJournaled(ctx context.Context, db *sql.DB) (*journaled, error) {
	j := &journaled{ids: map[string]struct{}{}}
	rows, err := db.QueryContext(ctx, `SELECT id FROM journal`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: journal ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: journal ids: %w", err)
		}
		j.ids[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: journal ids: %w", err)
	}
	return j, nil
}

// add notes ids as journaled; it runs before their append is queued, so
// that a record committed right after the append always retires it.
func (j *journaled) add(rows []string) {
	j.mu.Lock()
	for _, id := range rows {
		j.ids[id] = struct{}{}
	}
	j.mu.Unlock()
}

// has reports whether id may have a journal entry.
func (j *journaled) has(id string) bool {
	j.mu.Lock()
	_, ok := j.ids[id]
	j.mu.Unlock()
	return ok
}

// remove forgets ids once a commit deleted their entries.
func (j *journaled) remove(ids []string) {
	j.mu.Lock()
	for _, id := range ids {
		delete(j.ids, id)
	}
	j.mu.Unlock()
}
