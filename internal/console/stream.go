package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/whirlfaas/whirl/internal/metrics"
	"github.com/whirlfaas/whirl/whisk"
)

// Tick is one "tick" event of the stream: the caller's namespace's last
// second, and the system's aggregate gauges.
type Tick struct {
	metrics.Point
	// InFlight and QueuedAll are the whole system's activations running
	// and non-blocking invocations waiting: aggregates, no tenant's.
	InFlight  int64 `json:"inFlight"`
	QueuedAll int64 `json:"queuedAll"`
}

// Hello is the stream's first event, "hello": who the caller is, and the
// namespace's history (seconds not listed had nothing).
type Hello struct {
	Namespace string          `json:"namespace"`
	Now       int64           `json:"now"`
	Statuses  []string        `json:"statuses"`
	Starts    []string        `json:"starts"`
	History   []metrics.Point `json:"history"`
}

// stream is GET /console/stream: server-sent events for the caller's
// namespace, authenticated as the REST API is. It sends "hello", then a
// "tick" at every sample and a "pool" every few ticks, until the client
// goes away.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	id, err := c.cfg.Auth.Authenticate(r.Context(), r)
	if err != nil {
		var we *whisk.Error
		if errors.As(err, &we) && we.Status == http.StatusUnauthorized {
			writeError(w, http.StatusUnauthorized, we.Message)
			return
		}
		c.cfg.Logger.Warn("console stream: authenticate", "err", err)
		writeError(w, http.StatusInternalServerError, "The server could not authenticate the request at the moment.")
		return
	}
	c.endStreamsOnShutdown(r)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	ns := id.Namespace
	tick, last := c.next()
	if last == 0 {
		last = time.Now().Unix()
	}
	hello := Hello{Namespace: ns, Now: last, Statuses: metrics.Statuses[:], Starts: metrics.Starts[:], History: c.history.Points(ns)}
	if hello.History == nil {
		hello.History = []metrics.Point{}
	}
	if send(w, "hello", hello) != nil {
		return
	}
	if c.cfg.Pool != nil && send(w, "pool", c.cfg.Pool(ns)) != nil {
		return
	}
	_ = rc.Flush()
	for n := 1; ; n++ {
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-tick:
		}
		tick, last = c.next()
		st := c.cfg.Metrics.Rate(time.Second)
		if send(w, "tick", Tick{Point: c.history.Latest(ns, last), InFlight: st.InFlight, QueuedAll: st.Queued}) != nil {
			return
		}
		if c.cfg.Pool != nil && n%2 == 0 && send(w, "pool", c.cfg.Pool(ns)) != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// send writes one server-sent event.
func send(w http.ResponseWriter, event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("console stream: %w", err)
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}

// writeError answers OpenWhisk's error shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "code": whisk.NewActivationID()})
}
