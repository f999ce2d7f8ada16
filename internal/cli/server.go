package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/auth"
	srvconfig "github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// addServerCommands adds up, admin, bench and proxy.
func addServerCommands(root *cobra.Command, e *env) {
	root.AddCommand(newUpCmd(e), newAdminCmd(e))
	for _, add := range extraServerCommands {
		root.AddCommand(add(e))
	}
}

// extraServerCommands lets other files (bench, proxy) add their commands.
var extraServerCommands []func(e *env) *cobra.Command

func newUpCmd(e *env) *cobra.Command {
	cfg := srvconfig.Default()
	var logLevel string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a complete Whirl on this machine (controller, invoker, store)",
		Long: `Run a complete single-node Whirl: the OpenWhisk REST API, the invoker and
its container pool, and an embedded store in --data-dir.

On a loopback address it installs OpenWhisk's well-known guest and
whisk.system keys, so that 'wsk property set --apihost http://127.0.0.1:3233
--auth <guest key>' works at once. On any other address it generates fresh
keys and prints them, unless --set useWellKnownKeys=true asks otherwise.`,
		Example: `  whirl up
  whirl up --listen 127.0.0.1:3233 --data-dir /tmp/whirl
  whirl up --config whirl.yaml --set limits.actionsInvokesPerminute=600
  whirl up --listen 0.0.0.0:3233 --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Load(os.Environ()); err != nil {
				return err
			}
			return runUp(cmd.Context(), e, cfg, logLevel)
		},
	}
	cfg.BindFlags(cmd.Flags())
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

func runUp(ctx context.Context, e *env, cfg *srvconfig.Config, logLevel string) error {
	logger, err := newLogger(e, logLevel)
	if err != nil {
		return err
	}
	return serve(ctx, e, cfg, logger, app.New, "in-flight calls finish", func(a *app.App, _ net.Addr, took time.Duration) {
		fmt.Fprintf(e.stdout, "whirl is up at %s (data in %s, started in %s)\n", cfg.APIHost, cfg.DataDir, took)
		fmt.Fprintf(e.stdout, "  apihost: %s\n", cfg.APIHost)
		for _, k := range a.Keys {
			if k.Namespace == auth.GuestNamespace || k.New {
				fmt.Fprintf(e.stdout, "  auth (%s): %s\n", k.Namespace, k.AuthKey())
			}
		}
		if len(a.Keys) > 0 {
			fmt.Fprintf(e.stdout, "  try:  wsk property set --apihost %s --auth %s\n", cfg.APIHost, a.Keys[0].AuthKey())
		} else {
			// Keys made at an earlier start are stored hashed: they cannot
			// be shown again.
			fmt.Fprintf(e.stdout, "  auth: the keys printed when this data directory was created; a new one: whirl admin key create guest --data-dir %s\n", cfg.DataDir)
		}
	})
}

// newLogger returns the server log at level on stderr.
func newLogger(e *env, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: l})), nil
}

// serve builds an App on cfg, serves it on cfg.Listen, prints banner once
// it answers, and runs until serving fails, a signal arrives or ctx ends;
// then it closes the App (what is running finishes; a second signal
// forces the close).
func serve(ctx context.Context, e *env, cfg *srvconfig.Config, logger *slog.Logger,
	build func(context.Context, *srvconfig.Config, *slog.Logger) (*app.App, error),
	finishing string, banner func(a *app.App, addr net.Addr, took time.Duration)) error {
	started := time.Now()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Port 0 asks for any free port: actions and the banner need the one
	// the listener got.
	if host, port, _ := net.SplitHostPort(cfg.Listen); port == "0" {
		got := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		cfg.Listen = net.JoinHostPort(host, got)
		if strings.HasSuffix(cfg.APIHost, ":0") {
			cfg.APIHost = strings.TrimSuffix(cfg.APIHost, ":0") + ":" + got
		}
	}
	var mln net.Listener // the metrics listener, with metricsListen
	if cfg.Metrics.Listen != "" {
		if mln, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			ln.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
	}
	paddr, stopPprof, err := app.ServePprof(cfg, logger)
	if err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	defer stopPprof()
	a, err := build(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	if a.Warning != "" {
		logger.Warn(a.Warning)
	}
	served := make(chan error, 2)
	go func() { served <- a.Serve(ln) }()
	if mln != nil {
		go func() { served <- a.ServeMetrics(mln) }()
	}
	banner(a, ln.Addr(), time.Since(started).Round(time.Millisecond))
	if mln != nil {
		fmt.Fprintf(e.stdout, "  metrics: http://%s/metrics\n", mln.Addr())
	}
	if paddr != nil {
		fmt.Fprintf(e.stdout, "  pprof: http://%s/debug/pprof/\n", paddr)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case err := <-served:
		a.Close(context.Background())
		return err
	case <-sig:
	case <-ctx.Done():
	}
	fmt.Fprintf(e.stdout, "whirl: shutting down (%s; Ctrl-C again to force)\n", finishing)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-sctx.Done():
		}
	}()
	err = a.Close(sctx)
	<-served
	return err
}

func newAdminCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage namespaces, keys and the data of a Whirl's store",
		Long: `Manage namespaces and their keys directly in the store of a standalone
Whirl (--data-dir) or of a scale-out one (--store). Keys are stored hashed:
a key is shown once, when it is created. Back up, restore, export and
import the store's data (docs/operations.md).`,
	}
	var storeDSN string
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "~/.whirl", "directory of the embedded store")
	cmd.PersistentFlags().StringVar(&storeDSN, "store", "", "the PostgreSQL of a scale-out Whirl (postgres://…) instead of --data-dir")
	dir := func() (string, error) {
		dir := dataDir
		if dir == "~" || len(dir) > 1 && dir[:2] == "~/" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			dir = filepath.Join(home, dir[1:])
		}
		return dir, nil
	}
	open := func(ctx context.Context) (store.Store, error) {
		dir, err := dir()
		if err != nil {
			return nil, err
		}
		return app.OpenStoreAt(ctx, dir, storeDSN)
	}

	ns := &cobra.Command{Use: "namespace", Short: "Manage namespaces"}
	// A namespace exists while it has a key: creating one is adding its
	// first key.
	addKeyCmd := func(use, short, example string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withStore(cmd.Context(), open, func(st store.Store) error {
					p, err := addKey(cmd.Context(), st, args[0])
					if err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, p)
					return nil
				})
			},
		}
	}
	ns.AddCommand(addKeyCmd("create NAME", "Create a namespace with a fresh key and print the key (uuid:key)", "  whirl admin namespace create alice"))
	ns.AddCommand(&cobra.Command{
		Use:   "delete NAME",
		Short: "Delete every key of a namespace (its entities stay, unreachable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				subs, err := st.Auth().Subjects(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if len(subs) == 0 {
					return fmt.Errorf("namespace %s has no keys", args[0])
				}
				for _, s := range subs {
					if err := st.Auth().DeleteSubject(cmd.Context(), s.UUID); err != nil {
						return err
					}
				}
				fmt.Fprintf(e.stdout, "ok: deleted namespace %s (%d keys)\n", args[0], len(subs))
				return nil
			})
		},
	})
	ns.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List namespaces that have keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				subs, err := st.Auth().Subjects(cmd.Context(), "")
				if err != nil {
					return err
				}
				seen := map[string]bool{}
				for _, s := range subs {
					if !seen[s.Namespace] {
						seen[s.Namespace] = true
						fmt.Fprintln(e.stdout, s.Namespace)
					}
				}
				return nil
			})
		},
	})

	key := &cobra.Command{Use: "key", Short: "Manage keys"}
	key.AddCommand(&cobra.Command{
		Use:   "list [NAMESPACE]",
		Short: "List keys (uuid and namespace; keys themselves are stored hashed)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				ns := ""
				if len(args) == 1 {
					ns = args[0]
				}
				subs, err := st.Auth().Subjects(cmd.Context(), ns)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "UUID\tNAMESPACE\tCREATED")
				for _, s := range subs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.UUID, s.Namespace, s.Created.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	})
	key.AddCommand(addKeyCmd("create NAMESPACE", "Add a key to an existing or new namespace and print it", "  whirl admin key create guest"))
	key.AddCommand(&cobra.Command{
		Use:   "delete UUID",
		Short: "Delete a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				uuid, _, _ := auth.SplitKey(args[0])
				if uuid == "" {
					uuid = args[0]
				}
				if err := st.Auth().DeleteSubject(cmd.Context(), uuid); err != nil {
					return fmt.Errorf("delete key %s: %w", uuid, err)
				}
				fmt.Fprintf(e.stdout, "ok: deleted key %s\n", uuid)
				return nil
			})
		},
	})
	cmd.AddCommand(ns, key, newAdminLimitsCmd(e, open))
	cmd.AddCommand(newAdminDataCmds(e, dir, &storeDSN, open)...)
	return cmd
}

// newAdminLimitsCmd is `whirl admin limits`, OpenWhisk's `wskadmin
// limits`: per-namespace overrides of the throttles.
func newAdminLimitsCmd(e *env, open func(context.Context) (store.Store, error)) *cobra.Command {
	limits := &cobra.Command{Use: "limits", Short: "Set, show or remove a namespace's own throttles"}
	var perMinute, concurrent, fires int
	set := &cobra.Command{
		Use:   "set NAMESPACE",
		Short: "Override the invocation and fire limits of a namespace (a running Whirl applies them within 10 s)",
		Example: `  whirl admin limits set guest --invocations-per-minute 6000 --concurrent-invocations 500
  whirl admin limits set spammer --invocations-per-minute 0   # block the namespace`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var o whisk.NamespaceLimits
			flags := cmd.Flags()
			if flags.Changed("invocations-per-minute") {
				o.InvocationsPerMinute = &perMinute
			}
			if flags.Changed("concurrent-invocations") {
				o.ConcurrentInvocations = &concurrent
			}
			if flags.Changed("fires-per-minute") {
				o.FiresPerMinute = &fires
			}
			if o == (whisk.NamespaceLimits{}) {
				return errors.New("set at least one of --invocations-per-minute, --concurrent-invocations, --fires-per-minute")
			}
			if err := validNamespace(args[0]); err != nil {
				return err
			}
			return withStore(cmd.Context(), open, func(st store.Store) error {
				if err := app.SetNamespaceLimits(cmd.Context(), st, args[0], o); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "ok: set limits of namespace %s\n", args[0])
				return nil
			})
		},
	}
	set.Flags().IntVar(&perMinute, "invocations-per-minute", 0, "invocations per minute (0 blocks, -1 unlimited)")
	set.Flags().IntVar(&concurrent, "concurrent-invocations", 0, "invocations in flight at once (0 blocks, -1 unlimited)")
	set.Flags().IntVar(&fires, "fires-per-minute", 0, "trigger fires per minute (0 blocks, -1 unlimited)")
	get := &cobra.Command{
		Use:   "get NAMESPACE",
		Short: "Show a namespace's own limits (unset ones follow the system's)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				o, err := app.NamespaceLimits(cmd.Context(), st, args[0])
				if errors.Is(err, store.ErrNotFound) {
					fmt.Fprintf(e.stdout, "namespace %s has the system limits\n", args[0])
					return nil
				}
				if err != nil {
					return err
				}
				show := func(name string, v *int) {
					if v != nil {
						fmt.Fprintf(e.stdout, "%s = %d\n", name, *v)
					}
				}
				show("invocationsPerMinute", o.InvocationsPerMinute)
				show("concurrentInvocations", o.ConcurrentInvocations)
				show("firesPerMinute", o.FiresPerMinute)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAMESPACE",
		Short: "Remove a namespace's own limits: it gets the system's again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				if err := app.DeleteNamespaceLimits(cmd.Context(), st, args[0]); err != nil {
					return fmt.Errorf("delete limits of %s: %w", args[0], err)
				}
				fmt.Fprintf(e.stdout, "ok: deleted limits of namespace %s\n", args[0])
				return nil
			})
		},
	}
	limits.AddCommand(set, get, del)
	return limits
}

func addKey(ctx context.Context, st store.Store, namespace string) (string, error) {
	if err := validNamespace(namespace); err != nil {
		return "", err
	}
	uuid, key := auth.GenerateKey()
	err := st.Auth().PutSubject(ctx, store.Subject{UUID: uuid, KeyHash: auth.HashKey(key), Namespace: namespace, Created: time.Now()})
	if err != nil {
		return "", err
	}
	return uuid + ":" + key, nil
}

func validNamespace(ns string) error {
	if ns == "" || ns == "_" || len(ns) > 256 {
		return fmt.Errorf("invalid namespace name %q", ns)
	}
	for _, r := range ns {
		if !(r == '_' || r == '-' || r == '.' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("invalid namespace name %q: use letters, digits, _ - . @", ns)
		}
	}
	return nil
}

func withStore(ctx context.Context, open func(context.Context) (store.Store, error), f func(store.Store) error) error {
	st, err := open(ctx)
	if err != nil {
		return err
	}
	ferr := f(st)
	if err := st.Close(); ferr == nil {
		ferr = err
	}
	return ferr
}
