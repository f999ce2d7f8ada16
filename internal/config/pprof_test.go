package config

import (
	"strings"
	"testing"
)

// TestPprofKey: the profiler's listener is set by key or environment and
// must be a loopback host:port.
func TestPprofKey(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:6060", "[::1]:0", "localhost:6060"} {
		c := Default()
		if err := c.LoadEnv([]string{"WHIRL_PPROF=" + ok}); err != nil {
			t.Fatal(err)
		}
		if err := c.Resolve(); err != nil || c.Pprof != ok {
			t.Errorf("pprof %q: Pprof %q, %v", ok, c.Pprof, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "10.0.0.1:6060", "6060", "example.com:6060"} {
		c := Default()
		if err := c.Set("pprof", bad); err != nil {
			t.Fatal(err)
		}
		if err := c.Resolve(); err == nil || !strings.Contains(err.Error(), "pprof") {
			t.Errorf("pprof %q accepted (%v)", bad, err)
		}
	}
}
