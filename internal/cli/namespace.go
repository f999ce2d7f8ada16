package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

func (w *wsk) namespaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "namespace", Short: "work with namespaces"}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "list available namespaces",
		Example: "  whirl namespace list",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := w.client()
			if err != nil {
				return err
			}
			ns, err := c.Namespaces.List(cmd.Context())
			if err != nil {
				return w.fail(err, "Unable to obtain the list of available namespaces")
			}
			if asJSON {
				printJSON(w.e.stdout, nonNil(ns))
				return nil
			}
			fmt.Fprintln(w.e.stdout, "namespaces")
			for _, n := range ns {
				fmt.Fprintln(w.e.stdout, n)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	get := &cobra.Command{
		Use:     "get [NAMESPACE]",
		Short:   "get triggers, actions, and rules in the registry for namespace",
		Example: "  whirl namespace get",
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.listAll(cmd, args, false)
		},
	}
	cmd.AddCommand(list, get)
	return cmd
}

// listCmd is "list": everything in the namespace.
func (w *wsk) listCmd() *cobra.Command {
	var sortByName bool
	cmd := &cobra.Command{
		Use:     "list [NAMESPACE]",
		Short:   "list entities in the current namespace",
		Example: "  whirl list",
		RunE: func(cmd *cobra.Command, args []string) error {
			return w.listAll(cmd, args, sortByName)
		},
	}
	cmd.Flags().BoolVarP(&sortByName, "name-sort", "n", false, "sorts a list alphabetically by entity name")
	return cmd
}

// listAll prints the packages, actions, triggers and rules of a namespace.
func (w *wsk) listAll(cmd *cobra.Command, args []string, sortByName bool) error {
	if err := w.checkArgs(cmd, args, 0, 1, "An optional namespace is the only valid argument."); err != nil {
		return err
	}
	if len(args) == 1 {
		w.namespace = args[0]
	}
	c, cfg, err := w.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	opts := &client.ListOptions{}
	pkgs, err := c.Packages.List(ctx, "", opts)
	if err != nil {
		return w.fail(err, "Unable to obtain the list of entities for namespace '%s'", cfg.namespace)
	}
	acts, err := c.Actions.List(ctx, "", opts)
	if err != nil {
		return w.fail(err, "Unable to obtain the list of entities for namespace '%s'", cfg.namespace)
	}
	trigs, err := c.Triggers.List(ctx, opts)
	if err != nil {
		return w.fail(err, "Unable to obtain the list of entities for namespace '%s'", cfg.namespace)
	}
	rules, err := c.Rules.List(ctx, opts)
	if err != nil {
		return w.fail(err, "Unable to obtain the list of entities for namespace '%s'", cfg.namespace)
	}
	fmt.Fprintf(w.e.stdout, "Entities in namespace: %s\n", w.resolveNamespace(ctx, cfg))
	w.printPackages(pkgs, sortByName)
	w.printActions(acts, sortByName)
	w.printTriggers(trigs, sortByName)
	w.printRules(rules, sortByName)
	return nil
}
