// Package containerpool keeps the invoker's containers: warm ones per action
// version, prewarmed stem cells per kind and memory, and the memory budget
// they all share.
//
// The invoker asks the pool for a container with Acquire for every
// activation and hands it back with Lease.Release (healthy) or
// Lease.Destroy (timed out, crashed, out of memory). The pool owns
// initialisation: a lease is always for a container initialised with the
// request's code. It imports only the container contract and whisk; the
// factory behind it (container/process, container/kubernetes) is chosen by
// internal/app.
package containerpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/whisk"
)

// Defaults applied by New to a zero Config field.
const (
	DefaultUserMemoryMB   = 2048
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultMaxQueue       = 1024
	DefaultCheckInterval  = 10 * time.Second
	DefaultPrewarmPeriod  = time.Minute
	DefaultDestroyTimeout = 10 * time.Second
	// DefaultMemoryMB is the memory a Spec without MemoryMB is counted for
	// (OpenWhisk's default action memory).
	DefaultMemoryMB = 256
)

var (
	// ErrOverloaded is returned by Acquire when the memory budget is used
	// up and the wait queue is full. It is a *whisk.Error carrying 503 and
	// OpenWhisk's message, so it can be answered as is.
	ErrOverloaded error = &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgOverloaded}
	// ErrClosed is returned by Acquire once Close has been called.
	ErrClosed = errors.New("containerpool: closed")
	// ErrNeverFits matches the *NeverFitsError Acquire returns for a
	// container larger than the whole memory budget: waiting cannot help.
	ErrNeverFits = errors.New("containerpool: container larger than the pool")
)

// NeverFitsError is Acquire's permanent refusal of a container whose
// memory exceeds the pool's memory budget (containerPool.userMemory):
// unlike ErrOverloaded, trying again cannot succeed. errors.Is matches it
// to ErrNeverFits.
type NeverFitsError struct {
	MemoryMB     int // the container's memory
	UserMemoryMB int // the pool's whole budget
}

func (e *NeverFitsError) Error() string {
	return fmt.Sprintf("containerpool: a container of %d MB can never fit in the pool's %d MB", e.MemoryMB, e.UserMemoryMB)
}

// Is reports whether target is ErrNeverFits.
func (e *NeverFitsError) Is(target error) bool { return target == ErrNeverFits }

// StartKind says how the container behind a lease came to be ready.
type StartKind int

const (
	// Cold: the container was created and initialised for this request.
	Cold StartKind = iota
	// Prewarmed: a stem cell was taken and initialised for this request.
	Prewarmed
	// Warm: an initialised container of the same action was reused.
	Warm
)

// String returns "cold", "prewarm" or "warm".
func (k StartKind) String() string {
	switch k {
	case Cold:
		return "cold"
	case Prewarmed:
		return "prewarm"
	case Warm:
		return "warm"
	}
	return fmt.Sprintf("StartKind(%d)", int(k))
}

// InitFailure is the error Acquire returns when creating or initialising
// a container failed. Err is the cause (a *container.InitError, or an
// error wrapping container.ErrTimeout or container.ErrExited, or a
// creation failure); errors.Is and errors.As see through InitFailure to
// it. Logs and Duration are what the init produced, for the activation
// record. The container has been destroyed.
type InitFailure struct {
	Err      error
	Start    StartKind // Cold or Prewarmed
	Logs     []string
	Duration time.Duration
}

func (e *InitFailure) Error() string { return "init container: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InitFailure) Unwrap() error { return e.Err }

// Reactive makes a stem cell group follow demand (runtimes.json
// "reactive"): every prewarm period the target becomes
// cold starts / Threshold × Increment, kept within [MinCount, MaxCount];
// stem cells older than TTL are destroyed while more than MinCount remain.
type Reactive struct {
	MinCount  int
	MaxCount  int
	TTL       time.Duration
	Threshold int
	Increment int
}

// StemCell configures prewarmed containers for one kind and memory size:
// InitialCount containers are started, not initialised, and replaced in
// the background as requests consume them.
type StemCell struct {
	Kind         string
	MemoryMB     int
	InitialCount int
	Reactive     *Reactive
}

// Config configures a Pool. Zero fields get the defaults above.
type Config struct {
	// UserMemoryMB bounds the sum of live containers' memory, stem cells
	// included (containerPool.userMemory).
	UserMemoryMB int
	// IdleTimeout is how long a warm container may stay unused.
	IdleTimeout time.Duration
	// MaxQueue bounds the acquirers waiting for memory; past it Acquire
	// returns ErrOverloaded. A negative value means no waiting at all.
	// Requests marked Async are not counted against it (see Request.Async).
	MaxQueue int
	// StemCells lists the prewarm groups (from the runtime manifest).
	StemCells []StemCell
	// StemCellEnv is the environment stem cells are created with; requests
	// are expected to carry the same Spec.Env (e.g. __OW_API_HOST).
	StemCellEnv map[string]string
	// CheckInterval is the period of idle reaping and prewarm upkeep.
	CheckInterval time.Duration
	// PrewarmPeriod is the window over which cold starts are counted for
	// reactive stem cells.
	PrewarmPeriod time.Duration
	// DestroyTimeout bounds each background Destroy.
	DestroyTimeout time.Duration
	// Now is the clock for idle times and stem cell ages (tests inject
	// one); durations reported in leases use the real clock.
	Now func() time.Time
	// Logger receives failures of background work (prewarm creation,
	// destroying evicted containers). Default: slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.UserMemoryMB <= 0 {
		c.UserMemoryMB = DefaultUserMemoryMB
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = DefaultMaxQueue
	} else if c.MaxQueue < 0 {
		c.MaxQueue = 0
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.PrewarmPeriod <= 0 {
		c.PrewarmPeriod = DefaultPrewarmPeriod
	}
	if c.DestroyTimeout <= 0 {
		c.DestroyTimeout = DefaultDestroyTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Request asks for a container initialised with one action version.
type Request struct {
	// Key identifies the action version (namespace, name, revision, code
	// and limits). Warm containers are reused only for the same Key, so
	// an updated action never runs old code.
	Key string
	// Spec is the container to create on a cold start. Kind and MemoryMB
	// also select a stem cell; a Spec with an Image never uses one.
	Spec container.Spec
	// Init is the /init payload sent once to a new container.
	Init container.InitRequest
	// Concurrency is how many leases one container serves at once (≥1;
	// 0 means 1).
	Concurrency int
	// InitTimeout, when set, bounds the container's start and Init (the
	// action's time limit); the Acquire context bounds the whole call,
	// waiting for room included.
	InitTimeout time.Duration
	// Async marks work that was already accepted and must run (a
	// non-blocking activation): without room it waits in the queue, in
	// order with the others, and is never refused with ErrOverloaded
	// however many wait. The caller bounds how many it has waiting at once
	// (the invoker's MaxAsync); Stats.QueuedAsync counts them.
	Async bool
}

// Lease is one activation's hold on an initialised container. Exactly one
// of Release or Destroy must be called when the activation ends; later
// calls are no-ops.
type Lease struct {
	Container container.Container
	Start     StartKind
	// InitDuration and InitLogs are set on Cold and Prewarmed starts.
	InitDuration time.Duration
	InitLogs     []string

	p    *Pool
	e    *entry
	done bool // guarded by p.mu
}

// Release returns the container to the pool as warm; its idle clock
// starts when its last lease is released.
func (l *Lease) Release() { l.p.release(l) }

// Destroy removes the container from the pool and destroys it in the
// background: use it after a timeout, crash, memory exhaustion or any
// doubt about the container's state. Other leases on the same container
// (Concurrency > 1) lose it too.
func (l *Lease) Destroy() { l.p.destroyLease(l) }

// Stats is a snapshot of the pool for metrics.
type Stats struct {
	Warm            int // initialised, unused
	Busy            int // leased or being created/initialised for a request
	Prewarm         int // stem cells ready
	PrewarmStarting int // stem cells being created
	MemoryUsedMB    int
	MemoryLimitMB   int
	Queued          int // acquirers waiting for memory, Async ones included
	QueuedAsync     int // of which Async requests
	ColdStarts      uint64
	PrewarmStarts   uint64
	WarmStarts      uint64
	Evictions       uint64 // idle containers and stem cells evicted for room
	Reaped          uint64 // idle containers destroyed after IdleTimeout
}

type entryState uint8

const (
	stateCreating entryState = iota
	stateIniting
	stateReady
	stateDead
)

// entry is one container known to the pool. All fields are guarded by
// Pool.mu.
type entry struct {
	c      container.Container
	key    string
	ks     *keyState
	stem   *stemGroup // non-nil while the entry is an unused stem cell
	memMB  int
	conc   int
	active int // leases (and joiners) holding it
	state  entryState
	inOpen bool

	created  time.Time // stem cells: for TTL
	lastUsed time.Time // warm: when it became idle

	// gPrev and gNext link idle warm entries, oldest idle first.
	gPrev, gNext *entry

	// ready is closed when init ends (success or failure); initErr is the
	// failure. Only allocated for Concurrency > 1, where others may join.
	ready   chan struct{}
	initErr error
}

// keyState holds the containers of one action version.
type keyState struct {
	idle []*entry // idle warm containers, most recently used last
	open []*entry // Concurrency>1 containers with a free slot, in use or initialising
	n    int      // live entries with this key
}

type grantKind uint8

const (
	grantWarm grantKind = iota
	grantJoin
	grantStem
	grantCold
)

// grant is the outcome of a successful attempt under the lock; the I/O it
// implies (destroying victims, Create, Init) happens after unlocking.
type grant struct {
	kind    grantKind
	e       *entry
	victims []*entry
	err     error
}

type waiter struct {
	req    *Request
	mem    int
	ch     chan grant // buffered 1
	wPrev  *waiter
	wNext  *waiter
	queued bool
	async  bool // counted in nAsync, not against MaxQueue
}

// Pool is the invoker's container pool. It is safe for concurrent use.
//
// Lock order: Pool.mu only; no container or factory call is made while it
// is held.
type Pool struct {
	f   container.Factory
	cfg Config

	mu       sync.Mutex
	keys     map[string]*keyState
	live     map[*entry]struct{} // every keyed entry not yet dead
	idleHead *entry              // oldest idle warm entry
	idleTail *entry
	nIdle    int
	idleMem  int
	usedMem  int
	stems    []*stemGroup
	wHead    *waiter
	wTail    *waiter
	nWait    int // queued waiters
	nAsync   int // of which Async
	closed   bool
	started  bool
	bgCtx    context.Context
	bgCancel context.CancelFunc
	loopDone chan struct{}
	wg       sync.WaitGroup // background creations and destroys; Add under mu while !closed
	lastAdj  time.Time

	nCold, nPrewarm, nWarm, nEvict, nReap uint64
}

// New returns a pool that creates containers with f. Call Start to begin
// prewarming and idle reaping, and Close to destroy everything.
func New(f container.Factory, cfg Config) *Pool {
	cfg = cfg.withDefaults()
	p := &Pool{
		f:    f,
		cfg:  cfg,
		keys: make(map[string]*keyState),
		live: make(map[*entry]struct{}),
	}
	for _, sc := range cfg.StemCells {
		if sc.MemoryMB <= 0 {
			sc.MemoryMB = DefaultMemoryMB
		}
		p.stems = append(p.stems, &stemGroup{cfg: sc, target: sc.InitialCount})
	}
	return p
}

// Start creates the initial stem cells and starts the background upkeep
// (idle reaping, stem cell expiry and replenishment) until ctx ends or
// Close is called. Calling it again does nothing.
func (p *Pool) Start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	p.bgCtx, p.bgCancel = context.WithCancel(ctx)
	p.lastAdj = p.cfg.Now()
	p.loopDone = make(chan struct{})
	p.replenishLocked()
	go p.loop(p.bgCtx, p.loopDone)
}

func (p *Pool) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.tick(p.cfg.Now())
		}
	}
}

// Acquire returns a lease on a container initialised with req.Init: a warm
// one of the same Key with a free slot, else a stem cell of the kind and
// memory initialised now, else a new container. When the memory budget
// is used up and nothing idle can be evicted, it waits in a FIFO queue
// until memory frees or ctx ends; with the queue full it returns
// ErrOverloaded, unless req.Async. A container larger than the whole
// budget is refused at once with a *NeverFitsError. A failed create or
// init returns an *InitFailure and destroys the container.
func (p *Pool) Acquire(ctx context.Context, req Request) (*Lease, error) {
	if req.Concurrency < 1 {
		req.Concurrency = 1
	}
	mem := req.Spec.MemoryMB
	if mem <= 0 {
		mem = DefaultMemoryMB
	}
	for {
		l, err := p.acquire(ctx, &req, mem)
		if err != errRetry {
			return l, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// errRetry tells an acquirer that joined a container whose initiator gave
// up (its context ended) to start over.
var errRetry = errors.New("containerpool: retry")

func (p *Pool) acquire(ctx context.Context, req *Request, mem int) (*Lease, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if mem > p.cfg.UserMemoryMB {
		p.mu.Unlock()
		return nil, &NeverFitsError{MemoryMB: mem, UserMemoryMB: p.cfg.UserMemoryMB}
	}
	g, ok := p.tryLocked(req, mem, p.wHead == nil)
	if ok {
		p.mu.Unlock()
		return p.complete(ctx, req, g)
	}
	if !req.Async && p.nWait-p.nAsync >= p.cfg.MaxQueue {
		p.mu.Unlock()
		return nil, ErrOverloaded
	}
	rc := *req // the waiter outlives this frame only when queued
	w := &waiter{req: &rc, mem: mem, ch: make(chan grant, 1), async: req.Async}
	p.enqueueLocked(w)
	p.mu.Unlock()

	select {
	case g = <-w.ch:
	case <-ctx.Done():
		p.mu.Lock()
		if w.queued {
			p.dequeueLocked(w)
			// A waiter behind this one may fit now.
			p.dispatchLocked()
			p.mu.Unlock()
			return nil, ctx.Err()
		}
		p.mu.Unlock()
		g = <-w.ch
		if g.err == nil {
			p.abandon(g)
		}
		return nil, ctx.Err()
	}
	if g.err != nil {
		return nil, g.err
	}
	return p.complete(ctx, req, g)
}

// tryLocked finds a container for req without waiting. Warm hits are
// always allowed; taking memory (a stem cell or a new container) only when
// allowMemory, so that new requests do not overtake queued ones.
func (p *Pool) tryLocked(req *Request, mem int, allowMemory bool) (grant, bool) {
	ks := p.keys[req.Key]
	if ks != nil {
		for i, e := range ks.open {
			if e.active < e.conc {
				e.active++
				if e.active == e.conc {
					ks.removeOpen(i)
					e.inOpen = false
				}
				if e.state == stateReady {
					p.nWarm++
					return grant{kind: grantWarm, e: e}, true
				}
				return grant{kind: grantJoin, e: e}, true
			}
		}
		if n := len(ks.idle); n > 0 {
			e := ks.idle[n-1]
			ks.idle[n-1] = nil
			ks.idle = ks.idle[:n-1]
			p.unlinkIdleLocked(e)
			e.active = 1
			if e.conc > 1 {
				ks.open = append(ks.open, e)
				e.inOpen = true
			}
			p.nWarm++
			return grant{kind: grantWarm, e: e}, true
		}
	}
	if !allowMemory {
		return grant{}, false
	}
	var group *stemGroup
	if req.Spec.Image == "" {
		for _, sg := range p.stems {
			if sg.cfg.Kind == req.Spec.Kind && sg.cfg.MemoryMB == mem {
				group = sg
				break
			}
		}
	}
	if group != nil && len(group.ready) > 0 {
		e := group.ready[0]
		copy(group.ready, group.ready[1:])
		group.ready[len(group.ready)-1] = nil
		group.ready = group.ready[:len(group.ready)-1]
		e.stem = nil
		e.state = stateIniting
		p.adoptLocked(e, req)
		p.nPrewarm++
		p.replenishLocked()
		return grant{kind: grantStem, e: e}, true
	}
	victims, ok := p.evictLocked(mem)
	if !ok {
		return grant{}, false
	}
	e := &entry{memMB: mem, state: stateCreating}
	p.usedMem += mem
	p.adoptLocked(e, req)
	p.nCold++
	if group != nil {
		group.coldStarts++
	}
	return grant{kind: grantCold, e: e, victims: victims}, true
}

// adoptLocked makes e a busy container of req.Key with one holder.
func (p *Pool) adoptLocked(e *entry, req *Request) {
	ks := p.keys[req.Key]
	if ks == nil {
		ks = &keyState{}
		p.keys[req.Key] = ks
	}
	ks.n++
	e.key, e.ks, e.conc, e.active = req.Key, ks, req.Concurrency, 1
	if e.conc > 1 {
		e.ready = make(chan struct{})
		ks.open = append(ks.open, e)
		e.inOpen = true
	}
	p.live[e] = struct{}{}
}

// complete does the I/O a grant implies and returns the lease.
func (p *Pool) complete(ctx context.Context, req *Request, g grant) (*Lease, error) {
	e := g.e
	switch g.kind {
	case grantWarm:
		return &Lease{Container: e.c, Start: Warm, p: p, e: e}, nil
	case grantJoin:
		select {
		case <-e.ready:
		case <-ctx.Done():
			p.release(&Lease{p: p, e: e})
			return nil, ctx.Err()
		}
		if e.initErr != nil {
			return nil, e.initErr
		}
		return &Lease{Container: e.c, Start: Warm, p: p, e: e}, nil
	}
	p.destroyInBackground(g.victims)
	start := Prewarmed
	if req.InitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.InitTimeout)
		defer cancel()
	}
	if g.kind == grantCold {
		start = Cold
		spec := req.Spec
		spec.MemoryMB = e.memMB
		c, err := p.f.Create(ctx, spec)
		if err != nil {
			return nil, p.failInit(ctx, e, nil, &InitFailure{Err: fmt.Errorf("create container: %w", err), Start: Cold})
		}
		p.mu.Lock()
		e.c = c
		if e.state == stateDead { // closed meanwhile
			p.mu.Unlock()
			p.destroyOne(c)
			return nil, ErrClosed
		}
		e.state = stateIniting
		p.mu.Unlock()
	}
	t0 := time.Now()
	logs, err := e.c.Init(ctx, req.Init)
	d := time.Since(t0)
	if err != nil {
		return nil, p.failInit(ctx, e, e.c, &InitFailure{Err: err, Start: start, Logs: logs, Duration: d})
	}
	p.mu.Lock()
	if e.state == stateDead {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	e.state = stateReady
	if e.ready != nil {
		close(e.ready)
	}
	p.mu.Unlock()
	return &Lease{Container: e.c, Start: start, InitDuration: d, InitLogs: logs, p: p, e: e}, nil
}

// failInit removes e after a failed create or init, tells joiners, and
// destroys c (if any). It returns the error for the acquirer. Joiners get
// the same failure, unless the acquirer's context ended: then the failure
// is the acquirer's own and they start over.
func (p *Pool) failInit(ctx context.Context, e *entry, c container.Container, f *InitFailure) error {
	p.mu.Lock()
	closed := e.state == stateDead
	if !closed {
		p.killLocked(e)
	}
	e.initErr = f
	if ctx.Err() != nil {
		e.initErr = errRetry
	}
	if e.ready != nil {
		close(e.ready)
	}
	p.dispatchLocked()
	p.mu.Unlock()
	if c != nil && !closed {
		p.destroyOne(c)
	}
	return f
}

// abandon undoes a grant delivered to a waiter whose context ended.
func (p *Pool) abandon(g grant) {
	p.destroyAll(g.victims)
	switch g.kind {
	case grantWarm:
		p.release(&Lease{p: p, e: g.e})
	case grantJoin:
		p.release(&Lease{p: p, e: g.e})
	case grantStem, grantCold:
		// Nothing was initialised: give the memory back. A stem cell is
		// destroyed rather than returned; replenishment makes a new one.
		p.mu.Lock()
		dead := g.e.state == stateDead
		if !dead {
			p.killLocked(g.e)
		}
		g.e.initErr = errRetry
		if dead {
			g.e.initErr = ErrClosed
		}
		if g.e.ready != nil {
			close(g.e.ready)
		}
		p.dispatchLocked()
		p.mu.Unlock()
		if g.e.c != nil && !dead {
			p.destroyOne(g.e.c)
		}
	}
}

func (p *Pool) release(l *Lease) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.done {
		return
	}
	l.done = true
	e := l.e
	if e.state == stateDead {
		return
	}
	e.active--
	ks := e.ks
	if e.state != stateReady {
		// A joiner gave up while the container initialises.
		if e.conc > 1 && !e.inOpen {
			ks.open = append(ks.open, e)
			e.inOpen = true
		}
		return
	}
	if e.active == 0 {
		if e.inOpen {
			ks.removeOpenEntry(e)
			e.inOpen = false
		}
		e.lastUsed = p.cfg.Now()
		ks.idle = append(ks.idle, e)
		p.linkIdleLocked(e)
	} else if e.conc > 1 && !e.inOpen {
		ks.open = append(ks.open, e)
		e.inOpen = true
	}
	if p.wHead != nil {
		p.dispatchLocked()
	}
}

func (p *Pool) destroyLease(l *Lease) {
	p.mu.Lock()
	if l.done {
		p.mu.Unlock()
		return
	}
	l.done = true
	e := l.e
	if e.state == stateDead {
		p.mu.Unlock()
		return
	}
	p.killLocked(e)
	p.dispatchLocked()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.destroyOne(e.c)
	}()
}

// killLocked marks e dead, takes it out of every list and frees its
// memory. The caller destroys e.c.
func (p *Pool) killLocked(e *entry) {
	if e.state == stateDead {
		return
	}
	if sg := e.stem; sg != nil {
		sg.remove(e)
		e.stem = nil
	} else if ks := e.ks; ks != nil {
		if e.gPrev != nil || e.gNext != nil || p.idleHead == e {
			p.unlinkIdleLocked(e)
			for i, x := range ks.idle {
				if x == e {
					copy(ks.idle[i:], ks.idle[i+1:])
					ks.idle[len(ks.idle)-1] = nil
					ks.idle = ks.idle[:len(ks.idle)-1]
					break
				}
			}
		}
		if e.inOpen {
			ks.removeOpenEntry(e)
			e.inOpen = false
		}
		ks.n--
		if ks.n == 0 && p.keys[e.key] == ks {
			delete(p.keys, e.key)
		}
		delete(p.live, e)
	}
	e.state = stateDead
	p.usedMem -= e.memMB
}

// linkIdleLocked appends e to the global idle list (newest last).
func (p *Pool) linkIdleLocked(e *entry) {
	e.gPrev, e.gNext = p.idleTail, nil
	if p.idleTail != nil {
		p.idleTail.gNext = e
	} else {
		p.idleHead = e
	}
	p.idleTail = e
	p.nIdle++
	p.idleMem += e.memMB
}

func (p *Pool) unlinkIdleLocked(e *entry) {
	if e.gPrev != nil {
		e.gPrev.gNext = e.gNext
	} else {
		p.idleHead = e.gNext
	}
	if e.gNext != nil {
		e.gNext.gPrev = e.gPrev
	} else {
		p.idleTail = e.gPrev
	}
	e.gPrev, e.gNext = nil, nil
	p.nIdle--
	p.idleMem -= e.memMB
}

func (ks *keyState) removeOpen(i int) {
	last := len(ks.open) - 1
	ks.open[i] = ks.open[last]
	ks.open[last] = nil
	ks.open = ks.open[:last]
}

func (ks *keyState) removeOpenEntry(e *entry) {
	for i, x := range ks.open {
		if x == e {
			ks.removeOpen(i)
			return
		}
	}
}

// evictLocked makes room for need MB, evicting idle warm containers oldest
// idle first, then stem cells oldest first. It evicts nothing and reports
// false when even that would not make enough room.
func (p *Pool) evictLocked(need int) ([]*entry, bool) {
	free := p.cfg.UserMemoryMB - p.usedMem
	if free >= need {
		return nil, true
	}
	stemMem := 0
	for _, sg := range p.stems {
		stemMem += len(sg.ready) * sg.cfg.MemoryMB
	}
	if free+p.idleMem+stemMem < need {
		return nil, false
	}
	var victims []*entry
	for free < need && p.idleHead != nil {
		e := p.idleHead
		p.killLocked(e)
		victims = append(victims, e)
		free += e.memMB
	}
	for free < need {
		var oldest *entry
		for _, sg := range p.stems {
			if len(sg.ready) > 0 && (oldest == nil || sg.ready[0].created.Before(oldest.created)) {
				oldest = sg.ready[0]
			}
		}
		if oldest == nil {
			break // cannot happen: the sum above said there is room
		}
		p.killLocked(oldest)
		victims = append(victims, oldest)
		free += oldest.memMB
	}
	p.nEvict += uint64(len(victims))
	return victims, free >= need
}

func (p *Pool) enqueueLocked(w *waiter) {
	w.queued = true
	w.wPrev = p.wTail
	if p.wTail != nil {
		p.wTail.wNext = w
	} else {
		p.wHead = w
	}
	p.wTail = w
	p.nWait++
	if w.async {
		p.nAsync++
	}
}

func (p *Pool) dequeueLocked(w *waiter) {
	if w.wPrev != nil {
		w.wPrev.wNext = w.wNext
	} else {
		p.wHead = w.wNext
	}
	if w.wNext != nil {
		w.wNext.wPrev = w.wPrev
	} else {
		p.wTail = w.wPrev
	}
	w.wPrev, w.wNext = nil, nil
	w.queued = false
	p.nWait--
	if w.async {
		p.nAsync--
	}
}

// dispatchLocked hands what is free to queued acquirers in FIFO order. A
// waiter that finds a warm container of its action may pass one that is
// still blocked on memory; memory itself is granted strictly in order.
func (p *Pool) dispatchLocked() {
	if p.closed {
		return
	}
	blocked := false
	for w := p.wHead; w != nil; {
		next := w.wNext
		if g, ok := p.tryLocked(w.req, w.mem, !blocked); ok {
			p.dequeueLocked(w)
			w.ch <- g
		} else {
			blocked = true
		}
		w = next
	}
}

// destroyInBackground destroys evicted containers off the request's path:
// their memory is already accounted free, and a cold start should not
// wait for the processes it replaces to exit. Close waits for them.
func (p *Pool) destroyInBackground(es []*entry) {
	if len(es) == 0 {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.destroyAll(es)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.destroyAll(es)
	}()
}

func (p *Pool) destroyAll(es []*entry) {
	for _, e := range es {
		if e.c != nil {
			p.destroyOne(e.c)
		}
	}
}

// destroyOne destroys c with its own timeout: cleanup must happen even
// when the request that caused it has gone.
func (p *Pool) destroyOne(c container.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DestroyTimeout)
	defer cancel()
	if err := c.Destroy(ctx); err != nil {
		p.cfg.Logger.Warn("containerpool: destroy container", "id", c.ID(), "err", err)
	}
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Warm:          p.nIdle,
		Busy:          len(p.live) - p.nIdle,
		MemoryUsedMB:  p.usedMem,
		MemoryLimitMB: p.cfg.UserMemoryMB,
		Queued:        p.nWait,
		QueuedAsync:   p.nAsync,
		ColdStarts:    p.nCold,
		PrewarmStarts: p.nPrewarm,
		WarmStarts:    p.nWarm,
		Evictions:     p.nEvict,
		Reaped:        p.nReap,
	}
	for _, sg := range p.stems {
		s.Prewarm += len(sg.ready)
		s.PrewarmStarting += sg.creating
	}
	return s
}

// Close stops the background upkeep, fails queued acquirers with
// ErrClosed and destroys every container, leased ones included; leases
// still out become no-ops. It waits for background work to finish or ctx
// to end.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for w := p.wHead; w != nil; w = p.wHead {
		p.dequeueLocked(w)
		w.ch <- grant{err: ErrClosed}
	}
	var cs []container.Container
	for e := range p.live {
		if e.c != nil {
			cs = append(cs, e.c)
		}
		p.killLocked(e)
	}
	for _, sg := range p.stems {
		for len(sg.ready) > 0 {
			e := sg.ready[0]
			cs = append(cs, e.c)
			p.killLocked(e)
		}
	}
	cancel, loopDone := p.bgCancel, p.loopDone
	p.mu.Unlock()

	if cancel != nil {
		cancel()
		<-loopDone
	}
	var errs []error
	for _, c := range cs {
		if err := c.Destroy(ctx); err != nil {
			errs = append(errs, fmt.Errorf("destroy %s: %w", c.ID(), err))
		}
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}
