package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// Python actions used across the suites.
const (
	pyHello = `def main(args):
    print("hello " + str(args.get("name", "stranger")))
    return {"greeting": "Hello " + str(args.get("name", "stranger"))}
`
	pyAppError = `def main(args):
    return {"error": "bad input"}
`
	pyRaise = `def main(args):
    raise Exception("boom")
`
	pySleep = `import time
def main(args):
    time.sleep(float(args.get("sleep", 5)))
    return {"slept": args.get("sleep", 5)}
`
	pyExit = `import sys
def main(args):
    sys.exit(1)
`
	pyArray = `def main(args):
    return [1, 2, 3]
`
)

// reply is a raw HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r reply) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// obj decodes the body as a JSON object.
func (r reply) obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("body is not an object: %s", r.body)
	}
	return m
}

// errMsg returns the "error" of an OpenWhisk error body, checking that the
// body has the error shape.
func (r reply) errMsg(t testing.TB) string {
	t.Helper()
	m := r.obj(t)
	msg, ok := m["error"].(string)
	if !ok {
		t.Fatalf("no error string in %s", r.body)
	}
	if code, ok := m["code"].(string); !ok || code == "" {
		t.Fatalf("no code in error body %s", r.body)
	}
	return msg
}

// call sends a request with auth (empty: none) and a body (string,
// []byte, io.Reader or a value to encode as JSON; nil: none).
func call(t testing.TB, method, url, auth string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		u, k, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(u, k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// api calls /api/v1/namespaces/_/<path> as guest.
func api(t testing.TB, s *apptest.Server, method, path string, body any) reply {
	t.Helper()
	return call(t, method, s.URL+"/api/v1/namespaces/_/"+path, s.GuestAuth, body)
}

// mustStatus fails unless r has the given status.
func mustStatus(t testing.TB, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// pyAction is a PUT body for a python:3 action.
func pyAction(code string) map[string]any {
	return map[string]any{"exec": map[string]any{"kind": "python:3", "code": code}}
}

// putPy creates (or overwrites) a python action.
func putPy(t testing.TB, s *apptest.Server, name, code string, limits map[string]any) {
	t.Helper()
	body := pyAction(code)
	if limits != nil {
		body["limits"] = limits
	}
	mustStatus(t, api(t, s, "PUT", "actions/"+name+"?overwrite=true", body), 200)
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawPost posts body with auth; unlike call it returns transport errors.
func rawPost(url, auth string, body io.Reader) (reply, error) {
	req, err := http.NewRequest("POST", url, body)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}
