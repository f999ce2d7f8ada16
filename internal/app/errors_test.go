package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
)

const malformed = "The request content was malformed:\n"

// storedDoc returns the stored action document (raw).
func storedDoc(t testing.TB, s *apptest.Server, name string) []byte {
	t.Helper()
	e, err := s.App.Store.Entities().Get(context.Background(), store.Actions, "guest", name)
	if err != nil {
		t.Fatal(err)
	}
	return e.Doc
}

// TestBadActionBodies: malformed JSON and wrong types in PUT bodies answer
// 400 (or 413) in OpenWhisk's shape and leave the stored action as it was.
func TestBadActionBodies(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "keep", pyHello, nil)
	before := storedDoc(t, s, "keep")
	bad := []struct {
		body   string
		status int
		msg    string // prefix; "" means malformed
	}{
		{`{`, 400, ""},
		{`{"exec":`, 400, ""},
		{`[]`, 400, ""},
		{`"text"`, 400, ""},
		{`42`, 400, ""},
		{`null x`, 400, ""},
		{`{"exec":5}`, 400, ""},
		{`{"exec":{"kind":5,"code":"x"}}`, 400, ""},
		{`{"exec":{"kind":"python:3","code":5}}`, 400, ""},
		{`{"exec":{"kind":"python:3","code":"def main(a): return a","binary":"yes"}}`, 400, ""},
		{`{"exec":{"kind":"python:3","code":"!!not base64!!","binary":true}}`, 400, ""},
		{`{"exec":{"kind":"python:3"}}`, 400, ""},
		{`{"exec":{"kind":""}}`, 400, ""},
		{`{"exec":{"kind":"blackbox"}}`, 400, ""},
		{`{"parameters":"x"}`, 400, ""},
		{`{"parameters":[{"value":1}]}`, 400, ""},
		{`{"parameters":{"a":1}}`, 400, ""},
		{`{"annotations":5}`, 400, ""},
		{`{"annotations":[1,2]}`, 400, ""},
		{`{"limits":"x"}`, 400, ""},
		{`{"limits":{"timeout":"x"}}`, 400, ""},
		{`{"limits":{"timeout":1.5}}`, 400, ""},
		{`{"limits":{"memory":-1}}`, 400, ""},
		{`{"limits":{"timeout":99}}`, 400, malformed + "requirement failed: duration 99 milliseconds below allowed threshold of 100 milliseconds"},
		{`{"limits":{"timeout":300001}}`, 400, malformed + "requirement failed: duration 300001 milliseconds exceeds allowed threshold of 300000 milliseconds"},
		{`{"limits":{"memory":1024}}`, 400, malformed + "requirement failed: memory 1024 MB exceeds allowed threshold of 512 MB"},
		{`{"limits":{"memory":64}}`, 400, malformed + "requirement failed: memory 64 MB below allowed threshold of 128 MB"},
		{`{"limits":{"logs":11}}`, 400, malformed + "requirement failed: log size 11 MB exceeds allowed threshold of 10 MB"},
		{`{"limits":{"concurrency":0}}`, 400, malformed + "requirement failed: concurrency 0 below allowed threshold of 1"},
		{`{"publish":"yes"}`, 400, ""},
		{`{"version":5}`, 400, ""},
		{`{"delAnnotations":"x"}`, 400, ""},
		{`{"exec":{"kind":"cobol:85","code":"x"}}`, 400, "The specified runtime 'cobol:85' is not supported by this platform. Valid values are: "},
	}
	for _, b := range bad {
		r := api(t, s, "PUT", "actions/keep?overwrite=true", b.body)
		if r.status != b.status {
			t.Errorf("PUT %s: status %d, want %d: %s", b.body, r.status, b.status, r.body)
			continue
		}
		msg := r.errMsg(t)
		want := b.msg
		if want == "" {
			want = malformed
		}
		if !strings.HasPrefix(msg, want) {
			t.Errorf("PUT %s: message %q, want prefix %q", b.body, msg, want)
		}
		// Creating with the same body fails the same way and creates nothing.
		r = api(t, s, "PUT", "actions/fresh", b.body)
		if r.status < 400 {
			t.Errorf("create with %s succeeded", b.body)
		}
	}
	if after := storedDoc(t, s, "keep"); !bytes.Equal(before, after) {
		t.Fatalf("stored action changed:\n%s\n%s", before, after)
	}
	if r := api(t, s, "GET", "actions/fresh", nil); r.status != 404 {
		t.Fatalf("fresh exists: %d %s", r.status, r.body)
	}
	// The unknown-kind message lists the valid kinds.
	r := api(t, s, "PUT", "actions/x", `{"exec":{"kind":"cobol:85","code":"x"}}`)
	if msg := r.errMsg(t); !strings.Contains(msg, "'python:3.11'") || !strings.Contains(msg, "'nodejs:20'") {
		t.Errorf("valid kinds not listed: %q", msg)
	}
	// python:3 and python:default are accepted.
	for _, k := range []string{"python:3", "python:default", "python:3.11"} {
		r := api(t, s, "PUT", "actions/k?overwrite=true", map[string]any{"exec": map[string]any{"kind": k, "code": pyHello}})
		mustStatus(t, r, 200)
	}
}

// TestBadInvokeBodies: bodies that are not JSON objects answer 400; an
// oversized one 413.
func TestBadInvokeBodies(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "hello", pyHello, nil)
	for _, b := range []string{`{`, `[1]`, `"x"`, `5`, `null`, `{"a":1} x`, `{"a":}`} {
		r := api(t, s, "POST", "actions/hello?blocking=true", b)
		mustStatus(t, r, 400)
		if msg := r.errMsg(t); !strings.HasPrefix(msg, malformed) {
			t.Errorf("invoke %s: %q", b, msg)
		}
	}
	// Empty body means {}.
	mustStatus(t, api(t, s, "POST", "actions/hello?blocking=true", ""), 200)

	big := `{"a":"` + strings.Repeat("x", 1<<20) + `"}`
	r := api(t, s, "POST", "actions/hello?blocking=true", big)
	mustStatus(t, r, 413)
	if msg, want := r.errMsg(t), fmt.Sprintf("Request larger than allowed: %d > 1048576 bytes.", len(big)); msg != want {
		t.Errorf("413 message %q, want %q", msg, want)
	}
	if n := count(t, s, "activations"); n != 1 {
		t.Errorf("%d activations after refused invokes", n)
	}
}

// count returns GET <coll>?count=true.
func count(t testing.TB, s *apptest.Server, coll string) int {
	t.Helper()
	r := api(t, s, "GET", coll+"?count=true", nil)
	mustStatus(t, r, 200)
	return int(r.obj(t)[coll].(float64))
}

// endless is a body that never ends; it counts what was read of it.
type endless struct {
	n   atomic.Int64
	max int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n.Load() >= e.max {
		return 0, io.EOF
	}
	if e.n.Load() == 0 && len(p) > 0 {
		p[0] = '{'
		e.n.Add(1)
		return 1, nil
	}
	for i := range p {
		p[i] = ' '
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}

// TestStreamedBodyTooLarge: a body with no Content-Length is cut off at
// the limit with 413; the server does not read it all.
func TestStreamedBodyTooLarge(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "hello", pyHello, nil)
	for _, path := range []string{"actions/hello?blocking=true", "actions/hello", "actions/new"} {
		method := "POST"
		if path == "actions/new" {
			method = "PUT"
		}
		body := &endless{max: 1 << 40}
		req, err := http.NewRequest(method, s.URL+"/api/v1/namespaces/_/"+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // chunked
		u, k, _ := strings.Cut(s.GuestAuth, ":")
		req.SetBasicAuth(u, k)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		cancel()
		if err != nil {
			t.Fatalf("%s %s: %v (read %d bytes)", method, path, err, body.n.Load())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("%s %s: status %d %s", method, path, resp.StatusCode, b)
		}
		var e map[string]any
		if json.Unmarshal(b, &e) != nil || !strings.HasPrefix(fmt.Sprint(e["error"]), "Request larger than allowed:") {
			t.Errorf("body %s", b)
		}
		// The client may have written some more before it saw the answer,
		// but nowhere near the whole (endless) body.
		if n := body.n.Load(); n > 1<<30 {
			t.Errorf("%s %s: %d bytes were sent before the 413", method, path, n)
		}
	}
	mustStatus(t, api(t, s, "GET", "actions/new", nil), 404)
}

// TestBadNamesAndQueries covers names, list paging, activation ids and
// the timeout parameter.
func TestBadNamesAndQueries(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "hello", pyHello, nil)
	long := strings.Repeat("a", 257)
	cases := []struct {
		method, path string
		status       int
		msg          string
	}{
		{"PUT", "actions/" + url.PathEscape("a$b"), 400, "The name of the entity contains illegal characters."},
		{"PUT", "actions/" + url.PathEscape(" lead"), 400, "The name of the entity contains illegal characters."},
		{"PUT", "actions/" + long, 400, "Name segement longer than allowed: 257 > 256 bytes."},
		{"GET", "actions/" + long, 400, "Name segement longer than allowed: 257 > 256 bytes."},
		{"POST", "actions/" + url.PathEscape("x!y"), 400, "The name of the entity contains illegal characters."},
		{"GET", "actions/nope", 404, "The requested resource does not exist."},
		{"POST", "actions/nope", 404, "The requested resource does not exist."},
		{"DELETE", "actions/nope", 404, "The requested resource does not exist."},
		{"GET", "actions?limit=201", 400, "The value '201' is not in the range of 0 to 200 for actions."},
		{"GET", "actions?limit=-1", 400, "The value '-1' is not in the range of 0 to 200 for actions."},
		{"GET", "actions?limit=abc", 400, "The value 'abc' is not an integer for actions."},
		{"GET", "actions?skip=-1", 400, "The value '-1' is not greater than or equal to 0 for actions."},
		{"GET", "actions?skip=x", 400, "The value 'x' is not an integer for actions."},
		{"GET", "activations?limit=201", 400, "The value '201' is not in the range of 0 to 200 for activations."},
		{"GET", "activations?skip=-3", 400, "The value '-3' is not greater than or equal to 0 for activations."},
		{"GET", "activations?docs=true&count=true", 400, "The parameter 'docs' is not permitted with 'count'."},
		{"GET", "activations?name=a/b/c", 400, "Parameter may be a 'simple' name or 'package-name/simple' name: a/b/c"},
		{"GET", "activations/xyz", 400, "The activation id is not valid."},
		{"GET", "activations/" + strings.Repeat("G", 32), 400, "The activation id is not valid."},
		{"GET", "activations/xyz/result", 400, "The activation id is not valid."},
		{"GET", "activations/xyz/logs", 400, "The activation id is not valid."},
		{"GET", "activations/" + strings.Repeat("a", 32), 404, "The requested resource does not exist."},
		{"POST", "actions/hello?blocking=true&timeout=0", 400, "Timeout must be number of milliseconds up to 60000."},
		{"POST", "actions/hello?blocking=true&timeout=60001", 400, "Timeout must be number of milliseconds up to 60000."},
		{"POST", "actions/hello?blocking=true&timeout=abc", 400, "Timeout must be number of milliseconds up to 60000."},
		{"POST", "actions/hello?blocking=true&timeout=-5", 400, "Timeout must be number of milliseconds up to 60000."},
	}
	for _, c := range cases {
		var body any
		if c.method == "PUT" {
			body = pyAction(pyHello)
		}
		r := api(t, s, c.method, c.path, body)
		if r.status != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.status, c.status, r.body)
			continue
		}
		if msg := r.errMsg(t); msg != c.msg {
			t.Errorf("%s %s: %q, want %q", c.method, c.path, msg, c.msg)
		}
	}
	// limit=0 means the maximum; 200 is allowed.
	mustStatus(t, api(t, s, "GET", "actions?limit=0", nil), 200)
	mustStatus(t, api(t, s, "GET", "activations?limit=200&skip=0", nil), 200)
	if n := count(t, s, "activations"); n != 0 {
		t.Errorf("%d activations after refused invokes", n)
	}
}

// TestAuthErrors: unknown routes, bad or missing credentials, another
// namespace, a deleted key.
func TestAuthErrors(t *testing.T) {
	s := apptest.Start(t)
	// Unknown routes: JSON 404.
	for _, p := range []string{"/nope", "/api/v2/x", "/api/v1/namespaces/_/nothing"} {
		r := call(t, "GET", s.URL+p, s.GuestAuth, nil)
		mustStatus(t, r, 404)
		if r.errMsg(t) != "The requested resource does not exist." || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %s %s", p, r.header.Get("Content-Type"), r.body)
		}
	}
	// Bad credentials: 401 with WWW-Authenticate.
	uuid, _, _ := strings.Cut(s.GuestAuth, ":")
	for _, a := range []string{"", uuid + ":wrong", "nouser:nokey", "garbage"} {
		r := call(t, "GET", s.URL+"/api/v1/namespaces/_/actions", a, nil)
		mustStatus(t, r, 401)
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("auth %q: WWW-Authenticate %q", a, r.header.Get("WWW-Authenticate"))
		}
		msg := r.errMsg(t)
		if a == "" && msg != "The resource requires authentication, which was not supplied with the request" {
			t.Errorf("no auth: %q", msg)
		}
		if a != "" && msg != "The supplied authentication is invalid" {
			t.Errorf("auth %q: %q", a, msg)
		}
	}
	r := call(t, "GET", s.URL+"/api/v1/namespaces", "", nil)
	mustStatus(t, r, 401)
	// Another namespace: 403.
	for _, m := range []string{"GET", "PUT", "DELETE", "POST"} {
		r := call(t, m, s.URL+"/api/v1/namespaces/whisk.system/actions/x", s.GuestAuth, pyAction(pyHello))
		mustStatus(t, r, 403)
		if msg := r.errMsg(t); msg != "The supplied authentication is not authorized to access 'whisk.system'." {
			t.Errorf("%s: %q", m, msg)
		}
	}
	r = call(t, "GET", s.URL+"/api/v1/namespaces/whisk.system/activations", s.GuestAuth, nil)
	mustStatus(t, r, 403)
}

// TestDeletedNamespaceKey: a key whose subject was deleted answers 401
// (after a restart, which drops the authentication cache).
func TestDeletedNamespaceKey(t *testing.T) {
	cfg := testConfig(t)
	s := apptest.StartConfig(t, cfg)
	ctx := context.Background()
	u, k := auth.GenerateKey()
	if err := s.App.Store.Auth().PutSubject(ctx, store.Subject{UUID: u, KeyHash: auth.HashKey(k), Namespace: "tenant"}); err != nil {
		t.Fatal(err)
	}
	key := u + ":" + k
	r := call(t, "GET", s.URL+"/api/v1/namespaces", key, nil)
	mustStatus(t, r, 200)
	if string(bytes.TrimSpace(r.body)) != `["tenant"]` {
		t.Fatalf("namespaces %s", r.body)
	}
	mustStatus(t, call(t, "PUT", s.URL+"/api/v1/namespaces/_/actions/a", key, pyAction(pyHello)), 200)
	if err := s.App.Store.Auth().DeleteSubject(ctx, u); err != nil {
		t.Fatal(err)
	}
	s2 := restart(t, s, cfg)
	r = call(t, "GET", s2.URL+"/api/v1/namespaces/_/actions", key, nil)
	mustStatus(t, r, 401)
	if r.errMsg(t) != "The supplied authentication is invalid" {
		t.Errorf("%s", r.body)
	}
	// The guest is unaffected.
	mustStatus(t, call(t, "GET", s2.URL+"/api/v1/namespaces/_/actions", s2.GuestAuth, nil), 200)
}

// testConfig is apptest's default configuration, for servers that are
// restarted on the same data directory.
func testConfig(t testing.TB) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Limits.ActionsInvokesPerMinute = 1000000
	cfg.Limits.ActionsInvokesConcurrent = 100000
	cfg.Limits.TriggersFiresPerMinute = 1000000
	return cfg
}

// restart closes s and starts a new server on the same data directory.
func restart(t testing.TB, s *apptest.Server, cfg *config.Config) *apptest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.App.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	return apptest.StartConfig(t, cfg)
}

// TestFinalParameters: with the final annotation, a request may not
// override a defined parameter.
func TestFinalParameters(t *testing.T) {
	s := apptest.Start(t)
	body := pyAction(pyHello)
	body["parameters"] = []map[string]any{{"key": "name", "value": "fixed"}}
	body["annotations"] = []map[string]any{{"key": "final", "value": true}}
	mustStatus(t, api(t, s, "PUT", "actions/fin", body), 200)
	r := api(t, s, "POST", "actions/fin?blocking=true", map[string]any{"name": "other"})
	mustStatus(t, r, 400)
	if msg := r.errMsg(t); msg != "Request defines parameters that are not allowed (e.g., reserved properties)." {
		t.Errorf("%q", msg)
	}
	// New parameters are fine.
	r = api(t, s, "POST", "actions/fin?blocking=true&result=true", map[string]any{"extra": 1})
	mustStatus(t, r, 200)
	if r.obj(t)["greeting"] != "Hello fixed" {
		t.Errorf("%s", r.body)
	}
	// Without final, the request overrides.
	body["annotations"] = []map[string]any{}
	mustStatus(t, api(t, s, "PUT", "actions/fin?overwrite=true", body), 200)
	r = api(t, s, "POST", "actions/fin?blocking=true&result=true", map[string]any{"name": "other"})
	mustStatus(t, r, 200)
	if r.obj(t)["greeting"] != "Hello other" {
		t.Errorf("%s", r.body)
	}
}

var (
	perMinuteRE  = regexp.MustCompile(`^Too many requests in the last minute \(count: (\d+), allowed: 2\)\.$`)
	concurrentRE = regexp.MustCompile(`^Too many concurrent requests in flight \(count: (\d+), allowed: 1\)\.$`)
)

// TestThrottling: 429 with OpenWhisk's messages for the per-minute and
// the concurrent limits.
func TestThrottling(t *testing.T) {
	t.Run("perMinute", func(t *testing.T) {
		s := apptest.Start(t, func(c *config.Config) { c.Limits.ActionsInvokesPerMinute = 2 })
		putPy(t, s, "hello", pyHello, nil)
		mustStatus(t, api(t, s, "POST", "actions/hello?blocking=true", nil), 200)
		mustStatus(t, api(t, s, "POST", "actions/hello", nil), 202)
		r := api(t, s, "POST", "actions/hello?blocking=true", nil)
		if r.status == 429 {
			if m := perMinuteRE.FindStringSubmatch(r.errMsg(t)); m == nil || m[1] != "2" && m[1] != "3" {
				t.Errorf("message %q", r.errMsg(t))
			}
			return
		}
		// The minute may have turned between the requests; then the next
		// two decide.
		mustStatus(t, r, 200)
		mustStatus(t, api(t, s, "POST", "actions/hello", nil), 202)
		r = api(t, s, "POST", "actions/hello", nil)
		mustStatus(t, r, 429)
		if perMinuteRE.FindStringSubmatch(r.errMsg(t)) == nil {
			t.Errorf("message %q", r.errMsg(t))
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := apptest.Start(t, func(c *config.Config) { c.Limits.ActionsInvokesConcurrent = 1 })
		putPy(t, s, "sleep", pySleep, nil)
		r := api(t, s, "POST", "actions/sleep", map[string]any{"sleep": 2})
		mustStatus(t, r, 202)
		r = api(t, s, "POST", "actions/sleep?blocking=true", map[string]any{"sleep": 0})
		mustStatus(t, r, 429)
		if m := concurrentRE.FindStringSubmatch(r.errMsg(t)); m == nil {
			t.Errorf("message %q", r.errMsg(t))
		}
		// A refused invocation leaves no record.
		if n := count(t, s, "activations"); n != 0 {
			t.Errorf("%d records", n)
		}
	})
}

// TestConcurrentUpdates: N writers overwrite one action at once; each
// succeeds or gets 409, the final document is one of the writes, and the
// version counts the successful updates.
func TestConcurrentUpdates(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "shared", pyHello, nil) // 0.0.1
	const n = 16
	var wg sync.WaitGroup
	var ok, conflict atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := pyAction(pyHello)
			body["parameters"] = []map[string]any{{"key": "writer", "value": i}}
			r := api(t, s, "PUT", "actions/shared?overwrite=true", body)
			switch r.status {
			case 200:
				ok.Add(1)
			case 409:
				if msg := r.errMsg(t); msg != "Concurrent modification to resource detected." {
					t.Errorf("409 message %q", msg)
				}
				conflict.Add(1)
			default:
				t.Errorf("status %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() == 0 {
		t.Fatal("no writer succeeded")
	}
	r := api(t, s, "GET", "actions/shared", nil)
	mustStatus(t, r, 200)
	var a struct {
		Version    string `json:"version"`
		Parameters []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"parameters"`
		Exec struct {
			Code string `json:"code"`
		} `json:"exec"`
	}
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("0.0.%d", 1+ok.Load()); a.Version != want {
		t.Errorf("version %s after %d successful updates, want %s", a.Version, ok.Load(), want)
	}
	if len(a.Parameters) != 1 || a.Parameters[0].Key != "writer" || a.Exec.Code != pyHello {
		t.Errorf("final document is not one of the writes: %s", r.body)
	}
	// It still runs.
	mustStatus(t, api(t, s, "POST", "actions/shared?blocking=true", nil), 200)
	t.Logf("%d succeeded, %d conflicted", ok.Load(), conflict.Load())
}
