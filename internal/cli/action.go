package cli

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

// kindByExt is the kind wsk infers from a source file's extension.
var kindByExt = map[string]string{
	".py":    "python:default",
	".js":    "nodejs:default",
	".go":    "go:default",
	".php":   "php:default",
	".rb":    "ruby:default",
	".swift": "swift:default",
	".java":  "java:default",
	".jar":   "java:default",
	".rs":    "rust:default",
}

// actionFlags are the flags of action create and update.
type actionFlags struct {
	kind, main, docker, web, webSecure string
	native, sequence                   bool
	timeout, memory, logs, concurrency int
	params, annots                     kvFlags
}

func (w *wsk) actionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "action",
		Short: "work with actions",
	}
	cmd.AddCommand(w.actionPutCmd(false), w.actionPutCmd(true), w.actionInvokeCmd(), w.actionGetCmd(),
		w.actionDeleteCmd(), w.actionListCmd())
	return cmd
}

func (w *wsk) actionPutCmd(update bool) *cobra.Command {
	var f actionFlags
	verb, past := "create", "created"
	if update {
		verb, past = "update", "updated"
	}
	cmd := &cobra.Command{
		Use:   verb + " ACTION_NAME [ACTION]",
		Short: verb + " an action",
		Long: verb + " an action from a source file (kind inferred from .py, .js, .go), a zip (with --kind), " +
			"a Docker image (--docker), a native executable (--native) or a list of actions (--sequence).",
		Example: fmt.Sprintf(`  whirl action %[1]s hello hello.py
  whirl action %[1]s hello hello.js -p name World --web true
  whirl action %[1]s pyzip app.zip --kind python:3 --main main
  whirl action %[1]s seq --sequence hello,/guest/pkg/world`, verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			min := 2
			if update || f.docker != "" {
				min = 1
			}
			if err := w.checkArgs(cmd, args, min, 2, "An action name and code artifact are required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			name := args[0]
			act, err := w.buildAction(cmd, cfg, &f, args, update)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if cmd.Flags().Changed("web") || cmd.Flags().Changed("web-secure") {
				var existing client.KeyValues
				if update {
					if old, err := c.Actions.Get(ctx, name, false); err == nil {
						existing = old.Annotations
					}
				}
				act.Annotations, act.DelAnnotations, err = webAnnotations(existing, act.Annotations, f.web, f.webSecure, cmd.Flags().Changed("web"))
				if err != nil {
					return w.usage(cmd, "%v", err)
				}
			}
			if _, err := c.Actions.Put(ctx, name, act, update); err != nil {
				return w.fail(err, "Unable to %s action '%s'", verb, name)
			}
			w.okf("%s action %s", past, name)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", "", "the `KIND` of the action runtime (example: python:3, nodejs:20)")
	fl.StringVar(&f.main, "main", "", "the name of the action entry point (function or fully-qualified method name when applicable)")
	fl.StringVar(&f.docker, "docker", "", "use provided Docker `IMAGE` (a blackbox action)")
	fl.BoolVar(&f.native, "native", false, "treat ACTION as native action (zip file or executable)")
	fl.BoolVar(&f.sequence, "sequence", false, "treat ACTION as comma separated sequence of actions to invoke")
	fl.IntVarP(&f.timeout, "timeout", "t", 0, "the timeout `LIMIT` in milliseconds after which the action is terminated")
	fl.IntVarP(&f.memory, "memory", "m", 0, "the maximum memory `LIMIT` in MB for the action")
	fl.IntVarP(&f.logs, "logsize", "l", 0, "the maximum log size `LIMIT` in MB for the action")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 0, "the maximum intra-container concurrent activation `LIMIT` for the action")
	fl.StringVar(&f.web, "web", "", "treat ACTION as a web action, a raw HTTP web action, or as a standard action; yes | true = web action, raw = raw HTTP web action, no | false = standard action")
	fl.StringVar(&f.webSecure, "web-secure", "", "secure the web action. where `SECRET` is true, false, or any string. Only valid when the ACTION is a web action")
	addKVFlags(cmd, &f.params, &f.annots)
	return cmd
}

// buildAction assembles the PUT body from the flags and the artifact.
func (w *wsk) buildAction(cmd *cobra.Command, cfg config, f *actionFlags, args []string, update bool) (*client.ActionPut, error) {
	act := &client.ActionPut{}
	params, err := f.params.resolve("parameter")
	if err != nil {
		return nil, w.usage(cmd, "%v.", err)
	}
	annots, err := f.annots.resolve("annotation")
	if err != nil {
		return nil, w.usage(cmd, "%v.", err)
	}
	act.Parameters, act.Annotations = params, annots
	var lim client.LimitsPut
	set := false
	for _, l := range []struct {
		flag string
		v    int
		dst  **int
	}{{"timeout", f.timeout, &lim.Timeout}, {"memory", f.memory, &lim.Memory}, {"logsize", f.logs, &lim.Logs}, {"concurrency", f.concurrency, &lim.Concurrency}} {
		if cmd.Flags().Changed(l.flag) {
			v := l.v
			*l.dst = &v
			set = true
		}
	}
	if set {
		act.Limits = &lim
	}
	artifact := ""
	if len(args) > 1 {
		artifact = args[1]
	}
	switch {
	case f.sequence:
		if artifact == "" {
			return nil, w.usage(cmd, "A comma separated list of actions is required with --sequence.")
		}
		var comps []string
		for _, s := range strings.Split(artifact, ",") {
			if s = strings.TrimSpace(s); s != "" {
				comps = append(comps, qualify(cfg.namespace, s))
			}
		}
		act.Exec = &client.Exec{Kind: "sequence", Components: comps}
	case f.docker != "" || f.native:
		image := f.docker
		if f.native {
			image = "openwhisk/dockerskeleton"
		}
		ex := &client.Exec{Kind: "blackbox", Image: image, Main: f.main}
		if artifact != "" {
			code, _, err := readArtifact(artifact)
			if err != nil {
				return nil, &exitError{code: 1, err: err}
			}
			ex.Code = &code
		}
		act.Exec = ex
	case artifact != "":
		code, binary, err := readArtifact(artifact)
		if err != nil {
			return nil, &exitError{code: 1, err: err}
		}
		kind := f.kind
		ext := strings.ToLower(filepath.Ext(artifact))
		if kind == "" {
			if ext == ".zip" {
				return nil, w.usage(cmd, "Creating an action from a .zip artifact requires specifying the action kind explicitly with --kind (example: --kind python:3).")
			}
			k, ok := kindByExt[ext]
			if !ok {
				return nil, w.usage(cmd, "Cannot create action from file '%s': the extension '%s' is not known; specify the kind with --kind.", artifact, ext)
			}
			kind = k
		}
		act.Exec = &client.Exec{Kind: kind, Code: &code, Main: f.main, Binary: binary}
	case f.kind != "" || f.main != "":
		if !update {
			return nil, w.usage(cmd, "An action name and code artifact are required.")
		}
		return nil, w.usage(cmd, "--kind and --main need a code artifact.")
	}
	return act, nil
}

// readArtifact reads a code file: text as is, zips and other binaries as
// base64. A .zip that is not a readable zip archive is an error.
func readArtifact(path string) (code string, binary bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", false, fmt.Errorf("File '%s' is not a valid file or it does not exist. Check the path.", path)
		}
		return "", false, fmt.Errorf("Unable to read '%s': %v", path, err)
	}
	if strings.EqualFold(filepath.Ext(path), ".zip") {
		if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
			return "", false, fmt.Errorf("Unable to read the zip file '%s': %v. Create it with 'zip -r %s .' from the action's directory.", path, err, filepath.Base(path))
		}
		return base64.StdEncoding.EncodeToString(b), true, nil
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return base64.StdEncoding.EncodeToString(b), true, nil
	}
	return string(b), false, nil
}

// webAnnotations applies --web and --web-secure to annotations as wsk does,
// on top of existing (the action's current annotations on update).
func webAnnotations(existing, user client.KeyValues, web, secure string, webSet bool) (client.KeyValues, []string, error) {
	out := existing.Merge(user)
	var del []string
	if webSet {
		switch strings.ToLower(web) {
		case "true", "yes":
			out = out.Set("web-export", true).Set("raw-http", false).Set("final", true)
		case "raw":
			out = out.Set("web-export", true).Set("raw-http", true).Set("final", true)
		case "false", "no":
			out = out.Set("web-export", false).Set("raw-http", false).Set("final", false)
		default:
			return nil, nil, fmt.Errorf("Invalid argument '%s' for --web flag. Valid input consist of 'yes', 'true', 'raw', 'false', or 'no'.", web)
		}
	}
	if secure != "" {
		if !out.Truthy("web-export") {
			return nil, nil, fmt.Errorf("The --web-secure option is only valid when the --web option is enabled.")
		}
		switch strings.ToLower(secure) {
		case "true":
			out = out.Set("require-whisk-auth", rand.Int64N(1<<53-1))
		case "false":
			out = out.Delete("require-whisk-auth")
			del = append(del, "require-whisk-auth")
		default:
			out = out.Set("require-whisk-auth", secure)
		}
	}
	return out, del, nil
}

func (w *wsk) actionInvokeCmd() *cobra.Command {
	var params kvFlags
	var blocking, result bool
	var timeout int
	cmd := &cobra.Command{
		Use:   "invoke ACTION_NAME",
		Short: "invoke action",
		Example: `  whirl action invoke hello -p name World
  whirl action invoke hello --result -P params.json
  whirl action invoke /guest/pkg/hello --blocking`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "An action name is required."); err != nil {
				return err
			}
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			kv, err := params.resolve("parameter")
			if err != nil {
				return w.usage(cmd, "%v.", err)
			}
			name := args[0]
			ns, entity := namespaceOf(cfg.namespace, name)
			inv, err := c.Actions.Invoke(cmd.Context(), name, kv.Object(), client.InvokeOptions{Blocking: blocking, Result: result, Timeout: timeout})
			return w.invocationOutput(inv, err, ns, entity, blocking || result, result)
		},
	}
	addKVFlags(cmd, &params, nil)
	cmd.Flags().BoolVarP(&blocking, "blocking", "b", false, "blocking invoke")
	cmd.Flags().BoolVarP(&result, "result", "r", false, "blocking invoke; show only activation result (unless there is a failure)")
	cmd.Flags().IntVar(&timeout, "timeout", 0, "blocking wait in `MILLISECONDS` (default: the server's)")
	return cmd
}

// invocationOutput prints an invocation as wsk does and returns its exit
// error.
func (w *wsk) invocationOutput(inv *client.Invocation, err error, ns, entity string, blocking, result bool) error {
	if inv == nil || (err != nil && inv.StatusCode != 502 && inv.StatusCode != 500) {
		return w.fail(err, "Unable to invoke action '%s'", entity)
	}
	if blocking && inv.StatusCode == 202 {
		fmt.Fprintf(w.e.stderr, "ok: invoked /%s/%s, but the request has not yet finished, with id %s\n", ns, entity, inv.ActivationID)
		return &exitError{code: 202, err: fmt.Errorf("")}
	}
	out := w.e.stdout
	if err != nil {
		out = w.e.stderr
	}
	if !result {
		fmt.Fprintf(out, "ok: invoked /%s/%s with id %s\n", ns, entity, inv.ActivationID)
	}
	if blocking {
		printInvocationBody(out, inv, result)
	}
	if err != nil {
		return &exitError{code: exitCodeFor(inv.StatusCode), err: fmt.Errorf("")}
	}
	return nil
}

// printInvocationBody prints an invocation's body; an activation record is
// printed in the field order wsk prints it.
func printInvocationBody(out io.Writer, inv *client.Invocation, result bool) {
	if !result && bytes.Contains(inv.Body, []byte(`"activationId"`)) && bytes.Contains(inv.Body, []byte(`"response"`)) {
		if a, err := inv.Activation(); err == nil {
			printJSON(out, a)
			return
		}
	}
	printJSON(out, inv.Body)
}

func (w *wsk) actionGetCmd() *cobra.Command {
	var save, url, asJSON bool
	var saveAs string
	cmd := &cobra.Command{
		Use:   "get ACTION_NAME [FIELD_FILTER | --url | --save]",
		Short: "get action",
		Example: `  whirl action get hello
  whirl action get hello exec
  whirl action get hello --url
  whirl action get hello --save`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 2, "An action name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			name := args[0]
			a, err := c.Actions.Get(cmd.Context(), name, !url)
			if err != nil {
				return w.fail(err, "Unable to get action '%s'", name)
			}
			switch {
			case asJSON:
				printView(w.e.stdout, a)
			case url:
				w.okf("got action %s", name)
				fmt.Fprintln(w.e.stdout, actionURL(c.BaseURL(), a))
			case save || saveAs != "":
				path, err := saveCode(a, saveAs)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				w.okf("saved action code to %s", path)
			case len(args) == 2:
				var buf bytes.Buffer
				if err := printViewField(&buf, a, args[1]); err != nil {
					return &exitError{code: 1, err: err}
				}
				w.okf("got action %s, displaying field %s", name, args[1])
				w.e.stdout.Write(buf.Bytes())
			default:
				w.okf("got action %s", name)
				printView(w.e.stdout, a)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&url, "url", "r", false, "get action url")
	cmd.Flags().BoolVar(&save, "save", false, "save action code to file corresponding with action name")
	cmd.Flags().StringVar(&saveAs, "save-as", "", "file to save action code to")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print only the JSON of the action")
	return cmd
}

// actionURL is the web URL of a web action, else its REST URL.
func actionURL(base string, a *client.Action) string {
	ns, pkg, _ := strings.Cut(a.Namespace, "/")
	if a.Annotations.Truthy("web-export") {
		if pkg == "" {
			pkg = "default"
		}
		return fmt.Sprintf("%s/api/v1/web/%s/%s/%s", base, ns, pkg, a.Name)
	}
	if pkg != "" {
		return fmt.Sprintf("%s/api/v1/namespaces/%s/actions/%s/%s", base, ns, pkg, a.Name)
	}
	return fmt.Sprintf("%s/api/v1/namespaces/%s/actions/%s", base, ns, a.Name)
}

// saveCode writes an action's code to NAME.EXT in the working directory (or
// to path) and returns the absolute path. It refuses to overwrite.
func saveCode(a *client.Action, path string) (string, error) {
	if a.Exec.Code == nil {
		return "", fmt.Errorf("Cannot save action '%s': it has no code.", a.Name)
	}
	code := []byte(*a.Exec.Code)
	binary := a.Exec.Binary
	if binary {
		b, err := base64.StdEncoding.DecodeString(*a.Exec.Code)
		if err != nil {
			return "", fmt.Errorf("Cannot decode the code of action '%s': %v", a.Name, err)
		}
		code = b
	}
	if path == "" {
		ext := ".txt"
		family, _, _ := strings.Cut(a.Exec.Kind, ":")
		for e, k := range kindByExt {
			if f, _, _ := strings.Cut(k, ":"); f == family && e != ".jar" && e != ".java" {
				ext = e
			}
		}
		if binary {
			ext = ".zip"
		}
		path = a.Name + ext
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err == nil {
		return "", fmt.Errorf("The file '%s' already exists.", abs)
	}
	if err := os.WriteFile(abs, code, 0o644); err != nil {
		return "", fmt.Errorf("Cannot save action code: %w", err)
	}
	return abs, nil
}

func (w *wsk) actionDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete ACTION_NAME",
		Short:   "delete action",
		Example: "  whirl action delete hello",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "An action name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			if _, err := c.Actions.Delete(cmd.Context(), args[0]); err != nil {
				return w.fail(err, "Unable to delete action '%s'", args[0])
			}
			w.okf("deleted action %s", args[0])
			return nil
		},
	}
}

// listFlags are the flags of every list command.
type listFlags struct {
	limit, skip      int
	nameSort, asJSON bool
}

func addListFlags(cmd *cobra.Command, f *listFlags) {
	cmd.Flags().IntVarP(&f.skip, "skip", "s", 0, "exclude the first `SKIP` number of entities from the result")
	cmd.Flags().IntVarP(&f.limit, "limit", "l", 30, "only return `LIMIT` number of entities from the collection")
	cmd.Flags().BoolVarP(&f.nameSort, "name-sort", "n", false, "sorts a list alphabetically by entity name")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the list as JSON")
}

func (w *wsk) actionListCmd() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:     "list [NAMESPACE | PACKAGE_NAME]",
		Short:   "list all actions in a namespace or actions contained in a package",
		Example: "  whirl action list\n  whirl action list mypackage",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 0, 1, "An optional namespace or package is the only valid argument."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			pkg := ""
			if len(args) == 1 {
				pkg = args[0]
			}
			list, err := c.Actions.List(cmd.Context(), pkg, &client.ListOptions{Limit: f.limit, Skip: f.skip})
			if err != nil {
				return w.fail(err, "Unable to obtain the list of actions for namespace '%s'", firstOr(args, "default"))
			}
			if f.asJSON {
				printView(w.e.stdout, nonNil(list))
				return nil
			}
			w.printActions(list, f.nameSort)
			return nil
		},
	}
	addListFlags(cmd, &f)
	return cmd
}

func (w *wsk) printActions(list []client.ActionSummary, sortByName bool) {
	if sortByName {
		sortBy(list, func(a client.ActionSummary) string { return a.Namespace + "/" + a.Name })
	}
	fmt.Fprintln(w.e.stdout, "actions")
	for _, a := range list {
		kind, _ := a.Annotations.String("exec")
		fmt.Fprintf(w.e.stdout, "%-70s %s %s\n", "/"+a.Namespace+"/"+a.Name, "private", kind)
	}
}

func firstOr(args []string, def string) string {
	if len(args) > 0 {
		return args[0]
	}
	return def
}

// nonNil makes empty lists print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func sortBy[T any](s []T, key func(T) string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && key(s[j]) < key(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
