package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/feeds"
	"github.com/whirlfaas/whirl/internal/store"
)

// lastTick returns the stored schedule of trigger guest/name, or ok false.
func lastTick(t testing.TB, s *apptest.Server, name string) (feeds.Schedule, bool) {
	t.Helper()
	e, err := s.App.Store.Entities().Get(context.Background(), store.Feeds, feeds.Namespace, "guest/"+name)
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

// waitTicks waits until the schedule of name has fired n more ticks.
func waitTicks(t testing.TB, s *apptest.Server, name string, n int) {
	t.Helper()
	sc, _ := lastTick(t, s, name)
	seen, last := 0, sc.LastTick
	deadline := time.Now().Add(time.Duration(n)*time.Second + 20*time.Second)
	for seen < n {
		if time.Now().After(deadline) {
			t.Fatalf("schedule of %s fired %d of %d ticks", name, seen, n)
		}
		time.Sleep(50 * time.Millisecond)
		sc, ok := lastTick(t, s, name)
		if !ok {
			t.Fatalf("schedule of %s is gone", name)
		}
		if sc.LastTick != last {
			seen++
			last = sc.LastTick
		}
	}
}

func countActivations(t testing.TB, g api, name string) int {
	t.Helper()
	m := g.must(200, "GET", "_/activations?count=true&name="+name, nil)
	return int(m["activations"].(float64))
}

func feedCall(event, trigger string, extra map[string]any) map[string]any {
	p := map[string]any{"lifecycleEvent": event, "triggerName": trigger, "authKey": auth.GuestKey}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func TestAlarmFeedLifecycle(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	const alarm = "whisk.system/actions/alarms/alarm?blocking=true"

	pkg := g.must(200, "GET", "whisk.system/packages/alarms", nil)
	if fs := pkg["feeds"].([]any); len(fs) != 3 || pkg["publish"] != true {
		t.Fatalf("alarms package: %v", pkg)
	}

	g.must(200, "PUT", "_/actions/echo", pyAction())
	g.must(200, "PUT", "_/triggers/tick", map[string]any{"annotations": kv("feed", "/whisk.system/alarms/alarm")})
	g.must(200, "PUT", "_/rules/r", rulePut("tick", "echo"))

	// Bad input: a clear application error and no schedule.
	act := g.must(502, "POST", alarm, feedCall("CREATE", "/_/tick", map[string]any{"cron": "* * * *"}))
	if r := result(t, act); !strings.Contains(r["error"].(string), "cron pattern '* * * *' is not valid") {
		t.Fatalf("bad cron: %v", r)
	}
	act = g.must(502, "POST", alarm, feedCall("CREATE", "/_/tick", map[string]any{"cron": "61 * * * *"}))
	if r := result(t, act); !strings.Contains(r["error"].(string), "is not valid") {
		t.Fatalf("cron out of range: %v", r)
	}
	act = g.must(502, "POST", alarm, feedCall("CREATE", "/_/tick", map[string]any{"cron": "* * * * *", "stopDate": "2001-01-01T00:00:00Z"}))
	if r := result(t, act); !strings.Contains(r["error"].(string), "must be in the future") {
		t.Fatalf("stopDate in the past: %v", r)
	}
	act = g.must(502, "POST", "whisk.system/actions/alarms/once?blocking=true", feedCall("CREATE", "/_/tick", map[string]any{"date": 1000}))
	if r := result(t, act); !strings.Contains(r["error"].(string), "must be in the future") {
		t.Fatalf("once in the past: %v", r)
	}
	g.must(502, "POST", alarm, map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": "nope:nope", "cron": "* * * * *"})
	if _, ok := lastTick(t, s, "tick"); ok {
		t.Fatal("a refused CREATE stored a schedule")
	}

	// A 1-second cron fires the trigger; its rule runs the action.
	act = g.must(200, "POST", alarm, feedCall("CREATE", "/_/tick", map[string]any{"cron": "* * * * * *", "trigger_payload": map[string]any{"k": "v"}}))
	if annotation(t, act, "path") != "whisk.system/alarms/alarm" || act["namespace"] != "guest" {
		t.Fatalf("feed activation: %v", act)
	}
	deadline := time.Now().Add(20 * time.Second)
	for countActivations(t, g, "echo") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the alarm never ran the rule's action")
		}
		time.Sleep(50 * time.Millisecond)
	}
	list := g.must(200, "GET", "_/activations?name=echo&docs=true&limit=1", nil)
	_ = list
	_, body := g.do("GET", "_/activations?name=echo&docs=true&limit=1", nil)
	if !strings.Contains(string(body), `"k":"v"`) {
		t.Fatalf("rule action did not get the trigger payload: %s", body)
	}

	act = g.must(200, "POST", alarm, feedCall("READ", "/_/tick", nil))
	if cfg := result(t, act)["config"].(map[string]any); cfg["cron"] != "* * * * * *" {
		t.Fatalf("READ: %v", result(t, act))
	}

	// Disable the rule: the ticks go on, the action is no longer invoked.
	g.must(200, "POST", "_/rules/r", map[string]any{"status": "inactive"})
	waitTicks(t, s, "tick", 1)
	before := countActivations(t, g, "echo")
	waitTicks(t, s, "tick", 2)
	if after := countActivations(t, g, "echo"); after != before {
		t.Fatalf("disabled rule still invoked: %d → %d", before, after)
	}

	// UPDATE changes the schedule.
	g.must(200, "POST", alarm, feedCall("UPDATE", "/_/tick", map[string]any{"cron": "0 0 1 1 *"}))
	if sc, _ := lastTick(t, s, "tick"); sc.Cron != "0 0 1 1 *" {
		t.Fatalf("UPDATE stored %q", sc.Cron)
	}

	// DELETE removes it; deleting a trigger does too.
	g.must(200, "POST", alarm, feedCall("DELETE", "/_/tick", nil))
	if _, ok := lastTick(t, s, "tick"); ok {
		t.Fatal("DELETE left the schedule")
	}
	g.must(200, "POST", alarm, feedCall("CREATE", "/_/tick", map[string]any{"cron": "0 0 1 1 *"}))
	g.must(200, "DELETE", "_/triggers/tick", nil)
	if _, ok := lastTick(t, s, "tick"); ok {
		t.Fatal("deleting the trigger left its schedule")
	}
}

func TestIntervalAndOnceFeeds(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	g.must(200, "PUT", "_/triggers/every", map[string]any{})
	act := g.must(502, "POST", "whisk.system/actions/alarms/interval?blocking=true", feedCall("CREATE", "/_/every", map[string]any{"minutes": 0}))
	if r := result(t, act); !strings.Contains(r["error"].(string), "minutes") {
		t.Fatalf("interval with 0 minutes: %v", r)
	}
	g.must(200, "POST", "whisk.system/actions/alarms/interval?blocking=true", feedCall("CREATE", "/_/every", map[string]any{"minutes": 2}))
	act = g.must(200, "POST", "whisk.system/actions/alarms/interval?blocking=true", feedCall("READ", "/_/every", nil))
	if cfg := result(t, act)["config"].(map[string]any); cfg["minutes"] != 2.0 {
		t.Fatalf("interval READ %v", cfg)
	}

	// once fires at its date, then deletes the trigger when asked.
	g.must(200, "PUT", "_/actions/echo", pyAction())
	g.must(200, "PUT", "_/triggers/one", map[string]any{})
	g.must(200, "PUT", "_/rules/r1", rulePut("one", "echo"))
	at := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	g.must(200, "POST", "whisk.system/actions/alarms/once?blocking=true", feedCall("CREATE", "/_/one", map[string]any{"date": at, "deleteAfterFire": "rules"}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := g.do("GET", "_/triggers/one", nil)
		if st == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("once never fired and deleted its trigger")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ := g.do("GET", "_/rules/r1", nil); st != 404 {
		t.Fatalf("deleteAfterFire=rules left the rule: %d", st)
	}
	if n := countActivations(t, g, "one"); n != 1 {
		t.Fatalf("once fired %d times", n)
	}
	if _, ok := lastTick(t, s, "one"); ok {
		t.Fatal("once schedule left after firing")
	}
}
