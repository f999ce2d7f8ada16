package config

import (
	"strings"
	"testing"
	"time"
)

// TestRetentionKeys: activations.* default to a week of history, are set
// from every source and refuse nonsense.
func TestRetentionKeys(t *testing.T) {
	c := Default()
	if c.Activations.Retention != 7*24*time.Hour || c.Activations.MaxPerNamespace != 0 || c.Activations.PruneInterval != time.Minute {
		t.Fatalf("defaults: %+v", c.Activations)
	}
	if err := c.Set("activations.retention", "3 d"); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv([]string{"WHIRL_ACTIVATIONS_MAXPERNAMESPACE=1000"}); err != nil {
		t.Fatal(err)
	}
	if err := c.loadYAML([]byte("activations:\n  pruneInterval: 10s\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Activations != (Activations{Retention: 72 * time.Hour, MaxPerNamespace: 1000, PruneInterval: 10 * time.Second}) {
		t.Fatalf("set: %+v", c.Activations)
	}
	if err := c.Set("activations.retention", "0"); err != nil || c.Validate() != nil {
		t.Fatalf("retention 0 (keep forever) refused: %v, %v", err, c.Validate())
	}
	for key, v := range map[string]string{"activations.retention": "10s", "activations.maxPerNamespace": "-1", "activations.pruneInterval": "0"} {
		c := Default()
		if err := c.Set(key, v); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: %v, want an error naming the key", key, v, err)
		}
	}
}
