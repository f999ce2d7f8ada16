package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAPITutorialE2E drives the tutorial's API steps with the CLI's own
// code against a real server: action create --web true, api create (the
// URL it prints answers), list, get, several verbs and paths, delete, and
// --config-file.
func TestAPITutorialE2E(t *testing.T) {
	s := newSession(t)
	src := s.file("read.py", "def main(args):\n    return {'got': args.get('key'), 'method': args.get('__ow_method')}\n")
	_, _, code := s.run("action", "create", "read-py", src, "--kind", "python:3", "--web", "true")
	s.expectCode(code, 0, "action create")
	_, _, code = s.run("action", "create", "plain", src, "--kind", "python:3")
	s.expectCode(code, 0, "action create plain")

	out, _, code := s.run("api", "create", "/readpy", "post", "read-py")
	s.expectCode(code, 0, "api create")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	uuid, _, _ := strings.Cut(s.auth, ":")
	want := s.url + "/api/" + uuid + "/readpy"
	if len(lines) != 2 || lines[0] != "ok: created API /readpy POST for action /_/read-py" || lines[1] != want {
		t.Fatalf("api create printed %q, want the URL %s", out, want)
	}

	post := func(url, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	if status, m := post(lines[1], `{"key":"xuz006"}`); status != 200 || m["got"] != "xuz006" || m["method"] != "post" {
		t.Fatalf("POST %s: %d %v", lines[1], status, m)
	}

	// Another verb on the same path and another path for the same action.
	_, _, code = s.run("api", "create", "/readpy", "get", "read-py")
	s.expectCode(code, 0, "api create get")
	out, _, code = s.run("api", "create", "/readpy111", "post", "read-py")
	s.expectCode(code, 0, "api create readpy111")
	if !strings.Contains(out, s.url+"/api/"+uuid+"/readpy111") {
		t.Errorf("second path printed %q", out)
	}
	out, _, code = s.run("api", "list")
	s.expectCode(code, 0, "api list")
	for _, w := range []string{"/guest/read-py", "post", "get", want, want + "111"} {
		if !strings.Contains(out, w) {
			t.Errorf("api list lacks %q:\n%s", w, out)
		}
	}
	out, _, code = s.run("api", "get", "/")
	s.expectCode(code, 0, "api get")
	var sw struct {
		BasePath string                    `json:"basePath"`
		Paths    map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &sw); err != nil || sw.BasePath != "/" || len(sw.Paths["/readpy"]) != 2 {
		t.Errorf("api get: %v %s", err, out)
	}

	// A non-web action is refused by the CLI before any API is made.
	_, errOut, code := s.run("api", "create", "/nope", "get", "plain")
	if code == 0 || !strings.Contains(errOut, "is not a web action") {
		t.Errorf("non-web action: %d %s", code, errOut)
	}

	out, _, code = s.run("api", "delete", "/", "/readpy", "get")
	s.expectCode(code, 0, "api delete operation")
	if strings.TrimSpace(out) != "ok: deleted /readpy GET from /" {
		t.Errorf("delete operation printed %q", out)
	}
	if status, _ := post(want, `{"key":"a"}`); status != 200 {
		t.Errorf("POST after GET deleted: %d", status)
	}
	_, _, code = s.run("api", "delete", "/")
	s.expectCode(code, 0, "api delete")
	if status, _ := post(want, `{"key":"a"}`); status != 404 {
		t.Errorf("POST after delete: %d", status)
	}
	_, errOut, code = s.run("api", "delete", "/")
	if code == 0 || !strings.Contains(errOut, "API '/' does not exist.") {
		t.Errorf("delete again: %d %s", code, errOut)
	}

	// --config-file imports a swagger document.
	cfg := s.file("api.json", `{"swagger":"2.0","info":{"title":"imported","version":"1.0"},"basePath":"/imp",
		"paths":{"/go":{"post":{"operationId":"postGo","x-openwhisk":{"namespace":"_","package":"","action":"read-py","url":""},"responses":{}}}}}`)
	out, _, code = s.run("api", "create", "--config-file", cfg)
	s.expectCode(code, 0, "api create --config-file")
	if want := "ok: created API /imp/go POST for action /guest/read-py\n" + s.url + "/api/" + uuid + "/imp/go\n"; out != want {
		t.Errorf("config-file printed %q, want %q (one line and URL per operation, as wsk)", out, want)
	}
	if status, m := post(s.url+"/api/"+uuid+"/imp/go", `{"key":"k"}`); status != 200 || m["got"] != "k" {
		t.Errorf("imported API: %d %v", status, m)
	}
	bad := s.file("bad.json", `{"swagger":"2.0","info":{"title":"t"},"basePath":"/b","paths":{"/x":{"get":{}}}}`)
	_, errOut, code = s.run("api", "create", "--config-file", bad)
	if code == 0 || !strings.Contains(errOut, "names no action") {
		t.Errorf("bad swagger: %d %s", code, errOut)
	}
}
