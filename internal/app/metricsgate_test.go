package app_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
)

// getMetrics is GET url with authorization (a full header value, or "").
func getMetrics(t *testing.T, url, authorization string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// loopbackURL is s's URL over 127.0.0.1, whatever address it is bound to.
func loopbackURL(t *testing.T, s *apptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + port
}

// TestMetricsOnlyToOperator: GET /metrics, which names every tenant's
// actions, is answered to loopback callers of a server bound to loopback,
// and otherwise only with the metrics token or on the metrics listener —
// never to a tenant's key. Before, it was answered to anyone.
func TestMetricsOnlyToOperator(t *testing.T) {
	const token = "operator-token-0123456789"
	tenant := "Basic " + basic(auth.GuestKey)

	t.Run("loopback", func(t *testing.T) {
		s := apptest.Start(t)
		putPy(t, s, "secret-name", pyHello, nil)
		mustStatus(t, api(t, s, "POST", "actions/secret-name?blocking=true", nil), 200)
		r := getMetrics(t, s.URL+"/metrics", "")
		mustStatus(t, r, 200)
		if !strings.Contains(string(r.body), `action="secret-name"`) {
			t.Errorf("metrics do not name the action: %.300s", r.body)
		}
	})

	t.Run("bound to every interface", func(t *testing.T) {
		s := apptest.Start(t, func(c *config.Config) { c.Listen = "0.0.0.0:0" })
		url := loopbackURL(t, s) + "/metrics"
		// A local caller is not enough: an action on the host network, or
		// a reverse proxy, calls from loopback too.
		for _, auth := range []string{"", tenant, "Bearer " + token} {
			r := getMetrics(t, url, auth)
			mustStatus(t, r, 403)
			if msg := r.errMsg(t); !strings.Contains(msg, "only to the operator") {
				t.Errorf("403 message %q", msg)
			}
		}
	})

	t.Run("token", func(t *testing.T) {
		s := apptest.Start(t, func(c *config.Config) {
			c.Listen = "0.0.0.0:0"
			c.Metrics.Token = token
		})
		url := loopbackURL(t, s) + "/metrics"
		for _, auth := range []string{"", tenant, "Bearer wrong-token-0123456789", "Bearer " + token + "x", token} {
			mustStatus(t, getMetrics(t, url, auth), 403)
		}
		r := getMetrics(t, url, "Bearer "+token)
		mustStatus(t, r, 200)
		if !strings.Contains(string(r.body), "whirl_activations_in_flight") {
			t.Errorf("metrics: %.300s", r.body)
		}
		// With a token, loopback is not enough even on loopback.
		s = apptest.Start(t, func(c *config.Config) { c.Metrics.Token = token })
		mustStatus(t, getMetrics(t, s.URL+"/metrics", ""), 403)
		mustStatus(t, getMetrics(t, s.URL+"/metrics", "Bearer "+token), 200)
	})

	t.Run("metrics listener", func(t *testing.T) {
		s := apptest.Start(t, func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" })
		mustStatus(t, getMetrics(t, s.URL+"/metrics", ""), 404)
		mustStatus(t, getMetrics(t, s.MetricsURL+"/metrics", ""), 200)
		mustStatus(t, getMetrics(t, s.MetricsURL+"/api/v1", ""), 404)

		s = apptest.Start(t, func(c *config.Config) {
			c.Metrics.Listen = "127.0.0.1:0"
			c.Metrics.Token = token
		})
		mustStatus(t, getMetrics(t, s.MetricsURL+"/metrics", ""), 403)
		mustStatus(t, getMetrics(t, s.MetricsURL+"/metrics", "Bearer "+token), 200)
		mustStatus(t, getMetrics(t, s.URL+"/metrics", "Bearer "+token), 404)
	})
}
