package config

import (
	"strings"
	"testing"
)

// TestBusCredentials: busCredentials is a key like the others (file,
// environment), and a refused bus URL is shown without its credentials,
// whether or not it parses.
func TestBusCredentials(t *testing.T) {
	c := Default()
	if err := c.LoadEnv([]string{"WHIRL_BUS_CREDENTIALS=/etc/whirl/nats/credentials"}); err != nil {
		t.Fatal(err)
	}
	if c.BusCredentials != "/etc/whirl/nats/credentials" {
		t.Fatalf("BusCredentials = %q", c.BusCredentials)
	}
	for _, bus := range []string{"http://whirl:s3cret@nats:4222", "nats://whirl:s3cret@nats:port", "s3cret@nats:4222"} {
		c := Default()
		if err := c.Set("bus", bus); err != nil {
			t.Fatal(err)
		}
		err := c.Resolve()
		if err == nil || !strings.HasPrefix(err.Error(), "bus:") || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "REDACTED@nats:") {
			t.Errorf("bus=%q: got %v, want an error naming bus without the secret", bus, err)
		}
	}
}
