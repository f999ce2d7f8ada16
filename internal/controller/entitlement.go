package controller

import (
	"context"
	"errors"
	"net/http"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// The entitlement gate: the one place that turns a name into an entity a
// caller will read, run, bind to or point at. Every path goes through it:
// get and invoke, sequence create and each component at run time, rule
// create and each fire, package bindings (at create and at every use),
// web actions, the API gateway's create and serve, trigger fires.
//
// The rules are OpenWhisk's:
//   - everything in the caller's own namespace;
//   - in another namespace, a published package and the actions in it,
//     reached directly or through a binding whose target the caller may
//     read too (a published binding does not open a private package);
//   - never another namespace's root-level action, private package,
//     trigger, rule, activation or API.
//
// A name in another namespace that the caller may not reach answers 403
// whether it exists or not, so that no answer tells one tenant which of
// another tenant's names exist.
//
// Writes need no gate: they are only ever made in the caller's own
// namespace, which authed checks before the handler runs.

// owns reports whether id acts in namespace ns as its owner.
func owns(id auth.Identity, ns string) bool { return auth.Entitled(id, ns) == nil }

// denied is the answer for anything of namespace ns that id may not reach,
// existing or not.
func denied(ns string) error {
	return whisk.Errorf(http.StatusForbidden, whisk.MsgNotNamespaceAuthorize, ns)
}

// entitledPackage returns package ns/name when id may read it: its own, or
// published. It does not follow a binding (entitledTarget does). In
// another namespace a missing package and a private one answer the same.
func (c *Controller) entitledPackage(ctx context.Context, id auth.Identity, ns, name string) (*whisk.Package, error) {
	p, _, err := c.getPackage(ctx, ns, name)
	if owns(id, ns) {
		return p, err
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.Publish {
		return nil, denied(ns)
	}
	return p, err
}

// entitledTarget returns the package p stands for when id may read it: p
// itself, or the package p binds to, which must be id's own or published.
func (c *Controller) entitledTarget(ctx context.Context, id auth.Identity, p *whisk.Package) (*whisk.Package, error) {
	if p.Binding == nil {
		return p, nil
	}
	t, err := c.entitledPackage(ctx, id, p.Binding.Namespace, p.Binding.Name)
	if err != nil {
		return nil, err
	}
	if t.Binding != nil {
		return nil, whisk.BadRequest(whisk.MsgBindingToBinding)
	}
	return t, nil
}

// resolvedAction is an action ready to run: its own document, the
// parameters it inherits from its package (and binding), and the
// annotations its activation records about how it was reached.
type resolvedAction struct {
	action      *whisk.Action
	inherited   whisk.KeyValues // package, then binding parameters
	annotations whisk.KeyValues // e.g. binding
}

// entitledAction returns the action f names, ready to run, when id may
// read and run it. An action in a binding comes from the bound package:
// parameters merge package then binding, and the activation records the
// binding.
func (c *Controller) entitledAction(ctx context.Context, id auth.Identity, f whisk.FQN) (*resolvedAction, error) {
	if f.Package == "" {
		if !owns(id, f.Namespace) {
			return nil, denied(f.Namespace)
		}
		a, _, err := c.getActionEntity(ctx, f)
		if err != nil {
			return nil, err
		}
		return &resolvedAction{action: a}, nil
	}
	p, err := c.entitledPackage(ctx, id, f.Namespace, f.Package)
	if err != nil {
		return nil, err
	}
	t, err := c.entitledTarget(ctx, id, p)
	if err != nil {
		return nil, err
	}
	a, _, err := c.getActionEntity(ctx, whisk.FQN{Namespace: t.Namespace, Package: t.Name, Name: f.Name})
	if err != nil {
		return nil, err
	}
	ra := &resolvedAction{action: a, inherited: t.Parameters}
	if p != t {
		ra.inherited = t.Parameters.Merge(p.Parameters)
		ra.annotations = whisk.KeyValues{}.Set("binding", p.Namespace+"/"+p.Name)
	}
	return ra, nil
}
