package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/balancer"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/whisk"
)

// ActivationIDHeader carries the activation id on invoke and fire
// responses.
const ActivationIDHeader = "X-Openwhisk-Activation-Id"

// invocation is one request to run an action.
type invocation struct {
	id          auth.Identity
	ra          *resolvedAction
	params      json.RawMessage // merged parameters, a JSON object
	blocking    bool
	wait        time.Duration // how long a blocking caller waits
	cause       string
	annotations whisk.KeyValues
	activation  string // preassigned activation id, or ""
}

// invoke runs inv through throttling and the balancer. It returns the
// activation id and, for a blocking invocation that finished within its
// wait, the record.
func (c *Controller) invoke(ctx context.Context, inv *invocation) (string, *whisk.Activation, error) {
	switch inv.ra.action.Exec.Kind {
	case whisk.KindSequence:
		return c.runSequence(ctx, inv)
	case whisk.KindBuiltin:
		return c.runBuiltin(ctx, inv)
	}
	ns := inv.id.Namespace
	if err := c.cfg.Throttle.CheckInvoke(ns); err != nil {
		return "", nil, err
	}
	release, err := c.cfg.Throttle.Acquire(ns)
	if err != nil {
		return "", nil, err
	}
	id := inv.activation
	if id == "" {
		id = whisk.NewActivationID()
	}
	msg := &bus.Invocation{
		ActivationID:  id,
		TransactionID: c.transactionID(),
		Action:        inv.ra.action,
		Params:        inv.params,
		Namespace:     ns,
		Subject:       inv.id.Subject,
		APIKey:        apiKey(inv.id),
		Blocking:      inv.blocking,
		Received:      time.Now(),
		Cause:         inv.cause,
		Annotations:   inv.ra.annotations.Merge(inv.annotations),
	}
	ch, err := c.cfg.Balancer.Publish(ctx, msg, inv.blocking, func(*whisk.Activation) { release() })
	if err != nil {
		release()
		return "", nil, err
	}
	if c.cfg.OnAccepted != nil {
		c.cfg.OnAccepted(ns, inv.blocking)
	}
	if !inv.blocking {
		return id, nil, nil
	}
	return id, balancer.WaitFor(ctx, ch, inv.wait), nil
}

// overloadedResult is the result the invoker records when the pool had no
// room for an activation.
var overloadedResult = string(mustJSON(map[string]string{"error": whisk.MsgOverloaded}))

// storeUnavailableResult is the result the invoker puts in the completion
// of a blocking invocation whose record the store could not write (a full
// disk): the caller gets 503, as nothing of the run was kept.
var storeUnavailableResult = string(mustJSON(map[string]string{"error": whisk.MsgStoreUnavailable}))

// apiKey returns the caller's key as actions see it in __OW_API_KEY
// ("uuid:key"), or "" when the identity carries no key (web actions run
// as their owner, whose key is stored hashed).
func apiKey(id auth.Identity) string {
	if id.Key == "" {
		return ""
	}
	return id.AuthKey()
}

// mergeParams returns the parameters an action runs with: inherited
// (package, binding), then the action's, then the request's. With final
// set, the request may not override any parameter already defined.
func mergeParams(ra *resolvedAction, req json.RawMessage) (json.RawMessage, error) {
	defined := ra.inherited.Merge(ra.action.Parameters)
	if len(defined) == 0 {
		if len(req) == 0 {
			return json.RawMessage("{}"), nil
		}
		return req, nil
	}
	out := defined.Object()
	if len(req) > 0 {
		var body map[string]json.RawMessage
		if err := json.Unmarshal(req, &body); err != nil {
			return nil, whisk.BadRequest(whisk.MsgMalformed + err.Error())
		}
		final := ra.action.Annotations.Truthy("final")
		for k, v := range body {
			if _, ok := out[k]; ok && final {
				return nil, whisk.BadRequest(whisk.MsgNotAllowedParams)
			}
			out[k] = v
		}
	}
	return json.Marshal(out)
}

// readParams reads an invoke or fire body: a JSON object, at most
// PayloadMax bytes, empty meaning {}.
func (c *Controller) readParams(r *http.Request) (json.RawMessage, error) {
	body, err := readJSON(r, c.cfg.PayloadMax)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	if body[0] != '{' || !json.Valid(body) {
		return nil, whisk.BadRequest(whisk.MsgMalformed + "the body must be a JSON object")
	}
	return body, nil
}

func (c *Controller) invokeAction(w http.ResponseWriter, r *http.Request, id auth.Identity, ns string) error {
	f, err := pathFQN(r, ns)
	if err != nil {
		return err
	}
	blocking, err := boolParam(r, "blocking", false)
	if err != nil {
		return err
	}
	resultOnly, err := boolParam(r, "result", false)
	if err != nil {
		return err
	}
	wait := c.cfg.BlockingWait
	maxWait := c.cfg.BlockingWait
	if maxWait < 60*time.Second {
		maxWait = 60 * time.Second
	}
	if s := r.URL.Query().Get("timeout"); s != "" {
		ms, err := int64Param(r, "timeout", 0)
		if err != nil || ms < 1 || time.Duration(ms)*time.Millisecond > maxWait {
			return whisk.BadRequest(whisk.MsgInvalidTimeout)
		}
		wait = time.Duration(ms) * time.Millisecond
	}
	body, err := c.readParams(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ra, err := c.entitledAction(ctx, id, f)
	if err != nil {
		return c.notInCollection(ctx, err, ns, f.Key())
	}
	params, err := mergeParams(ra, body)
	if err != nil {
		return err
	}
	aid, act, err := c.invoke(ctx, &invocation{id: id, ra: ra, params: params, blocking: blocking, wait: wait})
	if err != nil {
		return err
	}
	w.Header().Set(ActivationIDHeader, aid)
	if act == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": aid})
		return nil
	}
	c.writeActivation(w, act, resultOnly)
	return nil
}

// writeActivation answers a blocking invoke with the status of CONTRACT §8.
// An invocation the invoker could not place (no room in the container pool
// and its queue full) answers 503 with OpenWhisk's overload message, as
// OpenWhisk's load balancer does, so that callers retry.
func (c *Controller) writeActivation(w http.ResponseWriter, act *whisk.Activation, resultOnly bool) {
	if act.Response.StatusCode == whisk.StatusWhiskError && string(act.Response.Result) == overloadedResult {
		c.writeError(w, &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgOverloaded})
		return
	}
	if act.Response.StatusCode == whisk.StatusWhiskError && string(act.Response.Result) == storeUnavailableResult {
		c.writeError(w, &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgStoreUnavailable})
		return
	}
	status := http.StatusOK
	switch act.Response.StatusCode {
	case whisk.StatusApplicationError, whisk.StatusDeveloperError:
		status = http.StatusBadGateway
	case whisk.StatusWhiskError:
		status = http.StatusInternalServerError
	}
	res := act.Response.Result
	if resultOnly || (len(res) > 0 && res[0] == '[') {
		if len(res) == 0 {
			res = json.RawMessage("{}")
		}
		writeRaw(w, status, res)
		return
	}
	writeJSON(w, status, act)
}
