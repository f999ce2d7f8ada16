package app

import (
	"slices"
	"testing"

	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/container/process"
)

func TestActionNetworkDefault(t *testing.T) {
	for _, tc := range []struct {
		name, listen, bus, set string
		want                   string
		auto                   bool
	}{
		{"up on loopback", "127.0.0.1:3233", "", "", process.NetworkHost, true},
		{"up on every interface", "0.0.0.0:3233", "", "", process.NetworkIsolated, true},
		{"up on an address", "192.0.2.2:3233", "", "", process.NetworkIsolated, true},
		{"invoker", "127.0.0.1:3234", "nats://127.0.0.1:4222", "", process.NetworkIsolated, true},
		{"explicit", "0.0.0.0:3233", "", "host", process.NetworkHost, false},
		{"explicit isolated", "127.0.0.1:3233", "", "isolated", process.NetworkIsolated, false},
	} {
		cfg := config.Default()
		cfg.Listen, cfg.Bus, cfg.ActionNetwork = tc.listen, tc.bus, tc.set
		if got, auto := actionNetwork(cfg); got != tc.want || auto != tc.auto {
			t.Errorf("%s: %s (auto %v), want %s (auto %v)", tc.name, got, auto, tc.want, tc.auto)
		}
	}
}

func TestSharedAddrsBlocked(t *testing.T) {
	cfg := config.Default()
	cfg.Store = "postgres://whirl:secret@10.9.8.7:5432/whirl"
	cfg.Bus = "nats://10.9.8.6:4222, nats://localhost:4223"
	got := sharedAddrs(cfg)
	for _, want := range []string{"10.9.8.7", "10.9.8.6", "127.0.0.1"} {
		if !slices.Contains(got, want) {
			t.Errorf("sharedAddrs = %v, want %s among them", got, want)
		}
	}
	cfg.Store, cfg.Bus = "host=10.9.8.5 port=5432 dbname=whirl", ""
	if got := sharedAddrs(cfg); !slices.Equal(got, []string{"10.9.8.5"}) {
		t.Errorf("sharedAddrs(DSN) = %v", got)
	}
}
