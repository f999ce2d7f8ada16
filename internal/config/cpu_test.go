package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserCPUs: containerPool.userCpus comes from a file (nested, as in
// the chart's values), the environment or --set; it must be a
// non-negative number.
func TestUserCPUs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "whirl.yaml")
	if err := os.WriteFile(p, []byte("containerPool:\n  userCpus: 1.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if c.ContainerPool.UserCPUs != 0 {
		t.Fatalf("default userCpus %g, want 0 (no cap)", c.ContainerPool.UserCPUs)
	}
	if err := c.LoadFile(p); err != nil || c.ContainerPool.UserCPUs != 1.5 {
		t.Fatalf("from a file: %g, %v", c.ContainerPool.UserCPUs, err)
	}
	if err := c.LoadEnv([]string{"WHIRL_CONTAINERPOOL_USERCPUS=2"}); err != nil || c.ContainerPool.UserCPUs != 2 {
		t.Fatalf("from the environment: %g, %v", c.ContainerPool.UserCPUs, err)
	}
	if err := c.Set("containerPool.userCpus", "lots"); err == nil || !strings.HasPrefix(err.Error(), "containerPool.userCpus: ") {
		t.Fatalf("a bad value: %v", err)
	}
	if err := c.Set("containerPool.userCpus", "-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(); err == nil || !strings.Contains(err.Error(), "containerPool.userCpus: must not be negative") {
		t.Fatalf("a negative value: %v", err)
	}
}
