package config

import (
	"strings"
	"testing"
	"time"
)

// TestServerKeys: the listener bounds and the metrics access are set by
// key (file, environment, --set) and validated.
func TestServerKeys(t *testing.T) {
	c := Default()
	for k, v := range map[string]string{
		"http.readHeaderTimeout": "2s",
		"http.bodyReadTimeout":   "1m",
		"http.idleTimeout":       "30s",
		"http.maxConnections":    "500",
		"metricsListen":          "127.0.0.1:9090",
		"metricsToken":           "0123456789abcdef",
	} {
		if err := c.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.LoadEnv([]string{"WHIRL_HTTP_IDLE_TIMEOUT=45s"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	want := HTTP{ReadHeaderTimeout: 2 * time.Second, BodyReadTimeout: time.Minute, IdleTimeout: 45 * time.Second, MaxConnections: 500}
	if c.HTTP != want || c.Metrics != (Metrics{Listen: "127.0.0.1:9090", Token: "0123456789abcdef"}) {
		t.Errorf("HTTP %+v, Metrics %+v", c.HTTP, c.Metrics)
	}
	for k, v := range map[string]string{
		"http.idleTimeout":    "0",
		"http.maxConnections": "-2",
		"metricsListen":       "9090",
		"metricsToken":        "short",
	} {
		c := Default()
		if err := c.Set(k, v); err != nil {
			t.Fatal(err)
		}
		if err := c.Resolve(); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

// TestWriteTimeout: a response may take longer than the longest action
// and the longest blocking wait, as configured.
func TestWriteTimeout(t *testing.T) {
	c := Default()
	if err := c.Set("limits.actions.time.max", "30m"); err != nil {
		t.Fatal(err)
	}
	if d := c.WriteTimeout(); d <= 30*time.Minute {
		t.Errorf("write timeout %s with a 30m action limit", d)
	}
	c = Default()
	c.BlockingWait = 10 * time.Minute
	if d := c.WriteTimeout(); d <= 10*time.Minute {
		t.Errorf("write timeout %s with a 10m blocking wait", d)
	}
}
