package controller_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
)

// The built-in catalog: /whisk.system/utils and /whisk.system/samples, as
// OpenWhisk's catalog installs them (apache/openwhisk-catalog).

// TestCatalogInstalled: both packages are there from the first start,
// published, listed to any tenant (`wsk package list /whisk.system`), with
// OpenWhisk's action names.
func TestCatalogInstalled(t *testing.T) {
	s := apptest.Start(t)
	bob := newAPI(t, s).as(addNamespace(t, s, "bob"))
	st, b := bob.do("GET", "whisk.system/packages", nil)
	var pkgs []map[string]any
	if err := json.Unmarshal(b, &pkgs); st != 200 || err != nil {
		t.Fatalf("list /whisk.system: %d %s", st, b)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p["name"].(string))
		if p["publish"] != true {
			t.Errorf("%s is not published", p["name"])
		}
	}
	for _, want := range []string{"utils", "samples", "alarms"} {
		if !slices.Contains(names, want) {
			t.Errorf("packages %v: no %s", names, want)
		}
	}
	for pkg, want := range map[string][]string{
		"utils":   {"cat", "date", "echo", "head", "hosturl", "namespace", "smash", "sort", "split"},
		"samples": {"cat", "curl", "greeting", "head", "helloWorld", "printParams", "wordCount", "wordCountAsync"},
	} {
		p := bob.must(200, "GET", "whisk.system/packages/"+pkg, nil)
		var got []string
		for _, a := range p["actions"].([]any) {
			got = append(got, a.(map[string]any)["name"].(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s actions %v, want %v", pkg, got, want)
		}
	}
}

// invokeResult invokes path (relative to /api/v1/namespaces/) blocking and
// returns the status and the activation.
func invokeResult(t *testing.T, a api, path string, params any) (int, map[string]any) {
	t.Helper()
	st, b := a.do("POST", path+"?blocking=true", params)
	var act map[string]any
	if err := json.Unmarshal(b, &act); err != nil {
		t.Fatalf("%s: %d %s", path, st, b)
	}
	return st, act
}

// TestCatalogActions runs each built-in action with inputs whose results
// follow from OpenWhisk's JavaScript (and, for samples/cat and head, Swift)
// code.
func TestCatalogActions(t *testing.T) {
	s := apptest.Start(t)
	bob := newAPI(t, s).as(addNamespace(t, s, "bob"))
	for _, tc := range []struct {
		action string
		params string
		status int
		want   string
	}{
		{"utils/echo", `{"payload":"Five fuzzy felines","n":[1]}`, 200, `{"payload":"Five fuzzy felines","n":[1]}`},
		{"utils/echo", `{"error":"kept"}`, 502, `{"error":"kept"}`}, // a result with error is an application error
		{"utils/cat", `{"lines":[4,2,3]}`, 200, `{"lines":[4,2,3],"payload":"4\n2\n3"}`},
		{"utils/cat", `{"lines":["a",null,true,1.5,[1,2]]}`, 200, `{"lines":["a",null,true,1.5,[1,2]],"payload":"a\n\ntrue\n1.5\n1,2"}`},
		{"utils/cat", `{}`, 200, `{"lines":[],"payload":""}`},
		{"utils/sort", `{"lines":[4,2,3]}`, 200, `{"lines":[2,3,4],"length":3}`},
		{"utils/sort", `{"lines":[10,9,1,"b","B","a"]}`, 200, `{"lines":[1,10,9,"B","a","b"],"length":6}`},
		{"utils/sort", `{"lines":"abc"}`, 502, `{"error":"An error has occurred: TypeError: lines.sort is not a function"}`},
		{"utils/head", `{"lines":[4,2,3],"num":2}`, 200, `{"lines":[4,2],"num":2}`},
		{"utils/head", `{"lines":[4,2,3]}`, 200, `{"lines":[4],"num":1}`},
		{"utils/head", `{"lines":[4,2,3],"num":-1}`, 200, `{"lines":[4,2],"num":-1}`},
		{"utils/head", `{"lines":[4,2,3],"num":"2"}`, 200, `{"lines":[4,2],"num":"2"}`},
		{"utils/split", `{"payload":"one,two,three","separator":","}`, 200, `{"lines":["one","two","three"],"payload":"one,two,three"}`},
		{"utils/split", `{"payload":"a\r\nb\nc"}`, 200, `{"lines":["a","b","c"],"payload":"a\r\nb\nc"}`},
		{"utils/split", `{"payload":"a.b","separator":"."}`, 200, `{"lines":["a","b"],"payload":"a.b"}`},
		{"utils/split", `{"payload":12345,"separator":3}`, 200, `{"lines":["12","45"],"payload":12345}`},
		{"utils/split", `{}`, 502, `{"error":"An error has occurred: TypeError: Cannot read properties of undefined (reading 'toString')"}`},
		{"utils/smash", `{"a":1,"b":{"c":2,"d":3},"$fieldName":"p"}`, 200, `{"p":{"a":1,"b":{"c":2,"d":3}}}`},
		{"utils/smash", `{"a":1}`, 502, `{"error":"Expected an argument '$fieldName' of type 'string'."}`},
		{"utils/namespace", `{}`, 200, `{"namespace":"bob"}`},
		{"utils/hosturl", `{"path":"utils/echo","web":true}`, 200, `{"url":"` + s.URL + `/api/v1/web/bob/utils/echo"}`},
		{"utils/hosturl", `{"path":"echo","web":true,"ext":".json"}`, 200, `{"url":"` + s.URL + `/api/v1/web/bob/default/echo.json"}`},
		{"utils/hosturl", `{"path":"t","trigger":true}`, 200, `{"url":"` + s.URL + `/api/v1/namespaces/bob/triggers/t"}`},
		{"utils/hosturl", `{}`, 200, `{"url":"` + s.URL + `/api/v1/namespaces/bob/actions"}`},
		{"utils/hosturl", `{"path":"p/t","trigger":true}`, 502, `{"error":"triggers are not allowed in packages."}`},
		{"utils/hosturl", `{"path":"x","web":true,"ext":".xml"}`, 502, `{"error":"extension for web action must be one of [\".html\", \".http\", \".json\", \".svg\", \".text\"]."}`},
		{"samples/cat", `{"lines":[1,2,3]}`, 200, `{"lines":[1,2,3],"payload":"1\n2\n3\n"}`},
		{"samples/cat", `{}`, 502, `{"error":"You must specify a lines parameter!"}`},
		{"samples/head", `{"lines":[1,2,3,4],"num":2}`, 200, `{"lines":[1,2],"num":2}`},
		{"samples/head", `{"lines":[1,2,3,4],"num":2.7}`, 200, `{"lines":[1,2],"num":2}`},
		{"samples/helloWorld", `{"payload":"Cat"}`, 200, `{}`},
		{"samples/greeting", `{"payload":"Cat","place":"Narrowsburg"}`, 200, `{"payload":"Hello, Cat from Narrowsburg!"}`},
		{"samples/greeting", `{}`, 200, `{"payload":"Hello, stranger from somewhere!"}`},
		{"samples/printParams", `{"x":1,"b":5,"z":2}`, 200, `{"params":{"b":5,"x":1,"z":2}}`},
		{"samples/wordCount", `{"payload":"Five fuzzy felines"}`, 200, `{"count":3}`},
		{"samples/wordCountAsync", `{"payload":"Five fuzzy  felines"}`, 200, `{"count":4}`},
	} {
		var params any
		json.Unmarshal([]byte(tc.params), &params)
		st, act := invokeResult(t, bob, "whisk.system/actions/"+tc.action, params)
		resp, _ := act["response"].(map[string]any)
		got, _ := json.Marshal(resp["result"])
		if st != tc.status || canonical(got) != canonical([]byte(tc.want)) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.action, tc.params, st, got, tc.status, tc.want)
		}
	}

	// date: JSON.stringify(new Date()); helloWorld: its log line.
	_, act := invokeResult(t, bob, "whisk.system/actions/utils/date", map[string]any{})
	if d, _ := result(t, act)["date"].(string); len(d) != 24 || !strings.HasPrefix(d, "20") || !strings.HasSuffix(d, "Z") {
		t.Errorf("date: %v", result(t, act))
	}
	_, act = invokeResult(t, bob, "whisk.system/actions/samples/helloWorld", map[string]any{"payload": "Cat"})
	logs, _ := act["logs"].([]any)
	if len(logs) != 1 || !strings.HasSuffix(logs[0].(string), " stdout: hello Cat!") {
		t.Errorf("helloWorld logs %q", logs)
	}
	if act["namespace"] != "bob" {
		t.Errorf("the activation belongs to %v, want the caller", act["namespace"])
	}
}

// TestCatalogSequenceAndRule: a fresh tenant makes a sequence over
// /whisk.system/utils/split,sort and a rule to /whisk.system/utils/echo,
// as clients' tests and tutorials do; the entitlement gate lets them, as
// the packages are published.
func TestCatalogSequenceAndRule(t *testing.T) {
	s := apptest.Start(t)
	bob := newAPI(t, s).as(addNamespace(t, s, "bob"))
	bob.must(200, "PUT", "bob/actions/sorted", sequence("/whisk.system/utils/split", "/whisk.system/utils/sort"))
	st, act := invokeResult(t, bob, "bob/actions/sorted", map[string]any{"payload": "c\nb\na"})
	if got, _ := json.Marshal(act["response"].(map[string]any)["result"]); st != 200 || canonical(got) != canonical([]byte(`{"lines":["a","b","c"],"length":3}`)) {
		t.Fatalf("sequence split,sort: %d %s", st, got)
	}
	// Through a binding too.
	bob.must(200, "PUT", "bob/packages/u", map[string]any{"binding": map[string]any{"namespace": "whisk.system", "name": "utils"}, "parameters": kv("separator", ",")})
	_, act = invokeResult(t, bob, "bob/actions/u/split", map[string]any{"payload": "x,y"})
	if got := result(t, act)["lines"]; fmt.Sprint(got) != "[x y]" {
		t.Errorf("split through a binding: %v", got)
	}

	bob.must(200, "PUT", "bob/triggers/t", map[string]any{})
	bob.must(200, "PUT", "bob/rules/r", rulePut("/bob/t", "/whisk.system/utils/echo"))
	fired := bob.must(202, "POST", "bob/triggers/t", map[string]any{"payload": "ping"})
	trig := waitActivation(t, bob, fired["activationId"].(string))
	var ruleAct string
	for _, l := range trig["logs"].([]any) {
		var e map[string]any
		json.Unmarshal([]byte(l.(string)), &e)
		if id, ok := e["activationId"].(string); ok {
			ruleAct = id
		}
	}
	if ruleAct == "" {
		t.Fatalf("the rule ran nothing: %v", trig["logs"])
	}
	echoed := waitActivation(t, bob, ruleAct)
	if r := result(t, echoed); r["payload"] != "ping" {
		t.Errorf("echo through the rule: %v", r)
	}
}

// TestCatalogReadOnly: tenants cannot write whisk.system at all, and even
// whisk.system's key cannot change, delete or add to the built-in
// packages; a restart would undo it.
func TestCatalogReadOnly(t *testing.T) {
	s := apptest.Start(t)
	bob := newAPI(t, s).as(addNamespace(t, s, "bob"))
	sys := newAPI(t, s).as(auth.SystemKey)
	for _, a := range []api{bob, sys} {
		a.must(403, "PUT", "whisk.system/actions/utils/echo?overwrite=true", pyAction())
		a.must(403, "PUT", "whisk.system/actions/utils/mine", pyAction())
		a.must(403, "DELETE", "whisk.system/actions/utils/echo", nil)
		a.must(403, "PUT", "whisk.system/packages/samples?overwrite=true", map[string]any{"publish": false})
		a.must(403, "DELETE", "whisk.system/packages/samples?force=true", nil)
		a.must(403, "DELETE", "whisk.system/actions/alarms/alarm", nil)
	}
	sys.fails(403, "The package /whisk.system/utils is built into Whirl: it and its actions cannot be changed or deleted.",
		"DELETE", "whisk.system/actions/utils/echo", nil)
	// whisk.system's other packages stay its own to write.
	sys.must(200, "PUT", "whisk.system/packages/extra", map[string]any{})
	sys.must(200, "PUT", "whisk.system/actions/extra/a", pyAction())
	if _, act := invokeResult(t, bob, "whisk.system/actions/utils/echo", map[string]any{"a": 1}); result(t, act)["a"] != 1.0 {
		t.Errorf("echo changed: %v", act)
	}
}

// TestCatalogCurlIsSandboxed: samples/curl is a real nodejs action, so it
// fetches from the action sandbox under the action network policy: with
// actionNetwork none it cannot reach a server on the host's loopback,
// which an in-process action would.
func TestCatalogCurlIsSandboxed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from loopback")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		network string
		reaches bool
	}{{"none", false}, {"host", true}} {
		s := apptest.Start(t, func(c *config.Config) { c.ActionNetwork = tc.network })
		g := newAPI(t, s)
		a := g.must(200, "GET", "whisk.system/actions/samples/curl", nil)
		if ex := a["exec"].(map[string]any); !strings.HasPrefix(ex["kind"].(string), "nodejs:") {
			t.Fatalf("curl runs as %v", ex["kind"])
		}
		st, act := invokeResult(t, g, "whisk.system/actions/samples/curl", map[string]any{"payload": strings.TrimPrefix(srv.URL, "http://")})
		msg, _ := result(t, act)["msg"].(string)
		if st != 200 || (msg == "hello from loopback") != tc.reaches || (!tc.reaches && !strings.HasPrefix(msg, "curl: ")) {
			t.Errorf("actionNetwork %s: curl answers %d %q", tc.network, st, msg)
		}
	}
}
