package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/invoker"
	"github.com/whirlfaas/whirl/whisk"
)

// End-to-end tests of the limits that cross the invoker/pool seam, with
// real actions. The time limit has its own (TestCompatInvokeStatuses,
// "slow"); a memory limit above limits.actions.memory.max is refused at
// create (TestBadActionBodies).

// nodePeers is a nodejs action that counts the runs in flight in its
// process: each waits (up to 10 s) until n are in, then answers the peak
// and a token drawn once per process. Serialised runs see a peak of 1.
const nodePeers = `const token = Math.random().toString(36).slice(2);
let inFlight = 0, peak = 0;
async function main(args) {
  inFlight++;
  peak = Math.max(peak, inFlight);
  const until = Date.now() + 10000;
  while (peak < args.n && Date.now() < until) await new Promise(r => setTimeout(r, 10));
  inFlight--;
  return {token, peak};
}
`

// TestActionConcurrency: an action with limits.concurrency N has N runs
// in flight at once in one container (the runtime learns N at init).
func TestActionConcurrency(t *testing.T) {
	const n = 3
	s := apptest.Start(t, func(c *config.Config) { c.Limits.Actions.Concurrency.Max = n })
	mustStatus(t, api(t, s, "PUT", "actions/peers?overwrite=true", map[string]any{
		"exec":   map[string]any{"kind": "nodejs:default", "code": nodePeers},
		"limits": map[string]any{"concurrency": n, "timeout": 30000},
	}), 200)
	var wg sync.WaitGroup
	results := make([]map[string]any, n)
	for i := range n {
		wg.Go(func() {
			r, err := rawPost(s.URL+"/api/v1/namespaces/_/actions/peers?blocking=true&result=true", s.GuestAuth, strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
			if err != nil || r.status != http.StatusOK {
				t.Errorf("invoke %d: %v %d %s", i, err, r.status, r.body)
				return
			}
			results[i] = r.obj(t)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, res := range results {
		if res["peak"] != float64(n) || res["token"] != results[0]["token"] {
			t.Fatalf("run %d: %v; want a peak of %d in one process (%v)", i, res, n, results[0]["token"])
		}
	}
}

// TestNeverFitsAsync: an action whose memory is larger than the whole
// pool (created under a configuration with a larger pool) gets a record
// at once that says why, invoked non-blocking or blocking, and Close
// does not wait for it.
func TestNeverFitsAsync(t *testing.T) {
	cfg := testConfig(t)
	s := apptest.StartConfig(t, cfg)
	putPy(t, s, "big", pyHello, map[string]any{"memory": 512})

	cfg.ContainerPool.UserMemory = 256
	cfg.Limits.Actions.Memory.Max = 256
	s = restart(t, s, cfg)
	want := fmt.Sprintf(invoker.MsgNeverFits, 512, 256)

	a := api(t, s, "POST", "actions/big", map[string]any{})
	mustStatus(t, a, http.StatusAccepted)
	id := a.obj(t)["activationId"].(string)
	var rec reply
	eventually(t, 30*time.Second, "the record of the action that never fits", func() bool {
		rec = api(t, s, "GET", "activations/"+id, nil)
		return rec.status == http.StatusOK
	})
	resp := rec.obj(t)["response"].(map[string]any)
	if resp["status"] != whisk.StatusName(whisk.StatusWhiskError) || resp["result"].(map[string]any)["error"] != want {
		t.Fatalf("record %s", rec.body)
	}

	b := api(t, s, "POST", "actions/big?blocking=true", map[string]any{})
	if b.status == http.StatusAccepted || b.status == http.StatusOK {
		t.Fatalf("blocking invoke: %d %s", b.status, b.body)
	}
	if !strings.Contains(string(b.body), want) {
		t.Fatalf("blocking invoke: %d %s, want %q", b.status, b.body, want)
	}

	// Nothing waits: Close ends well within its deadline (it used to
	// wait for the retried invocation until the deadline passed).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.App.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Close waited until its deadline")
	}
}

// TestLogsLimit: logs past the action's limits.logs are cut, with
// OpenWhisk's message as the last line.
func TestLogsLimit(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "chatty", "def main(args):\n    for i in range(1500):\n        print('x' * 1000)\n    return {'ok': True}\n", map[string]any{"logs": 1})
	r := api(t, s, "POST", "actions/chatty?blocking=true", map[string]any{})
	mustStatus(t, r, http.StatusOK)
	logs, _ := r.obj(t)["logs"].([]any)
	if len(logs) == 0 || len(logs) >= 1500 {
		t.Fatalf("%d log lines kept, want some but not all 1500", len(logs))
	}
	// Each line printed is 1001 bytes, newline included.
	if kept := len(logs) - 1; kept > (1<<20)/1001 {
		t.Fatalf("%d lines of 1001 bytes kept under a limit of 1 MB", kept)
	}
	last := logs[len(logs)-1].(string)
	if !strings.HasSuffix(last, fmt.Sprintf(whisk.MsgLogsTruncated, 1<<20)) {
		t.Fatalf("last line %q", last)
	}
}

// TestResultTooLarge: a result over the 1 MB a record may hold is an
// application error that says so, with the start of the result.
func TestResultTooLarge(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "huge", "def main(args):\n    return {'big': 'x' * (1 << 20)}\n", nil)
	r := api(t, s, "POST", "actions/huge?blocking=true", map[string]any{})
	mustStatus(t, r, http.StatusBadGateway)
	resp := r.obj(t)["response"].(map[string]any)
	msg, _ := resp["result"].(map[string]any)["error"].(string)
	prefix, _, _ := strings.Cut(whisk.MsgResultTooLarge, "%d")
	if resp["status"] != "application error" || !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, fmt.Sprintf("> %d bytes", invoker.MaxResultSize)) {
		t.Fatalf("response %.300s", r.body)
	}
	if len(msg) > 2048 {
		t.Fatalf("the message carries %d bytes: the result should be truncated", len(msg))
	}
}
