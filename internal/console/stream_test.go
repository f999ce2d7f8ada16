package console

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/metrics"
	"github.com/whirlfaas/whirl/whisk"
)

// keys authenticates two tenants by their Basic user name.
type keys map[string]string

func (k keys) Authenticate(_ context.Context, r *http.Request) (auth.Identity, error) {
	u, p, ok := r.BasicAuth()
	if !ok || k[u] == "" || p != "secret" {
		return auth.Identity{}, &whisk.Error{Status: http.StatusUnauthorized, Message: whisk.MsgAuthInvalid}
	}
	return auth.Identity{Namespace: k[u]}, nil
}

// TestStreamShowsOnlyTheCallersNamespace: the stream refuses a caller
// without a valid key (401, OpenWhisk's error shape), and a tenant's
// stream carries its own numbers and pool view, never another's.
func TestStreamShowsOnlyTheCallersNamespace(t *testing.T) {
	m := metrics.New()
	var asked []string
	c := New(Config{
		Auth:    keys{"a": "alice", "b": "bob"},
		Metrics: m,
		Pool: func(ns string) Pool {
			asked = append(asked, ns)
			return Pool{Actions: []ActionContainer{{Action: ns + "-only"}}}
		},
		Interval: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	srv := httptest.NewServer(c.Wrap(http.NotFoundHandler()))
	defer srv.Close()

	for _, user := range []string{"", "nobody"} {
		req, _ := http.NewRequest("GET", srv.URL+"/console/stream", nil)
		if user != "" {
			req.SetBasicAuth(user, "secret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("stream for %q: %d %s", user, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	for range 5 {
		m.ActivationCompleted("bob", "secret-action", "success", metrics.StartWarm, time.Millisecond)
	}
	m.ActivationCompleted("alice", "mine", "success", metrics.StartCold, time.Millisecond)
	req, _ := http.NewRequest("GET", srv.URL+"/console/stream", nil)
	req.SetBasicAuth("a", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var events []string
	var alice bool
	for sc.Scan() && len(events) < 12 {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		events = append(events, line)
		if strings.Contains(line, "bob") || strings.Contains(line, `"sync":5`) {
			t.Fatalf("alice's stream shows bob's activity: %s", line)
		}
		if strings.Contains(line, `"sync":1`) {
			alice = true
		}
	}
	if !strings.Contains(events[0], `"namespace":"alice"`) || !alice {
		t.Fatalf("alice's stream lacks her own numbers: %v", events)
	}
	for _, ns := range asked {
		if ns != "alice" {
			t.Fatalf("the pool was asked for %q on alice's stream", ns)
		}
	}
}

// TestPages: every console path serves the page with a policy that lets
// it reach its own origin only; assets are served; other paths pass on.
func TestPages(t *testing.T) {
	c := New(Config{Auth: keys{}, Metrics: metrics.New()})
	h := c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for path, want := range map[string]int{
		"/console/": 200, "/console/activations/0123abcd": 200, "/console/actions/pkg/hello": 200,
		"/console/static/app.js": 200, "/console/static/chart.js": 200, "/console/static/console.css": 200,
		"/console/static/nope.js": 404, "/console": 301, "/api/v1": http.StatusTeapot, "/consoles": http.StatusTeapot,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if want == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("GET %s: no content security policy", path)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/console/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/: %d", rec.Code)
	}
}
