package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/internal/runtimes"
)

func init() { extraServerCommands = append(extraServerCommands, newRuntimesCmd) }

// newRuntimesCmd is `whirl runtimes` and `whirl runtimes install KIND`.
func newRuntimesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runtimes",
		Short: "List the kinds this machine runs and their bundled libraries",
		Long: `List the kinds this machine can run, the interpreter behind each, and the
packages OpenWhisk's image of the kind bundles (requests, lxml, … for python;
the openwhisk client for Node.js): present, or missing with the command that
installs them. See docs/runtimes.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			printRuntimes(e)
			return nil
		},
	}
	var sudo bool
	install := &cobra.Command{
		Use:   "install KIND",
		Short: "Install a kind's bundled libraries with the machine's package tools",
		Long: `Install what a kind's bundle lacks: for python, Debian's python3-* packages
with apt-get (which needs root: run as root, or pass --sudo; Whirl never
becomes root by itself); for nodejs, the openwhisk client with npm ci from
the lockfile Whirl carries, into the runtime library directory
($` + runtimes.EnvLibDir + `, else ` + runtimes.SystemLibDir + ` for root, ~/.cache/whirl/runtimes for
others).`,
		Example: `  whirl runtimes install nodejs
  whirl runtimes install python:3 --sudo`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := runtimes.Default().Resolve(args[0])
			if err != nil {
				return err
			}
			switch k.Family {
			case runtimes.FamilyPython:
				return installPython(e, sudo)
			case runtimes.FamilyNodejs:
				out, err := runtimes.InstallNode(runtimes.LibDir())
				e.stderr.Write(out)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "nodejs: the bundle is installed in %s\n", runtimes.NodeModules(runtimes.LibDir()))
				return nil
			}
			fmt.Fprintf(e.stdout, "%s: OpenWhisk's image bundles nothing beyond the language\n", k.Kind)
			return nil
		},
	}
	install.Flags().BoolVar(&sudo, "sudo", false, "run the package manager through sudo")
	cmd.AddCommand(install)
	return cmd
}

// runtimeRow is one kind of `whirl runtimes`.
type runtimeRow struct {
	kind, interpreter string
	bundle            *runtimes.Status
}

func runtimeRows() []runtimeRow {
	m := runtimes.Default()
	node, _ := exec.LookPath("node")
	goCmd, _ := exec.LookPath("go")
	var rows []runtimeRow
	for _, kind := range m.Kinds() {
		r := runtimeRow{kind: kind}
		switch runtimes.FamilyOf(kind) {
		case runtimes.FamilyPython:
			if p, err := runtimes.FindPython(); err == nil {
				s := runtimes.CheckPython(p)
				r.interpreter, r.bundle = p.Path, &s
			}
		case runtimes.FamilyNodejs:
			if node != "" {
				s := runtimes.CheckNode(node, runtimes.LibDir())
				r.interpreter, r.bundle = node, &s
			}
		case runtimes.FamilyGo:
			r.interpreter = goCmd
		case runtimes.FamilyBlackbox:
			r.interpreter = "(the action's own executable)"
		}
		if fam := runtimes.FamilyOf(kind); fam != runtimes.FamilyBlackbox && (r.interpreter == "" || fam == runtimes.FamilyPython) {
			// The interpreter of the kind's version, else the nearest one.
			if in, err := runtimes.Pick(runtimes.Interpreters(), kind); err == nil {
				r.interpreter = in.Path
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func printRuntimes(e *env) {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tINTERPRETER\tBUNDLED LIBRARIES")
	for _, r := range runtimeRows() {
		interp, libs := r.interpreter, "-"
		if interp == "" {
			interp, libs = "not installed", "(the kind cannot run here)"
		}
		if b := r.bundle; b != nil {
			libs = "present: " + pkgNames(b.Present)
			if len(b.Present) == 0 {
				libs = "present: none"
			}
			if !b.Complete() {
				libs += "; missing: " + pkgNames(b.Missing) + "; install: " + b.Install
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.kind, interp, libs)
	}
	w.Flush()
}

func pkgNames(ps []runtimes.Package) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return strings.Join(n, " ")
}

// installPython installs the python bundle's missing Debian packages.
func installPython(e *env, sudo bool) error {
	p, err := runtimes.FindPython()
	if err != nil {
		return err
	}
	s := runtimes.CheckPython(p)
	argv := runtimes.InstallPythonCommand(s, sudo)
	if argv == nil {
		fmt.Fprintln(e.stdout, "python: the bundle is complete")
		return nil
	}
	if os.Geteuid() != 0 && !sudo {
		return errors.New("installing Debian packages needs root: run `" + strings.Join(runtimes.InstallPythonCommand(s, true), " ") + "`, or pass --sudo")
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = e.stderr, e.stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if s = runtimes.CheckPython(p); !s.Complete() {
		return fmt.Errorf("python: still missing %s after %s", pkgNames(s.Missing), strings.Join(argv, " "))
	}
	fmt.Fprintln(e.stdout, "python: the bundle is complete")
	return nil
}
