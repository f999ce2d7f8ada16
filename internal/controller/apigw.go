package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// The API gateway (CONTRACT §4). `wsk api` calls three built-in web routes,
// /api/v1/web/whisk.system/apimgmt/{createApi,getApi,deleteApi}.http, which
// keep one swagger 2.0 document per (namespace, base path) in the store's
// APIs collection. The gateway serves /api/{tenant}/{basePath}/{relPath},
// where tenant is the uuid of the key that created the API (or the
// namespace's name), by running the web action of the matching operation.

const (
	apimgmtNamespace = "whisk.system"
	apimgmtPackage   = "apimgmt"
)

// apiVerbs are the operations a swagger path may hold, lowercase.
var apiVerbs = []string{"get", "put", "post", "delete", "patch", "head", "options"}

func isAPIVerb(v string) bool {
	for _, x := range apiVerbs {
		if x == v {
			return true
		}
	}
	return false
}

// apiResponseTypes are the web extensions an API operation may answer with.
var apiResponseTypes = map[string]bool{"json": true, "http": true, "html": true, "svg": true, "text": true}

// isGatewayPath reports whether p is a path the API gateway answers:
// /api/{tenant}/..., anything under /api/ but the REST API's /api/v1.
func isGatewayPath(p string) bool {
	return strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/api/v1/") && p != "/api/v1"
}

// swagger is the part of a swagger 2.0 document the gateway reads and
// writes. Paths hold operations by lowercase verb.
type swagger struct {
	Swagger  string                           `json:"swagger"`
	Info     swaggerInfo                      `json:"info"`
	BasePath string                           `json:"basePath"`
	Paths    map[string]map[string]*swaggerOp `json:"paths"`
	XConfig  json.RawMessage                  `json:"x-ibm-configuration,omitempty"`
	// XGateway is an imported document's x-gateway-configuration, the
	// name OpenWhisk's own gateway reads first; kept as given.
	XGateway json.RawMessage `json:"x-gateway-configuration,omitempty"`
}

type swaggerInfo struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

type swaggerOp struct {
	OperationID string          `json:"operationId"`
	Parameters  []apiParam      `json:"parameters,omitempty"`
	XOpenWhisk  *xOpenWhisk     `json:"x-openwhisk,omitempty"`
	Responses   json.RawMessage `json:"responses"`
}

type apiParam struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Required    bool   `json:"required"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

// xOpenWhisk names the web action behind an operation.
type xOpenWhisk struct {
	Namespace string `json:"namespace"`
	Package   string `json:"package"`
	Action    string `json:"action"`
	URL       string `json:"url"`
}

// storedAPI is the document kept in the APIs collection. SecureKeys hold
// the require-whisk-auth secret of the action behind an operation, by
// operation id; they never leave the server. The caller's API key, which
// the CLI sends along, is not stored.
type storedAPI struct {
	Namespace  string                     `json:"namespace"`
	Tenant     string                     `json:"tenant"`
	Swagger    *swagger                   `json:"swagger"`
	SecureKeys map[string]json.RawMessage `json:"secureKeys,omitempty"`
}

// apiDoc is the apidoc of a createApi request.
type apiDoc struct {
	Namespace       string     `json:"namespace"`
	GatewayBasePath string     `json:"gatewayBasePath"`
	GatewayPath     string     `json:"gatewayPath"`
	GatewayMethod   string     `json:"gatewayMethod"`
	ID              string     `json:"id"`
	APIName         string     `json:"apiName"`
	Action          *apiAction `json:"action"`
	PathParameters  []apiParam `json:"pathParameters"`
	Swagger         string     `json:"swagger"`
}

type apiAction struct {
	Name          string          `json:"name"`
	Namespace     string          `json:"namespace"`
	BackendMethod string          `json:"backendMethod"`
	BackendURL    string          `json:"backendUrl"`
	AuthKey       string          `json:"authkey"`
	SecureKey     json.RawMessage `json:"secureKey"`
}

// apiError is an apimgmt failure: OpenWhisk's route management answers
// them with status 502 and {"error": message}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func apiErrorf(format string, args ...any) error {
	return &apiError{status: http.StatusBadGateway, msg: fmt.Sprintf(format, args...)}
}

// serveAPIMgmt answers the built-in apimgmt web routes.
func (c *Controller) serveAPIMgmt(w http.ResponseWriter, r *http.Request, fn string) {
	id, err := c.cfg.Auth.Authenticate(r.Context(), r)
	if err != nil {
		c.writeAuthError(w, err)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", webAllowMethods)
	w.Header().Set("Access-Control-Allow-Headers", webAllowHeaders)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	var out any
	switch {
	case fn == "createApi" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		out, err = c.createAPI(r, id)
	case fn == "getApi" && r.Method == http.MethodGet:
		out, err = c.getAPIs(r, id)
	case fn == "deleteApi" && r.Method == http.MethodDelete:
		err = c.deleteAPI(r, id)
		out = map[string]any{}
	default:
		c.writeError(w, whisk.NotFound())
		return
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		writeJSON(w, ae.status, map[string]string{"error": ae.msg})
	case err != nil:
		c.writeError(w, err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// requestBase returns scheme://host of the URL the client called.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// gwAPIURL is the URL under which an API answers.
func gwAPIURL(r *http.Request, tenant, basePath string) string {
	return requestBase(r) + "/api/" + tenant + strings.TrimSuffix(basePath, "/")
}

// apiValue is one API as apimgmt returns it.
type apiValue struct {
	Namespace      string   `json:"namespace"`
	GwAPIURL       string   `json:"gwApiUrl"`
	GwAPIActivated bool     `json:"gwApiActivated"`
	TenantID       string   `json:"tenantId"`
	APIDoc         *swagger `json:"apidoc"`
}

func (c *Controller) apiValue(r *http.Request, s *storedAPI) apiValue {
	return apiValue{Namespace: s.Namespace, GwAPIURL: gwAPIURL(r, s.Tenant, s.Swagger.BasePath), GwAPIActivated: true, TenantID: s.Tenant, APIDoc: s.Swagger}
}

var pathParamRE = regexp.MustCompile(`\{([^{}/]+)\}`)

// operationID names an operation as OpenWhisk does: the verb and the
// path's segments camel-cased ("getBooksIsbn").
func operationID(verb, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(verb))
	for _, seg := range strings.FieldsFunc(path, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
	}
	return b.String()
}

// webActionURL is the web action URL behind an operation.
func webActionURL(base, ns, pkg, name, ext string) string {
	if pkg == "" {
		pkg = "default"
	}
	return base + "/api/v1/web/" + ns + "/" + pkg + "/" + name + "." + ext
}

func (c *Controller) createAPI(r *http.Request, id auth.Identity) (any, error) {
	ctx := r.Context()
	body, err := readJSON(r, MaxEntityBody)
	if err != nil {
		return nil, err
	}
	var req struct {
		APIDoc *apiDoc `json:"apidoc"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, apiErrorf("The request body is not valid JSON: %v", err)
	}
	doc := req.APIDoc
	if doc == nil {
		return nil, apiErrorf("apidoc is required.")
	}
	rt := r.URL.Query().Get("responsetype")
	if rt == "" {
		rt = "json"
	}
	if !apiResponseTypes[rt] {
		return nil, apiErrorf("Response type '%s' is not valid: use one of http, json, html, svg, text.", rt)
	}
	var stored *storedAPI
	if doc.Swagger != "" {
		if doc.GatewayBasePath != "" {
			return nil, apiErrorf("apidoc.swagger and apidoc.gatewayBasePath are mutually exclusive.")
		}
		sw, err := c.importSwagger(ctx, r, id, doc.Swagger)
		if err != nil {
			return nil, err
		}
		stored = &storedAPI{Namespace: id.Namespace, Tenant: id.UUID, Swagger: sw}
		old, _, err := c.getStoredAPI(ctx, id.Namespace, sw.BasePath)
		if err == nil {
			stored.SecureKeys = old.SecureKeys
		}
	} else {
		stored, err = c.addOperation(ctx, r, id, doc, rt)
		if err != nil {
			return nil, err
		}
	}
	if err := c.checkOverlap(ctx, id.Namespace, stored.Swagger); err != nil {
		return nil, err
	}
	if err := c.putStoredAPI(ctx, stored); err != nil {
		return nil, err
	}
	return c.apiValue(r, stored), nil
}

// addOperation adds the operation doc describes to its API (created when
// missing) and returns the API.
func (c *Controller) addOperation(ctx context.Context, r *http.Request, id auth.Identity, doc *apiDoc, rt string) (*storedAPI, error) {
	switch {
	case doc.GatewayBasePath == "":
		return nil, apiErrorf("apidoc.gatewayBasePath is required.")
	case doc.GatewayPath == "":
		return nil, apiErrorf("apidoc.gatewayPath is required.")
	case doc.GatewayMethod == "":
		return nil, apiErrorf("apidoc.gatewayMethod is required.")
	case doc.Action == nil || doc.Action.Name == "":
		return nil, apiErrorf("apidoc.action is required.")
	}
	base, rel, verb := doc.GatewayBasePath, doc.GatewayPath, strings.ToLower(doc.GatewayMethod)
	if !strings.HasPrefix(base, "/") {
		return nil, apiErrorf("Base path '%s' must begin with '/'.", base)
	}
	if pathParamRE.MatchString(base) {
		return nil, apiErrorf("The base path '%s' cannot have parameters. Only the relative path supports path parameters.", base)
	}
	if !strings.HasPrefix(rel, "/") {
		return nil, apiErrorf("Relative path '%s' must begin with '/'.", rel)
	}
	if !isAPIVerb(verb) {
		return nil, apiErrorf("'%s' is not a valid API verb. Valid values are: %s", doc.GatewayMethod, strings.ToUpper(strings.Join(apiVerbs, ", ")))
	}
	if pathParamRE.MatchString(rel) && rt != "http" {
		return nil, apiErrorf("A response type of 'http' is required when using path parameters.")
	}
	ns := doc.Action.Namespace
	if ns == "" || ns == whisk.DefaultNamespace {
		ns = id.Namespace
	}
	pkg, name, ok := strings.Cut(doc.Action.Name, "/")
	if !ok {
		pkg, name = "", doc.Action.Name
	}
	ra, err := c.apiTarget(ctx, id, ns, pkg, name)
	if err != nil {
		return nil, err
	}
	stored, _, err := c.getStoredAPI(ctx, id.Namespace, base)
	switch {
	case errors.Is(err, store.ErrNotFound):
		title := doc.APIName
		if title == "" {
			title = base
		}
		stored = &storedAPI{Namespace: id.Namespace, Tenant: id.UUID, Swagger: &swagger{Swagger: "2.0", Info: swaggerInfo{Title: title, Version: "1.0.0"}, BasePath: base, Paths: map[string]map[string]*swaggerOp{}}}
	case err != nil:
		return nil, err
	}
	if stored.Tenant == "" {
		stored.Tenant = id.UUID
	}
	if doc.APIName != "" && doc.APIName != stored.Swagger.Info.Title && doc.APIName != base {
		return nil, apiErrorf("API '%s' already has the name '%s'.", base, stored.Swagger.Info.Title)
	}
	params := doc.PathParameters
	if params == nil {
		for _, m := range pathParamRE.FindAllStringSubmatch(rel, -1) {
			params = append(params, apiParam{Name: m[1], In: "path", Required: true, Type: "string"})
		}
	}
	op := &swaggerOp{
		OperationID: operationID(verb, rel),
		Parameters:  params,
		XOpenWhisk:  &xOpenWhisk{Namespace: ns, Package: pkg, Action: name, URL: webActionURL(requestBase(r), ns, pkg, name, rt)},
		Responses:   json.RawMessage(`{"default":{"description":"Default response"}}`),
	}
	if stored.Swagger.Paths == nil {
		stored.Swagger.Paths = map[string]map[string]*swaggerOp{}
	}
	if stored.Swagger.Paths[rel] == nil {
		stored.Swagger.Paths[rel] = map[string]*swaggerOp{}
	}
	stored.Swagger.Paths[rel][verb] = op
	// The action's require-whisk-auth secret is copied into the API only
	// for the action's owner: another tenant's API must not carry it (nor
	// hand it out in its answer).
	secret := doc.Action.SecureKey
	if v, ok := ra.action.Annotations.Get(annRequireAuth); ok && ra.action.Annotations.Truthy(annRequireAuth) && ra.action.FQN().Namespace == id.Namespace {
		secret = v
	}
	if stored.SecureKeys == nil {
		stored.SecureKeys = map[string]json.RawMessage{}
	}
	delete(stored.SecureKeys, op.OperationID)
	if len(secret) > 0 && string(secret) != "null" && string(secret) != "true" {
		stored.SecureKeys[op.OperationID] = secret
	}
	stored.Swagger.XConfig = ibmConfiguration(stored.Swagger, stored.SecureKeys)
	return stored, nil
}

// ibmConfiguration renders the x-ibm-configuration section OpenWhisk's
// gateway documents carry: one case per operation invoking its web action.
func ibmConfiguration(sw *swagger, secrets map[string]json.RawMessage) json.RawMessage {
	var cases []any
	for _, p := range sortedKeys(sw.Paths) {
		for _, v := range apiVerbs {
			op := sw.Paths[p][v]
			if op == nil || op.XOpenWhisk == nil {
				continue
			}
			target := op.XOpenWhisk.URL
			if strings.HasSuffix(target, ".http") {
				target += "$(request.path)"
			}
			exec := []any{map[string]any{"invoke": map[string]any{"target-url": target, "verb": "keep"}}}
			if s, ok := secrets[op.OperationID]; ok {
				var val any
				json.Unmarshal(s, &val)
				exec = append(exec, map[string]any{"set-variable": map[string]any{"actions": []any{map[string]any{"set": "message.headers.X-Require-Whisk-Auth", "value": fmt.Sprint(val)}}}})
			}
			cases = append(cases, map[string]any{"operations": []string{op.OperationID}, "execute": exec})
		}
	}
	b, _ := json.Marshal(map[string]any{
		"assembly": map[string]any{"execute": []any{map[string]any{"operation-switch": map[string]any{"case": cases}}}},
		"cors":     map[string]any{"enabled": true},
	})
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// apiTarget checks that an operation's action is one id may point an API
// at (the entitlement gate: its own, or in a published package). Another
// namespace's action id may not reach answers as a missing one does, so
// that the answer tells no names.
func (c *Controller) apiTarget(ctx context.Context, id auth.Identity, ns, pkg, name string) (*resolvedAction, error) {
	full := "/" + ns + "/" + name
	if pkg != "" {
		full = "/" + ns + "/" + pkg + "/" + name
	}
	for _, seg := range []string{ns, pkg, name} {
		if seg != "" && whisk.ValidateName(seg) != nil {
			return nil, apiErrorf("Action '%s' does not exist.", full)
		}
	}
	ra, err := c.entitledAction(ctx, id, whisk.FQN{Namespace: ns, Package: pkg, Name: name})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || whisk.StatusOf(err) < http.StatusInternalServerError {
			return nil, apiErrorf("Action '%s' does not exist.", full)
		}
		return nil, err
	}
	// Whether the action is a web action is not checked, as OpenWhisk's
	// route management does not (only the wsk CLI does): the gateway then
	// answers a call to a non-web action as the web action URL does, 404.
	return ra, nil
}

// importSwagger validates a swagger document given with --config-file.
func (c *Controller) importSwagger(ctx context.Context, r *http.Request, id auth.Identity, text string) (*swagger, error) {
	var raw struct {
		Swagger  string                                `json:"swagger"`
		Info     *swaggerInfo                          `json:"info"`
		BasePath string                                `json:"basePath"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
		XConfig  json.RawMessage                       `json:"x-ibm-configuration"`
		XGateway json.RawMessage                       `json:"x-gateway-configuration"`
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, apiErrorf("The swagger document is not valid JSON: %v", err)
	}
	if raw.Swagger == "" || raw.Info == nil || raw.BasePath == "" || raw.Paths == nil {
		return nil, apiErrorf("The swagger document is invalid (missing basePath, info, paths, or swagger fields).")
	}
	if raw.Swagger != "2.0" {
		return nil, apiErrorf("The swagger document has version '%s'; only swagger 2.0 is supported.", raw.Swagger)
	}
	if !strings.HasPrefix(raw.BasePath, "/") || pathParamRE.MatchString(raw.BasePath) {
		return nil, apiErrorf("The swagger basePath '%s' must begin with '/' and have no parameters.", raw.BasePath)
	}
	sw := &swagger{Swagger: "2.0", Info: *raw.Info, BasePath: raw.BasePath, Paths: map[string]map[string]*swaggerOp{}, XConfig: raw.XConfig, XGateway: raw.XGateway}
	if sw.Info.Title == "" {
		sw.Info.Title = raw.BasePath
	}
	// OpenWhisk's gateway reads x-gateway-configuration, and
	// x-ibm-configuration when there is none (management/lib/swagger.lua).
	gwConfig := raw.XGateway
	if len(gwConfig) == 0 || string(gwConfig) == "null" {
		gwConfig = raw.XConfig
	}
	targets := gatewayTargets(gwConfig)
	for p, ops := range raw.Paths {
		if !strings.HasPrefix(p, "/") {
			return nil, apiErrorf("The swagger path '%s' must begin with '/'.", p)
		}
		for verb, b := range ops {
			if !isAPIVerb(verb) {
				if verb == "parameters" || strings.HasPrefix(verb, "x-") {
					continue
				}
				return nil, apiErrorf("The swagger path '%s' has an unknown operation '%s'.", p, verb)
			}
			var op swaggerOp
			if err := json.Unmarshal(b, &op); err != nil {
				return nil, apiErrorf("The swagger operation %s %s is invalid: %v", verb, p, err)
			}
			if op.OperationID == "" {
				op.OperationID = operationID(verb, p)
			}
			ext := "json"
			if op.XOpenWhisk == nil || op.XOpenWhisk.Action == "" {
				target, found := targets[op.OperationID]
				if !found {
					target, found = targets[""]
				}
				x, ok := parseWebURL(target)
				if !ok && found {
					return nil, apiErrorf("The swagger operation %s %s has the target-url '%s', which is not a web action URL: Whirl's gateway calls only web actions.", verb, p, target)
				}
				if !ok {
					return nil, apiErrorf("The swagger operation %s %s names no action: it needs an x-openwhisk section (namespace, package, action, url) or a target-url in x-gateway-configuration.", verb, p)
				}
				op.XOpenWhisk, ext = x, x.URL
			} else if u, ok := parseWebURL(op.XOpenWhisk.URL); ok {
				ext = u.URL
			}
			x := op.XOpenWhisk
			if x.Namespace == "" || x.Namespace == whisk.DefaultNamespace {
				x.Namespace = id.Namespace
			}
			if x.Package == "default" {
				x.Package = ""
			}
			if _, err := c.apiTarget(ctx, id, x.Namespace, x.Package, x.Action); err != nil {
				return nil, err
			}
			x.URL = webActionURL(requestBase(r), x.Namespace, x.Package, x.Action, ext)
			if op.Responses == nil {
				op.Responses = json.RawMessage(`{"default":{"description":"Default response"}}`)
			}
			if sw.Paths[p] == nil {
				sw.Paths[p] = map[string]*swaggerOp{}
			}
			sw.Paths[p][verb] = &op
		}
	}
	if len(sw.Paths) == 0 {
		return nil, apiErrorf("The swagger document defines no operations.")
	}
	return sw, nil
}

var webURLRE = regexp.MustCompile(`/api/v1/web/([^/]+)/([^/]+)/([^/.$]+)\.(json|http|html|svg|text)`)

// parseWebURL reads the action of a web action URL; URL of the answer
// holds the extension without its dot.
func parseWebURL(u string) (*xOpenWhisk, bool) {
	m := webURLRE.FindStringSubmatch(u)
	if m == nil {
		return nil, false
	}
	pkg := m[2]
	if pkg == "default" {
		pkg = ""
	}
	return &xOpenWhisk{Namespace: m[1], Package: pkg, Action: m[3], URL: m[4]}, true
}

// gatewayTargets maps operation ids to the target-url of an
// x-gateway-configuration (or x-ibm-configuration) section: the invoke of
// each case of an operation-switch, or, under "", an invoke at the top of
// the assembly, which applies to every operation.
func gatewayTargets(x json.RawMessage) map[string]string {
	var cfg struct {
		Assembly struct {
			Execute []struct {
				Invoke *struct {
					Target string `json:"target-url"`
				} `json:"invoke"`
				Switch struct {
					Case []struct {
						Operations []string `json:"operations"`
						Execute    []struct {
							Invoke *struct {
								Target string `json:"target-url"`
							} `json:"invoke"`
						} `json:"execute"`
					} `json:"case"`
				} `json:"operation-switch"`
			} `json:"execute"`
		} `json:"assembly"`
	}
	out := map[string]string{}
	if json.Unmarshal(x, &cfg) != nil {
		return out
	}
	for _, e := range cfg.Assembly.Execute {
		if e.Invoke != nil {
			if _, ok := out[""]; !ok {
				out[""] = e.Invoke.Target
			}
		}
		for _, cs := range e.Switch.Case {
			for _, ex := range cs.Execute {
				if ex.Invoke != nil {
					for _, op := range cs.Operations {
						out[op] = ex.Invoke.Target
					}
				}
			}
		}
	}
	return out
}

// templateKey normalises a path template: parameters become "{}".
func templateKey(p string) string {
	return pathParamRE.ReplaceAllString(p, "{}")
}

func joinAPIPath(base, rel string) string {
	return strings.TrimSuffix(base, "/") + rel
}

// checkOverlap refuses an API whose operations another API of the
// namespace already answers: the same verb on the same full path.
func (c *Controller) checkOverlap(ctx context.Context, ns string, sw *swagger) error {
	all, err := c.listStoredAPIs(ctx, ns)
	if err != nil {
		return err
	}
	for _, other := range all {
		if other.Swagger.BasePath == sw.BasePath {
			continue
		}
		for p, ops := range sw.Paths {
			full := templateKey(joinAPIPath(sw.BasePath, p))
			for op, ops2 := range other.Swagger.Paths {
				if templateKey(joinAPIPath(other.Swagger.BasePath, op)) != full {
					continue
				}
				for verb := range ops {
					if ops2[verb] != nil {
						return &apiError{status: http.StatusConflict, msg: fmt.Sprintf("API base path '%s' overlaps API '%s': both answer %s %s.",
							sw.BasePath, other.Swagger.BasePath, strings.ToUpper(verb), joinAPIPath(sw.BasePath, p))}
					}
				}
			}
		}
	}
	return nil
}

func (c *Controller) getStoredAPI(ctx context.Context, ns, basePath string) (*storedAPI, int64, error) {
	e, err := c.ents.Get(ctx, store.APIs, ns, basePath)
	if err != nil {
		return nil, 0, err
	}
	var s storedAPI
	if err := json.Unmarshal(e.Doc, &s); err != nil {
		return nil, 0, fmt.Errorf("decode API %s %s: %w", ns, basePath, err)
	}
	if s.Swagger == nil {
		return nil, 0, fmt.Errorf("decode API %s %s: no swagger", ns, basePath)
	}
	return &s, e.Rev, nil
}

func (c *Controller) putStoredAPI(ctx context.Context, s *storedAPI) error {
	doc, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ents := c.ents
	_, rev, err := c.getStoredAPI(ctx, s.Namespace, s.Swagger.BasePath)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = ents.Put(ctx, store.Entity{Collection: store.APIs, Namespace: s.Namespace, Key: s.Swagger.BasePath, Doc: doc}, rev)
	if errors.Is(err, store.ErrConflict) {
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	return err
}

func (c *Controller) listStoredAPIs(ctx context.Context, ns string) ([]*storedAPI, error) {
	ents, err := c.ents.List(ctx, store.APIs, ns, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]*storedAPI, 0, len(ents))
	for _, e := range ents {
		var s storedAPI
		if err := json.Unmarshal(e.Doc, &s); err != nil || s.Swagger == nil {
			continue
		}
		out = append(out, &s)
	}
	return out, nil
}

// findAPI returns the API whose base path or name is key.
func (c *Controller) findAPI(ctx context.Context, ns, key string) (*storedAPI, error) {
	if strings.HasPrefix(key, "/") {
		s, _, err := c.getStoredAPI(ctx, ns, key)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return s, err
		}
	}
	all, err := c.listStoredAPIs(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Swagger.Info.Title == key || s.Swagger.BasePath == key {
			return s, nil
		}
	}
	return nil, store.ErrNotFound
}

type apiItem struct {
	ID    string   `json:"id"`
	Key   string   `json:"key"`
	Value apiValue `json:"value"`
}

func (c *Controller) getAPIs(r *http.Request, id auth.Identity) (any, error) {
	ctx := r.Context()
	q := r.URL.Query()
	var list []*storedAPI
	if bp := q.Get("basepath"); bp != "" {
		s, err := c.findAPI(ctx, id.Namespace, bp)
		switch {
		case err == nil:
			list = []*storedAPI{s}
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	} else {
		var err error
		if list, err = c.listStoredAPIs(ctx, id.Namespace); err != nil {
			return nil, err
		}
	}
	skip, limit := 0, 0
	fmt.Sscan(q.Get("skip"), &skip)
	fmt.Sscan(q.Get("limit"), &limit)
	if skip > 0 {
		if skip > len(list) {
			skip = len(list)
		}
		list = list[skip:]
	}
	if limit > 0 && limit < len(list) {
		list = list[:limit]
	}
	items := make([]apiItem, 0, len(list))
	for _, s := range list {
		key := "API:" + s.Namespace + ":" + s.Swagger.BasePath
		items = append(items, apiItem{ID: key, Key: key, Value: c.apiValue(r, s)})
	}
	return map[string]any{"apis": items}, nil
}

func (c *Controller) deleteAPI(r *http.Request, id auth.Identity) error {
	ctx := r.Context()
	q := r.URL.Query()
	bp, rel, verb := q.Get("basepath"), q.Get("relpath"), strings.ToLower(q.Get("operation"))
	if bp == "" {
		return apiErrorf("basepath is required.")
	}
	if rel == "" && verb != "" {
		return apiErrorf("When specifying an operation, the path is required.")
	}
	s, err := c.findAPI(ctx, id.Namespace, bp)
	if errors.Is(err, store.ErrNotFound) {
		return deletionFailure("API '%s' does not exist.", bp)
	}
	if err != nil {
		return err
	}
	ents := c.ents
	if rel != "" {
		ops, ok := s.Swagger.Paths[rel]
		if !ok {
			return deletionFailure("path %s does not exist in the API", rel)
		}
		if verb != "" {
			if ops[verb] == nil {
				return deletionFailure("path %s with operation %s does not exist in the API", rel, verb)
			}
			delete(s.SecureKeys, ops[verb].OperationID)
			delete(ops, verb)
		}
		if verb == "" || len(ops) == 0 {
			for _, op := range ops {
				delete(s.SecureKeys, op.OperationID)
			}
			delete(s.Swagger.Paths, rel)
		}
		if len(s.Swagger.Paths) > 0 {
			s.Swagger.XConfig = ibmConfiguration(s.Swagger, s.SecureKeys)
			return c.putStoredAPI(ctx, s)
		}
	}
	err = ents.Delete(ctx, store.APIs, id.Namespace, s.Swagger.BasePath, 0)
	if errors.Is(err, store.ErrNotFound) {
		return deletionFailure("API '%s' does not exist.", bp)
	}
	return err
}

// deletionFailure is a failed deleteApi as OpenWhisk's route management
// answers it: 502 and the reason after "API deletion failure: ". wsk reads
// a 502 without a code as an application error and prints the message;
// another status without a code reads as a failed connection.
func deletionFailure(format string, args ...any) error {
	return apiErrorf("API deletion failure: "+format, args...)
}

// serveGateway answers /api/{tenant}/{path}: the operation whose full path
// (base path and relative path, with {param} segments) and verb match runs
// its web action.
func (c *Controller) serveGateway(w http.ResponseWriter, r *http.Request) {
	if err := c.gateway(w, r); err != nil {
		c.writeError(w, err)
	}
}

func (c *Controller) gateway(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	if tenant == "" {
		return whisk.NotFound()
	}
	ns := ""
	if s, err := c.cfg.Store.Auth().Subject(ctx, tenant); err == nil {
		ns = s.Namespace
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	} else if whisk.ValidateName(tenant) == nil {
		ns = tenant
	} else {
		return whisk.NotFound()
	}
	apis, err := c.listStoredAPIs(ctx, ns)
	if err != nil {
		return err
	}
	reqSegs := splitSegments("/" + rest)
	verb := strings.ToLower(r.Method)
	var best *gatewayMatch
	pathMatched := false
	var allowed []string
	for _, a := range apis {
		for rel, ops := range a.Swagger.Paths {
			params, score, ok := matchTemplate(splitSegments(joinAPIPath(a.Swagger.BasePath, rel)), reqSegs)
			if !ok {
				continue
			}
			pathMatched = true
			for _, v := range apiVerbs {
				if ops[v] != nil {
					allowed = append(allowed, strings.ToUpper(v))
				}
			}
			op := ops[verb]
			if op == nil && verb == "head" {
				op = ops["get"]
			}
			if op == nil || op.XOpenWhisk == nil {
				continue
			}
			if best == nil || score > best.score {
				best = &gatewayMatch{api: a, base: a.Swagger.BasePath, op: op, params: params, score: score}
			}
		}
	}
	if best == nil {
		if pathMatched && verb == "options" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Methods", webAllowMethods)
			h.Set("Access-Control-Allow-Headers", webAllowHeaders)
			w.WriteHeader(http.StatusOK)
			return nil
		}
		if pathMatched {
			sort.Strings(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			return whisk.Errorf(http.StatusMethodNotAllowed, "%s%s", whisk.MsgMethodNotAllowed, strings.Join(allowed, ", "))
		}
		return whisk.NotFound()
	}
	x := best.op.XOpenWhisk
	ext := ".json"
	if u, ok := parseWebURL(x.URL); ok {
		ext = "." + u.URL
	}
	t := webTarget{namespace: x.Namespace, pkg: x.Package, name: x.Action, ext: ext}
	if x.Package == "default" {
		t.pkg = ""
	}
	if ext == ".http" {
		// The relative path, as the gateway's $(request.path).
		t.path = "/" + strings.Join(reqSegs[len(splitSegments(best.base)):], "/")
	}
	if len(best.params) > 0 {
		q := r.URL.Query()
		for k, v := range best.params {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		t.query = q
	}
	if s, ok := best.api.SecureKeys[best.op.OperationID]; ok {
		var v any
		if json.Unmarshal(s, &v) == nil {
			t.secret, t.secretOf = fmt.Sprint(v), best.api.Namespace
		}
	}
	c.serveWebAction(w, r, t)
	return nil
}

type gatewayMatch struct {
	api    *storedAPI
	base   string
	op     *swaggerOp
	params map[string]string
	score  int
}

func splitSegments(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// matchTemplate matches request segments against a path template; literal
// segments score higher than parameters, so /books/new beats
// /books/{isbn}.
func matchTemplate(tmpl, req []string) (map[string]string, int, bool) {
	if len(tmpl) != len(req) {
		return nil, 0, false
	}
	var params map[string]string
	score := 0
	for i, t := range tmpl {
		if m := pathParamRE.FindStringSubmatch(t); m != nil && m[0] == t {
			if params == nil {
				params = map[string]string{}
			}
			v, err := url.PathUnescape(req[i])
			if err != nil {
				v = req[i]
			}
			params[m[1]] = v
			continue
		}
		if t != req[i] {
			return nil, 0, false
		}
		score++
	}
	return params, score, true
}
