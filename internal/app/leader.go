package app

import (
	"context"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whirlfaas/whirl/internal/auth"
)

// The alarms scheduler is elected: every controller started with
// scheduleAlarms campaigns for a PostgreSQL session advisory lock (one
// per bus prefix), and the one holding it runs the schedules. The lock
// lives as long as its session: a leader that dies (kill -9, a lost
// host) loses its connection, PostgreSQL releases the lock, and the next
// campaigner takes over within campaignEvery. A leader that can no longer
// reach PostgreSQL stops scheduling as soon as its session check fails;
// until then it cannot record a tick either (ticks are recorded, with the
// schedule's revision, before they fire), so no tick fires twice.

// campaignEvery is how often a follower tries the lock and a leader
// checks that its session is alive.
const campaignEvery = 500 * time.Millisecond

// leaderKey is the advisory lock of the alarms scheduler of deployment
// prefix.
func leaderKey(prefix string) int64 {
	h := fnv.New64a()
	h.Write([]byte("whirl alarms leader " + prefix))
	return int64(h.Sum64() >> 1)
}

// elector campaigns for the alarms scheduler until ctx ends.
type elector struct {
	dsn    string
	key    int64
	logger *slog.Logger
	// lead runs the schedules until its context ends.
	lead func(ctx context.Context)
}

// run campaigns, leads while it holds the lock, and campaigns again
// when it loses it.
func (e *elector) run(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := e.acquire(ctx)
		if err != nil {
			return
		}
		e.logger.Info("alarms scheduler: this controller leads")
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.lead(lctx) }()
		e.hold(lctx, conn)
		cancel()
		<-done
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		ccancel()
		if ctx.Err() == nil {
			e.logger.Warn("alarms scheduler: lost the lock (PostgreSQL session ended); campaigning again")
		}
	}
}

// acquire returns a session that holds the lock, once it does.
func (e *elector) acquire(ctx context.Context) (*pgx.Conn, error) {
	t := time.NewTicker(campaignEvery)
	defer t.Stop()
	var conn *pgx.Conn
	for {
		if conn == nil {
			c, err := pgx.Connect(ctx, e.dsn)
			if err == nil {
				conn = c
			} else if ctx.Err() == nil {
				e.logger.Warn("alarms scheduler: cannot reach PostgreSQL to campaign", "err", err)
			}
		}
		if conn != nil {
			var got bool
			err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", e.key).Scan(&got)
			if err == nil && got {
				return conn, nil
			}
			if err != nil {
				_ = conn.Close(context.Background())
				conn = nil
			}
		}
		select {
		case <-ctx.Done():
			if conn != nil {
				_ = conn.Close(context.Background())
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// hold returns when ctx ends or the session that holds the lock fails.
func (e *elector) hold(ctx context.Context, conn *pgx.Conn) {
	t := time.NewTicker(campaignEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, campaignEvery)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			return
		}
	}
}

// startElection makes this controller campaign for the alarms scheduler:
// while it leads, a.feeds runs the schedules (and reloads the ones
// written elsewhere, through sync).
func (a *App) startElection(dsn, prefix string, sync *cacheSync) {
	e := &elector{dsn: dsn, key: leaderKey(prefix), logger: a.logger, lead: func(ctx context.Context) {
		if err := a.feeds.Start(ctx, a.ctrl); err != nil {
			a.logger.Error("alarms scheduler: start", "err", err)
			return
		}
		sync.feeds.Store(a.feeds)
		<-ctx.Done()
		sync.feeds.Store(nil)
		a.feeds.Wait()
	}}
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		e.run(a.ctx)
	}()
}

// bootstrapKey serialises the controllers' bootstraps in one database.
const bootstrapKey = int64(0x5768726c426f6f74) // "WhrlBoot"

// bootstrapOnce runs auth.Bootstrap under a PostgreSQL advisory lock, so
// that controllers started together create the well-known namespaces'
// keys once: the second one waits, then finds them.
func (a *App) bootstrapOnce(ctx context.Context, dsn string, useWellKnown bool) ([]auth.Printed, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", bootstrapKey); err != nil {
		return nil, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", bootstrapKey)
	return auth.Bootstrap(ctx, a.Store.Auth(), useWellKnown)
}
