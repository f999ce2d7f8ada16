package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/groupcommit"
	"github.com/whirlfaas/whirl/whisk"
)

// scope returns the uniqueness scope of a collection: APIs and feeds have their own,
// every other collection shares one per namespace.
func scope(collection string) string { return store.Scope(collection) }

type entities struct{ s *Store }

func (e entities) Get(ctx context.Context, collection, namespace, key string) (store.Entity, error) {
	ent := store.Entity{Collection: collection, Namespace: namespace, Key: key}
	var updated int64
	err := e.s.rdb.QueryRowContext(ctx,
		`SELECT rev, doc, updated FROM entities WHERE namespace = ? AND scope = ? AND key = ? AND collection = ?`,
		namespace, scope(collection), key, collection).Scan(&ent.Rev, &ent.Doc, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Entity{}, store.ErrNotFound
	}
	if err != nil {
		return store.Entity{}, fmt.Errorf("sqlite: get %s %s/%s: %w", collection, namespace, key, err)
	}
	ent.Updated = time.Unix(0, updated)
	return ent, nil
}

func (e entities) Put(ctx context.Context, ent store.Entity, rev int64) (int64, error) {
	updated := ent.Updated
	if updated.IsZero() {
		updated = time.Now()
	}
	sc := scope(ent.Collection)
	if rev == 0 {
		_, err := e.s.wdb.ExecContext(ctx,
			`INSERT INTO entities (namespace, scope, key, collection, rev, doc, updated) VALUES (?, ?, ?, ?, 1, ?, ?)`,
			ent.Namespace, sc, ent.Key, ent.Collection, ent.Doc, updated.UnixNano())
		err = e.s.wrote(err)
		if isUnique(err) {
			return 0, store.ErrConflict
		}
		if err != nil {
			return 0, fmt.Errorf("sqlite: create %s %s/%s: %w", ent.Collection, ent.Namespace, ent.Key, err)
		}
		return 1, nil
	}
	res, err := e.s.wdb.ExecContext(ctx,
		`UPDATE entities SET rev = rev + 1, doc = ?, updated = ? WHERE namespace = ? AND scope = ? AND key = ? AND collection = ? AND rev = ?`,
		ent.Doc, updated.UnixNano(), ent.Namespace, sc, ent.Key, ent.Collection, rev)
	if err := e.s.wrote(err); err != nil {
		return 0, fmt.Errorf("sqlite: update %s %s/%s: %w", ent.Collection, ent.Namespace, ent.Key, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return rev + 1, nil
	}
	return 0, e.missOrConflict(ctx, ent.Collection, ent.Namespace, ent.Key)
}

// missOrConflict tells why a write conditioned on a revision changed no row.
func (e entities) missOrConflict(ctx context.Context, collection, namespace, key string) error {
	var one int
	err := e.s.wdb.QueryRowContext(ctx,
		`SELECT 1 FROM entities WHERE namespace = ? AND scope = ? AND key = ? AND collection = ?`,
		namespace, scope(collection), key, collection).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return fmt.Errorf("sqlite: %s %s/%s: %w", collection, namespace, key, err)
	}
	return store.ErrConflict
}

func (e entities) Delete(ctx context.Context, collection, namespace, key string, rev int64) error {
	q := `DELETE FROM entities WHERE namespace = ? AND scope = ? AND key = ? AND collection = ?`
	args := []any{namespace, scope(collection), key, collection}
	if rev != 0 {
		q += ` AND rev = ?`
		args = append(args, rev)
	}
	res, err := e.s.wdb.ExecContext(ctx, q, args...)
	if err := e.s.wrote(err); err != nil {
		return fmt.Errorf("sqlite: delete %s %s/%s: %w", collection, namespace, key, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if rev == 0 {
		return store.ErrNotFound
	}
	return e.missOrConflict(ctx, collection, namespace, key)
}

func (e entities) List(ctx context.Context, collection, namespace string, opts store.ListOptions) ([]store.Entity, error) {
	limit := int64(opts.Limit)
	if limit <= 0 {
		limit = -1
	}
	rows, err := e.s.rdb.QueryContext(ctx,
		`SELECT key, rev, doc, updated FROM entities
		 WHERE namespace = ? AND collection = ? AND substr(key, 1, length(?)) = ?
		 ORDER BY key LIMIT ? OFFSET ?`,
		namespace, collection, opts.Prefix, opts.Prefix, limit, max(opts.Skip, 0))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s %s: %w", collection, namespace, err)
	}
	defer rows.Close()
	var out []store.Entity
	for rows.Next() {
		ent := store.Entity{Collection: collection, Namespace: namespace}
		var updated int64
		if err := rows.Scan(&ent.Key, &ent.Rev, &ent.Doc, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: list %s %s: %w", collection, namespace, err)
		}
		ent.Updated = time.Unix(0, updated)
		out = append(out, ent)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list %s %s: %w", collection, namespace, err)
	}
	return out, nil
}

func (e entities) Count(ctx context.Context, collection, namespace, prefix string) (int, error) {
	var n int
	err := e.s.rdb.QueryRowContext(ctx,
		`SELECT count(*) FROM entities WHERE namespace = ? AND collection = ? AND substr(key, 1, length(?)) = ?`,
		namespace, collection, prefix, prefix).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count %s %s: %w", collection, namespace, err)
	}
	return n, nil
}

func (e entities) Locate(ctx context.Context, namespace, key string) (string, error) {
	var c string
	err := e.s.rdb.QueryRowContext(ctx,
		`SELECT collection FROM entities WHERE namespace = ? AND scope = '' AND key = ?`, namespace, key).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: locate %s/%s: %w", namespace, key, err)
	}
	return c, nil
}

type activations struct{ s *Store }

// Put makes the records visible to Get and List at once and queues them
// for the writer, which commits them in batches (write-behind); Flush or
// Close waits for the commit. A record's journal entry is retired in the
// transaction that stores the record, so a crash before the commit leaves
// the entry and the invocation runs again. Records whose commit fails
// because the database cannot be written (a full disk) stay visible and
// are committed again when it can; while it cannot, Put refuses records
// beyond the bound of SetMaxHeldBytes with an error matching store.ErrUnavailable.
func (a activations) Put(ctx context.Context, acts ...*whisk.Activation) error {
	if len(acts) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ps := make([]*pendingAct, len(acts))
	var size int64
	for i, act := range acts {
		row, err := store.EncodeActivation(act)
		if err != nil {
			return fmt.Errorf("sqlite: put activation: %w", err)
		}
		size += int64(len(row.Doc))
		ps[i] = &pendingAct{row: row, act: act, seq: a.s.pending.seq.Add(1)}
	}
	if err := a.s.admit(size); err != nil {
		return err
	}
	a.s.pending.add(ps)
	err := a.s.gc.Submit(a.s.recordsOp(ps))
	if err != nil {
		a.s.pending.remove(ps)
	}
	return err
}

// recordsOp returns the writer's op that commits ps and retires their
// journal entries; records replaced by a later Put meanwhile are skipped
// (the later one commits). Its outcome settles ps.
func (s *Store) recordsOp(ps []*pendingAct) groupcommit.Op[txWrite] {
	var retired []string // journal entries this op's transaction deleted
	return groupcommit.Op[txWrite]{N: len(ps), Write: func(ctx context.Context, tx *sql.Tx, st *stmts) error {
		retired = retired[:0] // a failed batch is retried alone
		for _, e := range ps {
			if !s.pending.current(e) {
				continue
			}
			r := &e.row
			if _, err := st.putAct.ExecContext(ctx, r.ID, r.Namespace, r.Path, r.Start, r.Doc); err != nil {
				return fmt.Errorf("sqlite: put activation %s: %w", r.ID, err)
			}
			if !s.journaled.has(r.ID) {
				continue // a blocking invocation: no journal entry
			}
			if _, err := st.delJournal.ExecContext(ctx, r.ID); err != nil {
				return fmt.Errorf("sqlite: retire journal entry %s: %w", r.ID, err)
			}
			s.journalDeletes.Add(1)
			retired = append(retired, r.ID)
		}
		return nil
	}, OnDone: func(err error) {
		if err == nil {
			s.journaled.remove(retired)
		}
		s.settle(ps, err)
	}}
}

// settle ends the write of ps: committed records leave the pending set;
// records the database could not take now are held for a retry (still
// visible); any other failure is logged and drops them, as retrying could
// not help (their journal entries stay: those invocations run again at
// the next start).
func (s *Store) settle(ps []*pendingAct, err error) {
	switch {
	case err == nil:
		s.pending.remove(ps)
	case errors.Is(err, store.ErrUnavailable):
		s.holder.hold(ps)
	default:
		s.logf("sqlite: write-behind of %d activation records failed: %v", len(ps), err)
		s.pending.remove(ps)
	}
}

func (a activations) Get(ctx context.Context, namespace, id string) (*whisk.Activation, error) {
	if act := a.s.pending.get(namespace, id); act != nil {
		return act, nil
	}
	var doc []byte
	err := a.s.rdb.QueryRowContext(ctx,
		`SELECT doc FROM activations WHERE id = ? AND namespace = ?`, id, namespace).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get activation %s: %w", id, err)
	}
	return decodeActivation(doc)
}

func decodeActivation(doc []byte) (*whisk.Activation, error) {
	act, err := store.DecodeActivation(doc)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return act, nil
}

// where returns the filter of q in namespace.
func where(namespace string, q store.ActivationQuery) (string, []any) {
	w := `namespace = ?`
	args := []any{namespace}
	if path := q.Path(namespace); path != "" {
		w += ` AND path = ?`
		args = append(args, path)
	}
	if q.Since != 0 {
		w += ` AND start >= ?`
		args = append(args, q.Since)
	}
	if q.Upto != 0 {
		w += ` AND start <= ?`
		args = append(args, q.Upto)
	}
	return w, args
}

func (a activations) List(ctx context.Context, namespace string, q store.ActivationQuery) ([]*whisk.Activation, error) {
	ps := a.s.pending.match(namespace, q) // before the query: see pending.go
	if len(ps) > 0 {
		db := q
		if q.Limit > 0 {
			db.Limit = q.Limit + max(q.Skip, 0)
		}
		db.Skip = 0
		out, err := a.list(ctx, namespace, db)
		if err != nil {
			return nil, err
		}
		return mergePage(out, ps, max(q.Skip, 0), q.Limit), nil
	}
	return a.list(ctx, namespace, q)
}

func (a activations) list(ctx context.Context, namespace string, q store.ActivationQuery) ([]*whisk.Activation, error) {
	w, args := where(namespace, q)
	limit := int64(q.Limit)
	if limit <= 0 {
		limit = -1
	}
	args = append(args, limit, max(q.Skip, 0))
	rows, err := a.s.rdb.QueryContext(ctx,
		`SELECT doc FROM activations WHERE `+w+` ORDER BY start DESC, rowid DESC LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list activations %s: %w", namespace, err)
	}
	defer rows.Close()
	var out []*whisk.Activation
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("sqlite: list activations %s: %w", namespace, err)
		}
		act, err := decodeActivation(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, act)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list activations %s: %w", namespace, err)
	}
	return out, nil
}

func (a activations) Count(ctx context.Context, namespace string, q store.ActivationQuery) (int, error) {
	ps := a.s.pending.match(namespace, q) // before the query: see pending.go
	w, args := where(namespace, q)
	if len(ps) == 0 {
		var n int
		if err := a.s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM activations WHERE `+w, args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlite: count activations %s: %w", namespace, err)
		}
		return n, nil
	}
	// Count and look for the pending records in one read transaction (one
	// snapshot), then add those it did not see.
	tx, err := a.s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("sqlite: count activations %s: %w", namespace, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM activations WHERE `+w, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count activations %s: %w", namespace, err)
	}
	for i := 0; i < len(ps); i += 500 {
		chunk := ps[i:min(i+500, len(ps))]
		ids := make([]any, len(chunk))
		for j, e := range chunk {
			ids[j] = e.row.ID
		}
		var seen int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM activations WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, ids...).Scan(&seen)
		if err != nil {
			return 0, fmt.Errorf("sqlite: count activations %s: %w", namespace, err)
		}
		n += len(chunk) - seen
	}
	return n, nil
}

type auth struct{ s *Store }

func (au auth) PutSubject(ctx context.Context, s store.Subject) error {
	created := s.Created
	if created.IsZero() {
		created = time.Now()
	}
	_, err := au.s.wdb.ExecContext(ctx,
		`INSERT INTO subjects (uuid, key_hash, namespace, created) VALUES (?, ?, ?, ?)
		 ON CONFLICT (uuid) DO UPDATE SET key_hash = excluded.key_hash, namespace = excluded.namespace, created = excluded.created`,
		s.UUID, s.KeyHash, s.Namespace, created.UnixNano())
	if err := au.s.wrote(err); err != nil {
		return fmt.Errorf("sqlite: put subject %s: %w", s.UUID, err)
	}
	return nil
}

func (au auth) Subject(ctx context.Context, uuid string) (store.Subject, error) {
	s := store.Subject{UUID: uuid}
	var created int64
	err := au.s.rdb.QueryRowContext(ctx,
		`SELECT key_hash, namespace, created FROM subjects WHERE uuid = ?`, uuid).Scan(&s.KeyHash, &s.Namespace, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Subject{}, store.ErrNotFound
	}
	if err != nil {
		return store.Subject{}, fmt.Errorf("sqlite: get subject %s: %w", uuid, err)
	}
	s.Created = time.Unix(0, created)
	return s, nil
}

func (au auth) Subjects(ctx context.Context, namespace string) ([]store.Subject, error) {
	q := `SELECT uuid, key_hash, namespace, created FROM subjects ORDER BY namespace, uuid`
	var args []any
	if namespace != "" {
		q = `SELECT uuid, key_hash, namespace, created FROM subjects WHERE namespace = ? ORDER BY namespace, uuid`
		args = append(args, namespace)
	}
	rows, err := au.s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list subjects: %w", err)
	}
	defer rows.Close()
	var out []store.Subject
	for rows.Next() {
		var s store.Subject
		var created int64
		if err := rows.Scan(&s.UUID, &s.KeyHash, &s.Namespace, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list subjects: %w", err)
		}
		s.Created = time.Unix(0, created)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list subjects: %w", err)
	}
	return out, nil
}

func (au auth) DeleteSubject(ctx context.Context, uuid string) error {
	res, err := au.s.wdb.ExecContext(ctx, `DELETE FROM subjects WHERE uuid = ?`, uuid)
	if err := au.s.wrote(err); err != nil {
		return fmt.Errorf("sqlite: delete subject %s: %w", uuid, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

type journal struct{ s *Store }

func (j journal) Append(ctx context.Context, entries ...store.JournalEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rows, err := store.EncodeJournal(entries)
	if err != nil {
		return fmt.Errorf("sqlite: journal append: %w", err)
	}
	ids := make([]string, len(rows))
	for i, e := range rows {
		ids[i] = e.ID
	}
	j.s.journaled.add(ids)
	return j.s.gc.Do(ctx, groupcommit.Op[txWrite]{N: len(rows), Write: func(ctx context.Context, tx *sql.Tx, st *stmts) error {
		for _, e := range rows {
			if _, err := st.appendJournal.ExecContext(ctx, e.ID, e.Payload, e.Accepted); err != nil {
				return fmt.Errorf("sqlite: journal append %s: %w", e.ID, err)
			}
		}
		return nil
	}})
}

func (j journal) Done(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	ids = append([]string(nil), ids...)
	return j.s.gc.Do(ctx, groupcommit.Op[txWrite]{N: len(ids), Write: func(ctx context.Context, tx *sql.Tx, st *stmts) error {
		for _, id := range ids {
			if _, err := st.delJournal.ExecContext(ctx, id); err != nil {
				return fmt.Errorf("sqlite: journal done %s: %w", id, err)
			}
		}
		return nil
	}, OnDone: func(err error) {
		if err == nil {
			j.s.journaled.remove(ids)
		}
	}})
}

func (j journal) Pending(ctx context.Context) ([]store.JournalEntry, error) {
	rows, err := j.s.rdb.QueryContext(ctx, `SELECT id, payload, accepted FROM journal ORDER BY accepted, seq`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: journal pending: %w", err)
	}
	defer rows.Close()
	var out []store.JournalEntry
	for rows.Next() {
		var e store.JournalEntry
		var accepted int64
		if err := rows.Scan(&e.ID, &e.Payload, &accepted); err != nil {
			return nil, fmt.Errorf("sqlite: journal pending: %w", err)
		}
		e.Accepted = time.Unix(0, accepted)
		if j.s.pending.has(e.ID) {
			continue // its record is stored; the commit retiring it is queued
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: journal pending: %w", err)
	}
	return out, nil
}
