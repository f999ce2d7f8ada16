package feeds_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/feeds"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
)

// fakeFirer records fires and answers with err.
type fakeFirer struct {
	mu    sync.Mutex
	fires []string
	ch    chan string
	err   error
}

func newFirer() *fakeFirer { return &fakeFirer{ch: make(chan string, 100)} }

func (f *fakeFirer) FireTrigger(ctx context.Context, authKey, trigger string, payload json.RawMessage) (string, error) {
	f.mu.Lock()
	f.fires = append(f.fires, trigger)
	err := f.err
	f.mu.Unlock()
	f.ch <- string(payload)
	return "id", err
}

func (f *fakeFirer) DeleteTrigger(ctx context.Context, authKey, trigger string, rules bool) error {
	return nil
}

func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "whirl.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newService(st store.Store, now func() time.Time) *feeds.Service {
	return feeds.New(feeds.Config{
		Entities:     st.Entities(),
		Authenticate: func(ctx context.Context, key string) (string, error) { return "guest", nil },
		Now:          now,
	})
}

func call(t *testing.T, s *feeds.Service, feed string, p map[string]any) (map[string]any, bool) {
	t.Helper()
	b, _ := json.Marshal(p)
	res, _, ok, err := s.RunBuiltin(context.Background(), feed, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(res, &m); err != nil {
		t.Fatal(err)
	}
	return m, ok
}

func stored(t *testing.T, st store.Store, key string) (feeds.Schedule, bool) {
	t.Helper()
	e, err := st.Entities().Get(context.Background(), store.Feeds, feeds.Namespace, key)
	if errors.Is(err, store.ErrNotFound) {
		return feeds.Schedule{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var sc feeds.Schedule
	if err := json.Unmarshal(e.Doc, &sc); err != nil {
		t.Fatal(err)
	}
	return sc, true
}

func wait(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("no fire")
		return ""
	}
}

// TestRestartDoesNotRefire restarts the provider with a clock that reads
// before the last tick fired (a quick restart within the same second, or a
// clock stepped back): the next fire must be a later tick, never the same
// one again.
func TestRestartDoesNotRefire(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()

	a := newService(st, nil)
	ctxA, cancelA := context.WithCancel(context.Background())
	fa := newFirer()
	if err := a.Start(ctxA, fa); err != nil {
		t.Fatal(err)
	}
	res, ok := call(t, a, "alarm", map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": "u:k",
		"cron": "* * * * * *", "trigger_payload": map[string]any{"n": 1}})
	if !ok {
		t.Fatalf("CREATE: %v", res)
	}
	if p := wait(t, fa.ch); p != `{"n":1}` {
		t.Fatalf("payload %s", p)
	}
	cancelA()
	a.Wait()
	sc, ok := stored(t, st, "guest/t")
	if !ok || sc.LastTick == 0 {
		t.Fatalf("no last tick stored: %+v", sc)
	}
	last := time.UnixMilli(sc.LastTick)

	startB := time.Now()
	clock := func() time.Time { return last.Add(-500 * time.Millisecond).Add(time.Since(startB)) }
	b := newService(st, clock)
	ctxB, cancelB := context.WithCancel(context.Background())
	defer func() { cancelB(); b.Wait() }()
	fb := newFirer()
	if err := b.Start(ctxB, fb); err != nil {
		t.Fatal(err)
	}
	wait(t, fb.ch)
	sc2, _ := stored(t, st, "guest/t")
	if sc2.LastTick <= sc.LastTick {
		t.Fatalf("after restart fired tick %d again (last fired %d)", sc2.LastTick, sc.LastTick)
	}
}

func TestScheduleEndsWhenTriggerGone(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newService(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); s.Wait() }()
	f := newFirer()
	f.err = store.ErrNotFound
	if err := s.Start(ctx, f); err != nil {
		t.Fatal(err)
	}
	if res, ok := call(t, s, "alarm", map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/guest/t", "authKey": "u:k", "cron": "* * * * * *"}); !ok {
		t.Fatalf("CREATE: %v", res)
	}
	wait(t, f.ch)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := stored(t, st, "guest/t"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("schedule of a gone trigger kept")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCreateValidation(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	s := newService(st, nil)
	cases := []struct {
		feed string
		p    map[string]any
	}{
		{"alarm", map[string]any{}},
		{"alarm", map[string]any{"cron": "not a cron"}},
		{"alarm", map[string]any{"cron": "* * * * *", "timezone": "Mars/Olympus"}},
		{"alarm", map[string]any{"cron": "* * * * *", "startDate": "2020-01-01"}},
		{"alarm", map[string]any{"cron": "* * * * *", "startDate": time.Now().Add(2 * time.Hour).UnixMilli(), "stopDate": time.Now().Add(time.Hour).UnixMilli()}},
		{"interval", map[string]any{"minutes": "x"}},
		{"once", map[string]any{}},
		{"once", map[string]any{"date": "yesterday"}},
		{"once", map[string]any{"date": time.Now().Add(time.Hour).UnixMilli(), "deleteAfterFire": "maybe"}},
		{"alarm", map[string]any{"cron": "* * * * *", "trigger_payload": 3}},
	}
	for _, c := range cases {
		c.p["lifecycleEvent"], c.p["triggerName"], c.p["authKey"] = "CREATE", "/_/t", "u:k"
		res, ok := call(t, s, c.feed, c.p)
		if ok || res["error"] == nil {
			t.Errorf("%s %v: accepted: %v", c.feed, c.p, res)
		}
	}
	if _, ok := stored(t, st, "guest/t"); ok {
		t.Fatal("a refused CREATE stored a schedule")
	}
	// Another namespace's trigger is refused.
	if res, ok := call(t, s, "alarm", map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/other/t", "authKey": "u:k", "cron": "* * * * *"}); ok {
		t.Fatalf("CREATE for another namespace: %v", res)
	}
}
