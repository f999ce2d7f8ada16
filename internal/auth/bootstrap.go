package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
)

// BootstrapStore is what Bootstrap reads and writes: store.Auth satisfies it.
type BootstrapStore interface {
	Subject(ctx context.Context, uuid string) (store.Subject, error)
	Subjects(ctx context.Context, namespace string) ([]store.Subject, error)
	PutSubject(ctx context.Context, s store.Subject) error
	DeleteSubject(ctx context.Context, uuid string) error
}

// Printed is a key whose plaintext Bootstrap knows, for `whirl up` to print.
// New says whether Bootstrap created it in this call.
type Printed struct {
	Namespace string
	UUID      string
	Key       string
	New       bool
}

// AuthKey returns "uuid:key", the value of `wsk --auth`.
func (p Printed) AuthKey() string { return p.UUID + ":" + p.Key }

// wellKnown maps each bootstrap namespace to its well-known key.
var wellKnown = []struct{ namespace, key string }{
	{GuestNamespace, GuestKey},
	{SystemNamespace, SystemKey},
}

// Bootstrap makes sure the namespaces guest and whisk.system exist. It is
// idempotent and never rotates a key that exists.
//
// With useWellKnown it installs OpenWhisk's well-known keys (GuestKey,
// SystemKey) where missing and returns both, so that `wsk` works with its
// documented defaults. Without it, it deletes the well-known subjects left
// by an earlier run on a loopback address (they are public, so keeping them
// on a reachable server would be unsafe), and gives each namespace that has
// no key left a freshly generated one; only those new keys are returned,
// since stored keys are hashed and cannot be shown again.
func Bootstrap(ctx context.Context, s BootstrapStore, useWellKnown bool) ([]Printed, error) {
	var out []Printed
	for _, w := range wellKnown {
		uuid, key, _ := SplitKey(w.key)
		existing, err := s.Subject(ctx, uuid)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("bootstrap %s: %w", w.namespace, err)
		}
		if useWellKnown {
			isNew := false
			if !found || existing.Namespace != w.namespace || !KeyMatches(key, existing.KeyHash) {
				sub := store.Subject{UUID: uuid, KeyHash: HashKey(key), Namespace: w.namespace, Created: time.Now().UTC()}
				if err := s.PutSubject(ctx, sub); err != nil {
					return nil, fmt.Errorf("bootstrap %s: %w", w.namespace, err)
				}
				isNew = !found
			}
			out = append(out, Printed{Namespace: w.namespace, UUID: uuid, Key: key, New: isNew})
			continue
		}
		if found {
			if err := s.DeleteSubject(ctx, uuid); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("bootstrap %s: remove well-known key: %w", w.namespace, err)
			}
		}
		subs, err := s.Subjects(ctx, w.namespace)
		if err != nil {
			return nil, fmt.Errorf("bootstrap %s: %w", w.namespace, err)
		}
		if len(subs) > 0 {
			continue
		}
		uuid, key = GenerateKey()
		sub := store.Subject{UUID: uuid, KeyHash: HashKey(key), Namespace: w.namespace, Created: time.Now().UTC()}
		if err := s.PutSubject(ctx, sub); err != nil {
			return nil, fmt.Errorf("bootstrap %s: %w", w.namespace, err)
		}
		out = append(out, Printed{Namespace: w.namespace, UUID: uuid, Key: key, New: true})
	}
	return out, nil
}
