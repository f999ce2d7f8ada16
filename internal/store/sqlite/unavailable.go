package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
)

// SQLite's primary result codes that mean "cannot write now".
const (
	codeBusy   = 5  // SQLITE_BUSY: another process holds the write lock
	codeLocked = 6  // SQLITE_LOCKED
	codeIOErr  = 10 // SQLITE_IOERR and its extended codes
	codeFull   = 13 // SQLITE_FULL: the disk (or a quota) is full
)

// unavailable returns err wrapped so that it matches store.ErrUnavailable
// (store.ErrNoSpace for a full disk) when it says the database cannot be
// written now, and err itself otherwise. SQLite rolls back a statement or
// transaction that fails this way: nothing half-written stays behind.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	type coder interface{ Code() int }
	var c coder
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	case !errors.As(err, &c):
		return err
	}
	switch c.Code() & 0xff {
	case codeFull:
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	case codeIOErr:
		return fmt.Errorf("%w: %w", store.Unavailable("I/O error"), err)
	case codeBusy, codeLocked:
		return fmt.Errorf("%w: %w", store.Unavailable("database is locked"), err)
	}
	return err
}

// health is whether the database can be written: nil, or the error
// (matching store.ErrUnavailable) of the last write that failed, until a
// write succeeds and no activation record waits for a retry. Every change
// of state is logged once.
type health struct {
	mu   sync.Mutex
	err  error
	logf func(format string, args ...any)
}

// failed records that a write failed with err; errors that do not match
// store.ErrUnavailable leave the state as it is.
func (h *health) failed(err error) {
	if !errors.Is(err, store.ErrUnavailable) {
		return
	}
	h.mu.Lock()
	was := h.err
	h.err = err
	h.mu.Unlock()
	if was == nil {
		h.logf("sqlite: the database cannot be written: writes fail and activation records wait in memory until it can: %v", err)
	}
}

// ok records that a write succeeded; held is how many activation records
// still wait for a retry (the store stays unhealthy while any does).
func (h *health) ok(held int) {
	if held > 0 {
		return
	}
	h.mu.Lock()
	was := h.err
	h.err = nil
	h.mu.Unlock()
	if was != nil {
		h.logf("sqlite: the database can be written again; every waiting activation record is committed")
	}
}

// get returns the current state.
func (h *health) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Health returns nil while the database can be written, and otherwise the
// error (matching store.ErrUnavailable) of the last write that failed —
// "store: no space left on device: …" when the disk is full.
func (s *Store) Health(context.Context) error { return s.health.get() }

// holder keeps the activation records whose commit failed because the
// database could not be written. They stay in the pending set (visible to
// Get and List) and the retry loop commits them again, with a backoff,
// until the database takes them.
type holder struct {
	mu   sync.Mutex
	held []*pendingAct
	kick chan struct{} // buffered(1): something was held
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the loop exits
}

func newHolder() *holder {
	return &holder{kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// hold adds ps to the records waiting for a retry.
func (h *holder) hold(ps []*pendingAct) {
	h.mu.Lock()
	h.held = append(h.held, ps...)
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// take removes and returns every held record.
func (h *holder) take() []*pendingAct {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := h.held
	h.held = nil
	return ps
}

// count returns how many records wait for a retry.
func (h *holder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// Retry backoff: the first retry comes soon (a brief hiccup), later ones
// no more often than retryMax.
const (
	retryMin = 50 * time.Millisecond
	retryMax = time.Second
)

// retryLoop commits held records again until Close.
func (s *Store) retryLoop() {
	h := s.holder
	defer close(h.done)
	backoff := retryMin
	for {
		select {
		case <-h.kick:
		case <-h.stop:
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-h.stop:
			t.Stop()
			return
		}
		ps := h.take()
		if len(ps) == 0 {
			continue
		}
		// The op settles ps: on failure they are held again (and kick).
		if err := s.gc.Do(context.Background(), s.recordsOp(ps)); err != nil {
			if errors.Is(err, errClosed) {
				h.hold(ps)
				return
			}
			backoff = min(2*backoff, retryMax)
			continue
		}
		backoff = retryMin
	}
}

// DefaultMaxHeldBytes bounds the activation records kept in memory while
// the database cannot be written, unless SetMaxHeldBytes says otherwise.
const DefaultMaxHeldBytes = 64 << 20

// SetMaxHeldBytes bounds the activation records (their JSON) kept in
// memory while the database cannot be written: past n bytes,
// Activations.Put fails with an error matching store.ErrUnavailable
// instead of keeping more. n <= 0 restores DefaultMaxHeldBytes. Safe to
// call at any time.
func (s *Store) SetMaxHeldBytes(n int64) { s.maxHeld.Store(n) }

// admit returns nil when records of n more bytes may wait in memory: always
// while the database can be written, and while it cannot, as long as the
// records waiting stay within the bound of SetMaxHeldBytes. Otherwise it returns the
// store's health error, for the caller to answer 503.
func (s *Store) admit(n int64) error {
	herr := s.health.get()
	if herr == nil {
		return nil
	}
	limit := s.maxHeld.Load()
	if limit <= 0 {
		limit = DefaultMaxHeldBytes
	}
	if waiting := s.pending.size(); waiting+n > limit {
		return fmt.Errorf("sqlite: put activation: %d bytes of records already wait for the database: %w", waiting, herr)
	}
	return nil
}
