package containerpool

import (
	"context"
	"fmt"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
)

// Readier is implemented by containers whose Create returns before the
// runtime inside has started (container/process starts the interpreter and
// returns at once so that a cold start overlaps it with preparing the code).
// Ready waits until the container is started and waits for its code; the
// pool calls it on stem cells before offering them.
type Readier interface {
	Ready(ctx context.Context) error
}

// readyTimeout bounds how long a stem cell may take to start.
const readyTimeout = time.Minute

// stemGroup is the prewarm state of one StemCell configuration. All fields
// are guarded by Pool.mu.
type stemGroup struct {
	cfg        StemCell
	ready      []*entry // created, not initialised; oldest first
	creating   int
	target     int // how many to keep (InitialCount, then reactive)
	coldStarts int // cold starts of this kind and memory in the current period
}

func (sg *stemGroup) remove(e *entry) {
	for i, x := range sg.ready {
		if x == e {
			copy(sg.ready[i:], sg.ready[i+1:])
			sg.ready[len(sg.ready)-1] = nil
			sg.ready = sg.ready[:len(sg.ready)-1]
			return
		}
	}
}

// replenishLocked starts creating stem cells up to each group's target,
// off the acquire path, with free memory only: prewarming never evicts and
// never takes memory a queued acquirer waits for.
func (p *Pool) replenishLocked() {
	if !p.started || p.closed {
		return
	}
	for _, sg := range p.stems {
		for len(sg.ready)+sg.creating < sg.target {
			if p.wHead != nil || p.cfg.UserMemoryMB-p.usedMem < sg.cfg.MemoryMB {
				return
			}
			sg.creating++
			p.usedMem += sg.cfg.MemoryMB
			p.wg.Add(1)
			go p.createStem(sg)
		}
	}
}

func (p *Pool) createStem(sg *stemGroup) {
	defer p.wg.Done()
	spec := container.Spec{
		Kind:     sg.cfg.Kind,
		MemoryMB: sg.cfg.MemoryMB,
		Env:      p.cfg.StemCellEnv,
		Name:     fmt.Sprintf("prewarm-%s-%dmb", sg.cfg.Kind, sg.cfg.MemoryMB),
	}
	c, err := p.f.Create(p.bgCtx, spec)
	if r, ok := c.(Readier); ok && err == nil {
		// A stem cell is a started interpreter: wait for it here, off
		// every request's path, so that taking one costs only its init.
		ctx, cancel := context.WithTimeout(p.bgCtx, readyTimeout)
		err = r.Ready(ctx)
		cancel()
		if err != nil {
			p.destroyOne(c)
			c = nil
		}
	}
	p.mu.Lock()
	sg.creating--
	if err != nil || p.closed {
		p.usedMem -= sg.cfg.MemoryMB
		p.dispatchLocked()
		p.mu.Unlock()
		if err != nil {
			if p.bgCtx.Err() == nil {
				p.cfg.Logger.Warn("containerpool: create stem cell", "kind", sg.cfg.Kind, "memoryMB", sg.cfg.MemoryMB, "err", err)
			}
			return
		}
		if c != nil {
			p.destroyOne(c)
		}
		return
	}
	e := &entry{c: c, stem: sg, memMB: sg.cfg.MemoryMB, state: stateReady, created: p.cfg.Now()}
	sg.ready = append(sg.ready, e)
	p.dispatchLocked()
	p.mu.Unlock()
}

// tick is one pass of upkeep at time now: reap idle containers, adjust
// reactive stem cell targets once per PrewarmPeriod, expire old stem cells
// (keeping MinCount) and replenish.
func (p *Pool) tick(now time.Time) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var victims []*entry
	for e := p.idleHead; e != nil && now.Sub(e.lastUsed) >= p.cfg.IdleTimeout; e = p.idleHead {
		p.killLocked(e)
		victims = append(victims, e)
		p.nReap++
	}
	if now.Sub(p.lastAdj) >= p.cfg.PrewarmPeriod {
		p.lastAdj = now
		for _, sg := range p.stems {
			if r := sg.cfg.Reactive; r != nil {
				sg.target = reactiveTarget(r, sg.coldStarts)
			}
			sg.coldStarts = 0
		}
	}
	for _, sg := range p.stems {
		r := sg.cfg.Reactive
		if r == nil || r.TTL <= 0 {
			continue
		}
		for len(sg.ready) > 0 && len(sg.ready)+sg.creating > r.MinCount && now.Sub(sg.ready[0].created) >= r.TTL {
			e := sg.ready[0]
			p.killLocked(e)
			victims = append(victims, e)
		}
	}
	if len(victims) > 0 {
		p.dispatchLocked()
	}
	p.replenishLocked()
	p.mu.Unlock()
	p.destroyAll(victims)
}

// reactiveTarget is how many stem cells to keep after coldStarts cold
// starts in one period: coldStarts / Threshold × Increment, within
// [MinCount, MaxCount].
func reactiveTarget(r *Reactive, coldStarts int) int {
	threshold := max(r.Threshold, 1)
	n := coldStarts / threshold * max(r.Increment, 1)
	if r.MaxCount > 0 {
		n = min(n, r.MaxCount)
	}
	return max(n, r.MinCount)
}
