package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

func (w *wsk) triggerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "trigger", Short: "work with triggers"}
	cmd.AddCommand(w.triggerPutCmd(false), w.triggerPutCmd(true), w.triggerFireCmd(), w.triggerGetCmd(),
		w.triggerDeleteCmd(), w.triggerListCmd())
	return cmd
}

// feedLifecycle invokes a feed action blocking with the lifecycle
// parameters wsk sends: lifecycleEvent, triggerName, authKey, plus params.
func (w *wsk) feedLifecycle(ctx context.Context, c *client.Client, cfg config, feed, trigger, event string, params client.KeyValues) error {
	p := params.Object()
	ev, _ := json.Marshal(event)
	tn, _ := json.Marshal(qualify(cfg.namespace, trigger))
	ak, _ := json.Marshal(cfg.auth)
	p["lifecycleEvent"], p["triggerName"], p["authKey"] = ev, tn, ak
	_, err := c.Actions.Invoke(ctx, feed, p, client.InvokeOptions{Blocking: true})
	return err
}

func (w *wsk) triggerPutCmd(update bool) *cobra.Command {
	var params, annots kvFlags
	var feed string
	verb, past, event := "create", "created", "CREATE"
	if update {
		verb, past, event = "update", "updated", "UPDATE"
	}
	cmd := &cobra.Command{
		Use:   verb + " TRIGGER_NAME",
		Short: verb + " new trigger",
		Example: fmt.Sprintf(`  whirl trigger %[1]s events
  whirl trigger %[1]s everyMinute --feed /whisk.system/alarms/alarm -p cron "* * * * *"`, verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A trigger name is required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			ps, err := params.resolve("parameter")
			if err != nil {
				return w.usage(cmd, "%v.", err)
			}
			as, err := annots.resolve("annotation")
			if err != nil {
				return w.usage(cmd, "%v.", err)
			}
			name, ctx := args[0], cmd.Context()
			t := &client.TriggerPut{Annotations: as}
			if feed == "" && update {
				// An update of a feed trigger goes to its feed.
				if old, err := c.Triggers.Get(ctx, name); err == nil {
					if f, ok := old.Annotations.String("feed"); ok {
						if err := w.feedLifecycle(ctx, c, cfg, f, name, event, ps); err != nil {
							return w.fail(err, "Unable to %s trigger '%s'", verb, name)
						}
						w.okf("%s trigger %s", past, name)
						return nil
					}
				}
			}
			if feed != "" {
				feed = qualify(cfg.namespace, feed)
				t.Annotations = t.Annotations.Set("feed", feed)
			} else {
				t.Parameters = ps
			}
			if _, err := c.Triggers.Put(ctx, name, t, update); err != nil {
				return w.fail(err, "Unable to %s trigger '%s'", verb, name)
			}
			if feed != "" {
				if err := w.feedLifecycle(ctx, c, cfg, feed, name, event, ps); err != nil {
					if !update {
						// As wsk: a failed feed leaves no trigger behind.
						c.Triggers.Delete(ctx, name) //nolint:errcheck // best effort; the feed error is what matters
					}
					return w.fail(err, "Unable to %s trigger '%s'", verb, name)
				}
			}
			w.okf("%s trigger %s", past, name)
			return nil
		},
	}
	addKVFlags(cmd, &params, &annots)
	cmd.Flags().StringVarP(&feed, "feed", "f", "", "trigger feed `ACTION_NAME`")
	return cmd
}

func (w *wsk) triggerFireCmd() *cobra.Command {
	var params kvFlags
	cmd := &cobra.Command{
		Use:     "fire TRIGGER_NAME [PAYLOAD]",
		Short:   "fire trigger event",
		Example: "  whirl trigger fire events -p user alice",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A trigger name is required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			ps, err := params.resolve("parameter")
			if err != nil {
				return w.usage(cmd, "%v.", err)
			}
			inv, err := c.Triggers.Fire(cmd.Context(), args[0], ps.Object())
			if err != nil {
				return w.fail(err, "Unable to fire trigger '%s'", args[0])
			}
			ns, name := namespaceOf(cfg.namespace, args[0])
			if inv.StatusCode == http.StatusNoContent {
				fmt.Fprintf(w.e.stdout, "trigger /%s/%s did not fire as it is not associated with an active rule\n", ns, name)
				return nil
			}
			w.okf("triggered /%s/%s with id %s", ns, name, inv.ActivationID)
			return nil
		},
	}
	addKVFlags(cmd, &params, nil)
	return cmd
}

func (w *wsk) triggerGetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "get TRIGGER_NAME [FIELD_FILTER]",
		Short:   "get trigger",
		Example: "  whirl trigger get events",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 2, "A trigger name is required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			name, ctx := args[0], cmd.Context()
			t, err := c.Triggers.Get(ctx, name)
			if err != nil {
				return w.fail(err, "Unable to get trigger '%s'", name)
			}
			if f, ok := t.Annotations.String("feed"); ok {
				if err := w.feedLifecycle(ctx, c, cfg, f, name, "READ", nil); err != nil {
					return w.fail(err, "Unable to get trigger '%s'", name)
				}
			}
			return w.printEntity(asJSON, "trigger", name, t, args)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print only the JSON of the trigger")
	return cmd
}

// printEntity prints the answer of a get command: "ok: got KIND NAME" and
// the JSON, one field of it, or only the JSON with --json.
func (w *wsk) printEntity(asJSON bool, kind, name string, v any, args []string) error {
	if asJSON {
		printView(w.e.stdout, v)
		return nil
	}
	if len(args) > 1 {
		w.okf("got %s %s, displaying field %s", kind, name, args[1])
		if err := printViewField(w.e.stdout, v, args[1]); err != nil {
			return &exitError{code: 1, err: err}
		}
		return nil
	}
	w.okf("got %s %s", kind, name)
	printView(w.e.stdout, v)
	return nil
}

func (w *wsk) triggerDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete TRIGGER_NAME",
		Short:   "delete trigger",
		Example: "  whirl trigger delete events",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A trigger name is required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			name, ctx := args[0], cmd.Context()
			if t, err := c.Triggers.Get(ctx, name); err == nil {
				if f, ok := t.Annotations.String("feed"); ok {
					if err := w.feedLifecycle(ctx, c, cfg, f, name, "DELETE", nil); err != nil {
						return w.fail(err, "Unable to delete trigger '%s'", name)
					}
				}
			}
			if _, err := c.Triggers.Delete(ctx, name); err != nil {
				return w.fail(err, "Unable to delete trigger '%s'", name)
			}
			w.okf("deleted trigger %s", name)
			return nil
		},
	}
}

func (w *wsk) triggerListCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:     "list [NAMESPACE]",
		Short:   "list all triggers",
		Example: "  whirl trigger list",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			list, err := c.Triggers.List(cmd.Context(), &client.ListOptions{Limit: f.limit, Skip: f.skip})
			if err != nil {
				return w.fail(err, "Unable to obtain the list of triggers for namespace '%s'", cfg.namespace)
			}
			if f.asJSON {
				printView(w.e.stdout, nonNil(list))
				return nil
			}
			w.printTriggers(list, f.nameSort)
			return nil
		},
	}
	addListFlags(cmd, &f)
	return cmd
}

func (w *wsk) printTriggers(list []client.Trigger, sortByName bool) {
	if sortByName {
		sortBy(list, func(t client.Trigger) string { return t.Name })
	}
	fmt.Fprintln(w.e.stdout, "triggers")
	for _, t := range list {
		fmt.Fprintf(w.e.stdout, "%-70s %s\n", "/"+t.Namespace+"/"+t.Name, "private")
	}
}
