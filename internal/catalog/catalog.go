// Package catalog is Whirl's built-in copy of OpenWhisk's catalog: the
// published packages /whisk.system/utils (cat, date, echo, head, hosturl,
// namespace, smash, sort, split) and /whisk.system/samples (cat, curl,
// greeting, head, helloWorld, printParams, wordCount, wordCountAsync),
// with OpenWhisk's action names, parameters and results
// (apache/openwhisk-catalog, packages/utils and packages/samples).
//
// Every action but samples/curl is of exec kind "builtin": the controller
// runs it in process through RunBuiltin, so it needs no interpreter, starts
// no sandbox and cannot be changed by anyone (the controller refuses writes
// to built-in packages; Install rewrites them at every start). The
// JavaScript semantics of OpenWhisk's code (String(), Array.sort, slice,
// truthiness) are reproduced for JSON values. samples/curl fetches a URL,
// so it is a real nodejs action and runs in the action sandbox under the
// action network policy, never from the server's network.
//
// Only internal/app and tests import this package.
package catalog

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Namespace owns the catalog's packages.
const Namespace = "whisk.system"

// The catalog's packages.
const (
	Utils   = "utils"
	Samples = "samples"
)

// Packages are the names of the catalog's packages.
var Packages = []string{Utils, Samples}

//go:embed curl.js
var curlCode string

// Config is what a Catalog needs.
type Config struct {
	// Entities is where Install writes the packages and actions.
	Entities store.Entities
	// NodeKind is the exact nodejs kind samples/curl is stored with
	// ("nodejs:20"); empty leaves curl out (no nodejs runtime).
	NodeKind string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Catalog installs and runs the catalog's actions.
type Catalog struct {
	cfg     Config
	actions map[string]*def // by exec.main ("utils/echo")
}

// New returns a Catalog.
func New(cfg Config) *Catalog {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Catalog{cfg: cfg, actions: map[string]*def{}}
	for _, d := range defs() {
		if d.run != nil {
			c.actions[d.pkg+"/"+d.name] = d
		}
	}
	return c
}

// Has reports whether main (a builtin action's exec.main) is one of the
// catalog's actions.
func (c *Catalog) Has(main string) bool {
	_, ok := c.actions[main]
	return ok
}

// param is one entry of an action's "parameters" annotation.
type param struct {
	Name        string `json:"name"`
	Required    *bool  `json:"required,omitempty"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

// def is one action of the catalog: its annotations as OpenWhisk's
// manifests give them, and its code.
type def struct {
	pkg, name, desc string
	params          []param
	sampleIn        string // JSON; "" for none
	sampleOut       string
	sampleLog       string
	run             func(*call) (any, error) // nil: a nodejs action (curl)
}

var packageDescriptions = map[string]string{
	Utils:   "Building blocks that format and assemble data",
	Samples: "A suite of simple actions to help you get started with OpenWhisk",
}

// Actions returns the catalog's actions as Install writes them: builtin
// ones, and curl as a nodeKind action when nodeKind is set.
func Actions(nodeKind string) []*whisk.Action {
	var out []*whisk.Action
	for _, d := range defs() {
		ex := whisk.Exec{Kind: whisk.KindBuiltin, Main: d.pkg + "/" + d.name}
		if d.run == nil {
			if nodeKind == "" {
				continue
			}
			code := curlCode
			ex = whisk.Exec{Kind: nodeKind, Code: &code}
		}
		anns := whisk.KeyValues{}.Set("description", d.desc)
		if d.params != nil {
			anns = anns.Set("parameters", d.params)
		}
		for _, s := range []struct{ key, v string }{{"sampleInput", d.sampleIn}, {"sampleOutput", d.sampleOut}} {
			if s.v != "" {
				anns = anns.Set(s.key, json.RawMessage(s.v))
			}
		}
		if d.sampleLog != "" {
			anns = anns.Set("sampleLogOutput", d.sampleLog)
		}
		anns = anns.Set("provide-api-key", false).Set("exec", ex.Kind)
		out = append(out, &whisk.Action{
			Namespace: Namespace + "/" + d.pkg, Name: d.name, Version: "0.0.1", Exec: ex,
			Parameters:  whisk.KeyValues{},
			Limits:      whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
			Annotations: anns,
		})
	}
	return out
}

// Install writes the catalog's packages (owned by whisk.system, published)
// and their actions, creating or refreshing them, and removes actions of
// those packages that the catalog no longer has. It runs at every start.
func (c *Catalog) Install(ctx context.Context) error {
	now := c.cfg.Now().UnixMilli()
	for _, name := range Packages {
		pkg := whisk.Package{Namespace: Namespace, Name: name, Version: "0.0.1", Publish: true,
			Annotations: whisk.KeyValues{}.Set("description", packageDescriptions[name]),
			Parameters:  whisk.KeyValues{}, Updated: now}
		if err := c.upsert(ctx, store.Packages, name, &pkg); err != nil {
			return err
		}
	}
	want := map[string]bool{}
	for _, a := range Actions(c.cfg.NodeKind) {
		a.Updated = now
		key := a.FQN().Key()
		want[key] = true
		if err := c.upsert(ctx, store.Actions, key, a); err != nil {
			return err
		}
	}
	for _, name := range Packages {
		list, err := c.cfg.Entities.List(ctx, store.Actions, Namespace, store.ListOptions{Prefix: name + "/"})
		if err != nil {
			return fmt.Errorf("install catalog: list %s: %w", name, err)
		}
		for _, e := range list {
			if want[e.Key] {
				continue
			}
			if err := c.cfg.Entities.Delete(ctx, store.Actions, Namespace, e.Key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("install catalog: remove %s: %w", e.Key, err)
			}
		}
	}
	return nil
}

func (c *Catalog) upsert(ctx context.Context, coll, key string, v any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ents := c.cfg.Entities
	var rev int64
	old, err := ents.Get(ctx, coll, Namespace, key)
	switch {
	case err == nil:
		rev = old.Rev
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("install %s %s/%s: %w", coll, Namespace, key, err)
	}
	_, err = ents.Put(ctx, store.Entity{Collection: coll, Namespace: Namespace, Key: key, Doc: doc}, rev)
	if errors.Is(err, store.ErrConflict) {
		return nil // another controller starting at the same time wrote it
	}
	if err != nil {
		return fmt.Errorf("install %s %s/%s: %w", coll, Namespace, key, err)
	}
	return nil
}

// call is one run of a built-in action.
type call struct {
	params map[string]json.RawMessage
	order  []field
	env    map[string]string
	now    time.Time
	logs   []string
}

// get returns parameter k and whether it is present.
func (c *call) get(k string) (json.RawMessage, bool) {
	v, ok := c.params[k]
	return v, ok
}

// truthy reports whether parameter k is truthy in JavaScript.
func (c *call) truthy(k string) bool {
	v, ok := c.get(k)
	return truthy(v, ok)
}

// log records one stdout line as the action runtimes do.
func (c *call) log(text string) {
	c.logs = append(c.logs, fmt.Sprintf("%-30s stdout: %s", c.now.UTC().Format(time.RFC3339Nano), text))
}

// failure is an error an action reports: its result is {"error": message}
// and the activation an application error, as a JavaScript action that
// returns {error} or throws.
type failure string

func (f failure) Error() string { return string(f) }

// typeError is the failure of an action whose JavaScript would throw a
// TypeError.
func typeError(msg string) failure {
	return failure("An error has occurred: TypeError: " + msg)
}

// RunBuiltin runs the catalog action main ("utils/split") with params (a
// JSON object) and env (the __OW_* variables of an action container:
// __OW_NAMESPACE, __OW_API_HOST, __OW_ACTION_NAME, __OW_ACTIVATION_ID).
// ok false is an application error (a result with an "error" field, as
// OpenWhisk decides); err is a failure of the system.
func (c *Catalog) RunBuiltin(ctx context.Context, main string, env map[string]string, params json.RawMessage) (result json.RawMessage, logs []string, ok bool, err error) {
	d := c.actions[main]
	if d == nil {
		return nil, nil, false, fmt.Errorf("unknown catalog action %q", main)
	}
	cl := &call{env: env, now: c.cfg.Now()}
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	if cl.order, err = fields(params); err != nil {
		return nil, nil, false, fmt.Errorf("catalog action %s: parameters: %w", main, err)
	}
	cl.params = make(map[string]json.RawMessage, len(cl.order))
	for _, f := range cl.order {
		cl.params[f.Key] = f.Value
	}
	res, rerr := d.run(cl)
	var fl failure
	if errors.As(rerr, &fl) {
		b, _ := json.Marshal(map[string]string{"error": string(fl)})
		return b, cl.logs, false, nil
	}
	if rerr != nil {
		return nil, cl.logs, false, rerr
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, cl.logs, false, err
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(b, &top)
	_, isErr := top["error"]
	return b, cl.logs, !isErr, nil
}
