package feeds_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/feeds"
	"github.com/whirlfaas/whirl/internal/store"
)

// gatedFirer holds each fire until the test lets it go, so that the
// schedule's recorded tick is the one being fired while the test reads it.
type gatedFirer struct {
	fired, release chan struct{}
}

func newGated() *gatedFirer {
	return &gatedFirer{fired: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedFirer) FireTrigger(ctx context.Context, _, _ string, _ json.RawMessage) (string, error) {
	select {
	case g.fired <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	return "id", nil
}

func (g *gatedFirer) DeleteTrigger(context.Context, string, string, bool) error { return nil }

// firstTick starts a scheduler over st whose clock reads gap after the
// last recorded tick, and returns the tick it fires first.
func firstTick(t *testing.T, st interface{ Entities() store.Entities }, last int64, gap, catchUp time.Duration) int64 {
	t.Helper()
	start := time.Now()
	clock := func() time.Time { return time.UnixMilli(last).Add(gap).Add(time.Since(start)) }
	b := feeds.New(feeds.Config{Entities: st.Entities(), Now: clock, CatchUp: catchUp,
		Authenticate: func(ctx context.Context, key string) (string, error) { return "guest", nil }})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	g := newGated()
	if err := b.Start(ctx, g); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.fired:
	case <-time.After(20 * time.Second):
		t.Fatal("no fire")
	}
	e, err := st.Entities().Get(context.Background(), store.Feeds, feeds.Namespace, "guest/t")
	if err != nil {
		t.Fatal(err)
	}
	var sc feeds.Schedule
	if err := json.Unmarshal(e.Doc, &sc); err != nil {
		t.Fatal(err)
	}
	return sc.LastTick
}

// TestCatchUp: a scheduler that takes over (a new alarms leader) with
// ticks missed since the last recorded one fires them, starting with the
// very next tick, when the last tick is within CatchUp; a last tick older
// than CatchUp is not caught up.
func TestCatchUp(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	a := newService(st, nil)
	ctxA, cancelA := context.WithCancel(context.Background())
	fa := newFirer()
	if err := a.Start(ctxA, fa); err != nil {
		t.Fatal(err)
	}
	if res, ok := call(t, a, "alarm", map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": "u:k", "cron": "* * * * * *"}); !ok {
		t.Fatalf("CREATE: %v", res)
	}
	wait(t, fa.ch)
	cancelA()
	a.Wait()
	sc, _ := stored(t, st, "guest/t")

	if got := firstTick(t, st, sc.LastTick, 3*time.Second, time.Minute); got != sc.LastTick+1000 {
		t.Fatalf("with catch-up, the new scheduler first fired tick %d, want the next one %d", got, sc.LastTick+1000)
	}
}

// TestCatchUpBounded: missed ticks older than CatchUp are skipped.
func TestCatchUpBounded(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	a := newService(st, nil)
	ctxA, cancelA := context.WithCancel(context.Background())
	fa := newFirer()
	if err := a.Start(ctxA, fa); err != nil {
		t.Fatal(err)
	}
	if res, ok := call(t, a, "alarm", map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": "u:k", "cron": "* * * * * *"}); !ok {
		t.Fatalf("CREATE: %v", res)
	}
	wait(t, fa.ch)
	cancelA()
	a.Wait()
	sc, _ := stored(t, st, "guest/t")
	got := firstTick(t, st, sc.LastTick, 5*time.Second, 2*time.Second)
	if got <= sc.LastTick+5000 {
		t.Fatalf("a gap of 5 s with a catch-up of 2 s fired tick %d, at most 5 s after the last %d", got, sc.LastTick)
	}
}
