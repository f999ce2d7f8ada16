// Package apptest starts a complete standalone Whirl in process for tests:
// a fresh data directory, a loopback listener on a free port, OpenWhisk's
// well-known guest key, and limits raised so that test suites are not
// throttled (tests of throttling set their own).
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
)

// Server is a running Whirl.
type Server struct {
	App       *app.App
	URL       string // http://127.0.0.1:port
	GuestAuth string // uuid:key of namespace guest
	DataDir   string
	// MetricsURL is http://<metrics listener> when the configuration
	// sets metricsListen, else "".
	MetricsURL string
}

// Start starts a Whirl for t, stopped in t.Cleanup. Each option edits the
// configuration before start.
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Limits.ActionsInvokesPerMinute = 1000000
	cfg.Limits.ActionsInvokesConcurrent = 100000
	cfg.Limits.TriggersFiresPerMinute = 1000000
	for _, o := range opts {
		o(cfg)
	}
	return StartConfig(t, cfg)
}

// StartConfig starts a Whirl with cfg as given (DataDir and Listen must be
// set).
func StartConfig(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	var mln net.Listener
	if cfg.Metrics.Listen != "" {
		if mln, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			ln.Close()
			t.Fatal(err)
		}
	}
	cfg.APIHost = ""
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(context.Background(), cfg, logger)
	if err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- a.Serve(ln) }()
	s := &Server{App: a, URL: "http://" + ln.Addr().String(), GuestAuth: auth.GuestKey, DataDir: cfg.DataDir}
	servers := 1
	if mln != nil {
		s.MetricsURL = "http://" + mln.Addr().String()
		servers++
		go func() { served <- a.ServeMetrics(mln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		for range servers {
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	waitReady(t, s.URL)
	return s
}

func waitReady(t testing.TB, url string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/api/v1")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("whirl at %s did not answer", url)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
