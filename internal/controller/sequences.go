package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Sequences run in the controller: each component is an ordinary
// blocking invocation whose result is the next one's input. The sequence's
// own record is written when the chain ends.
//
// Crash safety: a non-blocking sequence is journaled before its id is
// answered, and the transaction that stores its record retires the entry.
// After a crash Recover finds the entry and the chain runs again from its
// first component: components that had run run again, and the sequence
// ends with one record.

// checkSequence validates a sequence's components at create time and
// returns them as fully qualified names. Atomic actions are counted
// through nested sequences against SequenceMax.
func (c *Controller) checkSequence(ctx context.Context, f whisk.FQN, components []string) ([]string, error) {
	if len(components) == 0 {
		return nil, whisk.BadRequest(whisk.MsgSequenceEmpty)
	}
	id := auth.Identity{Namespace: f.Namespace, Subject: f.Namespace}
	out := make([]string, 0, len(components))
	total := 0
	for _, s := range components {
		cf, err := whisk.ParseFQN(s, f.Namespace)
		if err != nil {
			return nil, err
		}
		if cf == f {
			return nil, whisk.BadRequest(whisk.MsgSequenceSelf)
		}
		n, err := c.countAtomic(ctx, id, f, cf, 0)
		if err != nil {
			return nil, err
		}
		total += n
		if total > c.cfg.SequenceMax {
			return nil, whisk.BadRequest(whisk.MsgSequenceTooLong)
		}
		out = append(out, cf.String())
	}
	return out, nil
}

// countAtomic returns how many atomic actions component cf stands for,
// refusing a nested sequence that refers back to self.
func (c *Controller) countAtomic(ctx context.Context, id auth.Identity, self, cf whisk.FQN, depth int) (int, error) {
	ra, err := c.entitledAction(ctx, id, cf)
	if errors.Is(err, store.ErrNotFound) {
		return 0, whisk.BadRequest(whisk.MsgSequenceMissing)
	}
	if err != nil {
		return 0, err
	}
	a := ra.action
	if a.Exec.Kind != whisk.KindSequence {
		return 1, nil
	}
	if depth > c.cfg.SequenceMax {
		return 0, whisk.BadRequest(whisk.MsgSequenceTooLong)
	}
	n := 0
	for _, s := range a.Exec.Components {
		nf, err := whisk.ParseFQN(s, cf.Namespace)
		if err != nil {
			return 0, err
		}
		if nf == self {
			return 0, whisk.BadRequest(whisk.MsgSequenceSelf)
		}
		k, err := c.countAtomic(ctx, id, self, nf, depth+1)
		if err != nil {
			return 0, err
		}
		n += k
		if n > c.cfg.SequenceMax {
			return 0, whisk.BadRequest(whisk.MsgSequenceTooLong)
		}
	}
	return n, nil
}

// startSequence starts the chain of inv's sequence, whose message the
// intake made. A non-blocking caller gets the id at once, once the
// sequence is journaled; a blocking caller waits up to inv.wait and gets
// nil when the chain runs longer.
func (c *Controller) startSequence(ctx context.Context, inv *invocation, msg *bus.Invocation) (string, *bus.Completion, error) {
	sid := msg.ActivationID
	if !inv.blocking {
		// The entry is retired by the transaction that stores the
		// sequence's record; a restart runs the chain again (Recover).
		if err := c.journal(ctx, msg); err != nil {
			return "", nil, err
		}
		c.spawn(func(life context.Context) { c.chain(life, inv, sid) })
		return sid, nil, nil
	}
	done := make(chan *bus.Completion, 1)
	c.spawn(func(life context.Context) {
		if act := c.chain(life, inv, sid); act != nil {
			done <- &bus.Completion{ActivationID: sid, Activation: act, Reason: whisk.ReasonOf(act.Response.StatusCode)}
		}
	})
	return sid, waitFor(ctx, done, inv.wait), nil
}

// resumeSequence runs the chain of a journaled sequence invocation found
// at start-up (Recover) again from its first component: components that
// ran before the crash run again (at least once), and the sequence's
// record is written once the chain ends.
func (c *Controller) resumeSequence(m *bus.Invocation) {
	inv := &invocation{
		id:          auth.Identity{Namespace: m.Namespace, Subject: m.Subject},
		ra:          &resolvedAction{action: m.Action},
		params:      m.Params,
		cause:       m.Cause,
		annotations: m.Annotations,
	}
	if u, k, ok := strings.Cut(m.APIKey, ":"); ok {
		inv.id.UUID, inv.id.Key = u, k
	}
	c.spawn(func(life context.Context) { c.chain(life, inv, m.ActivationID) })
}

// chain runs the components one after the other and records the
// sequence's activation. When ctx ends first (the controller closes) it
// records nothing and returns nil: a journaled sequence runs again after
// the next start.
func (c *Controller) chain(ctx context.Context, inv *invocation, sid string) *whisk.Activation {
	seq := inv.ra.action
	start := time.Now()
	params := firstInput(inv.params)
	var (
		logs     []string
		duration int64
		waitTime any = 0
		resp     *whisk.Response
	)
	limits := seq.Limits
	limits.Memory = 0
	for i, s := range seq.Exec.Components {
		if ctx.Err() != nil {
			return nil
		}
		f, err := whisk.ParseFQN(s, seq.FQN().Namespace)
		var ra *resolvedAction
		if err == nil {
			ra, err = c.entitledAction(ctx, inv.id, f)
		}
		if err != nil {
			r := errorResponse(whisk.StatusApplicationError, whisk.MsgSequenceMissing)
			if !errors.Is(err, store.ErrNotFound) && whisk.StatusOf(err) == http.StatusInternalServerError {
				c.cfg.Logger.Error("sequence component", "sequence", sid, "component", s, "err", err)
				r = errorResponse(whisk.StatusWhiskError, whisk.MsgSequenceFailed)
			}
			resp = &r
			break
		}
		if m := ra.action.Limits.Memory; m > limits.Memory {
			limits.Memory = m
		}
		p, err := mergeParams(ra, params)
		if err != nil {
			r := errorResponse(whisk.StatusApplicationError, err.Error())
			resp = &r
			break
		}
		wait := time.Duration(ra.action.Limits.Timeout)*time.Millisecond + time.Minute
		aid, comp, err := c.invoke(ctx, &invocation{
			id: inv.id, ra: ra, params: p, blocking: true, wait: wait, cause: sid,
			annotations: whisk.KeyValues{}.Set("causedBy", "sequence"),
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.cfg.Logger.Warn("sequence component not invoked", "sequence", sid, "component", s, "err", err)
			r := errorResponse(whisk.StatusWhiskError, whisk.MsgSequenceFailed)
			if we := (*whisk.Error)(nil); errors.As(err, &we) && we.Status == http.StatusTooManyRequests {
				r = errorResponse(whisk.StatusWhiskError, we.Message)
			}
			resp = &r
			break
		}
		if comp == nil {
			r := errorResponse(whisk.StatusWhiskError, fmt.Sprintf(whisk.MsgSequenceTimeout, aid))
			resp = &r
			break
		}
		if err := retryable(comp); err != nil {
			r := errorResponse(whisk.StatusWhiskError, err.Error())
			resp = &r
			break
		}
		act := comp.Activation
		logs = append(logs, aid)
		duration += act.Duration
		if i == 0 {
			if v, ok := act.Annotations.Get("waitTime"); ok {
				waitTime = v
			}
		}
		if !act.Response.Success() || hasError(act.Response.Result) {
			r := act.Response
			resp = &r
			break
		}
		params = act.Response.Result
		if len(params) == 0 || params[0] != '{' {
			params = json.RawMessage("{}")
		}
	}
	if resp == nil {
		resp = &whisk.Response{StatusCode: whisk.StatusSuccess, Result: params}
	}
	if limits.Memory == 0 {
		limits.Memory = seq.Limits.Memory
	}
	end := time.Now()
	ann := whisk.KeyValues{}.
		Set("topmost", inv.cause == "").
		Set("path", seq.FQN().Path()).
		Set("waitTime", waitTime).
		Set("kind", whisk.KindSequence).
		Set("limits", limits).
		Merge(inv.ra.annotations).Merge(inv.annotations)
	act := &whisk.Activation{
		Namespace: inv.id.Namespace, Name: seq.Name, Version: seq.Version, Subject: inv.id.Subject,
		ActivationID: sid, Start: start.UnixMilli(), End: end.UnixMilli(), Duration: duration,
		Cause: inv.cause, Response: *resp, Logs: logs, Annotations: ann,
	}
	if act.End <= act.Start {
		act.End = act.Start + 1
	}
	if err := c.cfg.Store.Activations().Put(ctx, act); err != nil {
		c.cfg.Logger.Error("record sequence activation", "activation", sid, "err", err)
	}
	return act
}

// firstInput is the first component's input: the sequence's merged
// parameters without the _actions the sequence stores for itself.
func firstInput(p json.RawMessage) json.RawMessage {
	if len(p) == 0 {
		return json.RawMessage("{}")
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(p, &m) != nil {
		return p
	}
	if _, ok := m["_actions"]; !ok {
		return p
	}
	delete(m, "_actions")
	b, _ := json.Marshal(m)
	return b
}

// hasError reports whether a result object has an "error" field, which
// short-circuits a sequence.
func hasError(res json.RawMessage) bool {
	if len(res) == 0 || res[0] != '{' {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(res, &m) != nil {
		return false
	}
	_, ok := m["error"]
	return ok
}

func errorResponse(code int, msg string) whisk.Response {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return whisk.Response{StatusCode: code, Result: b}
}
