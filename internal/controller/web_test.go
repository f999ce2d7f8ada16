package controller_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
)

// webServer starts a Whirl and returns it with a client for the guest
// namespace.
func webServer(t *testing.T, opts ...func(*config.Config)) (*apptest.Server, *client.Client) {
	t.Helper()
	s := apptest.Start(t, opts...)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// putPython creates a python action with the given annotations.
func putPython(t *testing.T, c *client.Client, name, code string, ann map[string]any, params map[string]any) {
	t.Helper()
	a := &client.ActionPut{Exec: &client.Exec{Kind: "python:3", Code: &code}}
	for k, v := range ann {
		a.Annotations = a.Annotations.Set(k, v)
	}
	for k, v := range params {
		a.Parameters = a.Parameters.Set(k, v)
	}
	if _, err := c.Actions.Put(context.Background(), name, a, true); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

type webResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r webResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d body %q: %v", r.status, r.body, err)
	}
	return m
}

func doWeb(t *testing.T, method, url string, body []byte, headers map[string]string) webResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "auth" {
			u, p, _ := strings.Cut(v, ":")
			req.SetBasicAuth(u, p)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return webResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

const echoAction = `
def main(args):
    return args
`

const httpAction = `
import json
def main(args):
    return json.loads(args.get("reply", "{}"))
`

func TestWebActionInputs(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "echo", echoAction, map[string]any{"web-export": true}, map[string]any{"fixed": "p"})
	base := s.URL + "/api/v1/web/guest/default/echo.json"

	r := doWeb(t, "POST", base+"/some/path?a=1&b=x", []byte(`{"b":"body","n":2}`), map[string]string{"Content-Type": "application/json", "X-Custom": "yes"})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	if m["__ow_method"] != "post" || m["__ow_path"] != "/some/path" || m["a"] != "1" || m["b"] != "body" || m["n"] != float64(2) || m["fixed"] != "p" {
		t.Errorf("args: %v", m)
	}
	if _, ok := m["__ow_user"]; ok {
		t.Errorf("anonymous call has __ow_user: %v", m["__ow_user"])
	}
	hs, _ := m["__ow_headers"].(map[string]any)
	if hs["x-custom"] != "yes" || hs["content-type"] != "application/json" {
		t.Errorf("headers: %v", hs)
	}
	if r.header.Get("X-Openwhisk-Activation-Id") == "" {
		t.Error("no activation id header")
	}
	if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("Access-Control-Allow-Methods") != "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH" {
		t.Errorf("CORS: %v", r.header)
	}

	// Authenticated: __ow_user is the caller's namespace.
	r = doWeb(t, "GET", base, nil, map[string]string{"auth": s.GuestAuth})
	if m := r.json(t); m["__ow_user"] != "guest" || m["__ow_path"] != "" || m["__ow_method"] != "get" {
		t.Errorf("authenticated args: %v", m)
	}

	// A form body is merged as strings.
	r = doWeb(t, "POST", base, []byte("x=1&y=two"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if m := r.json(t); m["x"] != "1" || m["y"] != "two" {
		t.Errorf("form args: %v", m)
	}
	// Other bodies go to __ow_body: text as is, binary base64.
	r = doWeb(t, "POST", base, []byte("plain words"), map[string]string{"Content-Type": "text/plain"})
	if m := r.json(t); m["__ow_body"] != "plain words" {
		t.Errorf("text body: %v", m)
	}
	r = doWeb(t, "POST", base, []byte{0, 1, 2, 255}, map[string]string{"Content-Type": "application/octet-stream"})
	if m := r.json(t); m["__ow_body"] != base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}) {
		t.Errorf("binary body: %v", m)
	}
	// A JSON value that is not an object goes to __ow_body as is.
	r = doWeb(t, "POST", base, []byte(`[1,2]`), map[string]string{"Content-Type": "application/json"})
	if m := r.json(t); m["__ow_body"] == nil {
		t.Errorf("array body: %v", m)
	}

	// Reserved parameters are refused, in the query and in the body.
	for _, tc := range []struct {
		url  string
		body string
	}{{base + "?__ow_method=x", ""}, {base, `{"__ow_user":"admin"}`}} {
		var b []byte
		if tc.body != "" {
			b = []byte(tc.body)
		}
		r = doWeb(t, "POST", tc.url, b, map[string]string{"Content-Type": "application/json"})
		if r.status != 400 || r.json(t)["error"] != "Request defines parameters that are not allowed (e.g., reserved properties)." {
			t.Errorf("%s %s: %d %s", tc.url, tc.body, r.status, r.body)
		}
	}
	// Malformed JSON is a 400.
	r = doWeb(t, "POST", base, []byte(`{"a":`), map[string]string{"Content-Type": "application/json"})
	if r.status != 400 {
		t.Errorf("malformed JSON: %d %s", r.status, r.body)
	}
}

func TestWebActionFinalAndRaw(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "final", echoAction, map[string]any{"web-export": true, "final": true}, map[string]any{"fixed": "p"})
	r := doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/final.json?fixed=q", nil, nil)
	if r.status != 400 || r.json(t)["error"] != "Request defines parameters that are not allowed (e.g., reserved properties)." {
		t.Errorf("final override: %d %s", r.status, r.body)
	}
	r = doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/final.json?other=q", nil, nil)
	if m := r.json(t); r.status != 200 || m["fixed"] != "p" || m["other"] != "q" {
		t.Errorf("final, other param: %d %v", r.status, m)
	}

	putPython(t, c, "raw", echoAction, map[string]any{"web-export": true, "raw-http": true}, nil)
	r = doWeb(t, "POST", s.URL+"/api/v1/web/guest/default/raw.json?a=1&b=2", []byte(`{"k":"v"}`), map[string]string{"Content-Type": "application/json"})
	m := r.json(t)
	if m["__ow_query"] != "a=1&b=2" || m["__ow_body"] != base64.StdEncoding.EncodeToString([]byte(`{"k":"v"}`)) || m["k"] != nil || m["a"] != nil {
		t.Errorf("raw args: %v", m)
	}
	r = doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/raw.json", nil, nil)
	if m := r.json(t); m["__ow_body"] != "" || m["__ow_query"] != "" {
		t.Errorf("raw empty: %v", m)
	}
}

func TestWebActionNotFound(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "hidden", echoAction, nil, nil)
	putPython(t, c, "off", echoAction, map[string]any{"web-export": false}, nil)
	putPython(t, c, "echo", echoAction, map[string]any{"web-export": true}, nil)
	for _, p := range []string{
		"/api/v1/web/guest/default/hidden.json", // not a web action
		"/api/v1/web/guest/default/off",         // web-export false
		"/api/v1/web/guest/default/missing",     // no such action
		"/api/v1/web/nobody/default/echo",       // no such namespace
		"/api/v1/web/guest/nopkg/echo",          // no such package
		"/api/v1/web/guest/default/echo.xml",    // unknown extension: the name is echo.xml
		"/api/v1/web/guest/default",             // too short
	} {
		r := doWeb(t, "GET", s.URL+p, nil, map[string]string{"auth": s.GuestAuth})
		if r.status != 404 || r.json(t)["error"] != "The requested resource does not exist." {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
}

func TestWebActionExtensions(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "reply", httpAction, map[string]any{"web-export": true}, nil)
	u := func(ext string, reply any) string {
		b, _ := json.Marshal(reply)
		q := "?reply=" + strings.ReplaceAll(string(b), "&", "%26")
		return s.URL + "/api/v1/web/guest/default/reply" + ext + strings.ReplaceAll(q, " ", "%20")
	}
	png := []byte{0x89, 'P', 'N', 'G', 0, 1}
	for _, tc := range []struct {
		name, ext   string
		reply       any
		status      int
		contentType string
		body        string
		err         string
	}{
		{"json object", ".json", map[string]any{"a": 1}, 200, "application/json", `{"a":1}`, ""},
		{"html", ".html", map[string]any{"html": "<p>hi</p>"}, 200, "text/html; charset=UTF-8", "<p>hi</p>", ""},
		{"html body", ".html", map[string]any{"body": "<b>x</b>"}, 200, "text/html; charset=UTF-8", "<b>x</b>", ""},
		{"html not string", ".html", map[string]any{"html": 3}, 400, "", "", "Response is not valid 'text/html'."},
		{"svg", ".svg", map[string]any{"svg": "<svg/>"}, 200, "image/svg+xml", "<svg/>", ""},
		{"text", ".text", map[string]any{"text": "plain"}, 200, "text/plain; charset=UTF-8", "plain", ""},
		{"text missing", ".text", map[string]any{"other": "x"}, 404, "", "", "Response does not include requested property."},
		{"http default ext", "", map[string]any{"body": "<h1>x</h1>"}, 200, "text/html; charset=UTF-8", "<h1>x</h1>", ""},
		{"http status and headers", ".http", map[string]any{"statusCode": 201, "headers": map[string]any{"X-A": []any{"1", "2"}, "X-B": true}, "body": "ok"}, 201, "text/html; charset=UTF-8", "ok", ""},
		{"http string status", ".http", map[string]any{"statusCode": "202", "body": "ok"}, 202, "", "ok", ""},
		{"http empty", ".http", map[string]any{}, 204, "", "", ""},
		{"http json body", ".http", map[string]any{"body": map[string]any{"k": "v"}}, 200, "application/json", `{"k":"v"}`, ""},
		{"http binary", ".http", map[string]any{"headers": map[string]any{"Content-Type": "image/png"}, "body": base64.StdEncoding.EncodeToString(png)}, 200, "image/png", string(png), ""},
		{"http json base64", ".http", map[string]any{"headers": map[string]any{"Content-Type": "application/json"}, "body": base64.StdEncoding.EncodeToString([]byte(`{"z":1}`))}, 200, "application/json", `{"z":1}`, ""},
		{"http bad base64", ".http", map[string]any{"headers": map[string]any{"Content-Type": "image/png"}, "body": "not base64!"}, 400, "", "", "Response type in header did not match generated content type."},
		{"http type contradicts body", ".http", map[string]any{"headers": map[string]any{"Content-Type": "text/plain"}, "body": map[string]any{"k": 1}}, 400, "", "", "Response type in header did not match generated content type."},
		{"http bad status", ".http", map[string]any{"statusCode": "abc"}, 400, "", "", "Response is not valid 'message/http'."},
		{"http bad headers", ".http", map[string]any{"headers": "x"}, 400, "", "", "Response is not valid 'message/http'."},
		{"http bad content type", ".http", map[string]any{"headers": map[string]any{"Content-Type": "///"}, "body": "x"}, 400, "", "", "Response did not specify a known content-type."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := doWeb(t, "GET", u(tc.ext, tc.reply), nil, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.err != "" {
				if m := r.json(t); m["error"] != tc.err {
					t.Fatalf("error %q, want %q", m["error"], tc.err)
				}
				return
			}
			if tc.contentType != "" && r.header.Get("Content-Type") != tc.contentType {
				t.Errorf("content type %q, want %q", r.header.Get("Content-Type"), tc.contentType)
			}
			if string(r.body) != tc.body {
				t.Errorf("body %q, want %q", r.body, tc.body)
			}
			if tc.name == "http status and headers" {
				if got := r.header.Values("X-A"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
					t.Errorf("repeated header: %v", got)
				}
				if r.header.Get("X-B") != "true" {
					t.Errorf("bool header: %v", r.header)
				}
			}
		})
	}
}

func TestWebActionErrors(t *testing.T) {
	s, c := webServer(t, func(cfg *config.Config) { cfg.Limits.PayloadMax = 1024 })
	putPython(t, c, "apperr", `
def main(args):
    return {"error": {"statusCode": 418, "body": "teapot"}}
`, map[string]any{"web-export": true}, nil)
	putPython(t, c, "crash", `
import os
def main(args):
    os._exit(1)
`, map[string]any{"web-export": true}, nil)
	putPython(t, c, "echo", echoAction, map[string]any{"web-export": true}, nil)

	r := doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/apperr.http", nil, nil)
	if r.status != 418 || string(r.body) != "teapot" {
		t.Errorf("application error: %d %s", r.status, r.body)
	}
	r = doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/crash.json", nil, nil)
	if r.status != 400 || r.json(t)["error"] != "There was an error processing your request." {
		t.Errorf("developer error: %d %s", r.status, r.body)
	}
	// An exception is an application error whose error is a string: not
	// a JSON object.
	putPython(t, c, "raise", `
def main(args):
    raise Exception("boom")
`, map[string]any{"web-export": true}, nil)
	r = doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/raise.json", nil, nil)
	if r.status != 400 || r.json(t)["error"] != "Response is not valid 'application/json'." {
		t.Errorf("exception: %d %s", r.status, r.body)
	}
	big := []byte(`{"x":"` + strings.Repeat("a", 2048) + `"}`)
	r = doWeb(t, "POST", s.URL+"/api/v1/web/guest/default/echo.json", big, map[string]string{"Content-Type": "application/json"})
	if r.status != 413 || !strings.HasPrefix(r.json(t)["error"].(string), "Request larger than allowed:") {
		t.Errorf("large body: %d %s", r.status, r.body)
	}
}

func TestWebActionAuthAndCORS(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "secured", echoAction, map[string]any{"web-export": true, "require-whisk-auth": true}, nil)
	putPython(t, c, "secret", echoAction, map[string]any{"web-export": true, "require-whisk-auth": "s3cret"}, nil)
	putPython(t, c, "numsecret", echoAction, map[string]any{"web-export": true, "require-whisk-auth": 1234}, nil)
	putPython(t, c, "custom", `
def main(args):
    if args["__ow_method"] == "options":
        return {"statusCode": 200, "headers": {"Allow": "GET"}, "body": ""}
    return {"body": "hi"}
`, map[string]any{"web-export": true, "web-custom-options": true}, nil)

	base := s.URL + "/api/v1/web/guest/default/"
	if r := doWeb(t, "GET", base+"secured.json", nil, nil); r.status != 401 {
		t.Errorf("secured anonymous: %d %s", r.status, r.body)
	}
	if r := doWeb(t, "GET", base+"secured.json", nil, map[string]string{"auth": "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:wrong"}); r.status != 401 {
		t.Errorf("secured bad key: %d %s", r.status, r.body)
	}
	if r := doWeb(t, "GET", base+"secured.json", nil, map[string]string{"auth": s.GuestAuth}); r.status != 200 {
		t.Errorf("secured authenticated: %d %s", r.status, r.body)
	}
	if r := doWeb(t, "GET", base+"secret.json", nil, map[string]string{"X-Require-Whisk-Auth": "nope"}); r.status != 401 {
		t.Errorf("wrong secret: %d %s", r.status, r.body)
	}
	if r := doWeb(t, "GET", base+"secret.json", nil, map[string]string{"X-Require-Whisk-Auth": "s3cret"}); r.status != 200 {
		t.Errorf("right secret: %d %s", r.status, r.body)
	}
	if r := doWeb(t, "GET", base+"numsecret.json", nil, map[string]string{"X-Require-Whisk-Auth": "1234"}); r.status != 200 {
		t.Errorf("number secret: %d %s", r.status, r.body)
	}

	// OPTIONS is answered without running the action, with CORS headers
	// that echo the requested headers.
	r := doWeb(t, "OPTIONS", base+"secured.json", nil, map[string]string{"Access-Control-Request-Headers": "X-Foo"})
	if r.status != 200 || len(r.body) != 0 || r.header.Get("Access-Control-Allow-Headers") != "X-Foo" || r.header.Get(
		"X-Openwhisk-Activation-Id") != "" {
		t.Errorf("OPTIONS: %d %v %s", r.status, r.header, r.body)
	}
	// web-custom-options: the action answers OPTIONS, no CORS headers.
	r = doWeb(t, "OPTIONS", base+"custom", nil, nil)
	if r.status != 200 || r.header.Get("Allow") != "GET" || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("custom OPTIONS: %d %v", r.status, r.header)
	}
	// HEAD gets the headers and no body.
	r = doWeb(t, "HEAD", base+"custom", nil, nil)
	if r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	if r := doWeb(t, "TRACE", base+"custom", nil, nil); r.status != 405 {
		t.Errorf("TRACE: %d", r.status)
	}
}

func TestWebActionNotReady(t *testing.T) {
	s, c := webServer(t, func(cfg *config.Config) { cfg.BlockingWait = 200 * time.Millisecond })
	putPython(t, c, "slow", `
import time
def main(args):
    time.sleep(3)
    return {}
`, map[string]any{"web-export": true}, nil)
	r := doWeb(t, "GET", s.URL+"/api/v1/web/guest/default/slow.json", nil, nil)
	if r.status != 202 || r.json(t)["error"] != "Response not yet ready." || r.header.Get("X-Openwhisk-Activation-Id") == "" {
		t.Errorf("slow: %d %v %s", r.status, r.header, r.body)
	}
}

func TestWebActionInPackage(t *testing.T) {
	s, c := webServer(t)
	ctx := context.Background()
	pkg := &client.PackagePut{Parameters: client.KeyValues{}.Set("from", "package").Set("p", "pkg")}
	if _, err := c.Packages.Put(ctx, "tools", pkg, false); err != nil {
		t.Fatal(err)
	}
	putPython(t, c, "tools/echo", echoAction, map[string]any{"web-export": true}, map[string]any{"p": "action"})
	bind := &client.PackagePut{Binding: &client.BindingRef{Namespace: "guest", Name: "tools"}, Parameters: client.KeyValues{}.Set("from", "binding")}
	if _, err := c.Packages.Put(ctx, "mytools", bind, false); err != nil {
		t.Fatal(err)
	}
	r := doWeb(t, "GET", s.URL+"/api/v1/web/guest/tools/echo.json?q=1", nil, nil)
	if m := r.json(t); r.status != 200 || m["from"] != "package" || m["p"] != "action" || m["q"] != "1" {
		t.Errorf("package: %d %v", r.status, m)
	}
	r = doWeb(t, "GET", s.URL+"/api/v1/web/guest/mytools/echo.json", nil, nil)
	if m := r.json(t); r.status != 200 || m["from"] != "binding" {
		t.Errorf("binding: %d %v", r.status, m)
	}
}
