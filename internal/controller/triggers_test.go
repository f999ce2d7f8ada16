package controller_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/whisk"
)

func rulePut(trigger, action string) map[string]any {
	return map[string]any{"trigger": trigger, "action": action}
}

func TestTriggersAndRules(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	g.must(200, "PUT", "_/actions/echo", pyAction("x", 0))
	g.must(200, "PUT", "_/actions/other", pyAction())
	trig := g.must(200, "PUT", "_/triggers/t", map[string]any{"parameters": kv("a", 1, "x", 1)})
	if b, _ := json.Marshal(trig["limits"]); string(b) != "{}" {
		t.Fatalf("trigger limits %s", b)
	}

	// No rules: 204 and no record.
	if st, body := g.do("POST", "_/triggers/t", map[string]any{"b": 2}); st != 204 || len(body) != 0 {
		t.Fatalf("fire without rules: %d %s", st, body)
	}

	// Bad rules create nothing.
	g.fails(400, whisk.MsgRuleInvalid, "PUT", "_/rules/bad", rulePut("/_/nothing", "/_/echo"))
	g.fails(400, whisk.MsgRuleInvalid, "PUT", "_/rules/bad", rulePut("/_/t", "/_/nothing"))
	g.fails(400, whisk.MsgRuleInvalid, "PUT", "_/rules/bad", rulePut("/_/echo", "/_/echo"))
	g.fails(404, whisk.MsgNotFound, "GET", "_/rules/bad", nil)

	rule := g.must(200, "PUT", "_/rules/r1", rulePut("/_/t", "/_/echo"))
	if rule["status"] != "active" || rule["trigger"].(map[string]any)["name"] != "t" || rule["action"].(map[string]any)["path"] != "guest" {
		t.Fatalf("rule %v", rule)
	}
	g.fails(409, whisk.MsgConflict, "PUT", "_/rules/r1", rulePut("/_/t", "/_/echo"))
	g.must(200, "PUT", "_/rules/r2", rulePut("t", "other"))
	g.must(200, "POST", "_/rules/r2", map[string]any{"status": "inactive"})
	if got := g.must(200, "GET", "_/rules/r2", nil); got["status"] != "inactive" {
		t.Fatalf("disabled rule reads %v", got["status"])
	}
	trig = g.must(200, "GET", "_/triggers/t", nil)
	rules := trig["rules"].(map[string]any)
	if rules["guest/r1"].(map[string]any)["status"] != "active" || rules["guest/r2"].(map[string]any)["status"] != "inactive" {
		t.Fatalf("trigger rules %v", rules)
	}

	m := g.must(202, "POST", "_/triggers/t", map[string]any{"b": 2, "x": 3})
	tid := m["activationId"].(string)
	tact := g.must(200, "GET", "_/activations/"+tid, nil)
	if _, ok := tact["end"]; ok {
		t.Fatalf("trigger activation has an end: %v", tact)
	}
	if r := result(t, tact); r["b"] != 2.0 || r["a"] != nil {
		t.Fatalf("trigger activation result %v, want the payload", r)
	}
	// The payload carries the fire request's headers, without credentials.
	if h, ok := result(t, tact)["__ow_headers"].(map[string]any); !ok || h["content-type"] != "application/json" || h["authorization"] != nil {
		t.Fatalf("trigger activation __ow_headers = %v", result(t, tact)["__ow_headers"])
	}
	logs := tact["logs"].([]any)
	if len(logs) != 2 {
		t.Fatalf("trigger logs %v", logs)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(logs[0].(string)), &line); err != nil {
		t.Fatalf("log line %q: %v", logs[0], err)
	}
	if line["rule"] != "guest/r1" || line["action"] != "guest/echo" || line["success"] != true || line["statusCode"] != 0.0 {
		t.Fatalf("log line %v", line)
	}
	if logs[1] != "Rule 'guest/r2' is inactive, action 'guest/other' was not activated." {
		t.Fatalf("inactive rule line %q", logs[1])
	}
	act := waitActivation(t, g, line["activationId"].(string))
	if r := result(t, act); r["a"] != 1.0 || r["b"] != 2.0 || r["x"] != 3.0 {
		t.Fatalf("rule action ran with %v, want trigger params then payload", r)
	}
	if act["cause"] != tid {
		t.Fatalf("rule action cause %v, want %s", act["cause"], tid)
	}

	// Disabled rules: the fire invokes nothing.
	g.must(200, "POST", "_/rules/r1", map[string]any{"status": "inactive"})
	if st, _ := g.do("POST", "_/triggers/t", nil); st != 204 {
		t.Fatalf("fire with every rule inactive: %d", st)
	}
	g.must(200, "POST", "_/rules/r1", map[string]any{"status": "active"})
	g.fails(400, whisk.MsgStatusInvalid, "POST", "_/rules/r1", map[string]any{"status": "paused"})

	// Deleting an active rule removes it from its trigger.
	g.must(200, "DELETE", "_/rules/r1", nil)
	trig = g.must(200, "GET", "_/triggers/t", nil)
	if _, ok := trig["rules"].(map[string]any)["guest/r1"]; ok {
		t.Fatalf("deleted rule still on its trigger: %v", trig["rules"])
	}

	// A rule whose trigger is gone cannot be activated.
	g.must(200, "DELETE", "_/triggers/t", nil)
	g.fails(404, whisk.MsgRuleTriggerMissing, "POST", "_/rules/r2", map[string]any{"status": "active"})
	g.fails(404, whisk.MsgNotFound, "POST", "_/triggers/t", nil)
	g.fails(409, whisk.MsgNotInCollection, "POST", "_/triggers/echo", nil)
	list := g.must(200, "GET", "_/rules?count=true", nil)
	if list["rules"] != 1.0 {
		t.Fatalf("rule count %v", list)
	}
}

func TestTriggerUpdateKeepsRules(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	g.must(200, "PUT", "_/actions/echo", pyAction())
	g.must(200, "PUT", "_/triggers/t", map[string]any{})
	g.must(200, "PUT", "_/rules/r", rulePut("t", "echo"))
	up := g.must(200, "PUT", "_/triggers/t?overwrite=true", map[string]any{"parameters": kv("p", 1)})
	if up["version"] != "0.0.3" && up["version"] != "0.0.2" {
		t.Fatalf("version %v", up["version"])
	}
	if _, ok := up["rules"].(map[string]any)["guest/r"]; !ok {
		t.Fatalf("update dropped rules: %v", up)
	}
	g.must(202, "POST", "_/triggers/t", nil)
}

func TestFireThrottled(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.Limits.TriggersFiresPerMinute = 2 })
	g := newAPI(t, s)
	g.must(200, "PUT", "_/triggers/t", map[string]any{})
	var last string
	for i := 0; i < 3; i++ {
		st, body := g.do("POST", "_/triggers/t", nil)
		last = fmt.Sprint(st, " ", string(body))
	}
	if !strings.HasPrefix(last, "429 ") || !strings.Contains(last, "Too many requests in the last minute") {
		t.Fatalf("third fire with 2 allowed per minute: %s", last)
	}
}
