package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Builtins runs the actions of Whirl's built-in packages (exec kind
// "builtin": the /whisk.system/alarms feeds, the utils and samples of the
// catalog) in process. app wires it.
type Builtins interface {
	// RunBuiltin runs the built-in action called name (the action's
	// exec.main) with params, a JSON object, and env, the variables an
	// action container gets (__OW_NAMESPACE: the invoking namespace,
	// __OW_API_HOST, __OW_ACTION_NAME, __OW_ACTIVATION_ID). logs are the
	// activation's log lines. ok false means an application error whose
	// result carries {"error": ...}; err is a failure of the system (a
	// whisk internal error).
	RunBuiltin(ctx context.Context, name string, env map[string]string, params json.RawMessage) (result json.RawMessage, logs []string, ok bool, err error)
	// TriggerDeleted tells the provider that trigger namespace/name is
	// gone, so that no schedule keeps firing it.
	TriggerDeleted(ctx context.Context, namespace, name string) error
}

func (c *Controller) packageRoutes() {
	c.collectionRoutes("packages", true, c.listPackages, c.getPackageRoute, c.putPackage, c.deletePackage, nil)
}

// getPackage returns the stored package (cached) and its revision.
func (c *Controller) getPackage(ctx context.Context, ns, name string) (*whisk.Package, int64, error) {
	return cachedEntity[whisk.Package](ctx, c.cache, store.Packages, ns, name)
}

// listActionsOfPackage lists the actions of a package, or of the package a
// binding refers to: GET /actions/{pkg}/.
func (c *Controller) listActionsOfPackage(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	lp, err := parseList(r, "actions")
	if err != nil {
		return err
	}
	pkg := r.PathValue("pkg")
	if err := whisk.ValidateName(pkg); err != nil {
		return err
	}
	ctx := r.Context()
	p, err := c.entitledPackage(ctx, id, ns, pkg)
	if err != nil {
		return c.notInCollection(ctx, err, ns, pkg)
	}
	t, err := c.entitledTarget(ctx, id, p)
	if err != nil {
		return err
	}
	ents := c.ents
	prefix := t.Name + "/"
	if lp.count {
		n, err := ents.Count(ctx, store.Actions, t.Namespace, prefix)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]int{"actions": n})
		return nil
	}
	list, err := c.listNewestFirst(ctx, store.Actions, t.Namespace, prefix)
	if err != nil {
		return err
	}
	list = page(list, lp)
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

// packageWritable checks that an action may be put in f's package: it
// exists and is not a binding.
func (c *Controller) packageWritable(ctx context.Context, f whisk.FQN) error {
	if f.Package == "" {
		return nil
	}
	p, _, err := c.getPackage(ctx, f.Namespace, f.Package)
	if err != nil {
		return c.notInCollection(ctx, err, f.Namespace, f.Package)
	}
	if p.Binding != nil {
		return whisk.BadRequest(whisk.MsgBindingReadOnly)
	}
	return nil
}

func (c *Controller) listPackages(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	lp, err := parseList(r, "packages")
	if err != nil {
		return err
	}
	ents := c.ents
	shared := !owns(id, ns) // another namespace: published packages only
	if lp.count && !shared {
		n, err := ents.Count(r.Context(), store.Packages, ns, "")
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]int{"packages": n})
		return nil
	}
	list, err := c.listNewestFirst(r.Context(), store.Packages, ns, "")
	if err != nil {
		return err
	}
	rows := make([]whisk.PackageSummary, 0, len(list))
	for _, e := range list {
		var p whisk.Package
		if err := json.Unmarshal(e.Doc, &p); err != nil {
			return err
		}
		if shared && !p.Publish {
			continue
		}
		s := p.Summary()
		rows = append(rows, s)
	}
	if lp.count {
		writeJSON(w, http.StatusOK, map[string]int{"packages": len(rows)})
		return nil
	}
	writeJSON(w, http.StatusOK, page(rows, lp))
	return nil
}

func (c *Controller) getPackageRoute(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	ctx := r.Context()
	p, err := c.entitledPackage(ctx, id, ns, name)
	if err != nil {
		return c.notInCollection(ctx, err, ns, name)
	}
	t, err := c.entitledTarget(ctx, id, p)
	if err != nil {
		return err
	}
	d := p.View()
	if t != p {
		d.Parameters = t.Parameters.Merge(p.Parameters)
	}
	list, err := c.ents.List(ctx, store.Actions, t.Namespace, store.ListOptions{Prefix: t.Name + "/"})
	if err != nil {
		return err
	}
	actions, feeds := []whisk.PackageAction{}, []whisk.PackageAction{}
	for _, e := range list {
		var a whisk.Action
		if err := json.Unmarshal(e.Doc, &a); err != nil {
			return err
		}
		pe := whisk.PackageAction{Name: a.Name, Version: a.Version, Annotations: a.Annotations}
		if a.Annotations.Has("feed") {
			feeds = append(feeds, pe)
		} else {
			actions = append(actions, pe)
		}
	}
	d.Actions, d.Feeds = actions, feeds
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (c *Controller) putPackage(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	if name == "default" {
		return whisk.BadRequest(whisk.MsgPackageNameReserved)
	}
	if err := c.checkNotBuiltin(ns, name); err != nil {
		return err
	}
	overwrite, put, err := readPut[whisk.PackagePut](r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	old, rev, err := c.getPackage(ctx, ns, name)
	switch {
	case err == nil && !overwrite:
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	var p whisk.Package
	if old != nil {
		p = *old
		p.Version = whisk.NextVersion(old.Version)
	} else {
		p = whisk.Package{Namespace: ns, Name: name, Version: "0.0.1"}
		if put.Version != "" {
			p.Version = put.Version
		}
	}
	if put.Binding != nil {
		if old != nil && old.Binding == nil {
			return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgPackageToBinding}
		}
		b, err := c.checkBinding(ctx, id, ns, name, *put.Binding)
		if err != nil {
			return err
		}
		p.Binding = b
	}
	if put.Parameters != nil {
		p.Parameters = put.Parameters
	}
	if n := len(mustJSON(p.Parameters)); n > 1<<20 {
		return whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, n, 1<<20)
	}
	if put.Annotations != nil {
		p.Annotations = put.Annotations
	}
	if put.Publish != nil {
		p.Publish = *put.Publish
	}
	if p.Parameters == nil {
		p.Parameters = whisk.KeyValues{}
	}
	p.Annotations = whisk.WithBindingAnnotation(p.Annotations, p.Binding)
	p.Updated = time.Now().UnixMilli()
	doc, err := json.Marshal(&p)
	if err != nil {
		return err
	}
	_, err = c.ents.Put(ctx, store.Entity{Collection: store.Packages, Namespace: ns, Key: name, Doc: doc}, rev)
	if errors.Is(err, store.ErrConflict) {
		if old == nil {
			return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
		}
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.View())
	return nil
}

// checkBinding validates the package a binding ns/name refers to and
// returns the reference with "_" resolved.
func (c *Controller) checkBinding(ctx context.Context, id auth.Identity, ns, name string, b whisk.BindingRef) (*whisk.BindingRef, error) {
	if b.Namespace == "" || b.Namespace == whisk.DefaultNamespace {
		b.Namespace = id.Namespace
	}
	if err := whisk.ValidateName(b.Namespace); err != nil {
		return nil, err
	}
	if err := whisk.ValidateName(b.Name); err != nil {
		return nil, err
	}
	if b.Namespace == ns && b.Name == name {
		return nil, whisk.Errorf(http.StatusUnprocessableEntity, whisk.MsgBindingCircular, ns+"/"+name)
	}
	t, err := c.entitledPackage(ctx, id, b.Namespace, b.Name)
	if errors.Is(err, store.ErrNotFound) { // only in id's own namespace: elsewhere the gate answers 403
		if _, lerr := c.ents.Locate(ctx, b.Namespace, b.Name); lerr == nil {
			return nil, &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgBindingNotPackage}
		}
		return nil, whisk.BadRequest(whisk.MsgBindingMissing)
	}
	if err != nil {
		return nil, err
	}
	if t.Binding != nil {
		if t.Binding.Namespace == ns && t.Binding.Name == name {
			return nil, whisk.Errorf(http.StatusUnprocessableEntity, whisk.MsgBindingCircular, ns+"/"+name)
		}
		return nil, whisk.BadRequest(whisk.MsgBindingToBinding)
	}
	return &b, nil
}

func (c *Controller) deletePackage(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	force, err := boolParam(r, "force", false)
	if err != nil {
		return err
	}
	if err := c.checkNotBuiltin(ns, name); err != nil {
		return err
	}
	ctx := r.Context()
	p, rev, err := c.getPackage(ctx, ns, name)
	if err != nil {
		return c.notInCollection(ctx, err, ns, name)
	}
	ents := c.ents
	if p.Binding == nil {
		list, err := ents.List(ctx, store.Actions, ns, store.ListOptions{Prefix: name + "/"})
		if err != nil {
			return err
		}
		if len(list) > 0 && !force {
			what := "entities"
			if len(list) == 1 {
				what = "entity"
			}
			return &whisk.Error{Status: http.StatusConflict, Message: fmt.Sprintf(whisk.MsgPackageNotEmpty, len(list), what)}
		}
		for _, e := range list {
			err := ents.Delete(ctx, store.Actions, ns, e.Key, 0)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("delete %s/%s: %w", ns, e.Key, err)
			}
		}
	}
	err = ents.Delete(ctx, store.Packages, ns, name, rev)
	if errors.Is(err, store.ErrConflict) {
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p.View())
	return nil
}

// runBuiltin runs a built-in action in process and records its
// activation like any other.
func (c *Controller) runBuiltin(ctx context.Context, inv *invocation, aid string) (string, *bus.Completion, error) {
	if c.cfg.Builtins == nil {
		return "", nil, whisk.BadRequest(fmt.Sprintf(whisk.MsgUnsupportedRuntime, whisk.KindBuiltin, "none"))
	}
	a := inv.ra.action
	start := time.Now()
	env := map[string]string{
		"__OW_NAMESPACE":     inv.id.Namespace,
		"__OW_API_HOST":      c.cfg.APIHost,
		"__OW_ACTION_NAME":   a.FQN().String(),
		"__OW_ACTIVATION_ID": aid,
	}
	res, logs, ok, err := c.cfg.Builtins.RunBuiltin(ctx, a.Exec.Main, env, inv.params)
	if logs == nil {
		logs = []string{}
	}
	resp := whisk.Response{StatusCode: whisk.StatusSuccess, Result: res}
	switch {
	case err != nil:
		c.cfg.Logger.Error("builtin action failed", "action", a.FQN().String(), "err", err)
		resp = whisk.Response{StatusCode: whisk.StatusWhiskError, Result: json.RawMessage(`{"error":"` + whisk.MsgInternal + `"}`)}
	case !ok:
		resp.StatusCode = whisk.StatusApplicationError
	}
	end := time.Now()
	act := &whisk.Activation{
		Namespace: inv.id.Namespace, Name: a.Name, Version: a.Version, Subject: inv.id.Subject,
		ActivationID: aid, Start: start.UnixMilli(), End: end.UnixMilli(), Duration: end.Sub(start).Milliseconds(),
		Cause: inv.cause, Response: resp, Logs: logs, Publish: false,
		Annotations: whisk.KeyValues{}.Set("path", a.FQN().Path()).Set("waitTime", 0).Set("kind", a.Exec.Kind).
			Set("limits", a.Limits).Merge(inv.ra.annotations).Merge(inv.annotations),
	}
	if err := c.cfg.Store.Activations().Put(ctx, act); err != nil {
		return "", nil, fmt.Errorf("record activation %s: %w", aid, err)
	}
	if !inv.blocking {
		return aid, nil, nil
	}
	return aid, &bus.Completion{ActivationID: aid, Activation: act, Reason: whisk.ReasonOf(resp.StatusCode)}, nil
}
