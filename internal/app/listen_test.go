package app_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
)

// safety bounds every wait of these tests: reaching it is a failure (the
// server did not close or answer), never the expected outcome.
const safety = 15 * time.Second

// dialHeld opens a connection to s and sends request (raw HTTP). With
// wantAnswer it reads the answer and leaves the connection open: an idle
// keep-alive connection.
func dialHeld(t *testing.T, s *apptest.Server, request string, wantAnswer bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	if wantAnswer {
		c.SetReadDeadline(time.Now().Add(safety))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("held connection: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("held connection: status %d", resp.StatusCode)
		}
	}
	return c
}

// closedWithin reports whether the server closed c: a read returns end
// of file (or a reset) before d passes.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	var b [512]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue
		}
		return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
	}
}

// TestConnectionBounds: with every connection slot held by idle
// keep-alive connections and a slowloris connection (headers never
// finished), a new request waits instead of failing, and is served once
// the idle timeout closes an idle connection; the slowloris connection is
// closed by the header timeout. Before, idle connections were held for
// ever and there was no cap: they exhausted the file descriptors.
func TestConnectionBounds(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) {
		c.HTTP.MaxConnections = 3
		c.HTTP.IdleTimeout = time.Second
		c.HTTP.ReadHeaderTimeout = time.Second
	})
	http.DefaultClient.CloseIdleConnections() // apptest's readiness probe
	const get = "GET /api/v1 HTTP/1.1\r\nHost: whirl\r\n\r\n"
	held := []net.Conn{
		dialHeld(t, s, get, true),
		dialHeld(t, s, get, true),
	}
	slowloris := dialHeld(t, s, "GET /api/v1 HTTP/1.1\r\nHost: whirl\r\nX-Slow: ", false)

	// A real request over a connection of its own.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("real request not served: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("real request: status %d", resp.StatusCode)
	}
	// It was served only once the server had closed an idle connection,
	// so that connection's end of file is already here.
	closed := 0
	for _, c := range held {
		if closedWithin(c, 50*time.Millisecond) {
			closed++
		}
	}
	if closed == 0 {
		t.Errorf("the request was served while every connection slot was held: no cap")
	}
	for i, c := range held {
		if !closedWithin(c, safety) {
			t.Errorf("idle connection %d was not closed", i)
		}
	}
	if !closedWithin(slowloris, safety) {
		t.Errorf("slowloris connection was not closed")
	}
}

// TestBodyReadTimeout: a body sent too slowly is cut off with 400 after
// http.bodyReadTimeout, but the bound ends with the body: a blocking
// invoke whose action runs longer than it is answered. (http.Server's
// ReadTimeout would cancel the request's context mid-wait.)
func TestBodyReadTimeout(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) {
		c.HTTP.BodyReadTimeout = 500 * time.Millisecond
	})
	putPy(t, s, "sleep", pySleep, nil)

	c := dialHeld(t, s, "POST /api/v1/namespaces/_/actions/sleep?blocking=true HTTP/1.1\r\nHost: whirl\r\n"+
		"Authorization: Basic "+basic(s.GuestAuth)+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sl", false)
	c.SetReadDeadline(time.Now().Add(safety))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("a body that never ends was waited for without bound")
		}
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("slow body: status %d, want 400", resp.StatusCode)
	}

	r := api(t, s, "POST", "actions/sleep?blocking=true&result=true", map[string]any{"sleep": 1.5})
	mustStatus(t, r, 200)
	if v := r.obj(t)["slept"]; v != 1.5 {
		t.Errorf("result %s", r.body)
	}
	if n := count(t, s, "activations"); n != 1 {
		t.Errorf("%d activations, want 1 (the slow body ran nothing)", n)
	}
}

// basic is the value of a Basic Authorization header for uuid:key.
func basic(auth string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
