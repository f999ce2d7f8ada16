package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

func (c *Controller) triggerRoutes() {
	c.collectionRoutes("triggers", false, c.listTriggers, c.getTriggerRoute, c.putTrigger, c.deleteTrigger, c.fireRoute)
}

// getTrigger returns the stored trigger (cached) and its revision.
func (c *Controller) getTrigger(ctx context.Context, ns, name string) (*whisk.Trigger, int64, error) {
	return cachedEntity[whisk.Trigger](ctx, c.cache, store.Triggers, ns, name)
}

// updateTrigger applies fn to the freshest stored trigger ns/name and
// writes it, retrying when a concurrent write got there first.
func (c *Controller) updateTrigger(ctx context.Context, ns, name string, fn func(*whisk.Trigger) error) (*whisk.Trigger, error) {
	ents := c.ents
	for attempt := 0; ; attempt++ {
		ent, err := ents.Get(ctx, store.Triggers, ns, name)
		if err != nil {
			return nil, err
		}
		var t whisk.Trigger
		if err := json.Unmarshal(ent.Doc, &t); err != nil {
			return nil, fmt.Errorf("decode trigger %s/%s: %w", ns, name, err)
		}
		if err := fn(&t); err != nil {
			return nil, err
		}
		t.Updated = time.Now().UnixMilli()
		doc, err := json.Marshal(&t)
		if err != nil {
			return nil, err
		}
		_, err = ents.Put(ctx, store.Entity{Collection: store.Triggers, Namespace: ns, Key: name, Doc: doc}, ent.Rev)
		if errors.Is(err, store.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &t, nil
	}
}

func (c *Controller) listTriggers(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	return c.listCollection(w, r, ns, store.Triggers)
}

// listCollection answers a list of triggers or rules: the stored
// documents, paged.
func (c *Controller) listCollection(w http.ResponseWriter, r *http.Request, ns, coll string) error {
	lp, err := parseList(r, coll)
	if err != nil {
		return err
	}
	ents := c.ents
	if lp.count {
		n, err := ents.Count(r.Context(), coll, ns, "")
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]int{coll: n})
		return nil
	}
	list, err := c.listNewestFirst(r.Context(), coll, ns, "")
	if err != nil {
		return err
	}
	list = page(list, lp)
	rows := make([]json.RawMessage, 0, len(list))
	for _, e := range list {
		rows = append(rows, e.Doc)
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}

func (c *Controller) getTriggerRoute(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	t, _, err := c.getTrigger(r.Context(), ns, name)
	if err != nil {
		return c.notInCollection(r.Context(), err, ns, name)
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (c *Controller) putTrigger(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	overwrite, put, err := readPut[whisk.TriggerPut](r)
	if err != nil {
		return err
	}
	if n := len(mustJSON(put.Parameters)); n > 1<<20 {
		return whisk.Errorf(http.StatusRequestEntityTooLarge, whisk.MsgRequestTooLarge, n, 1<<20)
	}
	ctx := r.Context()
	apply := func(t *whisk.Trigger) {
		if put.Parameters != nil {
			t.Parameters = put.Parameters
		}
		if put.Annotations != nil {
			t.Annotations = put.Annotations
		}
		if put.Publish != nil {
			t.Publish = *put.Publish
		}
		if t.Parameters == nil {
			t.Parameters = whisk.KeyValues{}
		}
		if t.Annotations == nil {
			t.Annotations = whisk.KeyValues{}
		}
	}
	_, _, err = c.getTrigger(ctx, ns, name)
	switch {
	case err == nil && !overwrite:
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
	case err == nil:
		t, err := c.updateTrigger(ctx, ns, name, func(t *whisk.Trigger) error {
			apply(t)
			t.Version = whisk.NextVersion(t.Version)
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, t)
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	t := &whisk.Trigger{Namespace: ns, Name: name, Version: "0.0.1", Updated: time.Now().UnixMilli()}
	if put.Version != "" {
		t.Version = put.Version
	}
	apply(t)
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = c.ents.Put(ctx, store.Entity{Collection: store.Triggers, Namespace: ns, Key: name, Doc: doc}, 0)
	if errors.Is(err, store.ErrConflict) {
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (c *Controller) deleteTrigger(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	t, err := c.removeTrigger(r.Context(), ns, name)
	if err != nil {
		return c.notInCollection(r.Context(), err, ns, name)
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// removeTrigger deletes trigger ns/name and tells the feed providers.
// Rules that name it stay, as in OpenWhisk.
func (c *Controller) removeTrigger(ctx context.Context, ns, name string) (*whisk.Trigger, error) {
	t, rev, err := c.getTrigger(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	err = c.ents.Delete(ctx, store.Triggers, ns, name, rev)
	if errors.Is(err, store.ErrConflict) {
		return nil, &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return nil, err
	}
	if c.cfg.Builtins != nil {
		if err := c.cfg.Builtins.TriggerDeleted(ctx, ns, name); err != nil {
			c.cfg.Logger.Warn("feed schedule of a deleted trigger", "trigger", ns+"/"+name, "err", err)
		}
	}
	return t, nil
}

func (c *Controller) fireRoute(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	payload, err := c.readParams(r)
	if err != nil {
		return err
	}
	if payload, err = withHeaders(payload, r); err != nil {
		return err
	}
	aid, err := c.fire(r.Context(), id, ns, name, payload)
	if err != nil {
		return c.notInCollection(r.Context(), err, ns, name)
	}
	if aid == "" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set(ActivationIDHeader, aid)
	writeJSON(w, http.StatusAccepted, map[string]string{"activationId": aid})
	return nil
}

// withHeaders adds __ow_headers (the fire request's headers, lowercase,
// without credentials) to a fire payload, as OpenWhisk does for webhook
// feeds that need them.
func withHeaders(payload json.RawMessage, r *http.Request) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &obj); err != nil {
			return nil, whisk.BadRequest(whisk.MsgMalformed + err.Error())
		}
	}
	h := webHeaders(r)
	delete(h, "authorization")
	delete(h, "cookie")
	obj["__ow_headers"] = mustJSON(h)
	return json.Marshal(obj)
}

// ruleLog is one line of a trigger activation's logs.
type ruleLog struct {
	StatusCode   int    `json:"statusCode"`
	Success      bool   `json:"success"`
	ActivationID string `json:"activationId,omitempty"`
	Rule         string `json:"rule"`
	Action       string `json:"action"`
	Error        string `json:"error,omitempty"`
}

// fire fires trigger ns/name with payload as id: each active rule invokes
// its action non-blocking with the trigger's parameters and then the
// payload. It returns the trigger activation's id, or "" when no rule is
// active (and then records nothing).
func (c *Controller) fire(ctx context.Context, id auth.Identity, ns, name string, payload json.RawMessage) (string, error) {
	if err := c.cfg.Throttle.CheckFire(ns); err != nil {
		return "", err
	}
	t, _, err := c.getTrigger(ctx, ns, name)
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(t.Rules))
	active := 0
	for k, rule := range t.Rules {
		keys = append(keys, k)
		if rule.Status == whisk.RuleActive {
			active++
		}
	}
	if active == 0 {
		return "", nil
	}
	sort.Strings(keys)
	args := json.RawMessage("{}")
	if len(payload) > 0 {
		args = payload
	}
	merged, err := mergeParams(&resolvedAction{action: &whisk.Action{Parameters: t.Parameters}}, args)
	if err != nil {
		return "", err
	}
	start := time.Now()
	aid := whisk.NewActivationID()
	logs := make([]string, 0, len(keys))
	var unstored error // a rule's invocation the store could not journal
	invoked := false
	for _, k := range keys {
		rule := t.Rules[k]
		af := rule.Action.FQN()
		if rule.Status != whisk.RuleActive {
			logs = append(logs, fmt.Sprintf(whisk.MsgRuleInactive, k, af.Path()))
			continue
		}
		line := ruleLog{Rule: k, Action: af.Path()}
		if actID, err := c.fireRule(ctx, id, af, merged, aid); err != nil {
			line.StatusCode, line.Error = whisk.StatusWhiskError, whisk.MsgInternal
			var we *whisk.Error
			switch {
			case errors.Is(err, store.ErrNotFound):
				line.StatusCode, line.Error = whisk.StatusApplicationError, whisk.MsgNotFound
			case errors.Is(err, store.ErrUnavailable):
				line.Error, unstored = whisk.MsgStoreUnavailable, err
			case errors.As(err, &we):
				line.StatusCode, line.Error = whisk.StatusApplicationError, we.Message
			default:
				c.cfg.Logger.Warn("rule action not invoked", "rule", k, "err", err)
			}
		} else {
			line.Success, line.ActivationID, invoked = true, actID, true
		}
		logs = append(logs, string(mustJSON(line)))
	}
	if unstored != nil && !invoked {
		// Nothing was accepted: the caller is told (503) and may fire again.
		return "", unstored
	}
	act := &whisk.Activation{
		Namespace: id.Namespace, Name: t.Name, Version: t.Version, Subject: id.Subject,
		ActivationID: aid, Start: start.UnixMilli(),
		Response:    whisk.Response{StatusCode: whisk.StatusSuccess, Result: args},
		Logs:        logs,
		Annotations: whisk.KeyValues{}.Set("path", ns+"/"+t.Name),
	}
	if err := c.cfg.Store.Activations().Put(ctx, act); err != nil {
		return "", fmt.Errorf("record trigger activation %s: %w", aid, err)
	}
	return aid, nil
}

// fireRule invokes a rule's action non-blocking.
func (c *Controller) fireRule(ctx context.Context, id auth.Identity, af whisk.FQN, args json.RawMessage, cause string) (string, error) {
	ra, err := c.entitledAction(ctx, id, af)
	if err != nil {
		return "", err
	}
	params, err := mergeParams(ra, args)
	if err != nil {
		return "", err
	}
	aid, _, err := c.invoke(ctx, &invocation{id: id, ra: ra, params: params, cause: cause})
	return aid, err
}

// FireTrigger fires trigger ("/ns/name") as the owner of authKey
// ("uuid:key"), exactly as POST /triggers/{name} does. It returns the
// trigger activation's id, or "" when no rule is active. A trigger that
// no longer exists, or a key that no longer authenticates, answers an
// error for which IsGone is true. The feed providers call it on each
// tick.
func (c *Controller) FireTrigger(ctx context.Context, authKey, trigger string, payload json.RawMessage) (string, error) {
	id, f, err := c.feedIdentity(ctx, authKey, trigger)
	if err != nil {
		return "", err
	}
	return c.fire(ctx, id, f.Namespace, f.Name, payload)
}

// DeleteTrigger deletes trigger as the owner of authKey, and with rules
// set the rules it feeds too (the once feed's deleteAfterFire).
func (c *Controller) DeleteTrigger(ctx context.Context, authKey, trigger string, rules bool) error {
	id, f, err := c.feedIdentity(ctx, authKey, trigger)
	if err != nil {
		return err
	}
	t, err := c.removeTrigger(ctx, f.Namespace, f.Name)
	if err != nil {
		return err
	}
	if rules {
		for k := range t.Rules {
			rns, rname, _ := strings.Cut(k, "/")
			if rns != id.Namespace {
				continue
			}
			if err := c.ents.Delete(ctx, store.Rules, rns, rname, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// IsGone reports whether err from FireTrigger or DeleteTrigger means the
// trigger or its owner's key no longer exists: the schedule should end.
func IsGone(err error) bool {
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	switch whisk.StatusOf(err) {
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

func (c *Controller) feedIdentity(ctx context.Context, authKey, trigger string) (auth.Identity, whisk.FQN, error) {
	u, k, ok := auth.SplitKey(authKey)
	if !ok {
		return auth.Identity{}, whisk.FQN{}, &whisk.Error{Status: http.StatusUnauthorized, Message: whisk.MsgAuthInvalid}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", nil)
	if err != nil {
		return auth.Identity{}, whisk.FQN{}, err
	}
	req.SetBasicAuth(u, k)
	id, err := c.cfg.Auth.Authenticate(ctx, req)
	if err != nil {
		return auth.Identity{}, whisk.FQN{}, err
	}
	f, err := whisk.ParseFQN(trigger, id.Namespace)
	if err != nil {
		return id, f, err
	}
	if f.Package != "" {
		return id, f, whisk.NotFound()
	}
	if err := auth.Entitled(id, f.Namespace); err != nil {
		return id, f, err
	}
	return id, f, nil
}
