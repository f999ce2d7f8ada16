package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/whirlfaas/whirl/internal/store"
)

// entityCache keeps decoded entities so that an invoke costs no store read
// and no JSON decode. Every write through this controller (c.ents)
// invalidates its key (entityChanged); the cache is therefore exact in
// standalone mode, where one controller sees every write. With several
// controllers, each tells the others of its writes through
// Config.EntityChanged, and they drop them through Invalidate (scale-out:
// a NATS subject, in app).
type entityCache struct {
	ents store.Entities
	mu   sync.RWMutex
	m    map[string]cached
	// gen counts invalidations: a read that started before one must not
	// fill the cache with what may be the old document.
	gen uint64
}

type cached struct {
	rev int64
	v   any
}

func newEntityCache(e store.Entities) *entityCache {
	return &entityCache{ents: e, m: map[string]cached{}}
}

func cacheKey(coll, ns, key string) string { return coll + "\x00" + ns + "\x00" + key }

// get returns the decoded entity and its revision. decode turns the stored
// document into a fresh value.
func (c *entityCache) get(ctx context.Context, coll, ns, key string, decode func([]byte) (any, error)) (any, int64, error) {
	k := cacheKey(coll, ns, key)
	c.mu.RLock()
	e, ok := c.m[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return e.v, e.rev, nil
	}
	ent, err := c.ents.Get(ctx, coll, ns, key)
	if err != nil {
		return nil, 0, err
	}
	v, err := decode(ent.Doc)
	if err != nil {
		return nil, 0, fmt.Errorf("decode %s %s/%s: %w", coll, ns, key, err)
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) > 100000 {
			c.m = map[string]cached{}
		}
		c.m[k] = cached{rev: ent.Rev, v: v}
	}
	c.mu.Unlock()
	return v, ent.Rev, nil
}

// entityChanged is told of every entity write through c.ents.
func (c *Controller) entityChanged(ctx context.Context, coll, ns, key string) {
	c.cache.invalidate(coll, ns, key)
	if c.cfg.EntityChanged != nil {
		c.cfg.EntityChanged(ctx, coll, ns, key)
	}
}

// Invalidate drops the cached entity coll/ns/key (coll as in the store:
// store.Actions, store.Packages, …), so that the next read loads it from
// the store. A read already under way when it is called does not put its
// possibly older document in the cache. App calls it for writes made by
// another controller; this controller's own writes invalidate themselves.
// Safe for concurrent use.
func (c *Controller) Invalidate(coll, ns, key string) { c.cache.invalidate(coll, ns, key) }

// InvalidateAll drops every cached entity: after the controller may have
// missed invalidations (its connection to the other controllers was
// down).
func (c *Controller) InvalidateAll() {
	c.cache.mu.Lock()
	c.cache.m = map[string]cached{}
	c.cache.gen++
	c.cache.mu.Unlock()
}

func (c *entityCache) invalidate(coll, ns, key string) {
	c.mu.Lock()
	delete(c.m, cacheKey(coll, ns, key))
	c.gen++
	c.mu.Unlock()
}

// cachedEntity returns the entity coll/ns/key decoded as a *T (shared:
// callers copy before changing it) and its revision.
func cachedEntity[T any](ctx context.Context, c *entityCache, coll, ns, key string) (*T, int64, error) {
	v, rev, err := c.get(ctx, coll, ns, key, decodeInto[T]())
	if err != nil {
		return nil, 0, err
	}
	return v.(*T), rev, nil
}

// decodeInto returns a decode function for type T.
func decodeInto[T any]() func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, err
		}
		return v, nil
	}
}
