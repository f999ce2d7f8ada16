package config

import (
	"testing"
	"time"
)

// TestFailoverKeys: busTLS.{ca,cert,key} and invokerTimeout are keys like
// the others.
func TestFailoverKeys(t *testing.T) {
	c := Default()
	for k, v := range map[string]string{"busTLS.ca": "/ca.pem", "busTLS.cert": "/c.pem", "busTLS.key": "/c.key", "invokerTimeout": "2s"} {
		if err := c.Set(k, v); err != nil {
			t.Fatalf("Set %s: %v", k, err)
		}
	}
	if c.BusTLS.CA != "/ca.pem" || c.BusTLS.Cert != "/c.pem" || c.BusTLS.Key != "/c.key" || c.InvokerTimeout != 2*time.Second {
		t.Fatalf("got %+v, %v", c.BusTLS, c.InvokerTimeout)
	}
}
