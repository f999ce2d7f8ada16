package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/whirlfaas/whirl/whisk"
)

// GET /metrics names every namespace and action that ran: it is the
// operator's, never a tenant's. It is answered
//   - with metricsListen set, only on that listener (the API listener
//     answers 404), to whoever reaches it, or only with the token when
//     metricsToken is set too;
//   - else with metricsToken set, on the API listener to a caller
//     presenting "Authorization: Bearer <token>";
//   - else only when the API listener is bound to loopback and the caller
//     is on loopback (a laptop's `whirl up`). A reverse proxy on the same
//     host makes every caller look local: behind one, set metricsToken or
//     metricsListen.

// msgMetricsForbidden is the 403 of /metrics to anyone but the operator.
const msgMetricsForbidden = "GET /metrics is answered only to the operator: present the metrics token (Authorization: Bearer), or scrape the metrics listener (metricsListen), or call from loopback to a server bound to loopback."

// metricsGate serves h to the operator only, as above.
type metricsGate struct {
	h     http.Handler
	token [sha256.Size]byte // of the token; zero when there is none
	// open serves every caller when there is no token: the metrics
	// listener, whose address the operator chose.
	open bool
	// loopback is set by Serve when the API listener is bound to loopback
	// only.
	loopback atomic.Bool
}

// newMetricsGate returns a gate in front of h for token (may be empty).
func newMetricsGate(h http.Handler, token string, open bool) *metricsGate {
	g := &metricsGate{h: h, open: open}
	if token != "" {
		g.token = sha256.Sum256([]byte(token))
	}
	return g
}

func (g *metricsGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.allowed(r) {
		g.h.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msgMetricsForbidden, "code": whisk.NewActivationID()})
}

// allowed reports whether r is the operator's.
func (g *metricsGate) allowed(r *http.Request) bool {
	if g.token != [sha256.Size]byte{} {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		return ok && subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
	}
	return g.open || g.loopback.Load() && isLoopbackAddr(r.RemoteAddr)
}

// isLoopbackAddr reports whether host:port is a loopback address.
func isLoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// metricsServing is an App's /metrics: the gate on the API listener, or
// the server of the metrics listener.
type metricsServing struct {
	gate    *metricsGate // on the API listener; nil with metricsListen
	serving              // the metrics listener's server, once ServeMetrics runs
}

// apiMetrics returns the /metrics handler of the API listener: nil (no
// route) when metricsListen moves /metrics to a listener of its own.
func (a *App) apiMetrics() http.Handler {
	if a.Config.Metrics.Listen != "" {
		return nil
	}
	a.metrics.gate = newMetricsGate(a.Metrics.Handler(), a.Config.Metrics.Token, false)
	return a.metrics.gate
}

// boundTo tells the API listener's gate the address it serves on.
func (m *metricsServing) boundTo(addr net.Addr) {
	if m.gate != nil {
		m.gate.loopback.Store(isLoopbackAddr(addr.String()))
	}
}

// ServeMetrics answers GET /metrics on ln, the metricsListen listener
// (with the token when metricsToken is set), until Close. It returns nil
// after a clean shutdown.
func (a *App) ServeMetrics(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", newMetricsGate(a.Metrics.Handler(), a.Config.Metrics.Token, true))
	return a.metrics.serve(newHTTPServer(a.Config, mux, a.logger, 0), limitListener(ln, a.Config), nil)
}
