package app_test

import (
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// TestOpenWhiskKindsEndToEnd: an action of an OpenWhisk kind the machine
// has no exact interpreter for (nodejs:18) runs on the nearest one, its
// record keeps the kind asked for and its logs say what ran it; php and
// ruby actions run; a swift action is accepted and its activation says
// what Whirl needs; GET / lists the kinds with what runs them.
func TestOpenWhiskKindsEndToEnd(t *testing.T) {
	s := apptest.Start(t)
	for name, exec := range map[string]map[string]any{
		"n18":   {"kind": "nodejs:18", "code": "function main(a) { return {hello: a.name} }"},
		"php":   {"kind": "php:8.1", "code": "<?php\nfunction main(array $a) : array { return ['hello' => $a['name']]; }\n"},
		"rb":    {"kind": "ruby:2.5", "code": "def main(a)\n  { 'hello' => a['name'] }\nend\n"},
		"swift": {"kind": "swift:5.3", "code": "func main(args: [String:Any]) -> [String:Any] { return args }"},
	} {
		mustStatus(t, api(t, s, "PUT", "actions/"+name, map[string]any{"exec": exec}), 200)
	}
	for _, name := range []string{"php", "rb"} {
		r := api(t, s, "POST", "actions/"+name+"?blocking=true&result=true", map[string]any{"name": "Ada"})
		mustStatus(t, r, 200)
		if r.obj(t)["hello"] != "Ada" {
			t.Errorf("%s: result %s", name, r.body)
		}
	}
	r := api(t, s, "POST", "actions/n18?blocking=true", map[string]any{"name": "Ada"})
	mustStatus(t, r, 200)
	rec := r.obj(t)
	if res, _ := rec["response"].(map[string]any)["result"].(map[string]any); res["hello"] != "Ada" {
		t.Errorf("nodejs:18 record %s", r.body)
	}
	kind := ""
	for _, a := range rec["annotations"].([]any) {
		if a := a.(map[string]any); a["key"] == "kind" {
			kind, _ = a["value"].(string)
		}
	}
	if kind != "nodejs:18" {
		t.Errorf("kind annotation %q, want nodejs:18", kind)
	}
	logs, _ := rec["logs"].([]any)
	if len(logs) == 0 || !strings.Contains(logs[0].(string), "the kind nodejs:18 runs on nodejs") {
		t.Errorf("nodejs:18 logs %v, want what ran it", logs)
	}
	r = api(t, s, "POST", "actions/swift?blocking=true", map[string]any{})
	if msg := string(r.body); r.status != 502 || !strings.Contains(msg, "no local runtime for the kind 'swift:5.3'") {
		t.Errorf("swift: %d %s", r.status, r.body)
	}
	info := call(t, "GET", s.URL+"/", "", nil).obj(t)["runtimes"].(map[string]any)
	found := map[string]map[string]any{}
	for _, list := range info {
		for _, e := range list.([]any) {
			e := e.(map[string]any)
			found[e["kind"].(string)] = e
		}
	}
	if e := found["java:8"]; e == nil || e["requireMain"] != true {
		t.Errorf("GET / java:8 = %v", e)
	}
	if e := found["swift:5.3"]; e == nil || !strings.Contains(e["missing"].(string), "swift:5.3") {
		t.Errorf("GET / swift:5.3 = %v", e)
	}
	if e := found["php:8.1"]; e == nil || !strings.Contains(e["runsOn"].(string), "php 8.") {
		t.Errorf("GET / php:8.1 = %v", e)
	}
}
