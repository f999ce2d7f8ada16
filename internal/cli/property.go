package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

// props is the content of a .wskprops file: KEY=VALUE lines, order kept.
type props struct {
	keys []string
	vals map[string]string
}

func readProps(path string) (*props, error) {
	p := &props{vals: map[string]string{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read properties file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		p.set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read properties file %s: %w", path, err)
	}
	return p, nil
}

func (p *props) get(k string) string { return p.vals[k] }

func (p *props) set(k, v string) {
	if _, ok := p.vals[k]; !ok {
		p.keys = append(p.keys, k)
	}
	p.vals[k] = v
}

func (p *props) unset(k string) {
	if _, ok := p.vals[k]; !ok {
		return
	}
	delete(p.vals, k)
	for i, x := range p.keys {
		if x == k {
			p.keys = append(p.keys[:i], p.keys[i+1:]...)
			break
		}
	}
}

func (p *props) write(path string) error {
	var b strings.Builder
	for _, k := range p.keys {
		fmt.Fprintf(&b, "%s=%s\n", k, p.vals[k])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write properties file: %w", err)
	}
	return nil
}

func (w *wsk) propertyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "property",
		Short: "work with whisk properties",
		Long:  "Read and write the properties stored in ~/.wskprops (or $WSK_CONFIG_FILE), in the same format as wsk.",
	}
	var (
		setHost, setAuth, setNS, setVersion string
	)
	set := &cobra.Command{
		Use:   "set",
		Short: "set property",
		Example: `  whirl property set --apihost http://127.0.0.1:3233 --auth 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP
  whirl property set --namespace guest`,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := w.propsPath()
			p, err := readProps(path)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			var msgs []string
			if setAuth != "" {
				p.set("AUTH", setAuth)
				msgs = append(msgs, fmt.Sprintf("ok: whisk auth set. Run '%s property get --auth' to see the new value.", w.prog))
			}
			if setHost != "" {
				if _, err := client.ParseAPIHost(setHost); err != nil {
					return &exitError{code: 1, err: fmt.Errorf("Unable to set API host value; the API host value '%s' is invalid: %v", setHost, err)}
				}
				p.set("APIHOST", setHost)
				msgs = append(msgs, "ok: whisk API host set to "+setHost)
			}
			if setVersion != "" {
				p.set("APIVERSION", setVersion)
				msgs = append(msgs, "ok: whisk API version set to "+setVersion)
			}
			if setNS != "" {
				p.set("NAMESPACE", setNS)
				msgs = append(msgs, "ok: whisk namespace set to "+setNS)
			}
			if len(msgs) == 0 {
				return w.usage(cmd, "Missing required property; set at least one of --apihost, --auth, --namespace, --apiversion.")
			}
			if err := p.write(path); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("Unable to set the property value(s): %w", err)}
			}
			for _, m := range msgs {
				fmt.Fprintln(w.e.stdout, m)
			}
			return nil
		},
	}
	// The property commands take the same flag names as the global ones;
	// local flags shadow them here.
	set.Flags().StringVar(&setHost, "apihost", "", "whisk API `HOST`")
	set.Flags().StringVarP(&setAuth, "auth", "u", "", "authorization `KEY`")
	set.Flags().StringVar(&setNS, "namespace", "", "whisk `NAMESPACE`")
	set.Flags().StringVar(&setVersion, "apiversion", "", "whisk API `VERSION`")

	var uHost, uAuth, uNS, uVersion bool
	unset := &cobra.Command{
		Use:     "unset",
		Short:   "unset property",
		Example: "  whirl property unset --auth",
		RunE: func(cmd *cobra.Command, args []string) error {
			path := w.propsPath()
			p, err := readProps(path)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			var msgs []string
			if uAuth {
				p.unset("AUTH")
				msgs = append(msgs, "ok: whisk auth unset.")
			}
			if uNS {
				p.unset("NAMESPACE")
				msgs = append(msgs, "ok: whisk namespace unset.")
			}
			if uHost {
				p.unset("APIHOST")
				msgs = append(msgs, "ok: whisk API host unset.")
			}
			if uVersion {
				p.unset("APIVERSION")
				msgs = append(msgs, "ok: whisk API version unset.")
			}
			if len(msgs) == 0 {
				return w.usage(cmd, "Missing required property; unset at least one of --apihost, --auth, --namespace, --apiversion.")
			}
			if err := p.write(path); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("Unable to unset the property value(s): %w", err)}
			}
			for _, m := range msgs {
				fmt.Fprintln(w.e.stdout, m)
			}
			return nil
		},
	}
	unset.Flags().BoolVar(&uHost, "apihost", false, "whisk API host")
	unset.Flags().BoolVarP(&uAuth, "auth", "u", false, "authorization key")
	unset.Flags().BoolVar(&uNS, "namespace", false, "whisk namespace")
	unset.Flags().BoolVar(&uVersion, "apiversion", false, "whisk API version")

	var gHost, gAuth, gNS, gVersion, gBuild, gAll bool
	var output string
	get := &cobra.Command{
		Use:   "get",
		Short: "get property",
		Example: `  whirl property get
  whirl property get --apihost -o raw`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := w.config()
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			show := func(label, value, sep string) {
				if output == "raw" {
					fmt.Fprintln(w.e.stdout, value)
					return
				}
				fmt.Fprintf(w.e.stdout, "%s%s%s\n", label, sep, value)
			}
			all := gAll || !(gHost || gAuth || gNS || gVersion || gBuild)
			if all && output == "raw" {
				return w.usage(cmd, "--output|-o raw only supported with specific property type.")
			}
			if all || gHost {
				show("whisk API host", cfg.apihost, "\t\t")
			}
			if all || gAuth {
				show("whisk auth", cfg.auth, "\t\t")
			}
			if all || gNS {
				show("whisk namespace", w.resolveNamespace(cmd.Context(), cfg), "\t\t")
			}
			if all || gVersion {
				show("whisk API version", cfg.apiversion, "\t")
			}
			if all {
				show("whisk CLI version", version(), "\t")
			}
			if all || gBuild {
				build, buildno := "Unknown", "Unknown"
				if c, _, err := w.client(); err == nil {
					if info, err := c.Info(cmd.Context()); err == nil {
						build, buildno = info.Build, info.BuildNo
					}
				}
				show("whisk API build", build, "\t\t")
				show("whisk API build number", buildno, "\t")
			}
			return nil
		},
	}
	get.Flags().BoolVar(&gHost, "apihost", false, "whisk API host")
	get.Flags().BoolVarP(&gAuth, "auth", "u", false, "authorization key")
	get.Flags().BoolVar(&gNS, "namespace", false, "whisk namespace")
	get.Flags().BoolVar(&gVersion, "apiversion", false, "whisk API version")
	get.Flags().BoolVar(&gBuild, "apibuild", false, "whisk API build version")
	get.Flags().BoolVar(&gAll, "all", false, "all properties")
	get.Flags().StringVarP(&output, "output", "o", "std", "output format: std or raw")

	cmd.AddCommand(set, unset, get)
	return cmd
}

// resolveNamespace asks the server for the key's namespace when the
// configured one is "_"; it falls back to the configured value.
func (w *wsk) resolveNamespace(ctx context.Context, cfg config) string {
	if cfg.namespace != "_" {
		return cfg.namespace
	}
	c, _, err := w.client()
	if err != nil {
		return cfg.namespace
	}
	ns, err := c.Namespaces.List(ctx)
	if err != nil || len(ns) == 0 {
		return cfg.namespace
	}
	return ns[0]
}

// version is the CLI version printed by property get.
func version() string { return "whirl" }
