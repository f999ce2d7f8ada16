package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/whirlfaas/whirl/client"
)

// fakeAuth is the key the fake server accepts.
const fakeAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// fake is a small in-memory stand-in for the OpenWhisk REST API: enough of
// the routes for the CLI's golden tests until the real server is wired in.
// Invocations finish at once with the parameters as result (or an
// application error when the parameters hold "fail").
type fake struct {
	mu          sync.Mutex
	actions     map[string]*client.Action
	triggers    map[string]*client.Trigger
	activations []*client.Activation
	clock       int64
}

func newFake() *fake {
	return &fake{actions: map[string]*client.Action{}, triggers: map[string]*client.Trigger{}, clock: 1700000000000}
}

func (f *fake) errorf(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg, "code": "tid"})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, p, ok := r.BasicAuth()
	if !ok || u+":"+p != fakeAuth {
		f.errorf(w, 401, "The supplied authentication is invalid")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v1")
	if path == "/namespaces" {
		reply(w, 200, []string{"guest"})
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(path, "/namespaces/"), "/", 3)
	if len(parts) < 2 {
		f.errorf(w, 404, "The requested resource does not exist.")
		return
	}
	coll, name := parts[1], ""
	if len(parts) == 3 {
		name = parts[2]
	}
	body, _ := io.ReadAll(r.Body)
	switch coll {
	case "actions":
		f.serveAction(w, r, name, body)
	case "activations":
		f.serveActivation(w, r, name)
	case "triggers":
		f.serveTrigger(w, r, name, body)
	case "rules", "packages":
		if r.Method == http.MethodGet && name == "" {
			reply(w, 200, []any{})
			return
		}
		f.errorf(w, 404, "The requested resource does not exist.")
	default:
		f.errorf(w, 404, "The requested resource does not exist.")
	}
}

func (f *fake) serveAction(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	a := f.actions[name]
	switch {
	case r.Method == http.MethodGet && name == "":
		names := make([]string, 0, len(f.actions))
		for n := range f.actions {
			names = append(names, n)
		}
		sort.Strings(names)
		out := []client.Action{}
		for _, n := range names {
			s := *f.actions[n]
			s.Exec = nil
			out = append(out, s)
		}
		reply(w, 200, out)
	case r.Method == http.MethodPut:
		var put client.Action
		if err := json.Unmarshal(body, &put); err != nil {
			f.errorf(w, 400, "The request content was malformed.")
			return
		}
		if a != nil && r.URL.Query().Get("overwrite") != "true" {
			f.errorf(w, 409, "resource already exists")
			return
		}
		if a == nil {
			if put.Exec == nil {
				f.errorf(w, 400, "The request content was malformed:\nexec undefined")
				return
			}
			a = &client.Action{Namespace: "guest", Name: name, Version: "0.0.1"}
			a.Annotations = client.KeyValues{}.Set("provide-api-key", false)
		} else {
			a.Version = "0.0.2"
		}
		if put.Exec != nil {
			a.Exec = put.Exec
		}
		a.Parameters = put.Parameters
		a.Annotations = a.Annotations.Merge(put.Annotations)
		for _, k := range put.DelAnnotations {
			a.Annotations = a.Annotations.Delete(k)
		}
		a.Annotations = a.Annotations.Set("exec", a.Exec.Kind)
		t, m := 60000, 256
		a.Limits = &client.Limits{Timeout: &t, Memory: &m}
		if put.Limits != nil && put.Limits.Timeout != nil {
			a.Limits.Timeout = put.Limits.Timeout
		}
		f.actions[name] = a
		reply(w, 200, a)
	case a == nil:
		f.errorf(w, 404, "The requested resource does not exist.")
	case r.Method == http.MethodGet:
		out := *a
		if r.URL.Query().Get("code") == "false" {
			ex := *a.Exec
			ex.Code = nil
			out.Exec = &ex
		}
		reply(w, 200, out)
	case r.Method == http.MethodDelete:
		delete(f.actions, name)
		reply(w, 200, a)
	case r.Method == http.MethodPost:
		f.clock += 1000
		id := fmt.Sprintf("%032x", len(f.activations)+1)
		var params map[string]any
		json.Unmarshal(body, &params)
		res, _ := json.Marshal(params)
		act := &client.Activation{Namespace: "guest", Name: name, Version: a.Version, Subject: "guest", ActivationID: id,
			Start: f.clock, End: f.clock + 3, Duration: 3, Logs: []string{"2024-05-01T17:42:09.338809562Z stdout: hello"},
			Response: &client.Response{Status: "success", Success: true, Result: res}}
		act.Annotations = act.Annotations.Set("path", "guest/"+name).Set("kind", a.Exec.Kind)
		if len(f.activations) == 0 {
			act.Annotations = act.Annotations.Set("initTime", 12)
		}
		status := 200
		if _, bad := params["fail"]; bad {
			act.Response = &client.Response{Status: "application error", StatusCode: 1, Result: json.RawMessage(`{"error":"it failed"}`)}
			act.StatusCode = 1
			status = 502
		}
		f.activations = append(f.activations, act)
		w.Header().Set("X-Openwhisk-Activation-Id", id)
		q := r.URL.Query()
		switch {
		case q.Get("blocking") != "true":
			reply(w, 202, map[string]string{"activationId": id})
		case q.Get("result") == "true":
			reply(w, status, act.Response.Result)
		default:
			reply(w, status, act)
		}
	}
}

func (f *fake) serveActivation(w http.ResponseWriter, r *http.Request, rest string) {
	if rest == "" {
		q := r.URL.Query()
		out := []client.Activation{}
		for i := len(f.activations) - 1; i >= 0; i-- {
			a := *f.activations[i]
			if q.Get("name") != "" && a.Name != q.Get("name") {
				continue
			}
			if s := q.Get("since"); s != "" && fmt.Sprint(a.Start) < s {
				continue
			}
			if q.Get("docs") != "true" {
				a.Response, a.Logs = nil, nil
			}
			out = append(out, a)
			if q.Get("limit") == "1" {
				break
			}
		}
		reply(w, 200, out)
		return
	}
	id, sub, _ := strings.Cut(rest, "/")
	for _, a := range f.activations {
		if a.ActivationID != id {
			continue
		}
		switch sub {
		case "":
			reply(w, 200, a)
		case "logs":
			reply(w, 200, map[string]any{"logs": a.Logs})
		case "result":
			reply(w, 200, client.ActivationResult{Status: a.Response.Status, Success: a.Response.Success, Result: a.Response.Result})
		}
		return
	}
	f.errorf(w, 404, "The requested resource does not exist.")
}

func (f *fake) serveTrigger(w http.ResponseWriter, r *http.Request, name string, body []byte) {
	t := f.triggers[name]
	switch {
	case r.Method == http.MethodGet && name == "":
		out := []client.Trigger{}
		for _, t := range f.triggers {
			out = append(out, *t)
		}
		reply(w, 200, out)
	case r.Method == http.MethodPut:
		var put client.Trigger
		json.Unmarshal(body, &put)
		put.Namespace, put.Name, put.Version = "guest", name, "0.0.1"
		f.triggers[name] = &put
		reply(w, 200, put)
	case t == nil:
		f.errorf(w, 404, "The requested resource does not exist.")
	case r.Method == http.MethodDelete:
		delete(f.triggers, name)
		reply(w, 200, t)
	default:
		reply(w, 200, t)
	}
}

// startFake starts the fake server and returns its URL and key.
func startFake(t testing.TB) (url, auth string) {
	srv := httptest.NewServer(newFake())
	t.Cleanup(srv.Close)
	return srv.URL, fakeAuth
}
