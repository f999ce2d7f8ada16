package config

import (
	"net"
	"time"
)

// HTTP bounds what one client can hold of a server's listener: how long it
// may take to send a request's headers and body, how long a keep-alive
// connection may sit idle, and how many connections are open at once. It
// applies to every listener Whirl serves HTTP on (`whirl up`, `whirl
// controller`, `whirl invoker`, the metrics listener, `whirl proxy`).
type HTTP struct {
	// ReadHeaderTimeout bounds reading a request's headers
	// (http.readHeaderTimeout): a client that never finishes them
	// (slowloris) is disconnected.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds reading a request's body, from the end of
	// its headers (http.bodyReadTimeout). It does not bound the answer:
	// a blocking invoke may wait for its action after the body is read.
	BodyReadTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request (http.idleTimeout).
	IdleTimeout time.Duration
	// MaxConnections caps the connections open at once on a listener
	// (http.maxConnections); past it new connections wait to be
	// accepted. 0 derives the cap from the file-descriptor limit; -1
	// sets no cap.
	MaxConnections int
}

// Metrics says who GET /metrics answers: it names every tenant's actions,
// so never the tenants themselves.
type Metrics struct {
	// Listen, when set, is a separate listener for /metrics (metricsListen,
	// e.g. 127.0.0.1:9090); the API listener then does not serve it.
	Listen string
	// Token, when set, is a Bearer token that opens /metrics wherever it
	// is served (metricsToken); it also turns off the loopback rule.
	Token string
}

// defaultHTTP is the HTTP of Default.
func defaultHTTP() HTTP {
	return HTTP{ReadHeaderTimeout: 10 * time.Second, BodyReadTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
}

// serverKnobs are the keys of HTTP and Metrics.
var serverKnobs = []knob{
	durationKnob("http.readHeaderTimeout", func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout }),
	durationKnob("http.bodyReadTimeout", func(c *Config) *time.Duration { return &c.HTTP.BodyReadTimeout }),
	durationKnob("http.idleTimeout", func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout }),
	intKnob("http.maxConnections", func(c *Config) *int { return &c.HTTP.MaxConnections }),
	stringKnob("metricsListen", func(c *Config) *string { return &c.Metrics.Listen }),
	stringKnob("metricsToken", func(c *Config) *string { return &c.Metrics.Token }),
	stringKnob("pprof", func(c *Config) *string { return &c.Pprof }),
}

// validateServer checks HTTP and Metrics.
func (c *Config) validateServer(bad func(key, format string, args ...any)) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"http.readHeaderTimeout", c.HTTP.ReadHeaderTimeout},
		{"http.bodyReadTimeout", c.HTTP.BodyReadTimeout},
		{"http.idleTimeout", c.HTTP.IdleTimeout},
	} {
		if d.v <= 0 {
			bad(d.key, "must be positive")
		}
	}
	if c.HTTP.MaxConnections < -1 {
		bad("http.maxConnections", "must be positive, 0 (derived from the file-descriptor limit) or -1 (no cap)")
	}
	if c.Pprof != "" && !loopbackHostPort(c.Pprof) {
		bad("pprof", "%q is not a loopback host:port (the profiler shows the process's internals: serve it on 127.0.0.1 or [::1] only)", c.Pprof)
	}
	if c.Metrics.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Metrics.Listen); err != nil || port == "" {
			bad("metricsListen", "%q is not a host:port address", c.Metrics.Listen)
		}
	}
	if t := c.Metrics.Token; t != "" && len(t) < 16 {
		bad("metricsToken", "must be at least 16 characters")
	}
}

// WriteTimeout bounds writing a response, from the end of the request's
// headers: the longest a blocking invoke or a web action may wait for an
// action (the longer of limits.actions.time.max and blockingWait) and a
// minute to send the answer. It is derived, not set.
func (c *Config) WriteTimeout() time.Duration {
	return max(c.Limits.Actions.Time.Max, c.BlockingWait, time.Minute) + time.Minute
}

// loopbackHostPort reports whether addr is host:port with a port and a
// loopback host (localhost, 127.0.0.0/8, ::1).
func loopbackHostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
