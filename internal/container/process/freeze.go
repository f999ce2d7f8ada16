package process

import (
	"fmt"
	"sync"
	"time"
)

// DefaultFreezeAfter is how long a container stays idle before its
// processes are frozen, unless Options.FreezeAfter says otherwise. It is
// OpenWhisk's pause grace (containerProxy.timeouts.pause-grace): a
// container invoked back to back is never frozen, so the warm path pays
// nothing; what an action leaves running gets at most this much CPU after
// each activation.
const DefaultFreezeAfter = 50 * time.Millisecond

// idleState tracks a container's calls in flight (Init and Run) and
// freezes its cgroup once it has been idle for the factory's FreezeAfter,
// so that processes an action leaves behind cannot run between
// activations. Its mutex is a leaf: nothing else is locked while it is
// held.
type idleState struct {
	mu     sync.Mutex
	active int    // Init and Run calls in flight
	gen    uint64 // bumped by every busy and done; a timer freezes only its own generation
	frozen bool
	dead   bool // killed: never freeze again
	timer  *time.Timer
}

// busy marks the start of a call that needs the container's processes
// running: it cancels a pending freeze and thaws a frozen container. Every
// busy is paired with a done, even when it fails.
func (c *Container) busy() error {
	s := &c.idle
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active++
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !s.frozen {
		return nil
	}
	s.frozen = false
	if err := c.cg.thaw(); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// done marks the end of a call; the last one in flight arms the freeze.
func (c *Container) done() {
	s := &c.idle
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	after := c.f.freezeAfter
	if s.active > 0 || s.dead || after < 0 || c.cg == nil || c.cg.freezer == "" {
		return
	}
	s.gen++
	gen := s.gen
	s.timer = time.AfterFunc(after, func() { c.freezeIdle(gen) })
}

// freezeIdle freezes the container if nothing happened since the done of
// generation gen.
func (c *Container) freezeIdle(gen uint64) {
	s := &c.idle
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.active > 0 || s.dead || s.frozen {
		return
	}
	if c.cg.freeze() == nil {
		s.frozen = true
	}
}

// stopFreezing is called before the container's processes are killed: it
// cancels a pending freeze and thaws the container, since a frozen
// process does not die until it is thawed.
func (c *Container) stopFreezing() {
	s := &c.idle
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.frozen {
		s.frozen = false
		_ = c.cg.thaw()
	}
}
