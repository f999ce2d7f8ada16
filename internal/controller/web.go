package controller

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Web actions (CONTRACT §3): /api/v1/web/{namespace}/{package|default}/{action}[.ext][/path].
//
// A web action runs as its owner, the namespace in the URL, whoever calls
// it; the caller may stay anonymous. The response is the action's result
// transcoded by the extension of the action segment (.http when there is
// none).

// webPrefix is where web actions live.
const webPrefix = "/api/v1/web/"

// Web action annotations.
const (
	annWebExport     = "web-export"
	annRawHTTP       = "raw-http"
	annCustomOptions = "web-custom-options"
	annRequireAuth   = "require-whisk-auth"
	// requireAuthHeader carries the secret of require-whisk-auth.
	requireAuthHeader = "X-Require-Whisk-Auth"
)

// The reserved parameters a web request may not set.
var webReserved = map[string]bool{
	"__ow_method": true, "__ow_headers": true, "__ow_path": true,
	"__ow_user": true, "__ow_query": true, "__ow_body": true,
}

// Web CORS headers (CorsSettings.WebActions).
const (
	webAllowMethods = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
	webAllowHeaders = "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
)

// webTarget names the web action a request runs and how its answer is
// shaped.
type webTarget struct {
	namespace string // the owner's namespace
	pkg       string // "" for the default package
	name      string
	ext       string // ".http", ".json", ".html", ".svg" or ".text"
	path      string // __ow_path: what follows the action segment
	// query, when set, replaces the request's query (the API gateway adds
	// path parameters to it).
	query url.Values
	// secret, when set, is presented as the X-Require-Whisk-Auth value (the
	// API gateway carries the secret captured by `api create`), but only to
	// an action of namespace secretOf: an API never opens another tenant's
	// action with a secret it stored.
	secret, secretOf string
}

// webExtensions are the media extensions in the order they are tried.
var webExtensions = []string{".http", ".json", ".html", ".svg", ".text"}

// splitExtension splits "hello.json" into "hello" and ".json"; a name
// without a known extension is the whole segment, answered as .http.
func splitExtension(seg string) (name, ext string) {
	for _, e := range webExtensions {
		if strings.HasSuffix(seg, e) && len(seg) > len(e) {
			return strings.TrimSuffix(seg, e), e
		}
	}
	return seg, ".http"
}

// serveWeb answers /api/v1/web/....
func (c *Controller) serveWeb(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, webPrefix)
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		c.writeError(w, whisk.NotFound())
		return
	}
	name, ext := splitExtension(parts[2])
	t := webTarget{namespace: parts[0], pkg: parts[1], name: name, ext: ext}
	if len(parts) == 4 {
		t.path = "/" + parts[3]
	}
	if t.pkg == "default" {
		t.pkg = ""
	}
	if t.namespace == apimgmtNamespace && t.pkg == apimgmtPackage {
		c.serveAPIMgmt(w, r, name)
		return
	}
	c.serveWebAction(w, r, t)
}

// webAllowed reports whether a web request may use method.
func webAllowed(method string) bool {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// serveWebAction runs the web action t names for r and writes its answer.
func (c *Controller) serveWebAction(w http.ResponseWriter, r *http.Request, t webTarget) {
	if err := c.webAction(w, r, t); err != nil {
		c.writeError(w, err)
	}
}

func (c *Controller) webAction(w http.ResponseWriter, r *http.Request, t webTarget) error {
	if !webAllowed(r.Method) {
		return whisk.Errorf(http.StatusMethodNotAllowed, whisk.MsgWebMethodNotAllowed, r.Method)
	}
	ctx := r.Context()
	// The caller, when the request carries valid credentials: it becomes
	// __ow_user. Bad credentials leave the caller anonymous, as in OpenWhisk.
	var caller *auth.Identity
	if r.Header.Get("Authorization") != "" {
		if id, err := c.cfg.Auth.Authenticate(ctx, r); err == nil {
			caller = &id
		}
	}
	if t.namespace == whisk.DefaultNamespace && caller != nil {
		t.namespace = caller.Namespace
	}
	if r.ContentLength > c.cfg.PayloadMax {
		return whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, r.ContentLength, c.cfg.PayloadMax)
	}
	owner, ra, err := c.webLookup(ctx, t)
	if err != nil {
		return err
	}
	ann := ra.action.Annotations
	customOptions := ann.Truthy(annCustomOptions)
	if !customOptions {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", webAllowMethods)
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		} else {
			h.Set("Access-Control-Allow-Headers", webAllowHeaders)
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return nil
		}
	}
	if r.Method != http.MethodOptions || !customOptions {
		secret := t.secret
		if ra.action.FQN().Namespace != t.secretOf {
			secret = ""
		}
		if err := confirmWebAuth(ann, r, caller, secret); err != nil {
			return err
		}
	}
	body, err := readBody(r, c.cfg.PayloadMax)
	if err != nil {
		return err
	}
	args, err := webArguments(r, t, ra, caller, body)
	if err != nil {
		return err
	}
	if int64(len(args)) > c.cfg.PayloadMax {
		return whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, len(args), c.cfg.PayloadMax)
	}
	aid, comp, err := c.invoke(ctx, &invocation{id: owner, ra: ra, params: args, blocking: true, wait: c.cfg.BlockingWait})
	if err != nil {
		return err
	}
	w.Header().Set(ActivationIDHeader, aid)
	if comp == nil {
		writeJSON(w, http.StatusAccepted, errorBody{Error: whisk.MsgWebNotReady, Code: c.transactionID()})
		return nil
	}
	if err := retryable(comp); err != nil {
		return err
	}
	return c.writeWebResult(w, r, comp.Activation, t.ext)
}

// webLookup finds the owner of t's namespace and the web action t names.
// Anything missing, and an action that is not a web action, is a 404: the
// answer must not tell which names exist.
func (c *Controller) webLookup(ctx context.Context, t webTarget) (auth.Identity, *resolvedAction, error) {
	for _, seg := range []string{t.namespace, t.pkg, t.name} {
		if seg != "" && whisk.ValidateName(seg) != nil {
			return auth.Identity{}, nil, whisk.NotFound()
		}
	}
	owner, err := c.owners.lookup(ctx, c.cfg.Store.Auth(), t.namespace)
	if err != nil {
		return auth.Identity{}, nil, err
	}
	ra, err := c.entitledAction(ctx, owner, whisk.FQN{Namespace: t.namespace, Package: t.pkg, Name: t.name})
	if err != nil {
		var we *whisk.Error
		if errors.Is(err, store.ErrNotFound) || errors.As(err, &we) && we.Status < 500 {
			return auth.Identity{}, nil, whisk.NotFound()
		}
		return auth.Identity{}, nil, err
	}
	if !ra.action.Annotations.Truthy(annWebExport) {
		return auth.Identity{}, nil, whisk.NotFound()
	}
	return owner, ra, nil
}

// confirmWebAuth applies require-whisk-auth: true needs valid credentials,
// a string or number needs X-Require-Whisk-Auth to equal it.
func confirmWebAuth(ann whisk.KeyValues, r *http.Request, caller *auth.Identity, secret string) error {
	v, ok := ann.Get(annRequireAuth)
	if !ok {
		return nil
	}
	unauthorized := &whisk.Error{Status: http.StatusUnauthorized, Message: whisk.MsgAuthInvalid}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return unauthorized
	}
	given := r.Header.Get(requireAuthHeader)
	if secret != "" {
		given = secret
	}
	switch x := x.(type) {
	case bool:
		if !x {
			return nil
		}
		if caller == nil {
			return &whisk.Error{Status: http.StatusUnauthorized, Message: whisk.MsgWebAuthRequired}
		}
		return nil
	case string:
		if given == "" || given != x {
			return unauthorized
		}
		return nil
	case float64:
		if given == "" || given != string(bytes.TrimSpace(v)) {
			return unauthorized
		}
		return nil
	}
	return unauthorized
}

// isJSONType reports whether a media type is application/json or +json.
func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// isBinaryType reports whether a media type carries bytes rather than
// text: such bodies travel base64-encoded in both directions.
func isBinaryType(mt string) bool {
	switch {
	case strings.HasPrefix(mt, "text/"), isJSONType(mt),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/x-www-form-urlencoded",
		mt == "application/ecmascript", mt == "application/graphql":
		return false
	}
	return true
}

// webArguments builds the action's input from the request (Context.toActionArgument).
func webArguments(r *http.Request, t webTarget, ra *resolvedAction, caller *auth.Identity, body []byte) (json.RawMessage, error) {
	raw := ra.action.Annotations.Truthy(annRawHTTP)
	query := t.query
	if query == nil {
		query = r.URL.Query()
	}
	mt := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		m, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, whisk.BadRequest(whisk.MsgMalformed + "invalid Content-Type: " + ct)
		}
		mt = m
	}
	req := map[string]json.RawMessage{}
	var owBody json.RawMessage // __ow_body, when the body is not merged
	if raw {
		rq := t.query.Encode()
		if t.query == nil {
			rq = r.URL.RawQuery
		}
		req["__ow_query"] = mustJSON(rq)
		switch {
		case len(body) == 0:
			owBody = mustJSON("")
		case isBinaryType(mt) || isJSONType(mt) && mt == "application/json":
			owBody = mustJSON(base64.StdEncoding.EncodeToString(body))
		default:
			owBody = mustJSON(string(body))
		}
	} else {
		for k, vs := range query {
			if len(vs) > 0 {
				req[k] = mustJSON(vs[len(vs)-1])
			}
		}
		switch {
		case len(bytes.TrimSpace(body)) == 0:
		case isJSONType(mt):
			if err := checkJSON(body); err != nil {
				return nil, err
			}
			var v json.RawMessage
			if err := json.Unmarshal(body, &v); err != nil {
				return nil, whisk.BadRequest(whisk.MsgMalformed + err.Error())
			}
			v = bytes.TrimSpace(v)
			if v[0] == '{' {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(v, &obj); err != nil {
					return nil, whisk.BadRequest(whisk.MsgMalformed + err.Error())
				}
				for k, x := range obj {
					req[k] = x
				}
			} else {
				owBody = v
			}
		case mt == "application/x-www-form-urlencoded":
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, whisk.BadRequest(whisk.MsgMalformed + err.Error())
			}
			for k, vs := range form {
				req[k] = mustJSON(vs[len(vs)-1])
			}
		case isBinaryType(mt) || mt == "application/json":
			owBody = mustJSON(base64.StdEncoding.EncodeToString(body))
		default:
			owBody = mustJSON(string(body))
		}
		for k := range req {
			if webReserved[k] {
				return nil, whisk.BadRequest(whisk.MsgNotAllowedParams)
			}
		}
	}
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	merged, err := mergeParams(ra, reqJSON)
	if err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(merged, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]json.RawMessage{}
	}
	out["__ow_method"] = mustJSON(strings.ToLower(r.Method))
	out["__ow_headers"] = mustJSON(webHeaders(r))
	out["__ow_path"] = mustJSON(t.path)
	if caller != nil {
		out["__ow_user"] = mustJSON(caller.Namespace)
	}
	if owBody != nil {
		out["__ow_body"] = owBody
	}
	return json.Marshal(out)
}

// webHeaders returns the request headers with lowercase names, several
// values joined with ", ", and the host.
func webHeaders(r *http.Request) map[string]string {
	h := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		h[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	if r.Host != "" {
		h["host"] = r.Host
	}
	return h
}

// writeWebResult answers with an activation's outcome transcoded by ext
// (completeRequest).
func (c *Controller) writeWebResult(w http.ResponseWriter, r *http.Request, act *whisk.Activation, ext string) error {
	res := act.Response.Result
	switch act.Response.StatusCode {
	case whisk.StatusSuccess:
	case whisk.StatusApplicationError:
		var obj map[string]json.RawMessage
		if json.Unmarshal(res, &obj) != nil || obj["error"] == nil {
			return &whisk.Error{Status: http.StatusNotFound, Message: whisk.MsgWebPropertyNotFound}
		}
		res = obj["error"]
	default:
		return whisk.BadRequest(whisk.MsgWebProcessingError)
	}
	if len(bytes.TrimSpace(res)) == 0 {
		res = json.RawMessage("{}")
	}
	head := r.Method == http.MethodHead
	switch ext {
	case ".json":
		res = bytes.TrimSpace(res)
		if res[0] != '{' && res[0] != '[' {
			return whisk.BadRequest(fmt.Sprintf(whisk.MsgWebInvalidMedia, "application/json"))
		}
		writeWebBody(w, head, http.StatusOK, "application/json", compactJSON(res))
	case ".html", ".svg":
		field, mt, ct := "html", "text/html", "text/html; charset=UTF-8"
		if ext == ".svg" {
			field, mt, ct = "svg", "image/svg+xml", "image/svg+xml"
		}
		s, ok := stringField(res, field)
		if !ok {
			return whisk.BadRequest(fmt.Sprintf(whisk.MsgWebInvalidMedia, mt))
		}
		writeWebBody(w, head, http.StatusOK, ct, []byte(s))
	case ".text":
		b, ok := textResult(res)
		if !ok {
			return &whisk.Error{Status: http.StatusNotFound, Message: whisk.MsgWebPropertyNotFound}
		}
		writeWebBody(w, head, http.StatusOK, "text/plain; charset=UTF-8", b)
	default:
		return writeHTTPResult(w, head, res)
	}
	return nil
}

// compactJSON returns b without insignificant space.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// writeWebBody writes a web answer; HEAD gets the headers only.
func writeWebBody(w http.ResponseWriter, head bool, status int, contentType string, b []byte) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if !head {
		w.Write(b)
	}
}

// stringField returns the body (or the named field) of an object result,
// or the result itself, when it is a JSON string.
func stringField(res json.RawMessage, field string) (string, bool) {
	v := res
	var obj map[string]json.RawMessage
	if json.Unmarshal(res, &obj) == nil {
		if b, ok := obj["body"]; ok {
			v = b
		} else {
			v = obj[field]
		}
	}
	var s string
	if v == nil || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// textResult projects a .text answer: body or text of an object, objects
// and arrays pretty-printed, scalars as written.
func textResult(res json.RawMessage) ([]byte, bool) {
	v := res
	var obj map[string]json.RawMessage
	if json.Unmarshal(res, &obj) == nil {
		var ok bool
		if v, ok = obj["body"]; !ok {
			if v, ok = obj["text"]; !ok {
				return nil, false
			}
		}
	}
	v = bytes.TrimSpace(v)
	switch v[0] {
	case '{', '[':
		var buf bytes.Buffer
		json.Indent(&buf, v, "", "  ")
		return buf.Bytes(), true
	case '"':
		var s string
		json.Unmarshal(v, &s)
		return []byte(s), true
	}
	return v, true
}

// writeHTTPResult answers a .http result: {statusCode, headers, body}
// (resultAsHttp).
func writeHTTPResult(w http.ResponseWriter, head bool, res json.RawMessage) error {
	invalid := whisk.BadRequest(fmt.Sprintf(whisk.MsgWebInvalidMedia, "message/http"))
	var obj map[string]json.RawMessage
	if json.Unmarshal(res, &obj) != nil || obj == nil {
		return invalid
	}
	type header struct{ name, value string }
	var headers []header
	contentType := ""
	if hv, ok := obj["headers"]; ok && string(bytes.TrimSpace(hv)) != "null" {
		var hs map[string]json.RawMessage
		if json.Unmarshal(hv, &hs) != nil {
			return invalid
		}
		names := make([]string, 0, len(hs))
		for k := range hs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			vals, ok := headerValues(hs[k])
			if !ok {
				return invalid
			}
			if strings.EqualFold(k, "Content-Type") {
				if len(vals) > 0 {
					contentType = vals[len(vals)-1]
				}
				continue
			}
			for _, v := range vals {
				headers = append(headers, header{k, v})
			}
		}
	}
	status := 0
	if sv, ok := obj["statusCode"]; ok {
		var n json.Number
		var s string
		switch {
		case json.Unmarshal(sv, &n) == nil:
			i, err := strconv.Atoi(n.String())
			if err != nil {
				return invalid
			}
			status = i
		case json.Unmarshal(sv, &s) == nil:
			i, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return invalid
			}
			status = i
		default:
			return invalid
		}
		if status < 100 || status > 599 {
			return invalid
		}
	}
	emit := func(code int, ct string, b []byte) {
		for _, h := range headers {
			w.Header().Add(h.name, h.value)
		}
		if b == nil {
			w.Header().Del("Content-Type")
			w.WriteHeader(code)
			return
		}
		writeWebBody(w, head, code, ct, b)
	}
	body, hasBody := obj["body"]
	body = bytes.TrimSpace(body)
	if !hasBody || len(body) == 0 || string(body) == "null" || string(body) == `""` {
		if status == 0 {
			status = http.StatusNoContent
		}
		emit(status, "", nil)
		return nil
	}
	if status == 0 {
		status = http.StatusOK
	}
	mt := ""
	if contentType != "" {
		m, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return whisk.BadRequest(whisk.MsgWebUnknownContent)
		}
		mt = m
	}
	if body[0] != '"' {
		// A JSON value: it must be served as JSON.
		switch {
		case mt == "" || mt == "application/json":
			emit(status, "application/json", compactJSON(body))
		case isJSONType(mt):
			var buf bytes.Buffer
			json.Indent(&buf, body, "", "  ")
			emit(status, contentType, buf.Bytes())
		default:
			return whisk.BadRequest(whisk.MsgWebContentTypeError)
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(body, &s); err != nil {
		return invalid
	}
	if mt == "" {
		mt, contentType = "text/html", "text/html; charset=UTF-8"
	}
	switch {
	case isJSONType(mt) && whisk.IsBinaryCode(s):
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return whisk.BadRequest(whisk.MsgWebContentTypeError)
		}
		emit(status, contentType, b)
	case !isBinaryType(mt):
		emit(status, contentType, []byte(s))
	default:
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return whisk.BadRequest(whisk.MsgWebContentTypeError)
		}
		emit(status, contentType, b)
	}
	return nil
}

// headerValues reads a .http header value: a string, number or boolean, or
// an array of them (repeated headers).
func headerValues(v json.RawMessage) ([]string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var arr []json.RawMessage
		if json.Unmarshal(v, &arr) != nil {
			return nil, false
		}
		var out []string
		for _, e := range arr {
			vs, ok := headerValues(e)
			if !ok {
				return nil, false
			}
			out = append(out, vs...)
		}
		return out, true
	case '{':
		return nil, false
	}
	s := string(v)
	if s == "null" {
		return nil, false
	}
	return []string{s}, true
}

// ownerCache remembers the identity that owns a namespace for a short
// while, so that a web invoke costs no subject lookup.
type ownerCache struct {
	mu sync.Mutex
	m  map[string]ownerEntry
}

type ownerEntry struct {
	id      auth.Identity
	expires time.Time
}

// ownerTTL bounds how long a deleted namespace stays reachable.
const ownerTTL = 10 * time.Second

// lookup returns the owner identity of namespace ns, or a 404. The owner's
// key is stored hashed, so the identity carries no key: web actions get no
// __OW_API_KEY.
func (oc *ownerCache) lookup(ctx context.Context, a store.Auth, ns string) (auth.Identity, error) {
	now := time.Now()
	oc.mu.Lock()
	e, ok := oc.m[ns]
	oc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.id, nil
	}
	subs, err := a.Subjects(ctx, ns)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return auth.Identity{}, fmt.Errorf("owner of %s: %w", ns, err)
	}
	if len(subs) == 0 {
		return auth.Identity{}, whisk.NotFound()
	}
	id := auth.Identity{Namespace: ns, Subject: ns, UUID: subs[0].UUID}
	oc.mu.Lock()
	if oc.m == nil || len(oc.m) > 10000 {
		oc.m = map[string]ownerEntry{}
	}
	oc.m[ns] = ownerEntry{id: id, expires: now.Add(ownerTTL)}
	oc.mu.Unlock()
	return id, nil
}
