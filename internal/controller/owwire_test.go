package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// The wire differences OpenWhisk's client suites found (issue 13), each
// against OpenWhisk's source.

// TestCreateAPIOverNonWebAction: OpenWhisk's route management
// (core/routemgmt/createApi) does not check web-export, only the wsk CLI
// does, so the JS client's routes.create over a plain action succeeds; the
// gateway then forwards to the web action URL, which answers a non-web
// action with 404. Another tenant's private action still answers as a
// missing one.
func TestCreateAPIOverNonWebAction(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "plain", echoAction, nil, nil)
	api, err := createAPI(t, c, "/plain", "/a", "get", "plain", "json")
	if err != nil {
		t.Fatalf("createApi over a plain action: %v", err)
	}
	r := doWeb(t, "GET", api.GwAPIURL+"/a", nil, nil)
	web := doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/plain.json", nil, nil)
	if r.status != http.StatusNotFound || r.status != web.status || r.json(t)["error"] != web.json(t)["error"] {
		t.Errorf("gateway over a non-web action: %d %s; the web URL answers %d %s", r.status, r.body, web.status, web.body)
	}

	alice := addNamespace(t, s, "alice")
	a := newAPI(t, s).as(alice)
	a.must(200, "PUT", "alice/actions/private", pyAction())
	st1, b1 := apiCreate(t, s, s.GuestAuth, "alice", "private", "/p1")
	st2, b2 := apiCreate(t, s, s.GuestAuth, "alice", "nothing", "/p2")
	if st1 != 502 || !strings.Contains(string(b1), "does not exist") ||
		st1 != st2 || strings.ReplaceAll(string(b1), "private", "X") != strings.ReplaceAll(string(b2), "nothing", "X") {
		t.Errorf("another tenant's private action: %d %s; a missing one: %d %s", st1, b1, st2, b2)
	}
}

// TestEmptyCodeAccepted: OpenWhisk's Exec reader requires code to be a
// string (Exec.scala: "'code' must be a string defined in 'exec'"), not a
// non-empty one; its own API tests create jsDefault(""). The action fails
// only when it runs. A missing code is still refused.
func TestEmptyCodeAccepted(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	got := g.must(200, "PUT", "_/actions/empty", map[string]any{"exec": map[string]any{"kind": "python:3", "code": ""}})
	if ex, _ := got["exec"].(map[string]any); ex["code"] != "" {
		t.Errorf("stored exec: %v", got["exec"])
	}
	if st, b := g.do("POST", "_/actions/empty?blocking=true", map[string]any{}); st != http.StatusBadGateway {
		t.Errorf("invoking an empty action: %d %s, want 502 (a developer error)", st, b)
	}
	g.must(400, "PUT", "_/actions/nocode", map[string]any{"exec": map[string]any{"kind": "python:3"}})
}

// TestBindingAnnotation: OpenWhisk's controller always sets the
// annotation {"key":"binding","value":{"namespace","name"}} on a binding
// and removes any "binding" annotation a PUT brings (Packages.scala,
// create/update and bindingAnnotation); wskdeploy export reads it from
// package lists.
func TestBindingAnnotation(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	g.must(200, "PUT", "_/packages/lib", map[string]any{"annotations": kv("binding", "forged")})
	bound := map[string]any{"namespace": "guest", "name": "lib"}
	for _, m := range []map[string]any{
		g.must(200, "PUT", "_/packages/mine", map[string]any{"binding": map[string]any{"namespace": "_", "name": "lib"}, "annotations": kv("binding", "forged", "a", 1)}),
		g.must(200, "GET", "_/packages/mine", nil),
		g.must(200, "PUT", "_/packages/mine?overwrite=true", map[string]any{"annotations": kv("binding", "again")}),
	} {
		if got := annotation(t, m, "binding"); !jsonEqual(got, bound) {
			t.Errorf("binding annotation %v, want %v", got, bound)
		}
	}
	st, b := g.do("GET", "_/packages", nil)
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); st != 200 || err != nil {
		t.Fatalf("list: %d %s", st, b)
	}
	for _, row := range rows {
		got := annotation(t, row, "binding")
		switch row["name"] {
		case "mine":
			if !jsonEqual(got, bound) {
				t.Errorf("listed binding annotation %v", got)
			}
		case "lib":
			if got != nil {
				t.Errorf("a package that is not a binding keeps a PUT's binding annotation: %v", got)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestAPIInfoBuildDate: OpenWhisk's GET /api/v1 answers "build" with
// whisk.info.date (RestAPIs.scala), an ISO 8601 date set at deployment
// (ansible: ansible_date_time.iso8601); clients' tests expect "20…".
// Whirl's version is under "buildno" and "whirl".
func TestAPIInfoBuildDate(t *testing.T) {
	s := apptest.Start(t)
	resp, err := http.Get(s.URL + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Build   string            `json:"build"`
		BuildNo string            `json:"buildno"`
		Whirl   map[string]string `json:"whirl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(info.Build) {
		t.Errorf("build %q, want an ISO 8601 date", info.Build)
	}
	if info.BuildNo == "" || info.Whirl["version"] != info.BuildNo {
		t.Errorf("buildno %q, whirl %v", info.BuildNo, info.Whirl)
	}
}

// TestSwaggerGatewayConfiguration: OpenWhisk's gateway reads the backend
// of each operation from x-gateway-configuration (x-ibm-configuration when
// absent): an operation-switch case or a single invoke for all
// operations (openwhisk-apigateway management/lib/swagger.lua,
// parseBackends). No x-openwhisk section is needed.
func TestSwaggerGatewayConfiguration(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "web", httpEchoAction, map[string]any{"web-export": true}, nil)
	target := s.URL + "/api/v1/web/guest/default/web.http$(request.path)"
	perOp := `{"swagger":"2.0","info":{"title":"gw","version":"1"},"basePath":"/gw",
	  "paths":{"/hello":{"get":{"operationId":"getHello","responses":{"200":{"description":"ok"}}}}},
	  "x-gateway-configuration":{"assembly":{"execute":[{"operation-switch":{"case":[
	    {"operations":["getHello"],"execute":[{"invoke":{"target-url":"` + target + `","verb":"keep"}}]}]}}]}}}`
	all := `{"swagger":"2.0","info":{"title":"all","version":"1"},"basePath":"/all",
	  "paths":{"/x":{"post":{"operationId":"postX","responses":{}}}},
	  "x-gateway-configuration":{"assembly":{"execute":[{"invoke":{"target-url":"` + target + `","verb":"keep"}}]}}}`
	for _, tc := range []struct{ doc, method, path string }{{perOp, "GET", "/hello"}, {all, "POST", "/x"}} {
		api, err := c.APIs.Create(context.Background(), &client.APIDoc{Namespace: "_", Swagger: tc.doc}, client.APIOptions{})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		if !strings.Contains(string(api.APIDoc), "x-gateway-configuration") {
			t.Errorf("the stored document lost x-gateway-configuration: %s", api.APIDoc)
		}
		r := doWeb(t, tc.method, api.GwAPIURL+tc.path, nil, nil)
		if m := r.json(t); r.status != 200 || m["__ow_path"] != tc.path {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, r.status, m)
		}
	}
	// A backend that is not a web action: OpenWhisk's gateway would proxy
	// to it; Whirl's calls only web actions and says so.
	other := strings.ReplaceAll(all, target, "https://example.com/backend")
	_, err := c.APIs.Create(context.Background(), &client.APIDoc{Namespace: "_", Swagger: strings.ReplaceAll(other, "/all", "/other")}, client.APIOptions{})
	apiErr(t, err, 502, "is not a web action URL")
}
