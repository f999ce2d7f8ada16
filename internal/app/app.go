// Package app is Whirl's composition root: it builds a controller, a
// balancer, an invoker, a container pool and a store from a
// config.Config, and runs them in one process (standalone) — the same
// parts the scale-out roles run apart.
//
// Only cmd/whirl (through internal/cli) and tests import it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	buslocal "github.com/whirlfaas/whirl/internal/bus/local"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/kubernetes"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/containerpool"
	"github.com/whirlfaas/whirl/internal/controller"
	"github.com/whirlfaas/whirl/internal/feeds"
	"github.com/whirlfaas/whirl/internal/invoker"
	"github.com/whirlfaas/whirl/internal/metrics"
	"github.com/whirlfaas/whirl/internal/runtimes"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/throttle"
	"github.com/whirlfaas/whirl/whisk"
)

// Names of the standalone roles on the in-process bus.
const (
	controllerName = "controller0"
	invokerName    = "invoker0"
)

// App is a running standalone Whirl.
type App struct {
	Config  *config.Config
	Store   store.Store
	Metrics *metrics.Metrics
	// Keys are the subjects bootstrap created or found, to print.
	Keys []auth.Printed
	// Warning is a one-time notice for the operator (e.g. no sandbox).
	Warning string

	handler  http.Handler
	limits   *nsLimits // per-namespace throttles (controller side)
	workDir  string
	manifest *runtimes.Manifest
	factory  container.Factory
	pool     *containerpool.Pool
	invoker  *invoker.Invoker
	bus      bus.Bus
	ctrl     *controller.Controller
	feeds    *feeds.Service
	ctx      context.Context
	cancel   context.CancelFunc
	// background are the goroutines the app starts itself; Close waits
	// for them after cancel.
	background sync.WaitGroup
	api        serving // the API listener's server (Serve)
	logger     *slog.Logger
	dirLock    *dirLock       // of the standalone data directory (datadir.go)
	metrics    metricsServing // who GET /metrics answers (listen.go)

	closeOnce sync.Once
	closeErr  error
}

// New builds a standalone Whirl from cfg (already loaded and resolved):
// it opens the store, bootstraps the namespaces and keys, starts the
// invoker side, and replays accepted invocations that have no record yet.
// It does not listen; call Serve.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	a := &App{Config: cfg, logger: logger}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	if cfg.Store != "" {
		return nil, errors.New("store: whirl up runs the embedded store; run whirl controller and whirl invoker to share PostgreSQL")
	}
	if cfg.Bus != "" {
		return nil, errors.New("bus: whirl up runs the in-process bus; run whirl controller and whirl invoker to share NATS")
	}
	if cfg.ContainerFactory == "kubernetes" {
		return nil, errors.New("containerFactory: whirl up runs actions as local processes; the kubernetes factory is for whirl invoker in a cluster")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if a.dirLock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "whirl.db"))
	if err != nil {
		return nil, err
	}
	st.Logf = func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }
	a.Store = st
	a.Keys, err = auth.Bootstrap(ctx, st.Auth(), cfg.UseWellKnownKeys)
	if err != nil {
		return nil, fmt.Errorf("bootstrap keys: %w", err)
	}
	if err := a.loadManifest(cfg); err != nil {
		return nil, err
	}
	a.Metrics = metrics.New()
	a.startPruner(st)
	a.bus = buslocal.New()
	if err := a.startInvoker(cfg, st, invokerName); err != nil {
		return nil, err
	}
	if err := a.startController(ctx, cfg, st, controllerRole{
		name:     controllerName,
		invokers: []string{invokerName},
		alarms:   true,
	}); err != nil {
		return nil, err
	}
	return a, nil
}

// loadManifest loads the runtimes manifest: cfg's file, or the built-in
// one.
func (a *App) loadManifest(cfg *config.Config) (err error) {
	if cfg.RuntimesFile != "" {
		a.manifest, err = runtimes.Load(cfg.RuntimesFile)
		return err
	}
	a.manifest = runtimes.Default()
	return nil
}

// startFactory builds the container factory cfg names into a.factory:
// local processes (the default, and always for `whirl up`) or, for
// `whirl invoker` in a cluster, one Kubernetes pod per container.
func (a *App) startFactory(cfg *config.Config, name string) (err error) {
	if cfg.ContainerFactory == "kubernetes" {
		ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
		defer cancel()
		k := cfg.Kubernetes
		pod, err := kubernetes.ParsePodSettings(k.NodeSelector, k.Tolerations, k.ImagePullSecrets, k.CPUPerGB, k.ActiveDeadlineSeconds)
		if err != nil {
			return fmt.Errorf("container factory: %w", err)
		}
		kf, err := kubernetes.New(ctx, kubernetes.Options{
			Namespace: cfg.Kubernetes.Namespace,
			Image:     cfg.Kubernetes.Image,
			Invoker:   name,
			Manifest:  a.manifest,
			APIHost:   cfg.APIHost,
			Pod:       pod,
			OwnerPod:  k.OwnerPod,
		})
		if err != nil {
			return fmt.Errorf("container factory: %w", err)
		}
		a.factory = kf
		return nil
	}
	// Containers' code lives outside the data directory, in a directory the
	// sandbox's unprivileged uid can traverse (the data directory stays
	// 0700 and is hidden from actions). It is removed on Close.
	// Named after this process, so that the next start removes it if this
	// one is killed (see process.NewWorkDir).
	a.workDir, err = process.NewWorkDir("")
	if err != nil {
		return fmt.Errorf("container work dir: %w", err)
	}
	// The data directory is hidden from actions; `whirl invoker` keeps
	// nothing there and it may not exist (the sandbox cannot hide what
	// is not there).
	var hide []string
	if _, err := os.Stat(cfg.DataDir); err == nil {
		hide = append(hide, cfg.DataDir)
	}
	netMode, netAuto := actionNetwork(cfg)
	pf, err := process.New(process.Options{
		WorkDir:         a.workDir,
		Sandbox:         cfg.Sandbox,
		NetworkMode:     netMode,
		NetworkFallback: netAuto,
		NetworkAllow:    cfg.ActionNetworkAllow,
		NetworkBlock:    sharedAddrs(cfg),
		APIHost:         cfg.APIHost,
		HideDirs:        hide,
		GoProxy:         cfg.GoProxy,
		// CPU shares and quota are fractions of the pool, by memory.
		UserMemoryMB: cfg.ContainerPool.UserMemory,
		UserCPUs:     cfg.ContainerPool.UserCPUs,
	})
	if err != nil {
		return fmt.Errorf("container factory: %w", err)
	}
	a.factory = pf
	a.Warning = pf.Warning()
	return nil
}

// startInvoker builds the invoker side — the container factory,
// the pool with its stem cells, the invoker named name — and subscribes
// it to a.bus. In scale-out mode `whirl invoker` runs this part alone.
func (a *App) startInvoker(cfg *config.Config, st store.Store, name string) (err error) {
	logger := a.logger
	apiHost := cfg.APIHost
	if err := a.startFactory(cfg, name); err != nil {
		return err
	}

	var cells []containerpool.StemCell
	for kind, scs := range a.manifest.StemCells() {
		for _, sc := range scs {
			cell := containerpool.StemCell{Kind: kind, MemoryMB: sc.MemoryMB, InitialCount: sc.InitialCount}
			if r := sc.Reactive; r != nil {
				cell.Reactive = &containerpool.Reactive{MinCount: r.MinCount, MaxCount: r.MaxCount, TTL: r.TTL, Threshold: r.Threshold, Increment: r.Increment}
			}
			cells = append(cells, cell)
		}
	}
	a.pool = containerpool.New(a.factory, containerpool.Config{
		UserMemoryMB: cfg.ContainerPool.UserMemory,
		IdleTimeout:  cfg.ContainerPool.IdleTimeout,
		MaxQueue:     poolQueue(cfg.ContainerPool.MaxQueue),
		StemCells:    cells,
		StemCellEnv:  map[string]string{"__OW_API_HOST": apiHost},
		Logger:       logger,
	})
	a.pool.Start(a.ctx)
	_ = a.Metrics.RegisterContainers(func() map[string]int {
		s := a.pool.Stats()
		return map[string]int{"warm": s.Warm, "busy": s.Busy, "prewarm": s.Prewarm}
	})

	a.invoker = invoker.New(invoker.Config{
		Name:        name,
		Bus:         a.bus,
		Pool:        a.pool,
		Activations: st.Activations(),
		Resolve: func(kind string) (string, error) {
			if kind == whisk.KindBlackbox {
				return kind, nil
			}
			return a.resolveKind(kind)
		},
		Observer: observer{a.Metrics},
		APIHost:  apiHost,
		Logger:   logger,
	})
	if err := a.invoker.Start(a.ctx); err != nil {
		return err
	}
	return nil
}

// controllerRole is what differs between the controller of `whirl up`
// and `whirl controller`.
type controllerRole struct {
	name       string   // the controller's name on the bus
	durableBus bool     // the bus stores invocations (NATS): no journal for actions
	invokers   []string // the invokers the balancer hashes over
	alarms     bool     // run the alarms schedules here
	// entityChanged, when set, tells the other controllers of each entity
	// write (scale-out: NATS), so that they drop it from their caches and
	// the alarms controller reloads a feed schedule.
	entityChanged func(ctx context.Context, coll, ns, key string)

	// presence, when set, gives the live invokers (scale-out); invokers
	// is then an allow-list.
	presence bus.Presence
	// alarmsCatchUp: missed alarm ticks this recent fire when the
	// schedules start (an elected scheduler taking over).
	alarmsCatchUp time.Duration
}

// startController builds the controller side — authentication,
// throttles, the built-in feeds and the REST API with its intake — over
// a.bus, subscribes it to its completions and recovers what it journaled
// and did not finish. In scale-out mode `whirl controller` runs this part
// alone.
func (a *App) startController(ctx context.Context, cfg *config.Config, st store.Store, role controllerRole) error {
	logger := a.logger
	authn := auth.NewAuthenticator(st.Auth())
	defaults := throttle.Limits{
		InvokesPerMinute:  cfg.Limits.ActionsInvokesPerMinute,
		ConcurrentInvokes: cfg.Limits.ActionsInvokesConcurrent,
		FiresPerMinute:    cfg.Limits.TriggersFiresPerMinute,
	}
	var topts []throttle.Option
	if role.presence != nil { // scale-out: the live controllers split the limits
		topts = append(topts, throttle.WithShare(func() int {
			if c := a.ctrl; c != nil {
				return c.Controllers()
			}
			return 1
		}))
	}
	th := throttle.New(defaults, topts...)
	limits := &nsLimits{st: st.Entities(), th: th, defaults: defaults, cfg: cfg}
	a.limits = limits
	if err := limits.reload(ctx); err != nil {
		return err
	}
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		limits.run(a.ctx, logger.Warn)
	}()
	// The built-in alarms feeds run in process: installed at every start,
	// their schedules reloaded once the controller can fire.
	feedEntities := st.Entities()
	if role.entityChanged != nil {
		feedEntities = store.Notifying(feedEntities, role.entityChanged)
	}
	a.feeds = feeds.New(feeds.Config{
		Entities: feedEntities,
		Authenticate: func(ctx context.Context, key string) (string, error) {
			u, k, ok := auth.SplitKey(key)
			if !ok {
				return "", errors.New("malformed key")
			}
			id, err := authn.Check(ctx, u, k)
			return id.Namespace, err
		},
		IsGone:  controller.IsGone,
		Logger:  logger,
		CatchUp: role.alarmsCatchUp,
	})
	if err := a.feeds.Install(ctx); err != nil {
		return err
	}
	cat, err := a.installCatalog(ctx, feedEntities)
	if err != nil {
		return err
	}
	ccfg := controller.Config{
		Builtins:      builtins{feeds: a.feeds, catalog: cat},
		Name:          role.name,
		Store:         st,
		Auth:          authn,
		Throttle:      th,
		Bus:           a.bus,
		EntityChanged: role.entityChanged,
		Invokers:      role.invokers,
		DurableBus:    role.durableBus,
		ResolveKind:   a.resolveKind,
		Kinds:         a.runtimesInfo,
		Limits:        cfg.ActionLimits(),
		PayloadMax:    cfg.Limits.PayloadMax,
		BlockingWait:  cfg.BlockingWait,
		SequenceMax:   cfg.Limits.ActionsSequenceMaxLength,
		ConcurrentMax: cfg.Limits.ActionsInvokesConcurrent,
		LimitsJSON:    limits.json,
		InfoLimits:    cfg.InfoLimitsJSON,
		Metrics:       a.apiMetrics(),
		Stats:         a.namespaceStats,
		OnAccepted: func(ns string, blocking bool) {
			a.Metrics.Accepted(ns, blocking)
			if !blocking {
				a.Metrics.Queued(1)
			}
		},
		Logger: logger,

		// The catalog and the alarms package: installed above, read-only.
		BuiltinPackages: builtinPackages(),
		APIHost:         cfg.APIHost,
	}
	ccfg.Presence, ccfg.InvokerTimeout = role.presence, cfg.InvokerTimeout
	ctrl := controller.New(ccfg)
	a.handler = a.withConsole(withHealth(ctrl, a.Store), authn)
	a.ctrl = ctrl
	if err := ctrl.Start(a.ctx); err != nil {
		return err
	}
	n, err := ctrl.Recover(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		logger.Info("replaying accepted invocations", "count", n)
	}
	if role.alarms {
		if err := a.feeds.Start(a.ctx, ctrl); err != nil {
			return err
		}
	}
	return nil
}

// poolQueue maps containerPool.maxQueue to the pool's setting: 0 means no
// waiting in the configuration, but "the default" to the pool.
func poolQueue(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// resolveKind returns the exact kind an action's kind resolves to in the
// runtimes manifest ("python:3" → "python:3.11").
func (a *App) resolveKind(kind string) (string, error) {
	k, err := a.manifest.Resolve(kind)
	if err != nil {
		return "", err
	}
	return k.Kind, nil
}

// namespaceStats is GET /namespaces/{ns}/stats: the completions of the
// last minute in ns only — a tenant does not see another's activity.
func (a *App) namespaceStats(ns string) any {
	st := a.Metrics.Rate(time.Minute)
	own := st.Namespaces[ns]
	return metrics.Stats{
		Window:              st.Window,
		Completed:           own.Completed,
		PerSecond:           own.PerSecond,
		AsyncCompleted:      own.AsyncCompleted,
		AsyncPerSecond:      own.AsyncPerSecond,
		TotalCompleted:      own.TotalCompleted,
		TotalAsyncCompleted: own.TotalAsyncCompleted,
		InFlight:            st.InFlight,
		Queued:              st.Queued,
		Namespaces:          map[string]metrics.NamespaceStats{ns: own},
	}
}

// observer feeds the invoker's completions to the metrics.
type observer struct{ m *metrics.Metrics }

func (o observer) ActivationCompleted(ns, action, status, start string, async bool, d time.Duration) {
	if async {
		o.m.AsyncActivationCompleted(ns, action, status, start, d)
		o.m.Queued(-1)
		return
	}
	o.m.ActivationCompleted(ns, action, status, start, d)
}

func (o observer) Running(delta int) { o.m.InFlight(delta) }

// runtimesInfo is GET /'s "runtimes": OpenWhisk's fields of each kind and,
// where the factory runs kinds on local interpreters, what runs it
// ("runsOn") or what to install ("missing").
func (a *App) runtimesInfo() map[string]any {
	out := map[string]any{}
	local, _ := a.factory.(interface {
		Interpreter(kind string) (runtimes.Interpreter, error)
	})
	for _, k := range a.manifest.Kinds() {
		fam := runtimes.FamilyOf(k)
		list, _ := out[fam].([]map[string]any)
		e := map[string]any{"kind": k, "default": a.manifest.DefaultKind(fam) == k}
		if mk, ok := a.manifest.Lookup(k); ok && fam != runtimes.FamilyBlackbox {
			e["image"], e["deprecated"] = mk.Image, mk.Deprecated
			if mk.RequireMain {
				e["requireMain"] = true
			}
			if local != nil {
				if in, err := local.Interpreter(k); err == nil {
					e["runsOn"] = in.String()
				} else {
					e["missing"] = err.Error()
				}
			}
		}
		out[fam] = append(list, e)
	}
	return out
}

// Handler returns the REST API.
func (a *App) Handler() http.Handler { return a.handler }

// Serve answers the API on ln until Shutdown; with TLS configured it
// serves HTTPS. It returns nil after a clean shutdown.
func (a *App) Serve(ln net.Listener) error {
	srv := newHTTPServer(a.Config, a.handler, a.logger, 0)
	a.metrics.boundTo(ln.Addr())
	var cert *tls.Certificate
	if a.Config.TLSCert != "" || a.Config.TLSKey != "" {
		c, err := tls.LoadX509KeyPair(a.Config.TLSCert, a.Config.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		cert = &c
	}
	return a.api.serve(srv, limitListener(ln, a.Config), cert)
}

// Close shuts down in order: stop accepting requests and let in-flight
// ones finish (bounded by ctx), let running activations finish and record
// themselves, stop the containers, close the store.
func (a *App) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		var errs []error
		errs = append(errs, a.api.shutdown(ctx))
		errs = append(errs, a.metrics.shutdown(ctx))
		// The sequences the controller runs finish first (their
		// components need the invoker), or are stopped when ctx ends
		// (journaled ones run again after the next start).
		if a.ctrl != nil {
			if err := a.ctrl.Close(ctx); err != nil {
				a.logger.Warn("sequences stopped at shutdown; journaled ones run again after a restart", "err", err)
			}
		}
		var invoked chan struct{}
		if a.invoker != nil {
			invoked = make(chan struct{})
			go func() { a.invoker.Wait(); close(invoked) }()
			select {
			case <-invoked:
			case <-ctx.Done():
			}
		}
		a.cancel()
		a.background.Wait()
		if a.feeds != nil {
			a.feeds.Wait()
		}
		if a.bus != nil {
			errs = append(errs, a.bus.Close())
		}
		if a.pool != nil {
			errs = append(errs, a.pool.Close(ctx))
		}
		if a.factory != nil {
			errs = append(errs, a.factory.Close(ctx))
		}
		// Runs still in flight were aborted by cancel and their containers
		// stopped: they end now, before the store closes under them.
		if invoked != nil {
			<-invoked
		}
		if a.Store != nil {
			errs = append(errs, a.Store.Close())
		}
		errs = append(errs, a.dirLock.release())
		if a.workDir != "" {
			errs = append(errs, os.RemoveAll(a.workDir))
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// OpenStore opens the embedded store of a standalone Whirl's data
// directory, for `whirl admin` (which runs beside or instead of `up`).
func OpenStore(ctx context.Context, dataDir string) (store.Store, error) {
	return sqlite.Open(ctx, filepath.Join(dataDir, "whirl.db"))
}
