package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/controller"
)

// nested is a JSON object whose "a" nests depth-1 arrays.
func nested(depth int) string {
	return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// TestBadJSONBodies: a JSON body with invalid UTF-8 or nested too deeply
// answers 400 in OpenWhisk's shape, saying which, on every route that
// reads JSON — invoke, entity PUTs, trigger fires, web actions with a
// JSON content type — and nothing runs. Before, invalid UTF-8 reached the
// runtime (502 with Python's traceback) and a deep body either crashed
// the runtime's parser or was called "not a JSON object".
func TestBadJSONBodies(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "hello", pyHello, nil)
	web := pyAction(pyHello)
	web["annotations"] = []map[string]any{{"key": "web-export", "value": true}}
	mustStatus(t, api(t, s, "PUT", "actions/web?overwrite=true", web), 200)
	mustStatus(t, api(t, s, "PUT", "triggers/tr?overwrite=true", map[string]any{}), 200)

	badUTF8 := []byte("{\"name\":\"caf\xe9\"}")
	tooDeep := nested(controller.MaxJSONDepth + 1)
	wayTooDeep := nested(20000) // past Go's own limit too
	const utf8Msg, deepMsg = "not valid UTF-8", "nested too deeply"

	type route struct{ method, path string }
	routes := []route{
		{"POST", "actions/hello?blocking=true"},
		{"POST", "actions/hello"},
		{"PUT", "actions/new?overwrite=true"},
		{"PUT", "packages/pkg?overwrite=true"},
		{"PUT", "triggers/tr2?overwrite=true"},
		{"PUT", "rules/r?overwrite=true"},
		{"POST", "triggers/tr"},
	}
	for _, rt := range routes {
		for _, c := range []struct {
			body any
			want string
		}{{badUTF8, utf8Msg}, {tooDeep, deepMsg}, {wayTooDeep, deepMsg}} {
			r := api(t, s, rt.method, rt.path, c.body)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s %s (%s): status %d, want 400: %.200s", rt.method, rt.path, c.want, r.status, r.body)
				continue
			}
			if msg := r.errMsg(t); !strings.HasPrefix(msg, malformed) || !strings.Contains(msg, c.want) {
				t.Errorf("%s %s: message %q, want one saying %q", rt.method, rt.path, msg, c.want)
			}
		}
	}
	webURL := s.URL + "/api/v1/web/guest/default/web.json"
	for _, c := range []struct {
		body any
		want string
	}{{badUTF8, utf8Msg}, {tooDeep, deepMsg}} {
		r := call(t, "POST", webURL, "", c.body) // Content-Type: application/json
		if r.status != http.StatusBadRequest {
			t.Errorf("web action (%s): status %d, want 400: %.200s", c.want, r.status, r.body)
			continue
		}
		if msg := r.errMsg(t); !strings.Contains(msg, c.want) {
			t.Errorf("web action: message %q, want one saying %q", msg, c.want)
		}
	}
	if n := count(t, s, "activations"); n != 0 {
		t.Errorf("%d activations after refused bodies", n)
	}

	// What the runtimes take still runs: valid UTF-8 beyond ASCII, and
	// nesting up to the limit.
	r := api(t, s, "POST", "actions/hello?blocking=true&result=true", map[string]any{"name": "café ☕"})
	mustStatus(t, r, 200)
	if g := r.obj(t)["greeting"]; g != "Hello café ☕" {
		t.Errorf("greeting %v", g)
	}
	mustStatus(t, api(t, s, "POST", "actions/hello?blocking=true", nested(controller.MaxJSONDepth)), 200)
	mustStatus(t, call(t, "POST", webURL, "", `{"name":"x","s":"[[[[{{{{ in a string"}`), 200)
}
