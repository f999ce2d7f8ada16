package app_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// serve runs one request through s's handler in process.
func serve(s *apptest.Server, method, path string, body []byte) *httptest.ResponseRecorder {
	path, query, _ := strings.Cut(path, "?")
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.URL.RawQuery = query
	u, k, _ := strings.Cut(s.GuestAuth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.App.Handler().ServeHTTP(rec, req)
	return rec
}

var putSeeds = []string{
	``, `{}`, `{`, `[]`, `null`, `"x"`,
	`{"exec":{"kind":"python:3","code":"def main(a):\n  return a"}}`,
	`{"exec":{"kind":"python:3","code":"UEsDBA==","binary":true}}`,
	`{"exec":{"kind":"python:3","code":"%%%","binary":true}}`,
	`{"exec":{"kind":"sequence","components":["/_/a"]}}`,
	`{"exec":{"kind":"blackbox","image":"x"}}`,
	`{"exec":{"kind":"nodejs:default","code":"x"},"limits":{"timeout":100,"memory":128,"logs":0,"concurrency":1}}`,
	`{"limits":{"timeout":1e99}}`, `{"limits":{"memory":-0}}`, `{"limits":{"instances":0}}`,
	`{"parameters":[{"key":"a","value":{"b":[1,2]}}],"annotations":[{"key":"web-export","value":true}]}`,
	`{"parameters":[{"key":"a"}]}`, `{"parameters":[{"key":""}]}`, `{"parameters":null}`,
	`{"delAnnotations":["exec"]}`, `{"version":"9.9.9"}`, `{"publish":true}`,
	"{\"exec\":{\"kind\":\"python:3\",\"code\":\"\\u0000\"}}", `{"exec":{"kind":"python:3","code":""}}`,
}

// FuzzActionPut: no PUT body makes the server fail (500) or panic, and a
// refused PUT leaves the stored action unchanged.
func FuzzActionPut(f *testing.F) {
	for _, s := range putSeeds {
		f.Add([]byte(s), true)
	}
	s := apptest.Start(f)
	putPy(f, s, "fuzz", pyHello, nil)
	f.Fuzz(func(t *testing.T, body []byte, overwrite bool) {
		before := storedDoc(t, s, "fuzz")
		path := "/api/v1/namespaces/_/actions/fuzz"
		if overwrite {
			path += "?overwrite=true"
		}
		rec := serve(s, "PUT", path, body)
		if rec.Code >= 500 {
			t.Fatalf("PUT %q: %d %s", body, rec.Code, rec.Body)
		}
		if rec.Code != 200 {
			if after := storedDoc(t, s, "fuzz"); !bytes.Equal(before, after) {
				t.Fatalf("refused PUT %q changed the action", body)
			}
			if !strings.Contains(rec.Body.String(), `"error"`) {
				t.Fatalf("error without OpenWhisk's shape: %s", rec.Body)
			}
		}
		// Whatever is stored can be read back.
		if g := serve(s, "GET", "/api/v1/namespaces/_/actions/fuzz", nil); g.Code != 200 {
			t.Fatalf("GET after PUT %q: %d %s", body, g.Code, g.Body)
		}
		// A fresh name, created with the same body, fails or succeeds
		// the same way as a create.
		rec = serve(s, "PUT", "/api/v1/namespaces/_/actions/fuzz2?overwrite=true", body)
		if rec.Code >= 500 {
			t.Fatalf("create %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzInvoke: no invoke body or query makes the server fail (500) or
// panic.
func FuzzInvoke(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"name":"x"}`, `{`, `[1]`, `5`, `"s"`, `null`, `{"a":1}x`, `{"name":{"deep":[1,{"x":null}]}}`, "{\"name\":\"\\ud800\"}"} {
		f.Add([]byte(s), "blocking=true&result=true")
	}
	f.Add([]byte(`{}`), "blocking=true&timeout=0")
	f.Add([]byte(`{}`), "blocking=maybe")
	f.Add([]byte(`{}`), "blocking=true&timeout=99999999999999999999")
	f.Add([]byte(`{}`), "%zz")
	s := apptest.Start(f)
	putPy(f, s, "fuzz", pyHello, nil)
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		// Only blocking invokes (the first value counts): non-blocking
		// ones would pile up.
		rec := serve(s, "POST", "/api/v1/namespaces/_/actions/fuzz?blocking=true&"+query, body)
		if rec.Code >= 500 && rec.Code != http.StatusBadGateway {
			t.Fatalf("invoke %q ?%s: %d %s", body, query, rec.Code, rec.Body)
		}
		// 502 is the action's own failure (e.g. python cannot print a
		// lone surrogate); the server must answer in OpenWhisk's shape.
		if rec.Code != http.StatusOK && rec.Code != http.StatusAccepted && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("invoke %q ?%s: %d without an error: %s", body, query, rec.Code, rec.Body)
		}
	})
}
