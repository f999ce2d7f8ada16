package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// echoCode is a python action that returns its parameters.
const echoCode = "def main(args):\n    return args\n"

// api is a raw REST client for one key, so tests see exact statuses and
// bodies.
type api struct {
	t    testing.TB
	url  string
	auth string
}

func newAPI(t testing.TB, s *apptest.Server) api { return api{t: t, url: s.URL, auth: s.GuestAuth} }

// as returns a client for another key.
func (a api) as(key string) api { a.auth = key; return a }

// do sends method path (relative to /api/v1/namespaces/) with body
// marshalled as JSON, and returns the status and the body.
func (a api) do(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.url+"/api/v1/namespaces/"+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	u, k, _ := strings.Cut(a.auth, ":")
	req.SetBasicAuth(u, k)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// must sends the request and fails unless the status is want; it
// decodes the body into a map.
func (a api) must(want int, method, path string, body any) map[string]any {
	a.t.Helper()
	st, b := a.do(method, path, body)
	if st != want {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, b)
	}
	var m map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &m); err != nil {
			a.t.Fatal(err)
		}
	}
	return m
}

// fails sends the request and checks the status and the error message.
func (a api) fails(want int, msg, method, path string, body any) {
	a.t.Helper()
	m := a.must(want, method, path, body)
	if m["error"] != msg {
		a.t.Fatalf("%s %s: error %q, want %q", method, path, m["error"], msg)
	}
}

func kv(pairs ...any) []map[string]any {
	var out []map[string]any
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, map[string]any{"key": pairs[i], "value": pairs[i+1]})
	}
	return out
}

func pyAction(params ...any) map[string]any {
	return map[string]any{"exec": map[string]any{"kind": "python:3", "code": echoCode}, "parameters": kv(params...)}
}

// addNamespace gives namespace ns a fresh key, as `whirl admin` does, and
// returns it as uuid:key.
func addNamespace(t testing.TB, s *apptest.Server, ns string) string {
	t.Helper()
	u, k := auth.GenerateKey()
	if err := s.App.Store.Auth().PutSubject(context.Background(), store.Subject{UUID: u, KeyHash: auth.HashKey(k), Namespace: ns}); err != nil {
		t.Fatal(err)
	}
	return u + ":" + k
}

func annotation(t testing.TB, act map[string]any, key string) any {
	t.Helper()
	anns, _ := act["annotations"].([]any)
	for _, a := range anns {
		m := a.(map[string]any)
		if m["key"] == key {
			return m["value"]
		}
	}
	return nil
}

func result(t testing.TB, act map[string]any) map[string]any {
	t.Helper()
	resp, _ := act["response"].(map[string]any)
	r, _ := resp["result"].(map[string]any)
	if r == nil {
		t.Fatalf("no result in %v", act)
	}
	return r
}

func TestPackagesAndBindings(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	g.must(200, "PUT", "_/packages/p", map[string]any{"parameters": kv("a", 1, "b", 1)})
	g.fails(409, whisk.MsgConflict, "PUT", "_/packages/p", map[string]any{})
	g.fails(400, whisk.MsgPackageNameReserved, "PUT", "_/packages/default", map[string]any{})
	g.fails(404, whisk.MsgNotFound, "PUT", "_/actions/nopkg/echo", pyAction())
	g.must(200, "PUT", "_/actions/p/echo", pyAction("b", 2, "c", 2))

	act := g.must(200, "POST", "_/actions/p/echo?blocking=true", map[string]any{"c": 3})
	if r := result(t, act); r["a"] != 1.0 || r["b"] != 2.0 || r["c"] != 3.0 {
		t.Fatalf("package → action → invoke merge: %v", r)
	}
	if p := annotation(t, act, "path"); p != "guest/p/echo" {
		t.Fatalf("path %v", p)
	}

	pkg := g.must(200, "GET", "_/packages/p", nil)
	if b, _ := json.Marshal(pkg["binding"]); string(b) != "{}" {
		t.Fatalf("binding of a package: %s", b)
	}
	if acts := pkg["actions"].([]any); len(acts) != 1 || acts[0].(map[string]any)["name"] != "echo" {
		t.Fatalf("actions: %v", pkg["actions"])
	}

	// A binding adds its parameters between the package's and the action's.
	g.must(200, "PUT", "_/packages/bnd", map[string]any{"binding": map[string]any{"namespace": "_", "name": "p"}, "parameters": kv("a", 10)})
	act = g.must(200, "POST", "_/actions/bnd/echo?blocking=true", map[string]any{})
	if r := result(t, act); r["a"] != 10.0 || r["b"] != 2.0 {
		t.Fatalf("binding merge: %v", r)
	}
	if b := annotation(t, act, "binding"); b != "guest/bnd" {
		t.Fatalf("binding annotation %v", b)
	}
	if p := annotation(t, act, "path"); p != "guest/p/echo" {
		t.Fatalf("path through a binding %v", p)
	}
	_, body := g.do("GET", "_/actions/bnd/", nil)
	if !strings.Contains(string(body), `"name":"echo"`) {
		t.Fatalf("list through a binding: %s", body)
	}
	got := g.must(200, "GET", "_/actions/bnd/echo", nil)
	if ps, _ := json.Marshal(got["parameters"]); !strings.Contains(string(ps), `"key":"a","value":10`) {
		t.Fatalf("GET action through binding: parameters %s", ps)
	}
	bpkg := g.must(200, "GET", "_/packages/bnd", nil)
	if bpkg["binding"].(map[string]any)["name"] != "p" {
		t.Fatalf("binding GET: %v", bpkg)
	}

	// Bad bindings create nothing.
	g.fails(400, whisk.MsgBindingReadOnly, "PUT", "_/actions/bnd/x", pyAction())
	g.fails(400, whisk.MsgBindingMissing, "PUT", "_/packages/b2", map[string]any{"binding": map[string]any{"namespace": "_", "name": "nothing"}})
	g.fails(400, whisk.MsgBindingToBinding, "PUT", "_/packages/b2", map[string]any{"binding": map[string]any{"namespace": "_", "name": "bnd"}})
	g.must(200, "PUT", "_/actions/plain", pyAction())
	g.fails(409, whisk.MsgBindingNotPackage, "PUT", "_/packages/b2", map[string]any{"binding": map[string]any{"namespace": "_", "name": "plain"}})
	g.fails(422, "Package binding 'guest/b2' contains a circular reference.", "PUT", "_/packages/b2", map[string]any{"binding": map[string]any{"namespace": "_", "name": "b2"}})
	g.fails(409, whisk.MsgPackageToBinding, "PUT", "_/packages/p?overwrite=true", map[string]any{"binding": map[string]any{"namespace": "_", "name": "bnd"}})
	g.fails(404, whisk.MsgNotFound, "GET", "_/packages/b2", nil)

	// Delete: a package with actions needs force.
	g.fails(409, "Package not empty (contains 1 entity). Set force param or delete package contents.", "DELETE", "_/packages/p", nil)
	g.must(200, "DELETE", "_/packages/bnd", nil)
	g.must(200, "DELETE", "_/packages/p?force=true", nil)
	g.fails(404, whisk.MsgNotFound, "GET", "_/actions/p/echo", nil)
	g.fails(404, whisk.MsgNotFound, "GET", "_/packages/p", nil)
}

func TestSharedPackageAcrossNamespaces(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	o := g.as(addNamespace(t, s, "other"))
	g.must(200, "PUT", "_/packages/shared", map[string]any{"parameters": kv("a", 1, "b", 1)})
	g.must(200, "PUT", "_/actions/shared/echo", pyAction("c", 1))

	// Not published: invisible to others.
	if st, _ := o.do("GET", "guest/packages/shared", nil); st != 403 {
		t.Fatalf("GET unpublished package from another namespace: %d", st)
	}
	if st, _ := o.do("POST", "guest/actions/shared/echo?blocking=true", map[string]any{}); st != 403 {
		t.Fatalf("invoke in unpublished package from another namespace: %d", st)
	}
	if st, _ := o.do("PUT", "_/packages/mine", map[string]any{"binding": map[string]any{"namespace": "guest", "name": "shared"}}); st != 403 {
		t.Fatalf("bind to unpublished package: %d", st)
	}

	g.must(200, "PUT", "_/packages/shared?overwrite=true", map[string]any{"publish": true})
	o.must(200, "GET", "guest/packages/shared", nil)
	o.must(200, "PUT", "_/packages/mine", map[string]any{"binding": map[string]any{"namespace": "guest", "name": "shared"}, "parameters": kv("b", 2)})
	act := o.must(200, "POST", "_/actions/mine/echo?blocking=true", map[string]any{"d": 4})
	if r := result(t, act); r["a"] != 1.0 || r["b"] != 2.0 || r["c"] != 1.0 || r["d"] != 4.0 {
		t.Fatalf("merged parameters through a shared binding: %v", r)
	}
	if act["namespace"] != "other" || annotation(t, act, "binding") != "other/mine" {
		t.Fatalf("activation of a shared action: namespace %v binding %v", act["namespace"], annotation(t, act, "binding"))
	}
	// Others can read and invoke but never change it.
	o.must(200, "POST", "guest/actions/shared/echo?blocking=true", map[string]any{})
	if st, _ := o.do("PUT", "guest/actions/shared/x?overwrite=true", pyAction()); st != 403 {
		t.Fatalf("PUT into another's package: %d", st)
	}
	if st, _ := o.do("DELETE", "guest/packages/shared", nil); st != 403 {
		t.Fatalf("DELETE another's package: %d", st)
	}
	if st, _ := o.do("PUT", "guest/packages/shared?overwrite=true", map[string]any{}); st != 403 {
		t.Fatalf("PUT another's package: %d", st)
	}
}
