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

// A rule's status lives in its trigger's rules map, as in OpenWhisk: a
// fire reads only the trigger. The rule document keeps a copy for GET when
// the trigger is gone.

func (c *Controller) ruleRoutes() {
	c.collectionRoutes("rules", false, c.listRules, c.getRuleRoute, c.putRule, c.deleteRule, c.setRuleState)
}

func (c *Controller) getRule(ctx context.Context, ns, name string) (*whisk.Rule, int64, error) {
	return cachedEntity[whisk.Rule](ctx, c.cache, store.Rules, ns, name)
}

// withStatus returns rule with the status its trigger records.
func (c *Controller) withStatus(ctx context.Context, rule *whisk.Rule) *whisk.Rule {
	out := *rule
	tf := rule.Trigger.FQN()
	if t, _, err := c.getTrigger(ctx, tf.Namespace, tf.Name); err == nil {
		if tr, ok := t.Rules[rule.Namespace+"/"+rule.Name]; ok {
			out.Status = tr.Status
		}
	}
	return &out
}

func (c *Controller) listRules(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	return c.listCollection(w, r, ns, store.Rules)
}

func (c *Controller) getRuleRoute(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	rule, _, err := c.getRule(r.Context(), ns, name)
	if err != nil {
		return c.notInCollection(r.Context(), err, ns, name)
	}
	writeJSON(w, http.StatusOK, c.withStatus(r.Context(), rule))
	return nil
}

// ruleEnds parses and checks a rule's trigger and action: the trigger
// must exist in the rule's namespace, the action must resolve.
func (c *Controller) ruleEnds(ctx context.Context, id auth.Identity, ns, trigger, action string) (whisk.FQN, whisk.FQN, error) {
	invalid := whisk.BadRequest(whisk.MsgRuleInvalid)
	tf, err := whisk.ParseFQN(trigger, ns)
	if err != nil || tf.Package != "" || tf.Namespace != ns {
		return tf, whisk.FQN{}, invalid
	}
	af, err := whisk.ParseFQN(action, ns)
	if err != nil {
		return tf, af, invalid
	}
	if _, _, err := c.getTrigger(ctx, tf.Namespace, tf.Name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return tf, af, invalid
		}
		return tf, af, err
	}
	if _, err := c.entitledAction(ctx, id, af); err != nil {
		if errors.Is(err, store.ErrNotFound) || whisk.StatusOf(err) < 500 {
			return tf, af, invalid
		}
		return tf, af, err
	}
	return tf, af, nil
}

func (c *Controller) putRule(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	overwrite, put, err := readPut[whisk.RulePut](r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ents := c.ents
	old, rev, err := c.getRule(ctx, ns, name)
	switch {
	case err == nil && !overwrite:
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	var rule whisk.Rule
	status := whisk.RuleActive
	if old != nil {
		rule = *old
		rule.Version = whisk.NextVersion(old.Version)
		status = c.withStatus(ctx, old).Status
		if put.Trigger == "" {
			put.Trigger = old.Trigger.FQN().String()
		}
		if put.Action == "" {
			put.Action = old.Action.FQN().String()
		}
	} else {
		rule = whisk.Rule{Namespace: ns, Name: name, Version: "0.0.1"}
		if put.Version != "" {
			rule.Version = put.Version
		}
	}
	if put.Trigger == "" || put.Action == "" {
		return whisk.BadRequest(whisk.MsgRuleInvalid)
	}
	tf, af, err := c.ruleEnds(ctx, id, ns, put.Trigger, put.Action)
	if err != nil {
		return err
	}
	if put.Annotations != nil {
		rule.Annotations = put.Annotations
	}
	if rule.Annotations == nil {
		rule.Annotations = whisk.KeyValues{}
	}
	if put.Publish != nil {
		rule.Publish = *put.Publish
	}
	rule.Trigger, rule.Action, rule.Status = tf.Ref(), af.Ref(), status
	rule.Updated = time.Now().UnixMilli()
	doc, err := json.Marshal(&rule)
	if err != nil {
		return err
	}
	_, err = ents.Put(ctx, store.Entity{Collection: store.Rules, Namespace: ns, Key: name, Doc: doc}, rev)
	if errors.Is(err, store.ErrConflict) {
		if old == nil {
			return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConflict}
		}
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return err
	}
	key := ns + "/" + name
	if old != nil && old.Trigger != rule.Trigger {
		of := old.Trigger.FQN()
		_, err := c.updateTrigger(ctx, of.Namespace, of.Name, func(t *whisk.Trigger) error {
			delete(t.Rules, key)
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	_, err = c.updateTrigger(ctx, tf.Namespace, tf.Name, func(t *whisk.Trigger) error {
		if t.Rules == nil {
			t.Rules = map[string]whisk.TriggerRule{}
		}
		t.Rules[key] = whisk.TriggerRule{Action: af.Ref(), Status: status}
		return nil
	})
	if err != nil {
		// The trigger went away between the check and now: leave nothing
		// half-created.
		if old == nil {
			_ = ents.Delete(ctx, store.Rules, ns, name, 0)
		}
		if errors.Is(err, store.ErrNotFound) {
			return whisk.BadRequest(whisk.MsgRuleInvalid)
		}
		return err
	}
	writeJSON(w, http.StatusOK, &rule)
	return nil
}

func (c *Controller) deleteRule(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	ctx := r.Context()
	rule, rev, err := c.getRule(ctx, ns, name)
	if err != nil {
		return c.notInCollection(ctx, err, ns, name)
	}
	out := c.withStatus(ctx, rule)
	tf := rule.Trigger.FQN()
	_, err = c.updateTrigger(ctx, tf.Namespace, tf.Name, func(t *whisk.Trigger) error {
		delete(t.Rules, ns+"/"+name)
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err = c.ents.Delete(ctx, store.Rules, ns, name, rev)
	if errors.Is(err, store.ErrConflict) {
		return &whisk.Error{Status: http.StatusConflict, Message: whisk.MsgConcurrentUpdate}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (c *Controller) setRuleState(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	name := r.PathValue("name")
	if err := whisk.ValidateName(name); err != nil {
		return err
	}
	body, err := readJSON(r, MaxEntityBody)
	if err != nil {
		return err
	}
	var req struct {
		Status string `json:"status"`
	}
	if err := whisk.DecodeStrict(body, &req); err != nil {
		return err
	}
	if req.Status != whisk.RuleActive && req.Status != whisk.RuleInactive {
		return whisk.BadRequest(whisk.MsgStatusInvalid)
	}
	ctx := r.Context()
	rule, rev, err := c.getRule(ctx, ns, name)
	if err != nil {
		return c.notInCollection(ctx, err, ns, name)
	}
	tf := rule.Trigger.FQN()
	key := ns + "/" + name
	_, err = c.updateTrigger(ctx, tf.Namespace, tf.Name, func(t *whisk.Trigger) error {
		if t.Rules == nil {
			t.Rules = map[string]whisk.TriggerRule{}
		}
		t.Rules[key] = whisk.TriggerRule{Action: rule.Action, Status: req.Status}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		if req.Status == whisk.RuleActive {
			return &whisk.Error{Status: http.StatusNotFound, Message: whisk.MsgRuleTriggerMissing}
		}
	} else if err != nil {
		return err
	}
	if rule.Status != req.Status {
		upd := *rule
		upd.Status = req.Status
		upd.Updated = time.Now().UnixMilli()
		doc, err := json.Marshal(&upd)
		if err != nil {
			return err
		}
		_, err = c.ents.Put(ctx, store.Entity{Collection: store.Rules, Namespace: ns, Key: name, Doc: doc}, rev)
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		rule = &upd
	}
	writeJSON(w, http.StatusOK, rule)
	return nil
}
