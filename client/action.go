package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ActionService manages and invokes actions. Names may be "a", "pkg/a" or
// fully qualified "/ns/[pkg/]a".
type ActionService struct{ c *Client }

// List returns the actions of the namespace, or of package pkg when pkg is
// not empty (a fully qualified "/ns/pkg" is accepted).
func (s *ActionService) List(ctx context.Context, pkg string, opts *ListOptions) ([]ActionSummary, error) {
	ns, rest := s.c.namespace, ""
	if pkg != "" {
		ns, rest = s.c.splitName(pkg)
	}
	path := s.c.entityPath(ns, "actions", rest)
	if rest != "" {
		path += "/"
	}
	var out []ActionSummary
	if _, err := s.c.do(ctx, http.MethodGet, path, listQuery(opts), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns an action; with code false the server leaves out exec.code.
func (s *ActionService) Get(ctx context.Context, name string, code bool) (*Action, error) {
	ns, rest := s.c.splitName(name)
	var q url.Values
	if !code {
		q = url.Values{"code": {"false"}}
	}
	var a Action
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(ns, "actions", rest), q, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Put creates an action, or replaces it when overwrite is true.
func (s *ActionService) Put(ctx context.Context, name string, a *ActionPut, overwrite bool) (*Action, error) {
	ns, rest := s.c.splitName(name)
	q := url.Values{"overwrite": {strconv.FormatBool(overwrite)}}
	var out Action
	if _, err := s.c.do(ctx, http.MethodPut, s.c.entityPath(ns, "actions", rest), q, a, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes an action and returns it.
func (s *ActionService) Delete(ctx context.Context, name string) (*Action, error) {
	ns, rest := s.c.splitName(name)
	var out Action
	if _, err := s.c.do(ctx, http.MethodDelete, s.c.entityPath(ns, "actions", rest), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// InvokeOptions control an invocation. Result implies Blocking. Timeout is
// the blocking wait in milliseconds (0: the server's default).
type InvokeOptions struct {
	Blocking bool
	Result   bool
	Timeout  int
}

// Invocation is the outcome of an invoke or a trigger fire.
type Invocation struct {
	// StatusCode is the HTTP status: 200 done, 202 accepted (non-blocking,
	// or still running after the blocking wait), 502/500 failed activation.
	StatusCode int
	// ActivationID is from the x-openwhisk-activation-id header or the body.
	ActivationID string
	// Body is the response body: {"activationId"} when accepted, the full
	// activation for a blocking invoke, only the result with Result set.
	Body json.RawMessage
}

// Activation decodes Body as an activation record (blocking invokes without
// Result).
func (inv *Invocation) Activation() (*Activation, error) {
	var a Activation
	if err := json.Unmarshal(inv.Body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Done reports whether the activation finished within the request: a 2xx
// blocking answer other than 202.
func (inv *Invocation) Done() bool { return inv.StatusCode != http.StatusAccepted }

// Invoke invokes an action with params (any JSON-encodable value, usually a
// map; nil sends {}). A status outside 2xx returns an *Error and, when the
// server answered with a body, a non-nil Invocation too: for a failed
// blocking invoke (502) its Body holds the activation or the error result.
func (s *ActionService) Invoke(ctx context.Context, name string, params any, opts InvokeOptions) (*Invocation, error) {
	ns, rest := s.c.splitName(name)
	blocking := opts.Blocking || opts.Result
	q := url.Values{"blocking": {strconv.FormatBool(blocking)}, "result": {strconv.FormatBool(opts.Result)}}
	if opts.Timeout > 0 {
		q.Set("timeout", strconv.Itoa(opts.Timeout))
	}
	if params == nil {
		params = json.RawMessage("{}")
	}
	r, err := s.c.do(ctx, http.MethodPost, s.c.entityPath(ns, "actions", rest), q, params, nil)
	if r == nil {
		return nil, err
	}
	return invocationFrom(r), err
}

func invocationFrom(r *response) *Invocation {
	inv := &Invocation{StatusCode: r.status, Body: r.body, ActivationID: r.header.Get("X-Openwhisk-Activation-Id")}
	if inv.ActivationID == "" && len(r.body) > 0 && strings.Contains(string(r.body), "activationId") {
		var b struct {
			ActivationID string `json:"activationId"`
		}
		if json.Unmarshal(r.body, &b) == nil {
			inv.ActivationID = b.ActivationID
		}
	}
	return inv
}

func listQuery(opts *ListOptions) url.Values {
	q := url.Values{}
	if opts == nil {
		return q
	}
	q.Set("limit", strconv.Itoa(opts.Limit))
	q.Set("skip", strconv.Itoa(opts.Skip))
	return q
}
