package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/proxy"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// ProxyOptions configure `whirl proxy`.
type ProxyOptions struct {
	Kind     string // the runtime kind the image serves, e.g. "python:3"
	WorkDir  string // where the action's code goes
	Sandbox  string // "none" inside a container image
	MemoryMB int
}

// NewProxy returns OpenWhisk's /init + /run runtime server for one kind,
// running Whirl's launchers, and a function that stops its container.
func NewProxy(o ProxyOptions) (http.Handler, func(context.Context) error, error) {
	k, err := runtimes.Default().Resolve(o.Kind)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(o.WorkDir, 0o711); err != nil {
		return nil, nil, fmt.Errorf("work dir: %w", err)
	}
	f, err := process.New(process.Options{WorkDir: o.WorkDir, Sandbox: o.Sandbox, Network: true})
	if err != nil {
		return nil, nil, err
	}
	s := proxy.New(f, k.Kind)
	if o.MemoryMB > 0 {
		s.MemoryMB = o.MemoryMB
	}
	stop := func(ctx context.Context) error {
		err := s.Close(ctx)
		if cerr := f.Close(ctx); err == nil {
			err = cerr
		}
		return err
	}
	return s, stop, nil
}

// ProxyServer returns the HTTP server of `whirl proxy` for h, with the
// default bounds of every Whirl listener (config.HTTP) but no write
// timeout — the invoker bounds /run by the action's own timeout — and ln
// capped at the default number of open connections.
func ProxyServer(h http.Handler, ln net.Listener) (*http.Server, net.Listener) {
	cfg := config.Default()
	return newHTTPServer(cfg, h, nil, -1), limitListener(ln, cfg)
}
