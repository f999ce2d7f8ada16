package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/whisk"
)

// recorder is a fake server that records the last request and answers with
// a fixed status and body.
type recorder struct {
	method, uri, auth, body string
	status                  int
	answer                  string
	header                  map[string]string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.method, r.uri = req.Method, req.URL.RequestURI()
	u, p, _ := req.BasicAuth()
	r.auth = u + ":" + p
	b, _ := io.ReadAll(req.Body)
	r.body = string(b)
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(r.status)
	io.WriteString(w, r.answer)
}

func newTest(t *testing.T, rec *recorder) *Client {
	t.Helper()
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := New(Config{APIHost: srv.URL, Auth: "u:k"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoutes(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{status: 200, answer: `{}`}
	c := newTest(t, rec)
	cases := []struct {
		call   func() error
		method string
		uri    string
		body   string
	}{
		{func() error { _, err := c.Actions.Get(ctx, "hello", false); return err }, "GET", "/api/v1/namespaces/_/actions/hello?code=false", ""},
		{func() error { _, err := c.Actions.Get(ctx, "/ns/pkg/a b", true); return err }, "GET", "/api/v1/namespaces/ns/actions/pkg/a%20b", ""},
		{func() error {
			_, err := c.Actions.Put(ctx, "hello", &ActionPut{Exec: &Exec{Kind: "python:default"}}, true)
			return err
		}, "PUT", "/api/v1/namespaces/_/actions/hello?overwrite=true", `{"exec":{"kind":"python:default","binary":false}}`},
		{func() error { _, err := c.Actions.Invoke(ctx, "hello", nil, InvokeOptions{Result: true}); return err }, "POST", "/api/v1/namespaces/_/actions/hello?blocking=true&result=true", `{}`},
		{func() error { _, err := c.Activations.Logs(ctx, "abc"); return err }, "GET", "/api/v1/namespaces/_/activations/abc/logs", ""},
		{func() error { _, err := c.Activations.Stats(ctx); return err }, "GET", "/api/v1/namespaces/_/stats", ""},
		{func() error {
			rec.answer = `[]`
			defer func() { rec.answer = `{}` }()
			_, err := c.Activations.ListFull(ctx, ActivationListOptions{Name: "hello", Since: 5, Limit: 30})
			return err
		}, "GET", "/api/v1/namespaces/_/activations?docs=true&limit=30&name=hello&since=5&skip=0", ""},
		{func() error {
			rec.answer = `[]`
			defer func() { rec.answer = `{}` }()
			_, err := c.Activations.List(ctx, ActivationListOptions{Upto: 9})
			return err
		}, "GET", "/api/v1/namespaces/_/activations?limit=0&skip=0&upto=9", ""},
		{func() error { return c.Rules.SetState(ctx, "r", "inactive") }, "POST", "/api/v1/namespaces/_/rules/r", `{"status":"inactive"}`},
		{func() error { return c.Packages.Delete(ctx, "p", true) }, "DELETE", "/api/v1/namespaces/_/packages/p?force=true", ""},
		{func() error { _, err := c.Info(ctx); return err }, "GET", "/api/v1", ""},
	}
	for _, tc := range cases {
		if err := tc.call(); err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.uri, err)
		}
		if rec.method != tc.method || rec.uri != tc.uri || rec.body != tc.body || rec.auth != "u:k" {
			t.Errorf("got %s %s body %q auth %q, want %s %s body %q", rec.method, rec.uri, rec.body, rec.auth, tc.method, tc.uri, tc.body)
		}
	}
}

func TestErrorBody(t *testing.T) {
	rec := &recorder{status: 404, answer: `{"error":"The requested resource does not exist.","code":"tid1"}`}
	c := newTest(t, rec)
	_, err := c.Actions.Get(context.Background(), "nope", true)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if e.StatusCode != 404 || e.Code != "tid1" || e.Error() != "The requested resource does not exist. (code tid1)" {
		t.Errorf("got %+v", e)
	}
	if StatusCode(err) != 404 {
		t.Errorf("StatusCode = %d", StatusCode(err))
	}
}

func TestInvokeFailedBlocking(t *testing.T) {
	rec := &recorder{status: 502, answer: `{"activationId":"a1","response":{"status":"application error","success":false,"result":{"error":"boom"}}}`,
		header: map[string]string{"X-Openwhisk-Activation-Id": "a1"}}
	c := newTest(t, rec)
	inv, err := c.Actions.Invoke(context.Background(), "x", map[string]any{"a": 1}, InvokeOptions{Blocking: true})
	if StatusCode(err) != 502 || inv == nil || inv.ActivationID != "a1" {
		t.Fatalf("inv=%+v err=%v", inv, err)
	}
	a, err := inv.Activation()
	if err != nil || a.Response.StatusCode != whisk.StatusApplicationError || !strings.Contains(string(a.Response.Result), "boom") {
		t.Errorf("activation %+v err %v", a, err)
	}
	if rec.body != `{"a":1}` {
		t.Errorf("body %q", rec.body)
	}
}

func TestParseAPIHost(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:3233":        "https://localhost:3233",
		"http://127.0.0.1:80/":  "http://127.0.0.1:80",
		"https://openwhisk.org": "https://openwhisk.org",
	} {
		u, err := ParseAPIHost(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseAPIHost(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	if _, err := ParseAPIHost(""); err == nil {
		t.Error("empty host accepted")
	}
}

func TestKeyValues(t *testing.T) {
	var kv KeyValues
	kv = kv.Set("web-export", true).Set("exec", "python:3").Set("web-export", false)
	b, _ := json.Marshal(kv)
	if string(b) != `[{"key":"web-export","value":false},{"key":"exec","value":"python:3"}]` {
		t.Errorf("got %s", b)
	}
	if kv.Truthy("web-export") {
		t.Error("false is truthy")
	}
	if s, _ := kv.String("exec"); s != "python:3" {
		t.Errorf("exec = %q", s)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := New(Config{APIHost: url})
	_, err := c.Namespaces.List(context.Background())
	if err == nil || StatusCode(err) != 0 {
		t.Fatalf("err = %v", err)
	}
}

// TestDecodesListRows decodes the rows the server's list views answer with
// into whisk's summary types: a package that is not a binding has binding
// false, an action row has no exec kind, an activation row has its status
// code at the top and no response.
func TestDecodesListRows(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{status: 200}
	c := newTest(t, rec)

	rec.answer = `[{"namespace":"guest","name":"b","version":"0.0.1","publish":false,"annotations":[],"binding":{"namespace":"guest","name":"p"},"updated":2},
		{"namespace":"guest","name":"p","version":"0.0.1","publish":true,"annotations":[],"binding":false,"updated":1}]`
	pkgs, err := c.Packages.List(ctx, "", nil)
	if err != nil || len(pkgs) != 2 || !pkgs[0].IsBinding() || pkgs[0].Binding.Name != "p" || pkgs[1].IsBinding() || pkgs[1].Binding != nil || !pkgs[1].Publish {
		t.Fatalf("packages: %+v, %v", pkgs, err)
	}
	if b, _ := json.Marshal(pkgs[1]); !strings.Contains(string(b), `"binding":false`) {
		t.Errorf("a package row re-encodes as %s", b)
	}

	rec.answer = `[{"namespace":"guest","name":"a","version":"0.0.1","publish":false,"annotations":[{"key":"exec","value":"python:3.11"}],
		"limits":{"timeout":60000,"memory":256,"logs":10,"concurrency":1},"exec":{"binary":true},"updated":1}]`
	acts, err := c.Actions.List(ctx, "", nil)
	if err != nil || len(acts) != 1 || !acts[0].Exec.Binary || acts[0].Limits.Memory != 256 {
		t.Fatalf("actions: %+v, %v", acts, err)
	}
	if b, _ := json.Marshal(acts[0]); strings.Contains(string(b), `"kind"`) {
		t.Errorf("an action row grew an exec kind: %s", b)
	}

	rec.answer = `[{"namespace":"guest","name":"a","version":"0.0.1","subject":"guest","activationId":"x","start":1,"end":3,"duration":2,"statusCode":2,"annotations":[],"publish":false}]`
	rows, err := c.Activations.List(ctx, ActivationListOptions{})
	if err != nil || len(rows) != 1 || rows[0].StatusCode != whisk.StatusDeveloperError || rows[0].Duration != 2 {
		t.Fatalf("activations: %+v, %v", rows, err)
	}

	rec.answer = `{"result":{"error":"boom"},"status":"application error","success":false,"size":16}`
	res, err := c.Activations.Result(ctx, "x")
	if err != nil || res.StatusCode != whisk.StatusApplicationError || res.Success() || res.Size == nil || *res.Size != 16 {
		t.Fatalf("result: %+v, %v", res, err)
	}
}

func TestFailedActivationError(t *testing.T) {
	rec := &recorder{status: 502, answer: `{"activationId":"abc","response":{"status":"application error","success":false,"result":{"error":"it failed"}}}`}
	c := newTest(t, rec)
	_, err := c.Actions.Invoke(context.Background(), "a", nil, InvokeOptions{Blocking: true})
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 502 || e.Error() != "application error: it failed (activation abc)" {
		t.Errorf("err = %v", err)
	}
}
