package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/client"
)

func (w *wsk) apiCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "api", Short: "work with APIs"}
	cmd.AddCommand(w.apiCreateCmd(), w.apiGetCmd(), w.apiListCmd(), w.apiDeleteCmd())
	return cmd
}

var pathParam = regexp.MustCompile(`\{([^}/]+)\}`)

func (w *wsk) apiCreateCmd() *cobra.Command {
	var respType, apiName, configFile string
	cmd := &cobra.Command{
		Use:   "create ([BASE_PATH] API_PATH API_VERB ACTION] | --config-file CFG_FILE)",
		Short: "create a new API",
		Example: `  whirl api create /hello /world get hello
  whirl api create /readpy post read-py --response-type json
  whirl api create --config-file swagger.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := w.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if configFile != "" {
				b, err := os.ReadFile(configFile)
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("Error reading swagger file '%s': %v", configFile, err)}
				}
				if !json.Valid(b) {
					return &exitError{code: 1, err: fmt.Errorf("Error parsing swagger file '%s': it is not valid JSON", configFile)}
				}
				api, err := c.APIs.Create(ctx, &client.APIDoc{Namespace: cfg.namespace, Swagger: string(b)}, client.APIOptions{ResponseType: respType})
				if err != nil {
					return w.fail(err, "Unable to create API")
				}
				// As wsk: one line and URL per operation the document defines.
				var sw struct {
					BasePath string `json:"basePath"`
					Paths    map[string]map[string]struct {
						OW struct {
							Namespace string `json:"namespace"`
							Package   string `json:"package"`
							Action    string `json:"action"`
						} `json:"x-openwhisk"`
					} `json:"paths"`
				}
				json.Unmarshal(api.APIDoc, &sw) //nolint:errcheck // only for the message
				if len(sw.Paths) == 0 {
					w.okf("created API %s", sw.BasePath)
					return nil
				}
				for _, rel := range sortedKeys(sw.Paths) {
					ops := sw.Paths[rel]
					for _, verb := range sortedKeys(ops) {
						ow := ops[verb].OW
						action := "/" + ow.Namespace + "/" + ow.Action
						if ow.Package != "" && ow.Package != "default" {
							action = "/" + ow.Namespace + "/" + ow.Package + "/" + ow.Action
						}
						fmt.Fprintf(w.e.stdout, "ok: created API %s %s for action %s\n%s\n", joinPath(sw.BasePath, rel), strings.ToUpper(verb), action, strings.TrimSuffix(api.GwAPIURL, "/")+rel)
					}
				}
				return nil
			}
			if err := w.checkArgs(cmd, args, 3, 4, "An API path, an API verb, and an action name are required."); err != nil {
				return err
			}
			base := "/"
			if len(args) == 4 {
				base, args = args[0], args[1:]
			}
			rel, verb, action := args[0], strings.ToUpper(args[1]), args[2]
			a, err := c.Actions.Get(ctx, action, false)
			if err != nil {
				return w.fail(err, "Unable to get action '%s'", action)
			}
			full := "/" + a.Namespace + "/" + a.Name
			if !a.Annotations.Truthy("web-export") {
				return &exitError{code: 1, err: fmt.Errorf("Action '%s' is not a web action. Issue '%s action update \"%s\" --web true' to convert the action to a web action.", full, w.prog, full)}
			}
			ns, pkg, _ := strings.Cut(a.Namespace, "/")
			if pkg == "" {
				pkg = "default"
			}
			name := apiName
			if name == "" {
				name = base
			}
			doc := &client.APIDoc{
				Namespace:       cfg.namespace,
				GatewayBasePath: base,
				GatewayPath:     rel,
				GatewayMethod:   verb,
				ID:              "API:" + cfg.namespace + ":" + base,
				APIName:         name,
				Action: &client.APIAction{
					Name:          a.Name,
					Namespace:     ns,
					BackendMethod: verb,
					BackendURL:    fmt.Sprintf("%s/api/v1/web/%s/%s/%s.http", c.BaseURL(), ns, pkg, a.Name),
					AuthKey:       cfg.auth,
				},
			}
			if pkg != "default" {
				doc.Action.Name = pkg + "/" + a.Name
			}
			if v, ok := a.Annotations.Get("require-whisk-auth"); ok && a.Annotations.Truthy("require-whisk-auth") {
				var key any
				json.Unmarshal(v, &key) //nolint:errcheck // raw JSON from the server
				doc.Action.SecureKey = key
			}
			for _, m := range pathParam.FindAllStringSubmatch(rel, -1) {
				doc.PathParameters = append(doc.PathParameters, client.APIParameter{Name: m[1], In: "path", Required: true, Type: "string"})
			}
			api, err := c.APIs.Create(ctx, doc, client.APIOptions{ResponseType: respType})
			if err != nil {
				return w.fail(err, "Unable to create API")
			}
			fmt.Fprintf(w.e.stdout, "ok: created API %s %s for action %s\n%s\n", joinPath(base, rel), verb, qualifyShown(cfg.namespace, action), strings.TrimSuffix(api.GwAPIURL, "/")+rel)
			return nil
		},
	}
	cmd.Flags().StringVarP(&apiName, "apiname", "n", "", "friendly name of the API; ignored when CFG_FILE is specified (default BASE_PATH)")
	cmd.Flags().StringVarP(&configFile, "config-file", "c", "", "`CFG_FILE` containing API configuration in swagger JSON format")
	cmd.Flags().StringVar(&respType, "response-type", "json", "set the web action response `TYPE`. Possible values are html, http, json, text, svg")
	return cmd
}

func joinPath(base, rel string) string {
	if base == "/" {
		return rel
	}
	return strings.TrimSuffix(base, "/") + rel
}

// qualifyShown is how wsk names the action in "ok: created API": /ns/name.
func qualifyShown(ns, name string) string { return qualify(ns, name) }

// swaggerOps reads the operations of a swagger document for the list table.
type swaggerOp struct {
	action, verb, apiName, url string
}

func swaggerOps(api *client.API) []swaggerOp {
	var sw struct {
		Info     struct{ Title string } `json:"info"`
		BasePath string                 `json:"basePath"`
		Paths    map[string]map[string]struct {
			OW struct {
				Namespace string `json:"namespace"`
				Package   string `json:"package"`
				Action    string `json:"action"`
			} `json:"x-openwhisk"`
		} `json:"paths"`
	}
	if json.Unmarshal(api.APIDoc, &sw) != nil {
		return nil
	}
	var ops []swaggerOp
	paths := make([]string, 0, len(sw.Paths))
	for p := range sw.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		verbs := make([]string, 0, len(sw.Paths[p]))
		for v := range sw.Paths[p] {
			verbs = append(verbs, v)
		}
		sort.Strings(verbs)
		for _, v := range verbs {
			ow := sw.Paths[p][v].OW
			act := "/" + ow.Namespace + "/" + ow.Action
			if ow.Package != "" && ow.Package != "default" {
				act = "/" + ow.Namespace + "/" + ow.Package + "/" + ow.Action
			}
			ops = append(ops, swaggerOp{action: act, verb: strings.ToLower(v), apiName: sw.Info.Title, url: strings.TrimSuffix(api.GwAPIURL, "/") + p})
		}
	}
	return ops
}

func (w *wsk) apiListCmd() *cobra.Command {
	var limit, skip int
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list [[BASE_PATH | API_NAME] [API_PATH [API_VERB]]",
		Short:   "list APIs",
		Example: "  whirl api list\n  whirl api list /hello",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 0, 3, "Optional parameters are: API base path (or API name), API relative path and operation."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			list, err := c.APIs.List(cmd.Context(), client.APIOptions{BasePath: firstOr(args, ""), Limit: limit, Skip: skip})
			if err != nil {
				return w.fail(err, "Unable to obtain the API list")
			}
			if asJSON {
				printJSON(w.e.stdout, nonNil(list))
				return nil
			}
			fmt.Fprintln(w.e.stdout, "ok: APIs")
			fmt.Fprintf(w.e.stdout, "%-30s %7s %20s  %s\n", "Action", "Verb", "API Name", "URL")
			for _, e := range list {
				for _, op := range swaggerOps(e.Value) {
					if len(args) > 1 && !strings.HasSuffix(op.url, args[1]) {
						continue
					}
					if len(args) > 2 && !strings.EqualFold(op.verb, args[2]) {
						continue
					}
					fmt.Fprintf(w.e.stdout, "%-30s %7s %20s  %s\n", op.action, op.verb, op.apiName, op.url)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "l", 30, "only return `LIMIT` number of APIs")
	cmd.Flags().IntVarP(&skip, "skip", "s", 0, "exclude the first `SKIP` number of APIs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

func (w *wsk) apiGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get BASE_PATH | API_NAME",
		Short:   "get API details",
		Example: "  whirl api get /hello",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 1, "An API base path or API name is required."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			list, err := c.APIs.List(cmd.Context(), client.APIOptions{BasePath: args[0]})
			if err != nil {
				return w.fail(err, "Unable to get API '%s'", args[0])
			}
			if len(list) == 0 {
				return &exitError{code: 148, err: fmt.Errorf("Unable to get API '%s': API does not exist.", args[0])}
			}
			printJSON(w.e.stdout, list[0].Value.APIDoc)
			return nil
		},
	}
}

func (w *wsk) apiDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete BASE_PATH | API_NAME [API_PATH [API_VERB]]",
		Short:   "delete an API",
		Example: "  whirl api delete /hello\n  whirl api delete /hello /world get",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := w.checkArgs(cmd, args, 1, 3, "An API base path or API name is required.  An optional API relative path and operation may also be provided."); err != nil {
				return err
			}
			c, _, err := w.client()
			if err != nil {
				return err
			}
			o := client.APIOptions{BasePath: args[0]}
			if len(args) > 1 {
				o.RelPath = args[1]
			}
			if len(args) > 2 {
				o.Operation = strings.ToUpper(args[2])
			}
			if err := c.APIs.Delete(cmd.Context(), o); err != nil {
				return w.fail(err, "Unable to delete API")
			}
			switch len(args) {
			case 1:
				w.okf("deleted API %s", args[0])
			case 2:
				w.okf("deleted %s from %s", args[1], args[0])
			default:
				w.okf("deleted %s %s from %s", args[1], o.Operation, args[0])
			}
			return nil
		},
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
