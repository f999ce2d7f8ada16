package app_test

import (
	"context"
	"sync"
	"testing"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/config"
)

// TestBootstrapOnce: controllers started together on an empty database,
// with fresh (not well-known) keys, create one key per bootstrap
// namespace between them.
func TestBootstrapOnce(t *testing.T) {
	c := newCluster(t)
	const n = 4
	roles := make([]*role, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roles[i] = c.start(t, app.NewController, func(cfg *config.Config) {
				cfg.ControllerName = "ctl" + string(rune('A'+i))
				if err := cfg.Set("useWellKnownKeys", "false"); err != nil {
					t.Error(err)
				}
			})
		}()
	}
	wg.Wait()
	for i, r := range roles {
		if r == nil {
			t.Fatalf("controller %d did not start", i)
		}
	}
	printed := 0
	for _, r := range roles {
		printed += len(r.app.Keys)
	}
	for _, ns := range []string{"guest", "whisk.system"} {
		subs, err := roles[0].app.Store.Auth().Subjects(context.Background(), ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 1 {
			t.Errorf("%d controllers started together made %d keys for %s, want 1", n, len(subs), ns)
		}
	}
	if printed != 2 {
		t.Errorf("the controllers printed %d new keys between them, want 2 (one per namespace)", printed)
	}
}
