package cli

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/internal/bench"
)

func init() { extraServerCommands = append(extraServerCommands, newBenchCmd) }

func newBenchCmd(e *env) *cobra.Command {
	var o bench.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench [floor|startup|warm|sync|async]...",
		Short: "Measure Whirl beside the machine's floor (PERF.md)",
		Long: `Start a standalone Whirl as a child process and measure it through the REST API
with a python no-op action: start-up time, idle RSS, warm blocking latency
(c=1), sync throughput (c=16, c=64), async accept and drain rates. The floor
(loopback HTTP, a python worker over pipes, spawning python, a minimal
HTTP → python loop) is measured in the same run. Name groups to run only those.`,
		Example: `  whirl bench
  whirl bench --duration 30s --samples 10000 --json
  whirl bench floor warm`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Only = args
			if !asJSON {
				o.Log = e.stderr
			}
			rep, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			rep.Print(e.stdout)
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Samples, "samples", 10000, "latency samples")
	cmd.Flags().DurationVar(&o.Duration, "duration", 10*time.Second, "length of each throughput run")
	cmd.Flags().DurationVar(&o.Warmup, "warmup", time.Second, "warm-up before latency samples")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
