package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
)

// TestOverload: with the container pool full and no queue, a blocking
// invoke gets OpenWhisk's 503 at once, while an accepted non-blocking one
// waits for room and runs.
func TestOverload(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) {
		c.ContainerPool.UserMemory = 256  // one container
		c.Limits.Actions.Memory.Max = 256 // (no action may need more)
		c.ContainerPool.MaxQueue = 0      // and no waiting
	})
	putPy(t, s, "nap", "import time\ndef main(args):\n    time.sleep(args.get('s', 0))\n    return {'slept': args.get('s', 0)}\n", nil)
	putPy(t, s, "other", "def main(args):\n    return {'ok': True}\n", nil)

	// A stem cell still starting holds its memory and cannot be evicted:
	// let the one that fits finish starting first.
	eventually(t, 30*time.Second, "a stem cell to be ready", func() bool {
		return metric(t, s, `whirl_containers{state="prewarm"}`) == 1
	})
	busy := make(chan reply, 1)
	go func() { busy <- api(t, s, "POST", "actions/nap?blocking=true&result=true", map[string]any{"s": 2}) }()
	eventually(t, 30*time.Second, "the only container to be busy", func() bool {
		select {
		case r := <-busy:
			t.Fatalf("the busy call ended: %d %s", r.status, r.body)
		default:
		}
		return metric(t, s, "whirl_activations_in_flight") == 1 && metric(t, s, `whirl_containers{state="busy"}`) == 1
	})
	r := api(t, s, "POST", "actions/other?blocking=true", map[string]any{})
	mustStatus(t, r, http.StatusServiceUnavailable)
	if msg := r.obj(t)["error"]; msg != "System is overloaded, try again later." {
		t.Fatalf("overload message %q", msg)
	}
	a := api(t, s, "POST", "actions/other", map[string]any{})
	mustStatus(t, a, http.StatusAccepted)
	id := a.obj(t)["activationId"].(string)
	mustStatus(t, <-busy, http.StatusOK)
	eventually(t, 30*time.Second, "the accepted invocation to run once there is room", func() bool {
		rec := api(t, s, "GET", "activations/"+id, nil)
		return rec.status == http.StatusOK && rec.obj(t)["response"].(map[string]any)["success"] == true
	})
}
