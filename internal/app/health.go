package app

import (
	"encoding/json"
	"net/http"

	"github.com/whirlfaas/whirl/internal/store"
)

// withHealth serves GET /healthz in front of next: 200 {"status": "up"}
// while the store can write, and 503 {"status": "<why>"} (say "store: no
// space left on device: …") while it cannot, for a load balancer or an
// operator to see. Stores that do not report their health
// (store.HealthReporter) are taken as up.
func withHealth(next http.Handler, st store.Store) http.Handler {
	hr, _ := st.(store.HealthReporter)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		status, code := "up", http.StatusOK
		if hr != nil {
			if err := hr.Health(r.Context()); err != nil {
				status, code = err.Error(), http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
	})
}
