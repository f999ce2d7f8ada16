package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/whirlfaas/whirl/internal/config"
)

// ServePprof serves Go's profiler (net/http/pprof: /debug/pprof/, CPU and
// heap profiles, goroutines, traces) on cfg.Pprof, a loopback address
// (config.Config.Pprof, opt-in: `--pprof 127.0.0.1:6060`), so that anyone
// can profile a running Whirl with `go tool pprof`. It returns the bound
// address and a function that stops the listener; nothing is served when
// cfg.Pprof is empty (a nil address and a no-op stop).
func ServePprof(cfg *config.Config, logger *slog.Logger) (net.Addr, func(), error) {
	if cfg.Pprof == "" {
		return nil, func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.Pprof)
	if err != nil {
		return nil, nil, fmt.Errorf("pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A CPU profile or a trace streams for its ?seconds=: no write
	// timeout.
	srv := newHTTPServer(cfg, mux, logger, -1)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && logger != nil {
			logger.Warn("pprof listener stopped", "err", err)
		}
	}()
	return ln.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
