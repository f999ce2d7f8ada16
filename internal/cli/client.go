package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

// wsk holds the global flags of the wsk-compatible commands and builds the
// client they share.
type wsk struct {
	e    *env
	prog string // "whirl" or "wsk", for hints

	apihost, auth, namespace, apiversion string
	insecure, verbose, debug             bool
}

// addClientCommands adds the wsk-compatible commands and their global flags.
// Under the name "wsk" the server commands are hidden from help.
func addClientCommands(root *cobra.Command, e *env) {
	w := &wsk{e: e, prog: root.Name()}
	if w.prog != "wsk" {
		w.prog = "whirl"
	}
	if root.Name() == "wsk" {
		for _, c := range root.Commands() {
			c.Hidden = true
		}
	}
	pf := root.PersistentFlags()
	pf.StringVar(&w.apihost, "apihost", "", "whisk API `HOST`")
	pf.StringVarP(&w.auth, "auth", "u", "", "authorization `KEY`")
	pf.StringVar(&w.namespace, "namespace", "", "the `NAMESPACE` to use")
	pf.StringVar(&w.apiversion, "apiversion", "", "whisk API `VERSION`")
	pf.BoolVarP(&w.insecure, "insecure", "i", false, "bypass certificate checking")
	pf.BoolVarP(&w.verbose, "verbose", "v", false, "verbose output")
	pf.BoolVarP(&w.debug, "debug", "d", false, "debug level output (prints HTTP requests and responses)")

	root.AddCommand(
		w.propertyCmd(),
		w.actionCmd(),
		w.activationCmd(),
		w.triggerCmd(),
		w.ruleCmd(),
		w.packageCmd(),
		w.apiCmd(),
		w.namespaceCmd(),
		w.listCmd(),
		w.consoleCmd(),
		completionCmd(root),
	)
	if w.prog == "wsk" {
		root.Short = "OpenWhisk cloud computing command line interface."
		speakAs(root, "wsk")
	}
}

// speakAs rewrites the examples and hints of cmd and its subcommands to
// name the program prog instead of whirl.
func speakAs(cmd *cobra.Command, prog string) {
	cmd.Example = strings.ReplaceAll(cmd.Example, "whirl ", prog+" ")
	cmd.Long = strings.ReplaceAll(cmd.Long, "whirl ", prog+" ")
	for _, c := range cmd.Commands() {
		speakAs(c, prog)
	}
}

// props reads the properties file: WSK_CONFIG_FILE or ~/.wskprops.
func (w *wsk) propsPath() string {
	if p := w.e.getenv("WSK_CONFIG_FILE"); p != "" {
		return p
	}
	home := w.e.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".wskprops")
}

// config is the resolved connection settings: flags, then __OW_ variables,
// then the properties file.
type config struct {
	apihost, auth, namespace, apiversion string
}

func (w *wsk) config() (config, error) {
	props, err := readProps(w.propsPath())
	if err != nil {
		return config{}, err
	}
	pick := func(flag, envName, key string) string {
		if flag != "" {
			return flag
		}
		if envName != "" {
			if v := w.e.getenv(envName); v != "" {
				return v
			}
		}
		return props.get(key)
	}
	c := config{
		apihost:    pick(w.apihost, "__OW_APIHOST", "APIHOST"),
		auth:       pick(w.auth, "__OW_AUTH", "AUTH"),
		namespace:  pick(w.namespace, "__OW_NAMESPACE", "NAMESPACE"),
		apiversion: pick(w.apiversion, "", "APIVERSION"),
	}
	if c.namespace == "" {
		c.namespace = "_"
	}
	if c.apiversion == "" {
		c.apiversion = "v1"
	}
	return c, nil
}

// client builds the API client, or a usage error with a hint when the API
// host or key is missing.
func (w *wsk) client() (*client.Client, config, error) {
	cfg, err := w.config()
	if err != nil {
		return nil, cfg, &exitError{code: 1, err: err}
	}
	if cfg.apihost == "" {
		return nil, cfg, &exitError{code: 1, err: fmt.Errorf("The API host is not valid: An API host must be provided. Set it with '%s property set --apihost HOST'.", w.prog)}
	}
	if cfg.auth == "" {
		return nil, cfg, &exitError{code: 1, err: fmt.Errorf("The API authentication key is not set. Set it with '%s property set --auth KEY'.", w.prog)}
	}
	var dbg io.Writer
	if w.debug || w.verbose {
		dbg = w.e.stderr
	}
	c, err := client.New(client.Config{
		APIHost:   cfg.apihost,
		Auth:      cfg.auth,
		Namespace: cfg.namespace,
		Insecure:  w.insecure,
		Version:   cfg.apiversion,
		Debug:     dbg,
		UserAgent: "whirl-cli",
	})
	if err != nil {
		return nil, cfg, &exitError{code: 1, err: fmt.Errorf("The API host is not valid: %v. Set it with '%s property set --apihost HOST'.", err, w.prog)}
	}
	return c, cfg, nil
}

// fail turns an API error into the one-line error and exit code wsk uses:
// HTTP status − 256 for server errors, 3 for network errors, 1 otherwise. A
// hint is added for the errors a user can fix.
func (w *wsk) fail(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	var ce *client.Error
	if errors.As(err, &ce) {
		hint := ""
		switch ce.StatusCode {
		case 401:
			hint = fmt.Sprintf(" Check the key with '%s property get --auth'.", w.prog)
		case 403:
			hint = " Check the namespace and the key."
		}
		return &exitError{code: exitCodeFor(ce.StatusCode), err: fmt.Errorf("%s: %s%s", msg, ce.Error(), hint)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		cfg, _ := w.config()
		return &exitError{code: 3, err: fmt.Errorf("%s: %v. Is the API host '%s' right and the server up? Check it with '%s property get --apihost'.", msg, ue.Err, cfg.apihost, w.prog)}
	}
	return &exitError{code: 1, err: fmt.Errorf("%s: %w", msg, err)}
}

// exitCodeFor maps an HTTP status to wsk's exit code (status − 256).
func exitCodeFor(status int) int {
	if status >= 256 {
		return status - 256
	}
	return status
}

// usage is an argument error, exit code 1 as in wsk, with a hint.
func (w *wsk) usage(cmd *cobra.Command, format string, args ...any) error {
	return &exitError{code: 1, err: fmt.Errorf("%s Run '%s --help' for usage.", fmt.Sprintf(format, args...), cmd.CommandPath())}
}

// checkArgs reports wrong argument counts as wsk does.
func (w *wsk) checkArgs(cmd *cobra.Command, args []string, min, max int, required string) error {
	if len(args) < min {
		return w.usage(cmd, "Invalid argument(s). %s", required)
	}
	if max >= 0 && len(args) > max {
		return w.usage(cmd, "Invalid argument(s): %s. %s", strings.Join(args[max:], ", "), required)
	}
	return nil
}

// printJSON prints v indented by four spaces, without HTML escaping, as wsk
// does.
func printJSON(out io.Writer, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if raw, ok := v.(json.RawMessage); ok {
		if len(raw) == 0 {
			raw = json.RawMessage("{}")
		}
		var x any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if d.Decode(&x) == nil {
			v = x
		}
	}
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(out, "%v\n", v)
		return
	}
	var ind bytes.Buffer
	if json.Indent(&ind, buf.Bytes(), "", "    ") != nil {
		out.Write(buf.Bytes())
		return
	}
	out.Write(ind.Bytes())
}

// printField prints one top-level field of v's JSON, or returns an error
// when v has no such field.
func printField(out io.Writer, v any, field string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b := buf.Bytes()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	f, ok := m[field]
	if !ok {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("Invalid field filter '%s'. Valid fields: %s.", field, strings.Join(keys, ", "))
	}
	// The field keeps its order (wsk prints a struct field in its order).
	var ind bytes.Buffer
	if json.Indent(&ind, f, "", "    ") != nil {
		printJSON(out, f)
		return nil
	}
	ind.WriteByte('\n')
	out.Write(ind.Bytes())
	return nil
}

// qualify returns name fully qualified in namespace ns: "a" → "/ns/a";
// names that start with "/" are kept.
func qualify(ns, name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return "/" + ns + "/" + name
}

// namespaceOf returns the namespace part of a name as wsk prints it in "ok:"
// lines: the explicit one of a fully qualified name, else the default.
func namespaceOf(def, name string) (ns, rest string) {
	if strings.HasPrefix(name, "/") {
		parts := strings.SplitN(strings.TrimPrefix(name, "/"), "/", 2)
		if len(parts) == 2 {
			return parts[0], parts[1]
		}
	}
	return def, name
}

// okf prints an "ok:" line.
func (w *wsk) okf(format string, args ...any) {
	fmt.Fprintf(w.e.stdout, "ok: "+format+"\n", args...)
}
