package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	natsbus "github.com/whirlfaas/whirl/internal/bus/nats"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/controller"
	"github.com/whirlfaas/whirl/internal/feeds"
	"github.com/whirlfaas/whirl/internal/metrics"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/postgres"
)

// The scale-out roles are the two halves of New, started apart: the same
// startController and startInvoker, with PostgreSQL for the store and
// NATS JetStream for the bus.

// checkRole refuses a role configuration without the shared parts.
func checkRole(cfg *config.Config, role string) error {
	var errs []error
	if cfg.Store == "" {
		errs = append(errs, fmt.Errorf("store: whirl %s needs the shared PostgreSQL (--store postgres://…)", role))
	}
	if cfg.Bus == "" {
		errs = append(errs, fmt.Errorf("bus: whirl %s needs the shared NATS server (--bus nats://…)", role))
	}
	return errors.Join(errs...)
}

// openShared opens the role's PostgreSQL store and NATS bus into a.
func (a *App) openShared(ctx context.Context, cfg *config.Config) error {
	st, err := postgres.Open(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	a.Store = st
	if err := a.loadManifest(cfg); err != nil {
		return err
	}
	a.Metrics = metrics.New()
	bopts := []natsbus.Option{natsbus.WithPrefix(cfg.BusPrefix), natsbus.WithLogger(a.logger)}
	if cfg.BusCredentials != "" {
		bopts = append(bopts, natsbus.WithCredentialsFile(cfg.BusCredentials))
	}
	if t := cfg.BusTLS; t.CA != "" || t.Cert != "" || t.Key != "" {
		bopts = append(bopts, natsbus.WithTLS(natsbus.TLS{CA: t.CA, Cert: t.Cert, Key: t.Key}))
	}
	nb, err := natsbus.New(ctx, cfg.Bus, bopts...)
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	a.bus = nb
	return nil
}

// NewController builds the controller role of scale-out Whirl (`whirl
// controller`): the REST API, authentication, throttles, the balancer
// over cfg.Invokers and the built-in feeds, on the PostgreSQL of
// cfg.Store and the NATS of cfg.Bus. It is startController, as `whirl up`
// runs it, with these differences:
//   - actions are not journaled (sequences are): JetStream stores an
//     invocation before Publish returns, and keeps it until an invoker
//     acknowledges it;
//   - every entity write is announced on <busPrefix>.cache, and every
//     controller drops what it cached of the entity on receipt (and its
//     whole cache after a reconnection, when it may have missed some);
//   - the controllers with cfg.ScheduleAlarms campaign for the alarms
//     scheduler (a PostgreSQL advisory lock, leader.go); the one elected
//     runs the schedules, the others answer the feed lifecycle and store
//     them;
//   - keys are bootstrapped under an advisory lock: controllers started
//     together create them once.
//
// It does not listen; call Serve, then Close.
func NewController(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	if err := checkRole(cfg, "controller"); err != nil {
		return nil, err
	}
	a := newApp(cfg, logger)
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	if err := a.openShared(ctx, cfg); err != nil {
		return nil, err
	}
	a.Keys, err = a.bootstrapOnce(ctx, cfg.Store, cfg.UseWellKnownKeys)
	if err != nil {
		return nil, fmt.Errorf("bootstrap keys: %w", err)
	}
	nb := a.bus.(*natsbus.Bus)
	cs := &cacheSync{nc: nb.Conn(), subject: nb.Prefix() + ".cache", from: cfg.ControllerName, logger: a.logger}
	// Subscribed before the controller exists, so that no write made
	// elsewhere while it starts is missed; until then there is nothing
	// cached to drop.
	if err := cs.subscribe(ctx); err != nil {
		return nil, err
	}
	if err := a.startController(ctx, cfg, a.Store, controllerRole{
		name:          cfg.ControllerName,
		durableBus:    true,
		invokers:      cfg.Invokers,
		presence:      nb,
		entityChanged: cs.publish,
		// A new scheduler fires what fell in the hand-over.
		alarmsCatchUp: time.Minute,
	}); err != nil {
		return nil, err
	}
	cs.ctrl.Store(a.ctrl)
	a.startPruner(a.Store)
	a.startControllerHeartbeats(cfg, cfg.ControllerName)
	if cfg.ScheduleAlarms {
		a.startElection(cfg.Store, cfg.BusPrefix, cs)
	} else {
		a.logger.Info("alarms feeds are scheduled by a controller started with --schedule-alarms (the elected one), not this one")
	}
	return a, nil
}

// NewInvoker builds the invoker role of scale-out Whirl (`whirl
// invoker`): the process container factory, the pool and the invoker
// named cfg.InvokerName, subscribed to its NATS consumer, writing records
// to the PostgreSQL of cfg.Store. Its Handler serves GET /metrics (to the
// operator only, see metricsGate) and GET /healthz (200 while connected to NATS, 503 otherwise). It does not
// listen; call Serve, then Close. Close lets running activations finish
// and store their records; invocations received but not finished go back
// to the stream for the next invoker of that name.
func NewInvoker(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	if err := checkRole(cfg, "invoker"); err != nil {
		return nil, err
	}
	a := newApp(cfg, logger)
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	if err := a.openShared(ctx, cfg); err != nil {
		return nil, err
	}
	if err := a.startInvoker(cfg, a.Store, cfg.InvokerName); err != nil {
		return nil, err
	}
	a.startHeartbeats(cfg, cfg.InvokerName)
	nc := a.bus.(*natsbus.Bus).Conn()
	mux := http.NewServeMux()
	if h := a.apiMetrics(); h != nil {
		mux.Handle("GET /metrics", h)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		s := a.pool.Stats()
		status, code := "up", http.StatusOK
		if !nc.IsConnected() {
			status, code = "disconnected from NATS", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"name": cfg.InvokerName, "status": status, "queued": a.invoker.Queued(),
			"containers": map[string]int{"warm": s.Warm, "busy": s.Busy, "prewarm": s.Prewarm},
		})
	})
	a.handler = mux
	return a, nil
}

// newApp returns an App with its context, not yet wired.
func newApp(cfg *config.Config, logger *slog.Logger) *App {
	if logger == nil {
		logger = slog.Default()
	}
	a := &App{Config: cfg, logger: logger}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a
}

// cacheSync keeps the entity caches of several controllers coherent over
// core NATS: every entity write through this controller's store is
// published on subject; every message from another controller drops that
// entity from this controller's cache (and, on the controller that runs
// the alarms, reloads a feed schedule). Core NATS delivers at most once,
// in order per publisher: a controller that reconnects drops its whole
// cache, as it may have missed messages.
type cacheSync struct {
	nc      *natsgo.Conn
	subject string
	from    string
	logger  *slog.Logger
	ctrl    atomic.Pointer[controller.Controller]
	feeds   atomic.Pointer[feeds.Service]
}

// cacheMsg is one entity write.
type cacheMsg struct {
	From string `json:"from"`
	Coll string `json:"coll"`
	NS   string `json:"ns"`
	Key  string `json:"key"`
}

// publish announces a write of coll/ns/key and waits until the server
// has it, so that every controller hears of the write before the API
// answers the request that made it.
func (cs *cacheSync) publish(ctx context.Context, coll, ns, key string) {
	data, _ := json.Marshal(cacheMsg{From: cs.from, Coll: coll, NS: ns, Key: key})
	err := cs.nc.Publish(cs.subject, data)
	if err == nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = cs.nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		cs.logger.Warn("cache invalidation not sent: other controllers may serve the old entity until they reconnect", "collection", coll, "namespace", ns, "key", key, "err", err)
	}
}

// subscribe starts receiving other controllers' writes, and drops the
// whole cache after a reconnection.
func (cs *cacheSync) subscribe(ctx context.Context) error {
	_, err := cs.nc.Subscribe(cs.subject, func(m *natsgo.Msg) {
		var msg cacheMsg
		if err := json.Unmarshal(m.Data, &msg); err != nil || msg.From == cs.from {
			return
		}
		if c := cs.ctrl.Load(); c != nil {
			c.Invalidate(msg.Coll, msg.NS, msg.Key)
		}
		if f := cs.feeds.Load(); f != nil && msg.Coll == store.Feeds && msg.NS == feeds.Namespace {
			if err := f.Reload(context.Background(), msg.Key); err != nil {
				cs.logger.Warn("reload feed schedule", "key", msg.Key, "err", err)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("cache subject %s: %w", cs.subject, err)
	}
	drop := func(*natsgo.Conn) {
		if c := cs.ctrl.Load(); c != nil {
			c.InvalidateAll()
		}
	}
	cs.nc.SetReconnectHandler(drop)
	cs.nc.SetErrorHandler(func(nc *natsgo.Conn, _ *natsgo.Subscription, err error) {
		if errors.Is(err, natsgo.ErrSlowConsumer) {
			drop(nc) // messages were dropped
		}
	})
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cs.nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("cache subject %s: %w", cs.subject, err)
	}
	return nil
}
