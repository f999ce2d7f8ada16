package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/whirlfaas/whirl/internal/bus"
)

// Heartbeats go over core NATS on <prefix>.presence: not stored, to every
// subscriber (every controller), at most once. A controller learns the
// live invokers from them (internal/balancer); a lost heartbeat is made
// good by the next one.

var _ bus.Presence = (*Bus)(nil)

func (b *Bus) presenceSubject() string { return b.opt.prefix + ".presence" }

// Beat publishes hb on the presence subject.
func (b *Bus) Beat(ctx context.Context, hb *bus.Heartbeat) error {
	if b.closed.Load() {
		return fmt.Errorf("beat %s: %w", hb.Invoker, ErrClosed)
	}
	data, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("beat %s: %w", hb.Invoker, err)
	}
	if err := b.nc.Publish(b.presenceSubject(), data); err != nil {
		return fmt.Errorf("beat %s: %w", hb.Invoker, err)
	}
	return nil
}

// Heartbeats subscribes to the presence subject until ctx is done. It
// returns once the server has the subscription.
func (b *Bus) Heartbeats(ctx context.Context, h bus.HeartbeatHandler) error {
	if b.closed.Load() {
		return fmt.Errorf("heartbeats: %w", ErrClosed)
	}
	sub, err := b.nc.Subscribe(b.presenceSubject(), func(m *natsgo.Msg) {
		if ctx.Err() != nil || b.closed.Load() {
			return
		}
		var hb bus.Heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil {
			b.log.Error("nats bus: dropping an undecodable heartbeat", "err", err)
			return
		}
		h(b.ctx, &hb)
	})
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = b.nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		return fmt.Errorf("heartbeats: %w", err)
	}
	context.AfterFunc(ctx, func() {
		if !b.closed.Load() {
			_ = sub.Unsubscribe()
		}
	})
	return nil
}
