// Package feeds holds Whirl's built-in feed providers: the
// /whisk.system/alarms package with its feeds alarm (cron), interval and
// once. Their actions are of exec kind "builtin": the controller runs
// them in process through RunBuiltin, and each tick fires the trigger
// through a Firer (the controller), exactly as POST /triggers/{name}
// does, with the trigger owner's key.
//
// Schedules are stored (collection store.Feeds in namespace whisk.system,
// keyed "ns/trigger") with the last tick fired, written before the fire:
// a restart reloads them and never fires one tick twice (a tick that was
// being fired during a crash is lost rather than repeated).
//
// Only internal/app and tests import this package; it must not import
// the controller.
package feeds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Namespace and Package name the built-in alarms package.
const (
	Namespace = "whisk.system"
	Package   = "alarms"
)

// Firer fires and deletes triggers on behalf of their owner. The
// controller satisfies it (*controller.Controller).
type Firer interface {
	// FireTrigger fires trigger ("/ns/name") as the owner of authKey
	// ("uuid:key"). It returns the trigger activation's id, or "" when no
	// rule is active.
	FireTrigger(ctx context.Context, authKey, trigger string, payload json.RawMessage) (string, error)
	// DeleteTrigger deletes trigger as the owner of authKey, and the
	// rules it feeds when rules is set.
	DeleteTrigger(ctx context.Context, authKey, trigger string, rules bool) error
}

// Authenticator returns the namespace of a key ("uuid:key"), or an error
// when it does not authenticate.
type Authenticator func(ctx context.Context, authKey string) (namespace string, err error)

// Config is what a Service needs.
type Config struct {
	Entities store.Entities
	// Authenticate checks the authKey a feed action receives.
	Authenticate Authenticator
	// IsGone reports whether an error of the Firer means the trigger or
	// its owner is gone for good; the schedule then ends. May be nil.
	IsGone func(error) bool
	Logger *slog.Logger
	// Now is the clock; time.Now when nil. Tests move it.
	Now func() time.Time
	// CatchUp, when positive, makes a schedule that starts (a new
	// scheduler elected, a restart) fire the ticks it missed since its
	// last recorded one, if that is at most CatchUp ago; older missed
	// ticks are skipped. Zero skips every missed tick.
	CatchUp time.Duration
}

// Service is the alarms provider: it answers the feed lifecycle and runs
// the stored schedules. Methods are safe for concurrent use.
type Service struct {
	cfg Config

	mu      sync.Mutex // guards entries, firer, ctx
	entries map[string]*entry
	firer   Firer
	ctx     context.Context
	wg      sync.WaitGroup
}

// entry is one running schedule.
type entry struct {
	mu     sync.Mutex // guards sched and rev (store writes)
	sched  Schedule
	rev    int64
	cancel context.CancelFunc
}

// New returns a Service; call Install, then Start.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IsGone == nil {
		cfg.IsGone = func(err error) bool { return errors.Is(err, store.ErrNotFound) }
	}
	return &Service{cfg: cfg, entries: map[string]*entry{}}
}

// Start loads the stored schedules and runs them, firing through f, until
// ctx ends. Wait waits for them to stop.
func (s *Service) Start(ctx context.Context, f Firer) error {
	ents, err := s.cfg.Entities.List(ctx, store.Feeds, Namespace, store.ListOptions{})
	if err != nil {
		return fmt.Errorf("load feed schedules: %w", err)
	}
	s.mu.Lock()
	s.firer, s.ctx = f, ctx
	s.mu.Unlock()
	for _, e := range ents {
		var sc Schedule
		if err := json.Unmarshal(e.Doc, &sc); err != nil {
			s.cfg.Logger.Error("bad feed schedule", "key", e.Key, "err", err)
			continue
		}
		if err := sc.compile(); err != nil {
			s.cfg.Logger.Error("bad feed schedule", "key", e.Key, "err", err)
			continue
		}
		s.run(e.Key, sc, e.Rev)
	}
	return nil
}

// Wait blocks until every schedule goroutine has stopped (after the
// context given to Start ends).
func (s *Service) Wait() { s.wg.Wait() }

// run starts the goroutine of schedule key.
func (s *Service) run(key string, sc Schedule, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return // not started: Start loads it from the store
	}
	if old := s.entries[key]; old != nil {
		old.cancel()
	}
	ctx, cancel := context.WithCancel(s.ctx)
	e := &entry{sched: sc, rev: rev, cancel: cancel}
	s.entries[key] = e
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx, key, e)
	}()
}

// stop ends schedule key's goroutine, if any.
func (s *Service) stop(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e != nil {
		e.cancel()
		delete(s.entries, key)
	}
}

func (s *Service) loop(ctx context.Context, key string, e *entry) {
	for {
		e.mu.Lock()
		sc := e.sched
		e.mu.Unlock()
		after := s.cfg.Now()
		if last := time.UnixMilli(sc.LastTick); sc.LastTick != 0 && (last.After(after) || after.Sub(last) <= s.cfg.CatchUp) {
			after = last // a tick recorded in the future, or missed ticks to catch up
		}
		next, ok := sc.next(after)
		if !ok {
			s.finish(ctx, key, e, false)
			return
		}
		t := time.NewTimer(next.Sub(s.cfg.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !s.tick(ctx, key, e, next) {
			return
		}
	}
}

// tick records tick as fired, then fires. It reports whether the schedule
// goes on.
func (s *Service) tick(ctx context.Context, key string, e *entry, tick time.Time) bool {
	e.mu.Lock()
	if ctx.Err() != nil {
		e.mu.Unlock()
		return false
	}
	sc := e.sched
	sc.LastTick = tick.UnixMilli()
	rev, err := s.put(ctx, key, &sc, e.rev)
	if err != nil {
		e.mu.Unlock()
		if ctx.Err() == nil {
			s.cfg.Logger.Error("feed schedule: record tick", "trigger", sc.Trigger, "err", err)
		}
		return true // the next tick tries again; an update stops this loop
	}
	e.sched, e.rev = sc, rev
	e.mu.Unlock()

	s.mu.Lock()
	f := s.firer
	s.mu.Unlock()
	_, err = f.FireTrigger(ctx, sc.AuthKey, sc.Trigger, sc.Payload)
	if err != nil {
		if s.cfg.IsGone(err) {
			s.cfg.Logger.Info("feed schedule ends: trigger gone", "trigger", sc.Trigger)
			s.finish(ctx, key, e, false)
			return false
		}
		s.cfg.Logger.Warn("feed schedule: fire", "trigger", sc.Trigger, "err", err)
	}
	if sc.Feed == FeedOnce {
		s.finish(ctx, key, e, true)
		return false
	}
	return true
}

// finish removes a schedule that has run its course; after a once fire it
// deletes the trigger as deleteAfterFire asks.
func (s *Service) finish(ctx context.Context, key string, e *entry, fired bool) {
	e.mu.Lock()
	sc, rev := e.sched, e.rev
	e.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if err := s.cfg.Entities.Delete(ctx, store.Feeds, Namespace, key, rev); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.cfg.Logger.Warn("feed schedule: remove", "trigger", sc.Trigger, "err", err)
		return // changed meanwhile: the update runs it
	}
	s.mu.Lock()
	if s.entries[key] == e {
		delete(s.entries, key)
	}
	f := s.firer
	s.mu.Unlock()
	if fired && (sc.DeleteAfterFire == "true" || sc.DeleteAfterFire == "rules") {
		if err := f.DeleteTrigger(ctx, sc.AuthKey, sc.Trigger, sc.DeleteAfterFire == "rules"); err != nil && !s.cfg.IsGone(err) {
			s.cfg.Logger.Warn("feed once: delete after fire", "trigger", sc.Trigger, "err", err)
		}
	}
}

// put writes sc at rev (0: create) and returns the new revision.
func (s *Service) put(ctx context.Context, key string, sc *Schedule, rev int64) (int64, error) {
	doc, err := json.Marshal(sc)
	if err != nil {
		return 0, err
	}
	return s.cfg.Entities.Put(ctx, store.Entity{Collection: store.Feeds, Namespace: Namespace, Key: key, Doc: doc}, rev)
}

// Reload brings the running schedule key ("ns/trigger") in line with the
// store after a write made elsewhere (another controller answered the feed
// lifecycle): it starts or replaces the schedule when the stored revision
// differs from the running one, and stops it when the store has none. It
// does nothing before Start.
func (s *Service) Reload(ctx context.Context, key string) error {
	s.mu.Lock()
	started := s.ctx != nil
	e := s.entries[key]
	s.mu.Unlock()
	if !started {
		return nil
	}
	ent, err := s.cfg.Entities.Get(ctx, store.Feeds, Namespace, key)
	if errors.Is(err, store.ErrNotFound) {
		s.stop(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reload feed schedule %s: %w", key, err)
	}
	if e != nil {
		e.mu.Lock()
		same := e.rev == ent.Rev
		e.mu.Unlock()
		if same {
			return nil
		}
	}
	var sc Schedule
	if err := json.Unmarshal(ent.Doc, &sc); err != nil {
		return fmt.Errorf("reload feed schedule %s: %w", key, err)
	}
	if err := sc.compile(); err != nil {
		return fmt.Errorf("reload feed schedule %s: %w", key, err)
	}
	s.run(key, sc, ent.Rev)
	return nil
}

// TriggerDeleted ends the schedule of trigger namespace/name, if any.
func (s *Service) TriggerDeleted(ctx context.Context, namespace, name string) error {
	key := namespace + "/" + name
	s.stop(key)
	err := s.cfg.Entities.Delete(ctx, store.Feeds, Namespace, key, 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Actions returns the built-in actions of the alarms package.
func Actions() []*whisk.Action {
	mk := func(name, desc string, params ...string) *whisk.Action {
		var doc []map[string]any
		for _, p := range params {
			doc = append(doc, map[string]any{"name": p})
		}
		return &whisk.Action{
			Namespace: Namespace + "/" + Package, Name: name, Version: "0.0.1",
			Exec:       whisk.Exec{Kind: whisk.KindBuiltin, Main: name},
			Parameters: whisk.KeyValues{},
			Limits:     whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
			Annotations: whisk.KeyValues{}.Set("feed", true).Set("description", desc).
				Set("parameters", doc).Set("provide-api-key", false).Set("exec", whisk.KindBuiltin),
		}
	}
	return []*whisk.Action{
		mk(FeedAlarm, "Fire a trigger on a cron schedule", "cron", "timezone", "startDate", "stopDate", "trigger_payload"),
		mk(FeedInterval, "Fire a trigger every few minutes", "minutes", "startDate", "stopDate", "trigger_payload"),
		mk(FeedOnce, "Fire a trigger once at a date", "date", "deleteAfterFire", "trigger_payload"),
	}
}

// Install writes the alarms package (owned by whisk.system, published)
// and its actions, creating or refreshing them. It runs at every start so
// that every installation has them.
func (s *Service) Install(ctx context.Context) error {
	now := s.cfg.Now().UnixMilli()
	pkg := whisk.Package{Namespace: Namespace, Name: Package, Version: "0.0.1", Publish: true,
		Annotations: whisk.KeyValues{}.Set("description", "Alarms and periodic utility"),
		Parameters:  whisk.KeyValues{}, Updated: now}
	if err := s.upsert(ctx, store.Packages, Package, &pkg); err != nil {
		return err
	}
	for _, a := range Actions() {
		a.Updated = now
		if err := s.upsert(ctx, store.Actions, Package+"/"+a.Name, a); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) upsert(ctx context.Context, coll, key string, v any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ents := s.cfg.Entities
	// Controllers started together install at once: a conflict means
	// another wrote it meanwhile; write again over its revision.
	for range 5 {
		var old store.Entity
		old, err = ents.Get(ctx, coll, Namespace, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = ents.Put(ctx, store.Entity{Collection: coll, Namespace: Namespace, Key: key, Doc: doc}, 0)
		case err == nil:
			_, err = ents.Put(ctx, store.Entity{Collection: coll, Namespace: Namespace, Key: key, Doc: doc}, old.Rev)
		}
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("install %s %s/%s: %w", coll, Namespace, key, err)
	}
	return nil
}
