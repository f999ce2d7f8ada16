package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/auth"
	srvconfig "github.com/whirlfaas/whirl/internal/config"
)

func init() {
	extraServerCommands = append(extraServerCommands, newControllerCmd, newInvokerCmd)
}

func newControllerCmd(e *env) *cobra.Command {
	cfg := srvconfig.Default()
	var logLevel string
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the REST API of a scale-out Whirl (PostgreSQL + NATS JetStream)",
		Long: `Run a controller of a scale-out Whirl: the OpenWhisk REST API, authentication,
throttles and the load balancer, sharing PostgreSQL (--store) and NATS with
JetStream (--bus) with the other controllers and the invokers. Controllers
are stateless: run as many as you like behind an HTTP load balancer, each
with its own --controller-name. Invocations are spread over --invokers by
a hash of the action.

Exactly one controller runs the alarms feeds' schedules: start that one
with --schedule-alarms. Every key can also come from the environment
(WHIRL_STORE, WHIRL_BUS, WHIRL_INVOKERS, …) or a --config file.
See docs/scale-out.md.`,
		Example: `  whirl controller --store postgres://whirl@db:5432/whirl --bus nats://nats:4222 \
      --invokers invoker0,invoker1 --controller-name controller0 --schedule-alarms \
      --listen 0.0.0.0:3233 --api-host https://whirl.example.com
  WHIRL_STORE=postgres://whirl@db/whirl WHIRL_BUS=nats://nats:4222 \
      WHIRL_INVOKERS=invoker0,invoker1 whirl controller --controller-name controller1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Load(os.Environ()); err != nil {
				return err
			}
			return runRole(cmd.Context(), e, cfg, logLevel, "controller")
		},
	}
	cfg.BindFlags(cmd.Flags())
	cfg.BindRoleFlags(cmd.Flags())
	for _, f := range []string{"invoker-name"} {
		_ = cmd.Flags().MarkHidden(f)
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

func newInvokerCmd(e *env) *cobra.Command {
	cfg := srvconfig.Default()
	cfg.Listen = "127.0.0.1:3234"
	var logLevel string
	cmd := &cobra.Command{
		Use:   "invoker",
		Short: "Run an invoker of a scale-out Whirl: the container pool that runs actions",
		Long: `Run an invoker of a scale-out Whirl: it takes the invocations addressed to
--invoker-name off NATS JetStream (--bus), runs them in its container pool,
and writes the activation records to PostgreSQL (--store). Run one per node,
each with its own name, and list the names in the controllers' --invokers.

An invocation is acknowledged to JetStream once its record is stored: if an
invoker dies, what it had accepted but not finished runs again when an
invoker of the same name comes back (at least once; records are keyed by
activation id).

Actions run as sandboxed local processes, or as Kubernetes pods with
--set containerFactory=kubernetes (docs/kubernetes.md).

It listens on --listen (default 127.0.0.1:3234) for GET /metrics and
GET /healthz. Set --api-host to the controllers' public URL: actions get it
as __OW_API_HOST. See docs/scale-out.md.`,
		Example: `  whirl invoker --store postgres://whirl@db:5432/whirl --bus nats://nats:4222 \
      --invoker-name invoker0 --listen 0.0.0.0:3234 --api-host https://whirl.example.com
  WHIRL_STORE=postgres://whirl@db/whirl WHIRL_BUS=nats://nats:4222 whirl invoker --invoker-name invoker1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Load(os.Environ()); err != nil {
				return err
			}
			return runRole(cmd.Context(), e, cfg, logLevel, "invoker")
		},
	}
	cfg.BindFlags(cmd.Flags())
	cfg.BindRoleFlags(cmd.Flags())
	for _, f := range []string{"invokers", "controller-name", "schedule-alarms", "tls-cert", "tls-key"} {
		_ = cmd.Flags().MarkHidden(f)
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}

// runRole runs `whirl controller` or `whirl invoker` until a signal.
func runRole(ctx context.Context, e *env, cfg *srvconfig.Config, logLevel, role string) error {
	logger, err := newLogger(e, logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("role", role)
	build, name := app.NewController, cfg.ControllerName
	if role == "invoker" {
		build, name = app.NewInvoker, cfg.InvokerName
	}
	return serve(ctx, e, cfg, logger, build, "running activations finish", func(a *app.App, addr net.Addr, took time.Duration) {
		fmt.Fprintf(e.stdout, "whirl %s %s is up on %s (bus prefix %s, started in %s)\n", role, name, addr, cfg.BusPrefix, took)
		if role != "controller" {
			return
		}
		fmt.Fprintf(e.stdout, "  apihost: %s\n  invokers: %v\n", cfg.APIHost, cfg.Invokers)
		for _, k := range a.Keys {
			if k.New || k.Namespace == auth.GuestNamespace && cfg.UseWellKnownKeys {
				fmt.Fprintf(e.stdout, "  auth (%s): %s\n", k.Namespace, k.AuthKey())
			}
		}
	})
}
