// Package balancer picks the invoker of each invocation and publishes it
// there on the bus. It is the last step of the controller's intake
// (internal/controller/intake.go), which throttles, journals and waits;
// the balancer knows nothing of how invokers run code, and calls nothing
// above it.
//
// Routing follows OpenWhisk's ShardingContainerPoolBalancer: the known
// invokers are in a fixed order (by name); an action's home is its hash
// modulo their number, and its step size one of the numbers coprime to
// that number, also chosen by the hash. From the home the balancer steps
// through the invokers and takes the first that is live and has room for
// the action's memory (its capacity, announced in its heartbeats, shared
// among the controllers); when none has room, a live one at random. An
// action thus stays on its home invoker (warm containers) while the home
// is healthy and not full, and its overflow goes to the same few others.
//
// The live set: with a bus.Presence, invokers announce themselves in
// heartbeats and one whose heartbeats stop for Timeout is declared dead
// (at once on a leaving heartbeat); Config.Invokers, when given, is an
// allow-list. Without one, Config.Invokers are all live for good
// (standalone). Changes tells the intake, which watches it, whenever the
// live set changes, so that it moves the work outstanding at a dead
// invoker: the balancer calls nothing above it.
package balancer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
)

// ErrNoInvokers is returned when no invoker is live; the controller
// answers 503.
var ErrNoInvokers = errors.New("balancer: no invokers")

// DefaultTimeout is how long an invoker's heartbeats may stop before it
// is declared dead, when Config.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// Config is everything a Balancer needs; it does not change afterwards.
type Config struct {
	// Name is the controller's name on the bus: invokers send its
	// completions there.
	Name string
	// Bus carries the invocations.
	Bus bus.Bus
	// Invokers are the invokers' names. Without Presence they are the
	// invokers, always live; with it, an allow-list (empty: any).
	Invokers []string
	// Presence, when set, is where the live invokers come from.
	Presence bus.Presence
	// Timeout is how long heartbeats may stop before an invoker is
	// dead (DefaultTimeout when zero).
	Timeout time.Duration
	// Logger reports invokers coming and going.
	Logger *slog.Logger
}

// Balancer routes invocations. It is safe for concurrent use.
type Balancer struct {
	cfg     Config
	changed chan struct{} // buffered 1: a change not yet seen (Changes)

	mu     sync.Mutex
	known  []*invoker // sorted by name
	byName map[string]*invoker
	steps  []int // coprime step sizes for len(known)
	// controllers are the live controllers' last heartbeats; share is
	// how many there are (at least 1), read on every check.
	controllers map[string]time.Time
	share       atomic.Int64
}

// invoker is what the balancer knows of one invoker.
type invoker struct {
	name     string
	live     bool
	lastSeen time.Time
	capacity int // MB; 0: unknown (no limit)
	used     int // MB this controller has outstanding there
}

// New returns a balancer. With cfg.Presence, call Start before Publish.
func New(cfg Config) *Balancer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	lb := &Balancer{cfg: cfg, byName: map[string]*invoker{}, changed: make(chan struct{}, 1), controllers: map[string]time.Time{}}
	lb.share.Store(1)
	if cfg.Presence == nil {
		for _, n := range cfg.Invokers {
			lb.addLocked(n).live = true
		}
	}
	return lb
}

// Start listens to heartbeats and declares dead the invokers that stop
// sending them, until ctx ends. It waits up to one Timeout for the first
// heartbeat, so that a controller starting beside running invokers
// routes at once. Without Presence it does nothing. Controllers announce
// themselves on the same presence (app does): the live ones split each
// invoker's capacity, as OpenWhisk's controllers split invoker memory by
// cluster size.
func (lb *Balancer) Start(ctx context.Context) error {
	if lb.cfg.Presence == nil {
		return nil
	}
	first := make(chan struct{})
	var once sync.Once
	err := lb.cfg.Presence.Heartbeats(ctx, func(_ context.Context, hb *bus.Heartbeat) {
		lb.beat(hb, time.Now())
		once.Do(func() { close(first) })
	})
	if err != nil {
		return fmt.Errorf("balancer: %w", err)
	}
	go lb.watch(ctx)
	t := time.NewTimer(lb.cfg.Timeout)
	defer t.Stop()
	select {
	case <-first:
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// allowed reports whether name may be balanced over.
func (lb *Balancer) allowed(name string) bool {
	return len(lb.cfg.Invokers) == 0 || slices.Contains(lb.cfg.Invokers, name)
}

// beat records a heartbeat received at now.
func (lb *Balancer) beat(hb *bus.Heartbeat, now time.Time) {
	if hb.Controller != "" {
		lb.mu.Lock()
		if hb.Leaving {
			delete(lb.controllers, hb.Controller)
		} else {
			lb.controllers[hb.Controller] = now
		}
		lb.share.Store(int64(max(1, len(lb.controllers))))
		lb.mu.Unlock()
		return
	}
	if hb.Invoker == "" || !lb.allowed(hb.Invoker) {
		return
	}
	lb.mu.Lock()
	inv := lb.byName[hb.Invoker]
	if inv == nil {
		inv = lb.addLocked(hb.Invoker)
	}
	inv.lastSeen, inv.capacity = now, hb.Capacity
	was := inv.live
	inv.live = !hb.Leaving
	lb.mu.Unlock()
	if was != inv.live {
		lb.cfg.Logger.Info("invoker "+state(inv.live), "invoker", hb.Invoker, "capacityMB", hb.Capacity)
		lb.due()
	}
}

func state(live bool) string {
	if live {
		return "live"
	}
	return "leaving: routed around"
}

// addLocked adds a known invoker, keeping the order by name.
func (lb *Balancer) addLocked(name string) *invoker {
	inv := &invoker{name: name}
	lb.byName[name] = inv
	lb.known = append(lb.known, inv)
	slices.SortFunc(lb.known, func(a, b *invoker) int { return compare(a.name, b.name) })
	lb.steps = coprimes(len(lb.known))
	return inv
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// watch declares dead the invokers silent for longer than the timeout.
func (lb *Balancer) watch(ctx context.Context) {
	t := time.NewTicker(lb.cfg.Timeout / 6)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			lb.expire(now)
		}
	}
}

// expire declares dead every live invoker not heard of since
// now - Timeout.
func (lb *Balancer) expire(now time.Time) {
	var dead []string
	lb.mu.Lock()
	for _, inv := range lb.known {
		if inv.live && now.Sub(inv.lastSeen) > lb.cfg.Timeout {
			inv.live = false
			dead = append(dead, inv.name)
		}
	}
	for name, seen := range lb.controllers {
		if now.Sub(seen) > lb.cfg.Timeout {
			delete(lb.controllers, name)
		}
	}
	lb.share.Store(int64(max(1, len(lb.controllers))))
	lb.mu.Unlock()
	for _, n := range dead {
		lb.cfg.Logger.Warn("invoker dead: no heartbeat; its work moves to live invokers", "invoker", n, "timeout", lb.cfg.Timeout)
	}
	if len(dead) > 0 {
		lb.due()
	}
}

// due marks a change of the live set for Changes.
func (lb *Balancer) due() {
	select {
	case lb.changed <- struct{}{}:
	default:
	}
}

// Changes receives a value after the live set changed (invokers died or
// came back); changes that happen before it is read are coalesced into one.
func (lb *Balancer) Changes() <-chan struct{} { return lb.changed }

// Controllers returns how many controllers are live (heard from within
// the timeout), at least 1: they share each invoker's capacity, and the
// namespaces' limits (throttle.WithShare).
func (lb *Balancer) Controllers() int { return int(lb.share.Load()) }

// Live reports whether the invoker name is live.
func (lb *Balancer) Live(name string) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	inv := lb.byName[name]
	return inv != nil && inv.live
}

// LiveInvokers returns the names of the live invokers, sorted.
func (lb *Balancer) LiveInvokers() []string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var out []string
	for _, inv := range lb.known {
		if inv.live {
			out = append(out, inv.name)
		}
	}
	return out
}

// Publish sends inv to an invoker, naming this controller as the one
// that waits for the completion, and returns the invoker's name. The
// action's memory counts against that invoker's capacity until Release.
func (lb *Balancer) Publish(ctx context.Context, inv *bus.Invocation) (string, error) {
	name, err := lb.choose(inv)
	if err != nil {
		return "", err
	}
	inv.Controller = lb.cfg.Name
	if err := lb.cfg.Bus.Publish(ctx, name, inv); err != nil {
		lb.Release(name, inv)
		return "", fmt.Errorf("publish %s: %w", inv.ActivationID, err)
	}
	return name, nil
}

// Release gives back the capacity inv held at the invoker name: call it
// once per successful Publish, when the completion arrives or the
// invocation moved elsewhere.
func (lb *Balancer) Release(name string, inv *bus.Invocation) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if i := lb.byName[name]; i != nil {
		i.used = max(0, i.used-memory(inv))
	}
}

// memory is the action's memory limit in MB (the unit of capacity).
func memory(inv *bus.Invocation) int {
	if inv.Action == nil {
		return 0
	}
	return inv.Action.Limits.Memory
}

// choose picks the invoker for inv and takes its memory there.
func (lb *Balancer) choose(inv *bus.Invocation) (string, error) {
	h := fnv.New32a()
	if inv.Action != nil {
		h.Write([]byte(inv.Action.Namespace + "/" + inv.Action.Name))
	}
	hash := int(h.Sum32() & 0x7fffffff)
	mem := memory(inv)
	share := int(lb.share.Load())
	lb.mu.Lock()
	defer lb.mu.Unlock()
	n := len(lb.known)
	if n == 0 {
		return "", ErrNoInvokers
	}
	i, step := hash%n, lb.steps[hash%len(lb.steps)]
	for range n {
		c := lb.known[i]
		if c.live && (c.capacity == 0 || c.used+mem <= c.capacity/share) {
			c.used += mem
			return c.name, nil
		}
		i = (i + step) % n
	}
	// Overloaded: a live invoker at random, as OpenWhisk does.
	var live []*invoker
	for _, c := range lb.known {
		if c.live {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return "", ErrNoInvokers
	}
	c := live[rand.IntN(len(live))]
	c.used += mem
	return c.name, nil
}

// coprimes returns the numbers up to n that are pairwise coprime and
// coprime to n (OpenWhisk's pairwiseCoprimeNumbersUntil): stepping by any
// of them from any start visits every one of n invokers.
func coprimes(n int) []int {
	var out []int
	for c := 1; c <= n; c++ {
		if gcd(c, n) != 1 {
			continue
		}
		ok := true
		for _, p := range out {
			if gcd(p, c) != 1 {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = []int{1}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
