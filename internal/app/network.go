package app

import (
	"context"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/container/process"
)

// actionNetwork returns the network mode of action containers for cfg, and
// whether it is the automatic default (which falls back to none, with a
// warning, where isolated is unavailable; an explicit isolated fails the
// start instead). The default is isolated, except for `whirl up` (the role
// without a bus) listening on loopback: host, for a developer whose
// actions call local services.
func actionNetwork(cfg *config.Config) (mode string, auto bool) {
	if cfg.ActionNetwork != "" {
		return cfg.ActionNetwork, false
	}
	if cfg.Bus == "" && config.IsLoopback(cfg.Listen) {
		return process.NetworkHost, true
	}
	return process.NetworkIsolated, true
}

// sharedAddrs returns the addresses of cfg's store and bus, which isolated
// actions never reach even when an allowed range covers them. Names are
// resolved now; a name that does not resolve blocks nothing.
func sharedAddrs(cfg *config.Config) []string {
	var hosts []string
	if s := cfg.Store; s != "" {
		if u, err := url.Parse(s); err == nil && u.Scheme != "" {
			hosts = append(hosts, strings.Split(u.Host, ",")...)
		} else {
			for _, kv := range strings.Fields(s) {
				if v, ok := strings.CutPrefix(kv, "host="); ok {
					hosts = append(hosts, strings.Split(v, ",")...)
				}
			}
		}
	}
	for _, b := range strings.Split(cfg.Bus, ",") {
		if u, err := url.Parse(strings.TrimSpace(b)); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for _, h := range hosts {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		h = strings.Trim(h, "[]")
		if h == "" || strings.HasPrefix(h, "/") {
			continue // a Unix socket is not on the network
		}
		if ip := net.ParseIP(h); ip != nil {
			out = append(out, ip.String())
			continue
		}
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, h)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			out = append(out, ip.IP.String())
		}
	}
	return out
}
