package app

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
)

// serving is one listener's server, shut down by Close whether Serve got
// to start it before or after: a Serve that starts once shutdown ran
// closes its listener and returns at once.
type serving struct {
	mu     sync.Mutex
	srv    *http.Server
	closed bool
}

// serve runs srv on ln (with TLS when cert is set) until shutdown, and
// returns nil after a clean one.
func (s *serving) serve(srv *http.Server, ln net.Listener, cert *tls.Certificate) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ln.Close()
	}
	s.srv = srv
	s.mu.Unlock()
	var err error
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown stops the server, if serve started one, and any started later.
func (s *serving) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}
