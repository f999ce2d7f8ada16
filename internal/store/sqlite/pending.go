package sqlite

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// pending holds activation records that Put has accepted and the writer
// has not yet committed. Readers merge them with the database, so a record
// is visible the moment Put returns (read-your-writes) while its commit is
// batched with others off the caller's path (write-behind).
//
// Readers snapshot pending before querying the database: a record
// committed in between is then seen twice and deduplicated, never missed.
type pending struct {
	mu    sync.RWMutex
	m     map[string]*pendingAct
	bytes int64         // sum of the documents in m
	seq   atomic.Uint64 // write order of Puts
}

type pendingAct struct {
	row store.ActivationRow
	act *whisk.Activation
	seq uint64 // write order: later Puts are newer
}

func newPending() *pending { return &pending{m: map[string]*pendingAct{}} }

func (p *pending) add(ps []*pendingAct) {
	p.mu.Lock()
	for _, e := range ps {
		if old := p.m[e.row.ID]; old != nil {
			p.bytes -= int64(len(old.row.Doc))
		}
		p.m[e.row.ID] = e
		p.bytes += int64(len(e.row.Doc))
	}
	p.mu.Unlock()
}

// remove drops ps once committed, unless a later Put replaced them.
func (p *pending) remove(ps []*pendingAct) {
	p.mu.Lock()
	for _, e := range ps {
		if p.m[e.row.ID] == e {
			delete(p.m, e.row.ID)
			p.bytes -= int64(len(e.row.Doc))
		}
	}
	p.mu.Unlock()
}

// current reports whether e is still the latest Put of its id: a record
// replaced by a later Put is not committed again by a retry.
func (p *pending) current(e *pendingAct) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m[e.row.ID] == e
}

// size returns the bytes of the records not yet committed.
func (p *pending) size() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.bytes
}

func (p *pending) get(namespace, id string) *whisk.Activation {
	p.mu.RLock()
	e := p.m[id]
	p.mu.RUnlock()
	if e == nil || e.row.Namespace != namespace {
		return nil
	}
	return e.act
}

func (p *pending) has(id string) bool {
	p.mu.RLock()
	_, ok := p.m[id]
	p.mu.RUnlock()
	return ok
}

// match returns the pending records of namespace that q selects (ignoring
// paging).
func (p *pending) match(namespace string, q store.ActivationQuery) []*pendingAct {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.m) == 0 {
		return nil
	}
	path := q.Path(namespace)
	var out []*pendingAct
	for _, e := range p.m {
		r := &e.row
		if r.Namespace != namespace || path != "" && r.Path != path ||
			q.Since != 0 && r.Start < q.Since || q.Upto != 0 && r.Start > q.Upto {
			continue
		}
		out = append(out, e)
	}
	return out
}

// mergePage merges the pending records ps into the database page db (both
// filtered by the same query, db already limited to skip+limit rows and in
// List's order) and applies skip and limit. Newest first is latest start,
// then latest written: every committed record was written before every
// pending one (the writer commits in order), and pending ones are ordered
// by their write sequence.
func mergePage(db []*whisk.Activation, ps []*pendingAct, skip, limit int) []*whisk.Activation {
	type item struct {
		act *whisk.Activation
		seq uint64 // 0 for committed records
	}
	seen := make(map[string]bool, len(ps))
	items := make([]item, 0, len(db)+len(ps))
	for _, e := range ps {
		seen[e.row.ID] = true
		items = append(items, item{e.act, e.seq})
	}
	for _, a := range db {
		if !seen[a.ActivationID] {
			items = append(items, item{a, 0})
		}
	}
	// Stable: committed records keep the database's order among themselves.
	slices.SortStableFunc(items, func(a, b item) int {
		if c := cmp.Compare(b.act.Start, a.act.Start); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	})
	if skip >= len(items) {
		return nil
	}
	items = items[skip:]
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	out := make([]*whisk.Activation, len(items))
	for i, it := range items {
		out[i] = it.act
	}
	return out
}
