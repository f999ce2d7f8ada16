package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/whirlfaas/whirl/client"
)

// fakeAuth is the key the fake server accepts.
const fakeAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// fake is a small in-memory stand-in for the trigger routes of the
// OpenWhisk REST API, for the CLI tests whose routes the real server does
// not serve yet (TODO(triggers): delete it when the controller serves
// /api/v1/namespaces/{ns}/triggers). Every other collection answers 404,
// so a feed action never exists.
type fake struct {
	mu       sync.Mutex
	triggers map[string]*client.Trigger
}

func newFake() *fake {
	return &fake{triggers: map[string]*client.Trigger{}}
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
