package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

func (c *Controller) actionRoutes() {
	m := c.mux
	base := "/api/v1/namespaces/{ns}/actions"
	m.HandleFunc("GET "+base, c.authed(c.listActions))
	m.HandleFunc("GET "+base+"/{$}", c.authed(c.listActions))
	m.HandleFunc("GET "+base+"/{pkg}/{$}", c.gated(c.listActionsOfPackage))
	for _, p := range []string{base + "/{name}", base + "/{pkg}/{name}"} {
		m.HandleFunc("GET "+p, c.gated(c.getAction))
		m.HandleFunc("PUT "+p, c.authed(c.putAction))
		m.HandleFunc("DELETE "+p, c.authed(c.deleteAction))
		m.HandleFunc("POST "+p, c.gated(c.invokeAction))
	}
}

// pathFQN returns the entity named by the {pkg} and {name} path values in
// namespace ns, validated.
func pathFQN(r *http.Request, ns string) (whisk.FQN, error) {
	f := whisk.FQN{Namespace: ns, Package: r.PathValue("pkg"), Name: r.PathValue("name")}
	if f.Package != "" {
		if err := whisk.ValidateName(f.Package); err != nil {
			return f, err
		}
	}
	if err := whisk.ValidateName(f.Name); err != nil {
		return f, err
	}
	return f, nil
}

// getActionEntity returns the stored action (cached) and its revision.
func (c *Controller) getActionEntity(ctx context.Context, f whisk.FQN) (*whisk.Action, int64, error) {
	return cachedEntity[whisk.Action](ctx, c.cache, store.Actions, f.Namespace, f.Key())
}

func (c *Controller) listActions(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	p, err := parseList(r, "actions")
	if err != nil {
		return err
	}
	var opts store.ListOptions
	ents := c.ents
	if p.count {
		n, err := ents.Count(r.Context(), store.Actions, ns, opts.Prefix)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]int{"actions": n})
		return nil
	}
	list, err := c.listNewestFirst(r.Context(), store.Actions, ns, opts.Prefix)
	if err != nil {
		return err
	}
	list = page(list, p)
	rows := make([]whisk.ActionSummary, 0, len(list))
	for _, e := range list {
		var a whisk.Action
		if err := json.Unmarshal(e.Doc, &a); err != nil {
			return err
		}
		rows = append(rows, a.Summary())
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func (c *Controller) getAction(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	f, err := pathFQN(r, ns)
	if err != nil {
		return err
	}
	ra, err := c.entitledAction(r.Context(), id, f)
	if err != nil {
		return c.notInCollection(r.Context(), err, ns, f.Key())
	}
	a := *ra.action
	a.Parameters = ra.inherited.Merge(a.Parameters)
	code, err := boolParam(r, "code", true)
	if err != nil {
		return err
	}
	if !code {
		a.Exec.Code = nil
	}
	writeJSON(w, http.StatusOK, &a)
	return nil
}

// notInCollection turns a not-found for key into OpenWhisk's 409 when the
// name is taken by an entity of another collection.
func (c *Controller) notInCollection(ctx context.Context, err error, ns, key string) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, lerr := c.ents.Locate(ctx, ns, key); lerr == nil {
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgNotInCollection}
	}
	return err
}

func (c *Controller) putAction(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	f, err := pathFQN(r, ns)
	if err != nil {
		return err
	}
	if err := c.checkNotBuiltin(ns, f.Package); err != nil {
		return err
	}
	overwrite, put, err := readPut[whisk.ActionPut](r)
	if err != nil {
		return err
	}
	if err := checkKeyValues("parameters", put.Parameters); err != nil {
		return err
	}
	if err := checkKeyValues("annotations", put.Annotations); err != nil {
		return err
	}
	if err := c.packageWritable(r.Context(), f); err != nil {
		return err
	}
	ctx := r.Context()
	ents := c.ents
	old, rev, err := c.getActionEntity(ctx, f)
	switch {
	case err == nil && !overwrite:
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	a, err := c.buildAction(ctx, f, old, &put)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = ents.Put(ctx, store.Entity{Collection: store.Actions, Namespace: ns, Key: f.Key(), Doc: doc}, rev)
	if errors.Is(err, store.ErrConflict) {
		if old == nil {
			// The name is taken: by a concurrent create, or by an entity of
			// another collection.
			return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
		}
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// buildAction applies put to old (nil on create) as OpenWhisk does.
func (c *Controller) buildAction(ctx context.Context, f whisk.FQN, old *whisk.Action, put *whisk.ActionPut) (*whisk.Action, error) {
	var a whisk.Action
	if old != nil {
		a = *old
		a.Version = whisk.NextVersion(old.Version)
	} else {
		if put.Exec == nil {
			return nil, whisk.BadRequest(whisk.MsgMalformed + "exec undefined")
		}
		a = whisk.Action{Namespace: f.PathPrefix(), Name: f.Name, Version: "0.0.1", Limits: c.cfg.Limits.Default()}
	}
	if put.Version != "" && old == nil {
		a.Version = put.Version
	}
	if put.Exec != nil {
		ex, err := c.checkExec(ctx, f, put.Exec)
		if err != nil {
			return nil, err
		}
		a.Exec = ex
	}
	if put.Parameters != nil {
		a.Parameters = put.Parameters
	}
	if a.Exec.Kind == whisk.KindSequence {
		a.Parameters = whisk.KeyValues{}.Set("_actions", a.Exec.Components)
	}
	if len(mustJSON(a.Parameters)) > 1<<20 {
		return nil, whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, len(mustJSON(a.Parameters)), 1<<20)
	}
	limits, err := c.cfg.Limits.Apply(a.Limits, put.Limits, c.cfg.ConcurrentMax)
	if err != nil {
		return nil, err
	}
	a.Limits = limits
	if put.Publish != nil {
		a.Publish = *put.Publish
	}
	if put.Annotations != nil {
		a.Annotations = put.Annotations
	}
	for _, k := range put.DelAnnotations {
		a.Annotations = a.Annotations.Delete(k)
	}
	if old == nil && !a.Annotations.Has("provide-api-key") {
		a.Annotations = a.Annotations.Set("provide-api-key", false)
	}
	a.Annotations = a.Annotations.Set("exec", a.Exec.Kind)
	if a.Parameters == nil {
		a.Parameters = whisk.KeyValues{}
	}
	a.Updated = time.Now().UnixMilli()
	return &a, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// checkExec validates an exec and returns it as stored.
func (c *Controller) checkExec(ctx context.Context, f whisk.FQN, in *whisk.Exec) (whisk.Exec, error) {
	ex := *in
	switch ex.Kind {
	case "":
		return ex, whisk.BadRequest(whisk.MsgMalformed + "exec.kind undefined")
	case whisk.KindSequence:
		comps, err := c.checkSequence(ctx, f, ex.Components)
		if err != nil {
			return ex, err
		}
		return whisk.Exec{Kind: whisk.KindSequence, Components: comps}, nil
	case whisk.KindBlackbox:
		if ex.Image == "" {
			return ex, whisk.BadRequest(whisk.MsgMalformed + "exec.image undefined for a blackbox action")
		}
	default:
		kind, err := c.cfg.ResolveKind(ex.Kind)
		if err != nil {
			return ex, err
		}
		ex.Kind = kind
		// OpenWhisk requires code to be a string, not a non-empty one: an
		// empty action is created and fails only when it runs.
		if ex.Code == nil {
			return ex, whisk.BadRequest(whisk.MsgMalformed + "exec.code undefined")
		}
	}
	ex.Components = nil
	if ex.Code != nil {
		ex.Binary = ex.Binary || whisk.IsBinaryCode(*ex.Code)
		if ex.Binary {
			if err := ex.CheckCode(); err != nil {
				return ex, err
			}
		}
	}
	return ex, nil
}

func (c *Controller) deleteAction(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	f, err := pathFQN(r, ns)
	if err != nil {
		return err
	}
	if err := c.checkNotBuiltin(ns, f.Package); err != nil {
		return err
	}
	ctx := r.Context()
	a, rev, err := c.getActionEntity(ctx, f)
	if err != nil {
		return c.notInCollection(ctx, err, ns, f.Key())
	}
	err = c.ents.Delete(ctx, store.Actions, ns, f.Key(), rev)
	if errors.Is(err, store.ErrConflict) {
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}
