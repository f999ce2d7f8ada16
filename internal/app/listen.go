package app

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/whirlfaas/whirl/internal/config"
)

// Every listener Whirl serves HTTP on — the API of `whirl up` and `whirl
// controller`, the invoker's /metrics and /healthz, the metrics listener,
// `whirl proxy` — bounds what one client can hold: the time to send
// headers and body, the time a keep-alive connection may sit idle, and
// the connections open at once (config.HTTP).

// maxConnectionsCeiling bounds the cap derived from the file-descriptor
// limit: an open connection also costs a goroutine and its buffers (some
// 20 KB), so past this many the memory, not the descriptors, runs out.
const maxConnectionsCeiling = 16384

// newHTTPServer returns a server for h with cfg's bounds. Its write
// timeout is cfg.WriteTimeout (longer than any blocking wait for an
// action); writeTimeout < 0 sets none.
func newHTTPServer(cfg *config.Config, h http.Handler, logger *slog.Logger, writeTimeout time.Duration) *http.Server {
	if writeTimeout == 0 {
		writeTimeout = cfg.WriteTimeout()
	}
	srv := &http.Server{
		Handler:           bodyDeadline(h, cfg.HTTP.BodyReadTimeout),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		WriteTimeout:      max(writeTimeout, 0),
		IdleTimeout:       cfg.HTTP.IdleTimeout,
	}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}

// limitListener caps the connections ln has open at once at
// maxConnections(cfg): past the cap, new connections wait in the kernel's
// accept queue until one closes. No cap returns ln.
func limitListener(ln net.Listener, cfg *config.Config) net.Listener {
	if n := maxConnections(cfg); n > 0 {
		return netutil.LimitListener(ln, n)
	}
	return ln
}

// maxConnections is the cap of http.maxConnections: as set; none for -1;
// for 0, three quarters of the soft file-descriptor limit (the rest is
// kept for the store, the bus and the containers' pipes), at least 64 and
// at most maxConnectionsCeiling.
func maxConnections(cfg *config.Config) int {
	switch n := cfg.HTTP.MaxConnections; {
	case n > 0:
		return n
	case n < 0:
		return 0
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > maxConnectionsCeiling*4 {
		return maxConnectionsCeiling
	}
	return int(max(64, rl.Cur/4*3))
}

// bodyDeadline bounds reading each request's body to d from the moment h
// is called: a client that sends its body too slowly is cut off. The
// deadline is lifted once the body is read to its end, so that it never
// bounds the wait for the answer; it stays after a failed or partial read,
// so that what net/http discards of an unread body after the handler is
// bounded too. (http.Server's
// ReadTimeout cannot do this: net/http cancels a request's context when
// the connection's read deadline passes while the handler runs, which
// would cut off blocking invokes.)
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body whose connection read deadline is
// lifted at its end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	once sync.Once
}

// Read reads the body; at its end it removes the read deadline: the
// server's background read (which notices a client going away) must not
// time out while the handler waits.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
	}
	return n, err
}
