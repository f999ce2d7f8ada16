package app

import (
	"context"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/config"
)

// heartbeatEvery is how often an invoker announces itself: a third of
// the controllers' timeout, so that two lost heartbeats do not make it
// dead.
func heartbeatEvery(cfg *config.Config) time.Duration {
	if cfg.InvokerTimeout > 0 {
		return max(cfg.InvokerTimeout/3, 10*time.Millisecond)
	}
	return time.Second
}

// startHeartbeats announces the invoker name on the bus until the app
// closes, with its capacity (the pool's user memory, MB), and says it
// is leaving when it closes, so that controllers route around it at
// once. A bus without presence gets no heartbeats.
func (a *App) startHeartbeats(cfg *config.Config, name string) {
	a.beat(cfg, bus.Heartbeat{Invoker: name, Capacity: cfg.ContainerPool.UserMemory})
}

// startControllerHeartbeats announces the controller name, so that the
// controllers know how many split the limits and the invokers' capacity.
func (a *App) startControllerHeartbeats(cfg *config.Config, name string) {
	a.beat(cfg, bus.Heartbeat{Controller: name})
}

// beat sends hb every heartbeat interval until the app closes, then once
// more, leaving.
func (a *App) beat(cfg *config.Config, tmpl bus.Heartbeat) {
	p, ok := a.bus.(bus.Presence)
	if !ok {
		return
	}
	every := heartbeatEvery(cfg)
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			hb := tmpl
			hb.Sent = time.Now()
			if err := p.Beat(a.ctx, &hb); err != nil && a.ctx.Err() == nil {
				a.logger.Warn("heartbeat not sent", "err", err)
			}
			select {
			case <-a.ctx.Done():
				hb.Leaving, hb.Sent = true, time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = p.Beat(ctx, &hb)
				cancel()
				return
			case <-t.C:
			}
		}
	}()
}
