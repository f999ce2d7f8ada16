package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/internal/app"
)

func init() { extraServerCommands = append(extraServerCommands, newProxyCmd) }

func newProxyCmd(e *env) *cobra.Command {
	o := app.ProxyOptions{Kind: "python:default", WorkDir: "/action", Sandbox: "none"}
	listen := ":8080"
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve OpenWhisk's /init and /run runtime protocol for one kind (runtime images)",
		Long: `Serve the action runtime protocol (POST /init, POST /run on :8080) that
OpenWhisk's invokers and Whirl's Kubernetes factory speak to containers,
running Whirl's own launchers. This is what Whirl's runtime image runs.`,
		Example: `  whirl proxy --kind python:3 --listen :8080 --work-dir /action --sandbox none`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, stop, err := app.NewProxy(o)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "whirl proxy (%s) listening on %s\n", o.Kind, ln.Addr())
			srv, ln := app.ProxyServer(h, ln)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			select {
			case err = <-served:
			case <-sig:
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			if serr := stop(ctx); err == nil {
				err = serr
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.Kind, "kind", o.Kind, "runtime kind to serve")
	cmd.Flags().StringVar(&listen, "listen", listen, "address to listen on")
	cmd.Flags().StringVar(&o.WorkDir, "work-dir", o.WorkDir, "directory for the action's code")
	cmd.Flags().StringVar(&o.Sandbox, "sandbox", o.Sandbox, "sandbox inside the image: none or bwrap")
	cmd.Flags().IntVar(&o.MemoryMB, "memory", 256, "memory limit of the action, MB")
	return cmd
}
