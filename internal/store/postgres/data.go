package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// scope returns the uniqueness scope of a collection: APIs and feeds have their own,
// every other collection shares one per namespace.
func scope(collection string) string { return store.Scope(collection) }

type entities struct{ s *Store }

func (e entities) Get(ctx context.Context, collection, namespace, key string) (store.Entity, error) {
	ent := store.Entity{Collection: collection, Namespace: namespace, Key: key}
	var updated int64
	err := e.s.pool.QueryRow(ctx,
		`SELECT rev, doc, updated FROM entities WHERE namespace = $1 AND scope = $2 AND key = $3 AND collection = $4`,
		namespace, scope(collection), key, collection).Scan(&ent.Rev, &ent.Doc, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Entity{}, store.ErrNotFound
	}
	if err != nil {
		return store.Entity{}, fmt.Errorf("postgres: get %s %s/%s: %w", collection, namespace, key, err)
	}
	ent.Updated = time.Unix(0, updated)
	return ent, nil
}

func (e entities) Put(ctx context.Context, ent store.Entity, rev int64) (int64, error) {
	updated := ent.Updated
	if updated.IsZero() {
		updated = time.Now()
	}
	doc := ent.Doc
	if doc == nil {
		doc = []byte{}
	}
	sc := scope(ent.Collection)
	if rev == 0 {
		tag, err := e.s.pool.Exec(ctx,
			`INSERT INTO entities (namespace, scope, key, collection, rev, doc, updated) VALUES ($1, $2, $3, $4, 1, $5, $6)
			 ON CONFLICT DO NOTHING`,
			ent.Namespace, sc, ent.Key, ent.Collection, doc, updated.UnixNano())
		if err != nil {
			return 0, unavailable(fmt.Errorf("postgres: create %s %s/%s: %w", ent.Collection, ent.Namespace, ent.Key, err))
		}
		if tag.RowsAffected() == 0 {
			return 0, store.ErrConflict
		}
		return 1, nil
	}
	tag, err := e.s.pool.Exec(ctx,
		`UPDATE entities SET rev = rev + 1, doc = $1, updated = $2
		 WHERE namespace = $3 AND scope = $4 AND key = $5 AND collection = $6 AND rev = $7`,
		doc, updated.UnixNano(), ent.Namespace, sc, ent.Key, ent.Collection, rev)
	if err != nil {
		return 0, unavailable(fmt.Errorf("postgres: update %s %s/%s: %w", ent.Collection, ent.Namespace, ent.Key, err))
	}
	if tag.RowsAffected() == 1 {
		return rev + 1, nil
	}
	return 0, e.missOrConflict(ctx, ent.Collection, ent.Namespace, ent.Key)
}

// missOrConflict tells why a write conditioned on a revision changed no row.
func (e entities) missOrConflict(ctx context.Context, collection, namespace, key string) error {
	var one int
	err := e.s.pool.QueryRow(ctx,
		`SELECT 1 FROM entities WHERE namespace = $1 AND scope = $2 AND key = $3 AND collection = $4`,
		namespace, scope(collection), key, collection).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return fmt.Errorf("postgres: %s %s/%s: %w", collection, namespace, key, err)
	}
	return store.ErrConflict
}

func (e entities) Delete(ctx context.Context, collection, namespace, key string, rev int64) error {
	q := `DELETE FROM entities WHERE namespace = $1 AND scope = $2 AND key = $3 AND collection = $4`
	args := []any{namespace, scope(collection), key, collection}
	if rev != 0 {
		q += ` AND rev = $5`
		args = append(args, rev)
	}
	tag, err := e.s.pool.Exec(ctx, q, args...)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: delete %s %s/%s: %w", collection, namespace, key, err))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if rev == 0 {
		return store.ErrNotFound
	}
	return e.missOrConflict(ctx, collection, namespace, key)
}

func (e entities) List(ctx context.Context, collection, namespace string, opts store.ListOptions) ([]store.Entity, error) {
	var limit *int
	if opts.Limit > 0 {
		limit = &opts.Limit
	}
	rows, err := e.s.pool.Query(ctx,
		`SELECT key, rev, doc, updated FROM entities
		 WHERE namespace = $1 AND collection = $2 AND starts_with(key, $3)
		 ORDER BY key LIMIT $4 OFFSET $5`,
		namespace, collection, opts.Prefix, limit, max(opts.Skip, 0))
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s %s: %w", collection, namespace, err)
	}
	defer rows.Close()
	var out []store.Entity
	for rows.Next() {
		ent := store.Entity{Collection: collection, Namespace: namespace}
		var updated int64
		if err := rows.Scan(&ent.Key, &ent.Rev, &ent.Doc, &updated); err != nil {
			return nil, fmt.Errorf("postgres: list %s %s: %w", collection, namespace, err)
		}
		ent.Updated = time.Unix(0, updated)
		out = append(out, ent)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list %s %s: %w", collection, namespace, err)
	}
	return out, nil
}

func (e entities) Count(ctx context.Context, collection, namespace, prefix string) (int, error) {
	var n int
	err := e.s.pool.QueryRow(ctx,
		`SELECT count(*) FROM entities WHERE namespace = $1 AND collection = $2 AND starts_with(key, $3)`,
		namespace, collection, prefix).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count %s %s: %w", collection, namespace, err)
	}
	return n, nil
}

func (e entities) Locate(ctx context.Context, namespace, key string) (string, error) {
	var c string
	err := e.s.pool.QueryRow(ctx,
		`SELECT collection FROM entities WHERE namespace = $1 AND scope = '' AND key = $2`, namespace, key).Scan(&c)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("postgres: locate %s/%s: %w", namespace, key, err)
	}
	return c, nil
}

type activations struct{ s *Store }

func (a activations) Put(ctx context.Context, acts ...*whisk.Activation) error {
	if len(acts) == 0 {
		return nil
	}
	rows := make([]store.ActivationRow, len(acts))
	for i, act := range acts {
		var err error
		if rows[i], err = store.EncodeActivation(act); err != nil {
			return fmt.Errorf("postgres: put activation: %w", err)
		}
	}
	return a.s.gc.Do(ctx, write{acts: rows}.op())
}

func (a activations) Get(ctx context.Context, namespace, id string) (*whisk.Activation, error) {
	var doc []byte
	err := a.s.pool.QueryRow(ctx,
		`SELECT doc FROM activations WHERE id = $1 AND namespace = $2`, id, namespace).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get activation %s: %w", id, err)
	}
	return decodeActivation(doc)
}

func decodeActivation(doc []byte) (*whisk.Activation, error) {
	act, err := store.DecodeActivation(doc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return act, nil
}

// where returns the filter of q in namespace.
func where(namespace string, q store.ActivationQuery) (string, []any) {
	w := `namespace = $1`
	args := []any{namespace}
	add := func(cond string, v any) {
		args = append(args, v)
		w += fmt.Sprintf(" AND "+cond, len(args))
	}
	if path := q.Path(namespace); path != "" {
		add(`path = $%d`, path)
	}
	if q.Since != 0 {
		add(`start >= $%d`, q.Since)
	}
	if q.Upto != 0 {
		add(`start <= $%d`, q.Upto)
	}
	return w, args
}

func (a activations) List(ctx context.Context, namespace string, q store.ActivationQuery) ([]*whisk.Activation, error) {
	w, args := where(namespace, q)
	var limit *int
	if q.Limit > 0 {
		limit = &q.Limit
	}
	args = append(args, limit, max(q.Skip, 0))
	rows, err := a.s.pool.Query(ctx, fmt.Sprintf(
		`SELECT doc FROM activations WHERE %s ORDER BY start DESC, seq DESC LIMIT $%d OFFSET $%d`, w, len(args)-1, len(args)),
		args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list activations %s: %w", namespace, err)
	}
	defer rows.Close()
	var out []*whisk.Activation
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("postgres: list activations %s: %w", namespace, err)
		}
		act, err := decodeActivation(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, act)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list activations %s: %w", namespace, err)
	}
	return out, nil
}

func (a activations) Count(ctx context.Context, namespace string, q store.ActivationQuery) (int, error) {
	w, args := where(namespace, q)
	var n int
	if err := a.s.pool.QueryRow(ctx, `SELECT count(*) FROM activations WHERE `+w, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count activations %s: %w", namespace, err)
	}
	return n, nil
}

type auth struct{ s *Store }

func (au auth) PutSubject(ctx context.Context, s store.Subject) error {
	created := s.Created
	if created.IsZero() {
		created = time.Now()
	}
	_, err := au.s.pool.Exec(ctx,
		`INSERT INTO subjects (uuid, key_hash, namespace, created) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (uuid) DO UPDATE SET key_hash = excluded.key_hash, namespace = excluded.namespace, created = excluded.created`,
		s.UUID, s.KeyHash, s.Namespace, created.UnixNano())
	if err != nil {
		return unavailable(fmt.Errorf("postgres: put subject %s: %w", s.UUID, err))
	}
	return nil
}

func (au auth) Subject(ctx context.Context, uuid string) (store.Subject, error) {
	s := store.Subject{UUID: uuid}
	var created int64
	err := au.s.pool.QueryRow(ctx,
		`SELECT key_hash, namespace, created FROM subjects WHERE uuid = $1`, uuid).Scan(&s.KeyHash, &s.Namespace, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Subject{}, store.ErrNotFound
	}
	if err != nil {
		return store.Subject{}, fmt.Errorf("postgres: get subject %s: %w", uuid, err)
	}
	s.Created = time.Unix(0, created)
	return s, nil
}

func (au auth) Subjects(ctx context.Context, namespace string) ([]store.Subject, error) {
	rows, err := au.s.pool.Query(ctx,
		`SELECT uuid, key_hash, namespace, created FROM subjects WHERE $1 = '' OR namespace = $1 ORDER BY namespace, uuid`,
		namespace)
	if err != nil {
		return nil, fmt.Errorf("postgres: list subjects: %w", err)
	}
	defer rows.Close()
	var out []store.Subject
	for rows.Next() {
		var s store.Subject
		var created int64
		if err := rows.Scan(&s.UUID, &s.KeyHash, &s.Namespace, &created); err != nil {
			return nil, fmt.Errorf("postgres: list subjects: %w", err)
		}
		s.Created = time.Unix(0, created)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list subjects: %w", err)
	}
	return out, nil
}

func (au auth) DeleteSubject(ctx context.Context, uuid string) error {
	tag, err := au.s.pool.Exec(ctx, `DELETE FROM subjects WHERE uuid = $1`, uuid)
	if err != nil {
		return unavailable(fmt.Errorf("postgres: delete subject %s: %w", uuid, err))
	}
	if tag.RowsAffected() == 0 {
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
		return fmt.Errorf("postgres: journal append: %w", err)
	}
	return j.s.gc.Do(ctx, write{entries: rows}.op())
}

func (j journal) Done(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return j.s.gc.Do(ctx, write{done: append([]string(nil), ids...)}.op())
}

func (j journal) Pending(ctx context.Context) ([]store.JournalEntry, error) {
	rows, err := j.s.pool.Query(ctx, `SELECT id, payload, accepted FROM journal ORDER BY accepted, seq`)
	if err != nil {
		return nil, fmt.Errorf("postgres: journal pending: %w", err)
	}
	defer rows.Close()
	var out []store.JournalEntry
	for rows.Next() {
		var e store.JournalEntry
		var accepted int64
		if err := rows.Scan(&e.ID, &e.Payload, &accepted); err != nil {
			return nil, fmt.Errorf("postgres: journal pending: %w", err)
		}
		e.Accepted = time.Unix(0, accepted)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: journal pending: %w", err)
	}
	return out, nil
}
