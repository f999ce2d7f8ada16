package cli

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/whisk"
)

// defaultPollInterval is how often activation poll asks for new records
// (as wsk: 2 s); env.pollInterval overrides it.
const defaultPollInterval = 2 * time.Second

// pollLookback is how far before the newest activation seen activation poll
// keeps looking: the longest an activation may run (the 5 minute timeout
// limit) and a margin for its wait in the queue.
const pollLookback = 6 * time.Minute

// statusNames are the Status column's words for statusCode 0..3.
var statusNames = []string{"success", "application error", "developer error", "internal error"}

func (w *wsk) activationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "activation",
		Short: "work with activations",
	}
	cmd.AddCommand(w.activationListCmd(), w.activationGetCmd(), w.activationLogsCmd(),
		w.activationResultCmd(), w.activationPollCmd())
	if w.prog != "wsk" {
		cmd.AddCommand(w.activationStatsCmd())
	}
	return cmd
}

func (w *wsk) activationListCmd() *cobra.Command {
	var limit, skip int
	var since, upto int64
	var full, asJSON bool
	cmd := &cobra.Command{
		Use:   "list [ACTION_NAME]",
		Short: "list activations",
		Example: `  whirl activation list
  whirl activation list hello --limit 5
  whirl activation list --since 1700000000000 --full`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 0, 1, "An optional action name is the only valid argument."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				_, name = namespaceOf(cfg.namespace, args[0])
			}
			opts := client.ActivationListOptions{Name: name, Limit: limit, Skip: skip, Since: since, Upto: upto}
			if !full && !asJSON {
				list, err := c.Activations.List(cmd.Context(), opts)
				if err != nil {
					return w.fail(err, "Unable to obtain the list of activations for namespace '%s'", cfg.namespace)
				}
				printActivationTable(w.e.stdout, list)
				return nil
			}
			list, err := c.Activations.ListFull(cmd.Context(), opts)
			if err != nil {
				return w.fail(err, "Unable to obtain the list of activations for namespace '%s'", cfg.namespace)
			}
			if asJSON {
				printJSON(w.e.stdout, nonNil(list))
				return nil
			}
			fmt.Fprintln(w.e.stdout, "activations")
			for _, a := range list {
				printJSON(w.e.stdout, a)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&skip, "skip", "s", 0, "exclude the first `SKIP` number of activations from the result")
	cmd.Flags().IntVarP(&limit, "limit", "l", 30, "only return `LIMIT` number of activations from the collection with a maximum LIMIT of 200 activations")
	cmd.Flags().BoolVarP(&full, "full", "f", false, "include full activation description")
	cmd.Flags().Int64Var(&upto, "upto", 0, "return activations with timestamps earlier than `UPTO`; measured in milliseconds since Th, 01, Jan 1970")
	cmd.Flags().Int64Var(&since, "since", 0, "return activations with timestamps later than `SINCE`; measured in milliseconds since Th, 01, Jan 1970")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full records as a JSON array")
	return cmd
}

// printActivationTable prints the columns wsk prints: Datetime, Activation
// ID, Kind, Start (cold/warm), Duration, Status, Entity.
func printActivationTable(out io.Writer, list []client.ActivationSummary) {
	kindW, statusW := len("Kind"), len("Status")
	for _, a := range list {
		kindW = max(kindW, len(kindOf(a.Annotations)))
		statusW = max(statusW, len(statusName(a.StatusCode)))
	}
	kw, sw := strconv.Itoa(kindW), strconv.Itoa(statusW)
	fmt.Fprintf(out, "%-19s %-32s %-"+kw+"s %-6s%-10s %-"+sw+"s %-6s\n",
		"Datetime", "Activation ID", "Kind", "Start", "Duration", "Status", "Entity")
	for _, a := range list {
		s := time.UnixMilli(a.Start)
		d := time.Duration(a.Duration) * time.Millisecond
		if a.Duration == 0 && a.End > 0 {
			d = time.UnixMilli(a.End).Sub(s)
		}
		start := "warm"
		if a.Annotations.Has("initTime") { // the activation started a container
			start = "cold"
		}
		entity := truncateMid(a.Namespace, 20) + "/" + truncateMid(a.Name, 30) + ":" + truncateMid(a.Version, 20)
		fmt.Fprintf(out, "%d-%02d-%02d %02d:%02d:%02d %-32s %-"+kw+"s %-5s %-10v %-"+sw+"s %s\n",
			s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), s.Second(),
			a.ActivationID, kindOf(a.Annotations), start, d, statusName(a.StatusCode), entity)
	}
}

// kindOf returns an activation's "kind" annotation, or "unknown".
func kindOf(annotations client.KeyValues) string {
	if k, ok := annotations.String("kind"); ok {
		return k
	}
	return "unknown"
}

func statusName(code int) string {
	if code > 0 && code < len(statusNames) {
		return statusNames[code]
	}
	return statusNames[0]
}

// truncateMid shortens s to max bytes with "..." in the middle, as wsk does.
func truncateMid(s string, max int) string {
	if len(s) <= max {
		return s
	}
	mid := max / 2
	upp := len(s) - mid + 3
	if max%2 != 0 {
		mid++
	}
	return s[:mid] + "..." + s[upp:]
}

// lastID returns the id of the newest activation (for --last).
func (w *wsk) lastID(ctx context.Context, c *client.Client) (string, error) {
	list, err := c.Activations.List(ctx, client.ActivationListOptions{Limit: 1})
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", fmt.Errorf("Activation list does not contain any activations.")
	}
	return list[0].ActivationID, nil
}

// activationArgs resolves ACTIVATION_ID or --last.
func (w *wsk) activationArgs(cmd *cobra.Command, c *client.Client, args []string, last bool, what string, maxArgs int) ([]string, error) {
	if last {
		id, err := w.lastID(cmd.Context(), c)
		if err != nil {
			return nil, w.fail(err, "Unable to get %s for activation", what)
		}
		args = append([]string{id}, args...)
	}
	if err := w.checkArgs(cmd, args, 1, maxArgs, "An activation ID is required."); err != nil {
		return nil, err
	}
	return args, nil
}

func (w *wsk) activationGetCmd() *cobra.Command {
	var last, summary, logsOnly, asJSON bool
	cmd := &cobra.Command{
		Use:   "get (ACTIVATION_ID | --last) [FIELD_FILTER]",
		Short: "get activation",
		Example: `  whirl activation get 9f1a5c0e6b3d4e2fa5c0e6b3d4e2f9f1
  whirl activation get --last
  whirl activation get --last response`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if args, err = w.activationArgs(cmd, c, args, last, "activation", 2); err != nil {
				return err
			}
			id := args[0]
			a, err := c.Activations.Get(cmd.Context(), id)
			if err != nil {
				return w.fail(err, "Unable to get activation '%s'", id)
			}
			switch {
			case asJSON:
				printJSON(w.e.stdout, a)
			case summary:
				status := whisk.StatusName(a.Response.StatusCode)
				fmt.Fprintf(w.e.stdout, "activation result for '/%s/%s' (%s at %s)\n", a.Namespace, a.Name, status, time.Unix(a.End/1000, 0))
				printJSON(w.e.stdout, a.Response.Result)
			case logsOnly:
				for _, l := range a.Logs {
					fmt.Fprintln(w.e.stdout, stripLog(l))
				}
			case len(args) == 2:
				w.okf("got activation %s, displaying field %s", id, args[1])
				if err := printField(w.e.stdout, a, args[1]); err != nil {
					return &exitError{code: 1, err: err}
				}
			default:
				w.okf("got activation %s", id)
				printJSON(w.e.stdout, a)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&summary, "summary", "s", false, "summarize activation details")
	cmd.Flags().BoolVarP(&last, "last", "l", false, "retrieves the last activation")
	cmd.Flags().BoolVarP(&logsOnly, "logs", "g", false, "emit only the logs, stripped of time stamps and stream identifier")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print only the JSON of the activation")
	return cmd
}

var logPrefix = regexp.MustCompile(`^\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-6]\d:[0-6]\d\.\d+Z( *(stdout|stderr):)?\s(.*)`)

// stripLog removes a log line's timestamp and stream.
func stripLog(l string) string {
	if m := logPrefix.FindStringSubmatch(l); len(m) > 3 && m[3] != "" {
		return m[3]
	}
	return l
}

func (w *wsk) activationLogsCmd() *cobra.Command {
	var last, strip bool
	cmd := &cobra.Command{
		Use:     "logs (ACTIVATION_ID | --last)",
		Short:   "get the logs of an activation",
		Example: "  whirl activation logs --last\n  whirl activation logs 9f1a5c0e6b3d4e2fa5c0e6b3d4e2f9f1 --strip",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if args, err = w.activationArgs(cmd, c, args, last, "logs", 1); err != nil {
				return err
			}
			logs, err := c.Activations.Logs(cmd.Context(), args[0])
			if err != nil {
				return w.fail(err, "Unable to get logs for activation '%s'", args[0])
			}
			for _, l := range logs {
				if strip {
					l = stripLog(l)
				}
				fmt.Fprintln(w.e.stdout, l)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&last, "last", "l", false, "retrieves the last activation")
	cmd.Flags().BoolVarP(&strip, "strip", "r", false, "strip timestamp and stream information")
	return cmd
}

func (w *wsk) activationResultCmd() *cobra.Command {
	var last bool
	cmd := &cobra.Command{
		Use:     "result (ACTIVATION_ID | --last)",
		Short:   "get the result of an activation",
		Example: "  whirl activation result --last\n  whirl activation result 9f1a5c0e6b3d4e2fa5c0e6b3d4e2f9f1",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if args, err = w.activationArgs(cmd, c, args, last, "result", 1); err != nil {
				return err
			}
			r, err := c.Activations.Result(cmd.Context(), args[0])
			if err != nil {
				return w.fail(err, "Unable to get result for activation '%s'", args[0])
			}
			printJSON(w.e.stdout, r.Result)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&last, "last", "l", false, "retrieves the last activation")
	return cmd
}

func (w *wsk) activationPollCmd() *cobra.Command {
	var exit, sinceS, sinceM, sinceH, sinceD int
	cmd := &cobra.Command{
		Use:     "poll [ NAMESPACE | ACTION_NAME ]",
		Short:   "poll continuously for log messages from currently running actions",
		Example: "  whirl activation poll\n  whirl activation poll hello --exit 60",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 0, 1, "An optional namespace is the only valid argument."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			name := firstOr(args, "")
			fmt.Fprintln(w.e.stdout, "Enter Ctrl-c to exit.")
			var since int64
			back := time.Duration(sinceS)*time.Second + time.Duration(sinceM)*time.Minute +
				time.Duration(sinceH)*time.Hour + time.Duration(sinceD)*24*time.Hour
			if back == 0 {
				list, err := c.Activations.List(ctx, client.ActivationListOptions{Limit: 1})
				switch {
				case err != nil:
					since = time.Now().UnixMilli()
				case len(list) > 0:
					since = list[0].Start + 1
				}
			} else {
				since = time.Now().Add(-back).UnixMilli()
			}
			fmt.Fprintln(w.e.stdout, "Polling for activation logs")
			started := time.Now()
			// A record is written when its activation ends, but carries the
			// time it started: a long activation appears after shorter ones
			// that started later. So each poll looks back as far as the
			// longest activation can run (from the newest start seen, in the
			// server's clock) and reports each activation once.
			reported := map[string]int64{}
			newest := since
			interval := w.e.pollInterval
			if interval <= 0 {
				interval = defaultPollInterval
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				if exit > 0 && time.Since(started) > time.Duration(exit)*time.Second {
					return nil
				}
				from := max(since, newest-pollLookback.Milliseconds())
				list, err := c.Activations.ListFull(ctx, client.ActivationListOptions{Name: name, Since: from})
				if err == nil {
					// Oldest first, so that output reads in order.
					for i := len(list) - 1; i >= 0; i-- {
						a := list[i]
						if _, ok := reported[a.ActivationID]; !ok {
							fmt.Fprintf(w.e.stdout, "\nActivation: '%s' (%s)\n", a.Name, a.ActivationID)
							printJSON(w.e.stdout, nonNil(a.Logs))
							reported[a.ActivationID] = a.Start
						}
						newest = max(newest, a.Start)
					}
					for id, start := range reported {
						if start < from {
							delete(reported, id)
						}
					}
				}
				select {
				case <-ctx.Done():
					fmt.Fprintln(w.e.stdout, "Poll terminated")
					return nil
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().IntVarP(&exit, "exit", "e", 0, "stop polling after `SECONDS` seconds")
	cmd.Flags().IntVar(&sinceS, "since-seconds", 0, "start polling for activations `SECONDS` seconds ago")
	cmd.Flags().IntVar(&sinceM, "since-minutes", 0, "start polling for activations `MINUTES` minutes ago")
	cmd.Flags().IntVar(&sinceH, "since-hours", 0, "start polling for activations `HOURS` hours ago")
	cmd.Flags().IntVar(&sinceD, "since-days", 0, "start polling for activations `DAYS` days ago")
	return cmd
}

func (w *wsk) activationStatsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "show how many activations complete per second (a Whirl extension)",
		Long: "Show the activations completed in the server's last window (one minute), overall and of " +
			"non-blocking invocations, per second and per namespace, with the totals since the server " +
			"started and the work in flight and queued now.",
		Example: "  whirl activation stats\n  whirl activation stats --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 0, 0, "The stats command takes no arguments."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			st, err := c.Activations.Stats(cmd.Context())
			if err != nil {
				return w.fail(err, "Unable to get the activation stats for namespace '%s'", cfg.namespace)
			}
			if asJSON {
				printJSON(w.e.stdout, st)
				return nil
			}
			printStats(w.e.stdout, st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the stats as JSON")
	return cmd
}

// printStats prints Stats as a short table: the window's counts and rates,
// the totals, the current load, then one row per namespace.
func printStats(out io.Writer, st *client.Stats) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Last %ss\tCompleted\tPer second\tSince start\n", strconv.FormatFloat(st.Window, 'f', -1, 64))
	fmt.Fprintf(tw, "all\t%d\t%.2f\t%d\n", st.Completed, st.PerSecond, st.TotalCompleted)
	fmt.Fprintf(tw, "async\t%d\t%.2f\t%d\n", st.AsyncCompleted, st.AsyncPerSecond, st.TotalAsyncCompleted)
	tw.Flush()
	fmt.Fprintf(out, "In flight: %d, queued: %d\n", st.InFlight, st.Queued)
	if len(st.Namespaces) == 0 {
		return
	}
	names := make([]string, 0, len(st.Namespaces))
	for n := range st.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Namespace\tCompleted\tPer second\tAsync\tAsync/s\tSince start\tAsync since start")
	for _, n := range names {
		ns := st.Namespaces[n]
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%.2f\t%d\t%d\n", n, ns.Completed, ns.PerSecond,
			ns.AsyncCompleted, ns.AsyncPerSecond, ns.TotalCompleted, ns.TotalAsyncCompleted)
	}
	tw.Flush()
}
