package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

func (w *wsk) ruleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rule", Short: "work with rules"}
	cmd.AddCommand(w.rulePutCmd(false), w.rulePutCmd(true), w.ruleStateCmd("enable", "active", "enabled"),
		w.ruleStateCmd("disable", "inactive", "disabled"), w.ruleStatusCmd(), w.ruleGetCmd(), w.ruleDeleteCmd(), w.ruleListCmd())
	return cmd
}

func (w *wsk) rulePutCmd(update bool) *cobra.Command {
	verb, past := "create", "created"
	if update {
		verb, past = "update", "updated"
	}
	return &cobra.Command{
		Use:     verb + " RULE_NAME TRIGGER_NAME ACTION_NAME",
		Short:   verb + " a rule",
		Example: fmt.Sprintf("  whirl rule %s everyMinuteHello everyMinute hello", verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 3, 3, "Rule, trigger and action name are required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			r := &client.RulePut{Name: args[0], Trigger: qualify(cfg.namespace, args[1]), Action: qualify(cfg.namespace, args[2])}
			if _, err := c.Rules.Put(cmd.Context(), args[0], r, update); err != nil {
				return w.fail(err, "Unable to %s rule '%s'", verb, args[0])
			}
			w.okf("%s rule %s", past, args[0])
			return nil
		},
	}
}

func (w *wsk) ruleStateCmd(verb, state, past string) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " RULE_NAME",
		Short:   verb + " rule",
		Example: fmt.Sprintf("  whirl rule %s everyMinuteHello", verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A rule name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if err := c.Rules.SetState(cmd.Context(), args[0], state); err != nil {
				return w.fail(err, "Unable to %s rule '%s'", verb, args[0])
			}
			w.okf("%s rule %s", past, args[0])
			return nil
		},
	}
}

func (w *wsk) ruleStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "status RULE_NAME",
		Short:   "get rule status",
		Example: "  whirl rule status everyMinuteHello",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A rule name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			r, err := c.Rules.Get(cmd.Context(), args[0])
			if err != nil {
				return w.fail(err, "Unable to get status of rule '%s'", args[0])
			}
			w.okf("rule %s is %s", args[0], r.Status)
			return nil
		},
	}
}

func (w *wsk) ruleGetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "get RULE_NAME [FIELD_FILTER]",
		Short:   "get rule",
		Example: "  whirl rule get everyMinuteHello",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 2, "A rule name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			r, err := c.Rules.Get(cmd.Context(), args[0])
			if err != nil {
				return w.fail(err, "Unable to get rule '%s'", args[0])
			}
			return w.printEntity(asJSON, "rule", args[0], r, args)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print only the JSON of the rule")
	return cmd
}

func (w *wsk) ruleDeleteCmd() *cobra.Command {
	var disable bool
	cmd := &cobra.Command{
		Use:     "delete RULE_NAME",
		Short:   "delete rule",
		Example: "  whirl rule delete everyMinuteHello",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A rule name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if disable {
				if err := c.Rules.SetState(cmd.Context(), args[0], "inactive"); err != nil {
					return w.fail(err, "Unable to disable rule '%s'", args[0])
				}
			}
			if _, err := c.Rules.Delete(cmd.Context(), args[0]); err != nil {
				return w.fail(err, "Unable to delete rule '%s'", args[0])
			}
			w.okf("deleted rule %s", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&disable, "disable", false, "automatically disable rule before deleting it")
	return cmd
}

func (w *wsk) ruleListCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:     "list [NAMESPACE]",
		Short:   "list all rules",
		Example: "  whirl rule list",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			list, err := c.Rules.List(cmd.Context(), &client.ListOptions{Limit: f.limit, Skip: f.skip})
			if err != nil {
				return w.fail(err, "Unable to obtain the list of rules for namespace '%s'", cfg.namespace)
			}
			if f.asJSON {
				printView(w.e.stdout, nonNil(list))
				return nil
			}
			w.printRules(list, f.nameSort)
			return nil
		},
	}
	addListFlags(cmd, &f)
	return cmd
}

func (w *wsk) printRules(list []client.Rule, sortByName bool) {
	if sortByName {
		sortBy(list, func(r client.Rule) string { return r.Name })
	}
	fmt.Fprintln(w.e.stdout, "rules")
	for _, r := range list {
		fmt.Fprintf(w.e.stdout, "%-70s %-20s %s\n", "/"+r.Namespace+"/"+r.Name, "private", r.Status)
	}
}
