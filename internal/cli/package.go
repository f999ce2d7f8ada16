package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

func (w *wsk) packageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "package", Short: "work with packages"}
	cmd.AddCommand(w.packagePutCmd(false), w.packagePutCmd(true), w.packageBindCmd(), w.packageGetCmd(),
		w.packageDeleteCmd(), w.packageListCmd())
	return cmd
}

// sharedFlag parses --shared yes|no|true|false.
func sharedFlag(s string) (*bool, error) {
	switch strings.ToLower(s) {
	case "":
		return nil, nil
	case "yes", "true":
		b := true
		return &b, nil
	case "no", "false":
		b := false
		return &b, nil
	}
	return nil, fmt.Errorf("Cannot use value '%s' for shared; use 'yes' or 'no'.", s)
}

func (w *wsk) packagePutCmd(update bool) *cobra.Command {
	var params, annots kvFlags
	var shared string
	verb, past := "create", "created"
	if update {
		verb, past = "update", "updated"
	}
	cmd := &cobra.Command{
		Use:     verb + " PACKAGE_NAME",
		Short:   verb + " a package",
		Example: fmt.Sprintf("  whirl package %s demo -p greeting hello --shared yes", verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A package name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			p := &client.PackagePut{}
			if p.Parameters, err = params.resolve("parameter"); err != nil {
				return w.usage(cmd, "%v.", err)
			}
			if p.Annotations, err = annots.resolve("annotation"); err != nil {
				return w.usage(cmd, "%v.", err)
			}
			if p.Publish, err = sharedFlag(shared); err != nil {
				return w.usage(cmd, "%v", err)
			}
			if _, err := c.Packages.Put(cmd.Context(), args[0], p, update); err != nil {
				return w.fail(err, "Unable to %s package '%s'", verb, args[0])
			}
			w.okf("%s package %s", past, args[0])
			return nil
		},
	}
	addKVFlags(cmd, &params, &annots)
	cmd.Flags().StringVar(&shared, "shared", "", "package visibility `SCOPE`; yes = shared, no = private")
	return cmd
}

func (w *wsk) packageBindCmd() *cobra.Command {
	var params, annots kvFlags
	cmd := &cobra.Command{
		Use:     "bind PACKAGE_NAME BOUND_PACKAGE_NAME",
		Short:   "bind parameters to a package",
		Example: "  whirl package bind /whisk.system/alarms myAlarms -p cron '* * * * *'",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 2, 2, "A package name and binding name are required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			ns, name := namespaceOf(cfg.namespace, args[0])
			p := &client.PackagePut{Binding: &client.BindingRef{Namespace: ns, Name: name}}
			if p.Parameters, err = params.resolve("parameter"); err != nil {
				return w.usage(cmd, "%v.", err)
			}
			if p.Annotations, err = annots.resolve("annotation"); err != nil {
				return w.usage(cmd, "%v.", err)
			}
			if _, err := c.Packages.Put(cmd.Context(), args[1], p, false); err != nil {
				return w.fail(err, "Binding creation failed")
			}
			w.okf("created binding %s", args[1])
			return nil
		},
	}
	addKVFlags(cmd, &params, &annots)
	return cmd
}

func (w *wsk) packageGetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "get PACKAGE_NAME [FIELD_FILTER]",
		Short:   "get package",
		Example: "  whirl package get demo",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 2, "A package name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			p, err := c.Packages.Get(cmd.Context(), args[0])
			if err != nil {
				return w.fail(err, "Unable to get package '%s'", args[0])
			}
			return w.printEntity(asJSON, "package", args[0], p, args)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print only the JSON of the package")
	return cmd
}

func (w *wsk) packageDeleteCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete PACKAGE_NAME",
		Short:   "delete package",
		Example: "  whirl package delete demo",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "A package name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if err := c.Packages.Delete(cmd.Context(), args[0], force); err != nil {
				return w.fail(err, "Unable to delete package '%s'", args[0])
			}
			w.okf("deleted package %s", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete the package's actions too")
	return cmd
}

func (w *wsk) packageListCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:     "list [NAMESPACE]",
		Short:   "list all packages",
		Example: "  whirl package list\n  whirl package list /whisk.system",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 0, 1, "An optional namespace is the only valid argument."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			ns := strings.Trim(firstOr(args, ""), "/")
			list, err := c.Packages.List(cmd.Context(), ns, &client.ListOptions{Limit: f.limit, Skip: f.skip})
			if err != nil {
				return w.fail(err, "Unable to obtain the list of packages for namespace '%s'", firstOr(args, cfg.namespace))
			}
			if f.asJSON {
				printView(w.e.stdout, nonNil(list))
				return nil
			}
			w.printPackages(list, f.nameSort)
			return nil
		},
	}
	addListFlags(cmd, &f)
	return cmd
}

func (w *wsk) printPackages(list []client.PackageSummary, sortByName bool) {
	if sortByName {
		sortBy(list, func(p client.PackageSummary) string { return p.Name })
	}
	fmt.Fprintln(w.e.stdout, "packages")
	for _, p := range list {
		state := "private"
		if p.Publish {
			state = "shared"
		}
		fmt.Fprintf(w.e.stdout, "%-70s %s\n", "/"+p.Namespace+"/"+p.Name, state)
	}
}
