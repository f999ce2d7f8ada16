package controller

import (
	"cmp"
	"context"
	"slices"

	"github.com/whirlfaas/whirl/internal/store"
)

// listNewestFirst returns every entity of coll in ns whose key starts with
// prefix, the most recently updated first. OpenWhisk's list views are keyed
// by namespace and update time and read in descending order, so `wsk action
// list` (and trigger, rule and package lists) show the entity just created
// or updated at the top; entities updated in the same instant come in
// descending key order, as a descending view gives them.
func (c *Controller) listNewestFirst(ctx context.Context, coll, ns, prefix string) ([]store.Entity, error) {
	list, err := c.ents.List(ctx, coll, ns, store.ListOptions{Prefix: prefix})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(list, func(a, b store.Entity) int {
		if n := b.Updated.Compare(a.Updated); n != 0 {
			return n
		}
		return cmp.Compare(b.Key, a.Key)
	})
	return list, nil
}

// page returns the page of s that skip and limit select.
func page[T any](s []T, lp listParams) []T {
	s = s[min(lp.skip, len(s)):]
	return s[:min(lp.limit, len(s))]
}
