package app_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// TestNamespaceLimits: `whirl admin limits set` overrides the throttles of
// one namespace; /limits reports them, invokes obey them, and deleting the
// override restores the system's.
func TestNamespaceLimits(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.Limits.ActionsInvokesPerMinute = 1000 })
	ctx := context.Background()
	putPy(t, s, "echo", "def main(args):\n    return args\n", nil)
	two := 2
	if err := app.SetNamespaceLimits(ctx, s.App.Store, "guest", whisk.NamespaceLimits{InvocationsPerMinute: &two}); err != nil {
		t.Fatal(err)
	}
	if err := s.App.ReloadLimits(ctx); err != nil {
		t.Fatal(err)
	}
	lim := api(t, s, "GET", "limits", nil)
	mustStatus(t, lim, 200)
	if m := lim.obj(t); m["invocationsPerMinute"] != 2.0 || m["concurrentInvocations"] != 100000.0 {
		t.Fatalf("limits with an override: %s", lim.body)
	}
	for i := 0; i < 2; i++ {
		mustStatus(t, api(t, s, "POST", "actions/echo?blocking=true", map[string]any{}), 200)
	}
	r := api(t, s, "POST", "actions/echo?blocking=true", map[string]any{})
	mustStatus(t, r, http.StatusTooManyRequests)
	if msg := r.obj(t)["error"]; msg != "Too many requests in the last minute (count: 2, allowed: 2)." {
		t.Fatalf("429 message %q", msg)
	}
	o, err := app.NamespaceLimits(ctx, s.App.Store, "guest")
	if err != nil || o.InvocationsPerMinute == nil || *o.InvocationsPerMinute != 2 || o.FiresPerMinute != nil {
		t.Fatalf("stored override %+v, %v", o, err)
	}
	if err := app.DeleteNamespaceLimits(ctx, s.App.Store, "guest"); err != nil {
		t.Fatal(err)
	}
	if err := s.App.ReloadLimits(ctx); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, api(t, s, "POST", "actions/echo?blocking=true", map[string]any{}), 200)
	if _, err := app.NamespaceLimits(ctx, s.App.Store, "guest"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
