// Package console is Whirl's web console: a few plain HTML, CSS and
// JavaScript module files embedded in the binary and served under
// /console/, and the one thing the console needs beyond the public REST
// API — a server-sent-events stream of the caller's own live numbers
// (GET /console/stream).
//
// The page keeps the caller's key in the tab's session storage and calls
// the REST API with it (Basic auth), as the CLI does; the stream
// authenticates exactly as the REST API does and shows only the caller's
// namespace, plus numbers that are aggregates of the whole system (the
// pool's memory, containers in flight). Nothing names another tenant's
// namespace, action or count.
package console

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/metrics"
)

//go:embed static
var static embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console"

// csp lets the page load and call only its own origin: no other host is
// ever asked for anything.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Authenticator is what the console needs of internal/auth: the REST
// API's own authentication of a request.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (auth.Identity, error)
}

// Pool is the container pool as one namespace may see it: aggregate
// numbers of the whole pool and the containers of its own actions.
type Pool struct {
	MemoryUsedMB    int               `json:"memoryUsedMB"`
	MemoryLimitMB   int               `json:"memoryLimitMB"`
	Warm            int               `json:"warm"`
	Busy            int               `json:"busy"`
	Prewarm         int               `json:"prewarm"`
	PrewarmStarting int               `json:"prewarmStarting"`
	Queued          int               `json:"queued"`
	Actions         []ActionContainer `json:"actions"`
}

// ActionContainer are the containers of one version of one of the
// caller's actions.
type ActionContainer struct {
	Action  string `json:"action"`  // path in the namespace: "pkg/name" or "name"
	Version string `json:"version"` // the pool's version key after the name
	Warm    int    `json:"warm"`
	Busy    int    `json:"busy"`
}

// Config is what the console is built from.
type Config struct {
	Auth    Authenticator
	Metrics *metrics.Metrics
	// Pool returns the pool as namespace may see it; nil when this
	// process runs no pool (a scale-out controller).
	Pool   func(namespace string) Pool
	Logger *slog.Logger
	// Interval is how often the stream sends (default: a second).
	Interval time.Duration
}

// Console serves the console. Create it with New, wrap the API's handler
// with Wrap, and call Run for its sampler.
type Console struct {
	cfg     Config
	history *metrics.History
	files   http.Handler
	index   []byte

	mu   sync.Mutex
	last int64         // the Unix second of the latest sample
	tick chan struct{} // closed at the next sample

	// done is closed when a server that served a stream shuts down:
	// streams never end by themselves, and http.Server.Shutdown waits
	// for every request.
	done      chan struct{}
	closeOnce sync.Once
	servers   sync.Map // *http.Server -> struct{}: OnShutdown registered
}

// New returns a console over cfg.
func New(cfg Config) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	sub, _ := fs.Sub(static, "static")
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic("console: index.html is not embedded: " + err.Error())
	}
	return &Console{
		cfg:     cfg,
		history: metrics.NewHistory(cfg.Metrics),
		files:   http.StripPrefix(Prefix+"/static/", http.FileServerFS(sub)),
		index:   index,
		tick:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Run samples the metrics every interval until ctx ends.
func (c *Console) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.sample(now)
		}
	}
}

// sample records a second of history and wakes the streams.
func (c *Console) sample(now time.Time) {
	c.history.Sample(now)
	c.mu.Lock()
	c.last = now.Unix()
	close(c.tick)
	c.tick = make(chan struct{})
	c.mu.Unlock()
}

// endStreamsOnShutdown makes the shutdown of r's server end every stream.
func (c *Console) endStreamsOnShutdown(r *http.Request) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return
	}
	if _, loaded := c.servers.LoadOrStore(srv, struct{}{}); !loaded {
		srv.RegisterOnShutdown(func() { c.closeOnce.Do(func() { close(c.done) }) })
	}
}

// next returns the channel closed at the next sample, and the second of
// the latest one.
func (c *Console) next() (<-chan struct{}, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tick, c.last
}

// Wrap serves the console's paths and passes every other request to next.
func (c *Console) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p != Prefix && !strings.HasPrefix(p, Prefix+"/") {
			next.ServeHTTP(w, r)
			return
		}
		c.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the console's paths: the stream, the static files, and
// the page itself for every other path under Prefix (the page routes by
// path, so that a deep link survives a reload).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "The console answers GET and HEAD only.")
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	switch {
	case p == Prefix:
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	case p == Prefix+"/stream":
		c.stream(w, r)
	case strings.HasPrefix(p, Prefix+"/static/"):
		h.Set("Cache-Control", "no-cache")
		c.files.ServeHTTP(w, r)
	default:
		if path.Ext(p) != "" && !strings.HasPrefix(p, Prefix+"/activations/") {
			writeError(w, http.StatusNotFound, "The requested resource does not exist.")
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(c.index)
	}
}
