package app

import (
	"net/http"
	"strings"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/console"
)

// withConsole serves the web console (/console/) in front of next, its
// stream authenticated by authn as the REST API is, and runs its sampler
// among the app's background goroutines.
func (a *App) withConsole(next http.Handler, authn *auth.Authenticator) http.Handler {
	cfg := console.Config{Auth: authn, Metrics: a.Metrics, Logger: a.logger}
	if a.pool != nil {
		cfg.Pool = a.consolePool
	}
	c := console.New(cfg)
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		c.Run(a.ctx)
	}()
	return c.Wrap(next)
}

// consolePool is the pool as namespace sees it: the whole pool's
// aggregate numbers and the containers of namespace's own actions only.
func (a *App) consolePool(namespace string) console.Pool {
	s := a.pool.Stats()
	p := console.Pool{
		MemoryUsedMB: s.MemoryUsedMB, MemoryLimitMB: s.MemoryLimitMB,
		Warm: s.Warm, Busy: s.Busy, Prewarm: s.Prewarm, PrewarmStarting: s.PrewarmStarting,
		Queued:  s.Queued,
		Actions: []console.ActionContainer{},
	}
	prefix := namespace + "/"
	for _, ac := range a.pool.Actions(func(key string) bool { return strings.HasPrefix(key, prefix) }) {
		action, version, _ := strings.Cut(strings.TrimPrefix(ac.Key, prefix), "@")
		p.Actions = append(p.Actions, console.ActionContainer{Action: action, Version: version, Warm: ac.Warm, Busy: ac.Busy})
	}
	return p
}
