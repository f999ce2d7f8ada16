package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
)

// runAndClose starts a Whirl, runs a blocking and a non-blocking action
// and a non-blocking sequence on it, and closes it while the sequence's
// slow component still runs, with less time than it needs.
func runAndClose(t *testing.T) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	base := "http://" + ln.Addr().String() + "/api/v1/namespaces/_/"
	do := func(method, path string, body any) []byte {
		b, _ := json.Marshal(body)
		var resp *http.Response
		for range 100 { // until the server answers
			req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
			u, k, _ := strings.Cut(auth.GuestKey, ":")
			req.SetBasicAuth(u, k)
			req.Header.Set("Content-Type", "application/json")
			if resp, err = client.Do(req); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 && resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	do("PUT", "actions/echo", map[string]any{"exec": map[string]any{"kind": "python:3", "code": "def main(a):\n    return a\n"}})
	do("PUT", "actions/slow", map[string]any{"exec": map[string]any{"kind": "python:3", "code": "import time\ndef main(a):\n    time.sleep(3)\n    return a\n"}})
	do("PUT", "actions/seq", map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/_/echo", "/_/slow"}}})
	do("POST", "actions/echo?blocking=true", map[string]any{})
	do("POST", "actions/echo", map[string]any{})
	do("POST", "actions/seq", map[string]any{})
	// Shutdown gets less time than the sequence needs: what is still
	// running is stopped (the journal runs it again after a restart).
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Logf("close: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	tr.CloseIdleConnections()
}

// whirlGoroutines returns the stacks of the goroutines running Whirl's
// code, but the test's own.
func whirlGoroutines() []string {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "whirlfaas/whirl/internal/") && !strings.Contains(g, "_test.go") {
			out = append(out, g)
		}
	}
	return out
}

// TestCloseLeaksNoGoroutine: every goroutine a Whirl starts (the server,
// the controller's sequences, the invoker, the pool, the feeds, the
// limits reloader) has an owner that stops and waits for it: once Close
// returns, no goroutine runs Whirl's code (a moment is left for owned
// ones to leave the scheduler), and no more goroutines are left than
// before (the first run starts what libraries keep for good).
func TestCloseLeaksNoGoroutine(t *testing.T) {
	runAndClose(t)
	before := runtime.NumGoroutine()
	runAndClose(t)
	deadline := time.Now().Add(300 * time.Millisecond)
	for (len(whirlGoroutines()) > 0 || runtime.NumGoroutine() > before) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := whirlGoroutines(); len(left) > 0 {
		t.Fatalf("%d goroutines run Whirl's code after Close:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	if n := runtime.NumGoroutine(); n > before {
		var stacks bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("%d goroutines after Close, %d before the run:\n%s", n, before, stacks.String())
	}
}

// TestServeAfterClose: a Serve that starts after Close (a caller whose
// goroutine was slow to start) returns at once instead of serving for
// ever: before, Close found no server to shut down and the caller's wait
// for Serve never ended.
func TestServeAfterClose(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		ln.Close()
		t.Fatal("Serve after Close still serves")
	}
}
