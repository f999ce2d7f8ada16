package controller

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/whisk"
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
	aid, comp, err := c.invoke(ctx, &invocation{id: id, ra: ra, params: params, blocking: blocking, wait: wait})
	if err != nil {
		return err
	}
	w.Header().Set(ActivationIDHeader, aid)
	if comp == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": aid})
		return nil
	}
	c.writeCompletion(w, comp, resultOnly)
	return nil
}

// writeCompletion answers a blocking invoke with the status of CONTRACT §8.
// An invocation that never completed through no fault of the action (no
// room in the container pool and its queue full; a record the store could
// not keep) answers 503, as OpenWhisk's load balancer does, so that
// callers retry.
func (c *Controller) writeCompletion(w http.ResponseWriter, comp *bus.Completion, resultOnly bool) {
	if err := retryable(comp); err != nil {
		c.writeError(w, err)
		return
	}
	act := comp.Activation
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

// retryable returns the 503 for a completion whose caller should try
// again, or nil.
func retryable(comp *bus.Completion) error {
	switch comp.Reason {
	case whisk.ReasonOverloaded:
		return &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgOverloaded}
	case whisk.ReasonUnstored:
		return &whisk.Error{Status: http.StatusServiceUnavailable, Message: whisk.MsgStoreUnavailable}
	}
	return nil
}
