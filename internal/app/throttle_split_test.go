package app_test

import (
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/config"
)

// TestThrottleAcrossControllers: a namespace's invokes-per-minute limit
// holds for two controllers together, not for each: requests spread over
// both (as a round-robin load balancer does) are admitted up to the
// limit, then refused with 429 on both.
func TestThrottleAcrossControllers(t *testing.T) {
	c := newCluster(t)
	limited := func(name string) *role {
		return c.start(t, app.NewController, func(cfg *config.Config) {
			cfg.ControllerName = name
			cfg.Limits.ActionsInvokesPerMinute = 10
			cfg.InvokerTimeout = 600 * time.Millisecond // heartbeats every 200 ms
		})
	}
	c.start(t, app.NewInvoker, func(cfg *config.Config) {
		cfg.InvokerName, cfg.InvokerTimeout = "inv0", 600*time.Millisecond
	})
	a, b := limited("ctlA"), limited("ctlB")
	mustStatus(t, a.ns(t, "PUT", "actions/who0", pyAction(pyWho)), 200)
	// Each hears the other's heartbeats within one interval.
	time.Sleep(time.Second)
	if time.Now().Second() >= 55 { // one minute window for the whole count
		time.Sleep(6 * time.Second)
	}
	admitted := 0
	for i := range 30 {
		via := a
		if i%2 == 1 {
			via = b
		}
		switch r := via.ns(t, "POST", "actions/who0", map[string]any{}); r.status {
		case 202:
			admitted++
		case 429:
		default:
			t.Fatalf("invoke %d: %d %s", i, r.status, r.body)
		}
	}
	if admitted != 10 {
		t.Fatalf("two controllers admitted %d non-blocking invokes of a namespace limited to 10 per minute", admitted)
	}
}
