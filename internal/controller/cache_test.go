package controller

import (
	"context"
	"testing"

	"github.com/whirlfaas/whirl/internal/store"
)

// slowEntities is a store.Entities whose Get returns doc, after calling
// during (when set) — the moment a concurrent write happens.
type slowEntities struct {
	store.Entities
	doc    string
	rev    int64
	during func()
}

func (s *slowEntities) Get(ctx context.Context, coll, ns, key string) (store.Entity, error) {
	e := store.Entity{Collection: coll, Namespace: ns, Key: key, Rev: s.rev, Doc: []byte(s.doc)}
	if s.during != nil {
		f := s.during
		s.during = nil
		f()
	}
	return e, nil
}

// TestCacheFillAfterInvalidate: a read that raced with a write does not
// leave the old document in the cache.
func TestCacheFillAfterInvalidate(t *testing.T) {
	ents := &slowEntities{doc: `"old"`, rev: 1}
	c := newEntityCache(ents)
	ents.during = func() {
		// A write lands while the read is in flight: the store now holds
		// the new document, and the writer invalidates.
		ents.doc, ents.rev = `"new"`, 2
		c.invalidate(store.Actions, "ns", "a")
	}
	v, rev, err := c.get(context.Background(), store.Actions, "ns", "a", decodeInto[string]())
	if err != nil {
		t.Fatal(err)
	}
	if *v.(*string) != "old" || rev != 1 {
		t.Fatalf("first read %v %d", *v.(*string), rev)
	}
	v, rev, err = c.get(context.Background(), store.Actions, "ns", "a", decodeInto[string]())
	if err != nil {
		t.Fatal(err)
	}
	if *v.(*string) != "new" || rev != 2 {
		t.Fatalf("stale cache after a racing write: %v rev %d", *v.(*string), rev)
	}
	// Without a racing write, the second read is served from the cache.
	ents.doc, ents.rev = `"newer"`, 3
	v, _, _ = c.get(context.Background(), store.Actions, "ns", "a", decodeInto[string]())
	if *v.(*string) != "new" {
		t.Fatalf("not cached: %v", *v.(*string))
	}
}
