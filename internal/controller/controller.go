// Package controller is Whirl's REST API: the OpenWhisk routes for
// namespaces, actions, activations, triggers, rules, packages, web actions
// and API management, with OpenWhisk's status codes and error bodies.
//
// It authenticates, resolves entities (through a cache), merges
// parameters, applies limits and throttles, and hands invocations to the
// balancer. It never imports the invoker side: in scale-out mode the two
// run on different machines.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/balancer"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Authenticator checks a request's credentials. *auth.Authenticator
// satisfies it.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (auth.Identity, error)
}

// Throttle enforces per-namespace rates. *throttle.Throttle satisfies it.
type Throttle interface {
	CheckInvoke(namespace string) error
	Acquire(namespace string) (release func(), err error)
	CheckFire(namespace string) error
}

// KindResolver checks an exec kind and returns the kind to store
// ("python:default" becomes "python:3.11"). Unknown kinds return a 400
// *whisk.Error with OpenWhisk's message.
type KindResolver func(kind string) (string, error)

// Config is what the controller needs to know; app fills it from
// config.Config.
type Config struct {
	Name     string // the controller's id on the bus
	Store    store.Store
	Auth     Authenticator
	Throttle Throttle
	// Bus carries invocations to the invokers and completions back.
	Bus bus.Bus
	// Invokers are the invokers' names on the bus.
	Invokers []string
	// DurableBus says the bus stores what it is given (NATS JetStream):
	// actions need no journal of their own. Sequences are journaled
	// whatever the bus.
	DurableBus    bool
	ResolveKind   KindResolver
	Kinds         func() map[string]any // runtimes for GET /
	Limits        whisk.ActionLimitRanges
	PayloadMax    int64                                 // bytes of an invoke or fire body (1 MB)
	BlockingWait  time.Duration                         // longest blocking wait (60 s)
	SequenceMax   int                                   // atomic actions in a sequence (50)
	ConcurrentMax int                                   // the namespace's concurrent invocations (limits.instances bound)
	LimitsJSON    func(namespace string) map[string]any // the limits in force for a namespace
	InfoLimits    func() map[string]any
	Metrics       http.Handler // GET /metrics; may be nil
	Stats         func(namespace string) any
	OnAccepted    func(namespace string, blocking bool) // metrics; may be nil
	Logger        *slog.Logger
	// Build is GET /api/v1's "build" (an ISO 8601 date); BuildDate()
	// when empty.
	Build string
	// EntityChanged, when set, is told of every entity this controller
	// writes, after its own cache dropped it: scale-out sends it to the
	// other controllers, whose caches drop it through Invalidate.
	EntityChanged func(ctx context.Context, coll, ns, key string)
	// Builtins runs the actions of the built-in packages (kind
	// "builtin") in process; may be nil.
	Builtins Builtins
	// BuiltinPackages are the packages Whirl installs at every start
	// ("whisk.system/utils"): nobody may change or delete them or their
	// actions, not even whisk.system's own key (see builtin.go).
	BuiltinPackages []string
	// APIHost is the public URL of the API, given to built-in actions as
	// __OW_API_HOST.
	APIHost string

	// Presence, when set, is where the balancer learns the live invokers
	// from their heartbeats (scale-out); Invokers is then an allow-list.
	// Work outstanding at an invoker declared dead is published again
	// elsewhere (failover.go).
	Presence bus.Presence
	// InvokerTimeout is how long an invoker's heartbeats may stop before
	// it is declared dead (balancer.DefaultTimeout when zero).
	InvokerTimeout time.Duration
}

// Controller serves the REST API. It is an http.Handler.
type Controller struct {
	cfg   Config
	mux   *http.ServeMux
	cache *entityCache
	// ents is the store's entities as the controller reads and writes
	// them: every write drops the entity from the cache and tells
	// EntityChanged.
	ents store.Entities
	// owners caches the owner of a namespace for web actions.
	owners *ownerCache
	in     *intake
	tid    atomic.Uint64
	boot   string
}

// New returns a controller ready to serve.
func New(cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BlockingWait == 0 {
		cfg.BlockingWait = 60 * time.Second
	}
	if cfg.PayloadMax == 0 {
		cfg.PayloadMax = 1 << 20
	}
	if cfg.SequenceMax == 0 {
		cfg.SequenceMax = 50
	}
	c := &Controller{cfg: cfg, mux: http.NewServeMux(), cache: newEntityCache(cfg.Store.Entities()), owners: &ownerCache{}, boot: whisk.NewActivationID()[16:]}
	c.in = newIntake(cfg)
	c.ents = store.Notifying(cfg.Store.Entities(), c.entityChanged)
	c.routes()
	return c
}

// ServeHTTP adds OpenWhisk's CORS headers, answers OPTIONS and routes.
func (c *Controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Web actions and the API gateway set their own CORS headers and may
	// hand OPTIONS to the action.
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, webPrefix):
		c.serveWeb(w, r)
		return
	case isGatewayPath(p):
		c.serveGateway(w, r)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, DELETE, POST, PUT, HEAD")
	h.Set("Access-Control-Allow-Headers", "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// apiHandler is a handler of an authenticated route: it receives the
// caller's identity and the namespace of the path, already resolved and
// checked.
type apiHandler func(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error

func (c *Controller) routes() {
	m := c.mux
	m.HandleFunc("GET /{$}", c.info)
	m.HandleFunc("GET /api/v1", c.apiInfo)
	m.HandleFunc("GET /api/v1/{$}", c.apiInfo)
	m.HandleFunc("GET /api/v1/namespaces", c.public(c.listNamespaces))
	m.HandleFunc("GET /api/v1/namespaces/{$}", c.public(c.listNamespaces))
	m.HandleFunc("GET /api/v1/namespaces/{ns}", c.authed(c.getNamespace))
	m.HandleFunc("GET /api/v1/namespaces/{ns}/limits", c.authed(c.getLimits))
	if c.cfg.Metrics != nil {
		m.Handle("GET /metrics", c.cfg.Metrics)
	}
	c.actionRoutes()
	c.activationRoutes()
	c.triggerRoutes()
	c.ruleRoutes()
	c.packageRoutes()
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.writeError(w, whisk.NotFound())
	})
}

// collectionRoutes registers the routes every entity collection has under
// /api/v1/namespaces/{ns}/<collection>: list (with and without a trailing
// slash), get, put and delete by {name}, and post (fire, rule state) when
// post is not nil. With shared, list and get are gated (another namespace
// may read what the gate lets it); otherwise every route is the owner's.
func (c *Controller) collectionRoutes(collection string, shared bool, list, get, put, del, post apiHandler) {
	base := "/api/v1/namespaces/{ns}/" + collection
	read := c.authed
	if shared {
		read = c.gated
	}
	c.mux.HandleFunc("GET "+base, read(list))
	c.mux.HandleFunc("GET "+base+"/{$}", read(list))
	c.mux.HandleFunc("GET "+base+"/{name}", read(get))
	c.mux.HandleFunc("PUT "+base+"/{name}", c.authed(put))
	c.mux.HandleFunc("DELETE "+base+"/{name}", c.authed(del))
	if post != nil {
		c.mux.HandleFunc("POST "+base+"/{name}", c.authed(post))
	}
}

// public wraps a route that needs authentication but no namespace.
func (c *Controller) public(h func(w http.ResponseWriter, r *http.Request, id auth.Identity) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := c.cfg.Auth.Authenticate(r.Context(), r)
		if err != nil {
			c.writeAuthError(w, err)
			return
		}
		if err := h(w, r, id); err != nil {
			c.writeError(w, err)
		}
	}
}

// authed wraps a route of the namespace's owner: authenticate, resolve
// "_", and refuse a caller of another namespace.
func (c *Controller) authed(h apiHandler) http.HandlerFunc {
	return c.namespaced(func(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
		if !owns(id, ns) {
			return denied(ns)
		}
		return h(w, r, id, ns)
	})
}

// gated wraps a route that reads or runs entities another namespace may
// share (published packages and their actions): authenticate and resolve
// "_"; the handler reaches entities only through the entitlement gate
// (entitlement.go), which decides for the caller.
func (c *Controller) gated(h apiHandler) http.HandlerFunc {
	return c.namespaced(h)
}

// namespaced authenticates a request and resolves the "_" namespace of its
// path to the caller's.
func (c *Controller) namespaced(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := c.cfg.Auth.Authenticate(r.Context(), r)
		if err != nil {
			c.writeAuthError(w, err)
			return
		}
		ns := r.PathValue("ns")
		if ns == whisk.DefaultNamespace || ns == "" {
			ns = id.Namespace
		}
		if err := h(w, r, id, ns); err != nil {
			c.writeError(w, err)
		}
	}
}

// errorBody is OpenWhisk's error shape.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// transactionID returns a fresh transaction id for error bodies and
// invocations.
func (c *Controller) transactionID() string {
	return c.boot + strconv.FormatUint(c.tid.Add(1), 16)
}

func (c *Controller) writeAuthError(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Basic realm="OpenWhisk secure realm"`)
	c.writeError(w, err)
}

// writeError answers with err's status and OpenWhisk's error body. Store
// sentinels map to 404, 409 and (a store that cannot write) 503; anything else is a 500 whose cause is
// logged, not shown.
func (c *Controller) writeError(w http.ResponseWriter, err error) {
	var we *whisk.Error
	switch {
	case errors.As(err, &we):
	case errors.Is(err, store.ErrNotFound):
		we = whisk.NotFound()
	case errors.Is(err, store.ErrConflict):
		we = &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	case errors.Is(err, store.ErrUnavailable):
		// The store logs and /healthz reports the cause.
		we = &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgStoreUnavailable}
	case errors.Is(err, balancer.ErrNoInvokers):
		we = &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgOverloaded}
	case errors.Is(err, context.Canceled):
		we = &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgOverloaded}
	default:
		c.cfg.Logger.Error("request failed", "err", err)
		we = &whisk.Error{Status: http.StatusInternalServerError, Message: whisk.MsgInternal}
	}
	writeJSON(w, we.Status, errorBody{Error: we.Message, Code: c.transactionID()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"` + whisk.MsgInternal + `"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func (c *Controller) info(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{
		"description": "Whirl: OpenWhisk's programming model and REST API",
		"support":     map[string]string{"github": "github.com/whirlfaas/whirl"},
		"api_paths":   []string{"/api/v1"},
	}
	if c.cfg.InfoLimits != nil {
		body["limits"] = c.cfg.InfoLimits()
	}
	if c.cfg.Kinds != nil {
		body["runtimes"] = c.cfg.Kinds()
	}
	writeJSON(w, http.StatusOK, body)
}

func (c *Controller) apiInfo(w http.ResponseWriter, r *http.Request) {
	build := c.cfg.Build
	if build == "" {
		build = BuildDate()
	}
	version := Version()
	writeJSON(w, http.StatusOK, map[string]any{
		"description":      "OpenWhisk API",
		"api_version":      "1.0.0",
		"api_version_path": "v1",
		"build":            build,
		"buildno":          version,
		"swagger_paths":    map[string]string{"ui": "/docs", "api-docs": "/api/v1/api-docs"},
		"whirl":            map[string]string{"version": version},
	})
}

func (c *Controller) listNamespaces(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	writeJSON(w, http.StatusOK, []string{id.Namespace})
	return nil
}

func (c *Controller) getNamespace(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	out := map[string]any{"name": ns}
	for _, coll := range []string{store.Actions, store.Packages, store.Triggers, store.Rules} {
		ents, err := c.listNewestFirst(r.Context(), coll, ns, "")
		if err != nil {
			return fmt.Errorf("list %s: %w", coll, err)
		}
		rows := make([]json.RawMessage, 0, len(ents))
		for _, e := range ents {
			rows = append(rows, e.Doc)
		}
		out[coll] = rows
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (c *Controller) getLimits(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	var body map[string]any
	if c.cfg.LimitsJSON != nil {
		body = c.cfg.LimitsJSON(ns)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
