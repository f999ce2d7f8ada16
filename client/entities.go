package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// TriggerService manages and fires triggers.
type TriggerService struct{ c *Client }

// List returns the namespace's triggers.
func (s *TriggerService) List(ctx context.Context, opts *ListOptions) ([]Trigger, error) {
	var out []Trigger
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "triggers", ""), listQuery(opts), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns a trigger.
func (s *TriggerService) Get(ctx context.Context, name string) (*Trigger, error) {
	ns, rest := s.c.splitName(name)
	var t Trigger
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(ns, "triggers", rest), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Put creates a trigger, or replaces it when overwrite is true.
func (s *TriggerService) Put(ctx context.Context, name string, t *TriggerPut, overwrite bool) (*Trigger, error) {
	ns, rest := s.c.splitName(name)
	q := url.Values{"overwrite": {strconv.FormatBool(overwrite)}}
	var out Trigger
	if _, err := s.c.do(ctx, http.MethodPut, s.c.entityPath(ns, "triggers", rest), q, t, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a trigger and returns it.
func (s *TriggerService) Delete(ctx context.Context, name string) (*Trigger, error) {
	ns, rest := s.c.splitName(name)
	var out Trigger
	if _, err := s.c.do(ctx, http.MethodDelete, s.c.entityPath(ns, "triggers", rest), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Fire fires a trigger with params (nil sends {}). The answer is 202 with
// the trigger activation's id when a rule is active, 204 with none
// otherwise.
func (s *TriggerService) Fire(ctx context.Context, name string, params any) (*Invocation, error) {
	ns, rest := s.c.splitName(name)
	if params == nil {
		params = json.RawMessage("{}")
	}
	r, err := s.c.do(ctx, http.MethodPost, s.c.entityPath(ns, "triggers", rest), nil, params, nil)
	if r == nil {
		return nil, err
	}
	return invocationFrom(r), err
}

// RuleService manages rules.
type RuleService struct{ c *Client }

// List returns the namespace's rules.
func (s *RuleService) List(ctx context.Context, opts *ListOptions) ([]Rule, error) {
	var out []Rule
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "rules", ""), listQuery(opts), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns a rule.
func (s *RuleService) Get(ctx context.Context, name string) (*Rule, error) {
	ns, rest := s.c.splitName(name)
	var r Rule
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(ns, "rules", rest), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Put creates a rule, or replaces it when overwrite is true.
func (s *RuleService) Put(ctx context.Context, name string, r *RulePut, overwrite bool) (*Rule, error) {
	ns, rest := s.c.splitName(name)
	q := url.Values{"overwrite": {strconv.FormatBool(overwrite)}}
	var out Rule
	if _, err := s.c.do(ctx, http.MethodPut, s.c.entityPath(ns, "rules", rest), q, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a rule and returns it.
func (s *RuleService) Delete(ctx context.Context, name string) (*Rule, error) {
	ns, rest := s.c.splitName(name)
	var out Rule
	if _, err := s.c.do(ctx, http.MethodDelete, s.c.entityPath(ns, "rules", rest), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetState makes a rule "active" or "inactive".
func (s *RuleService) SetState(ctx context.Context, name, state string) error {
	ns, rest := s.c.splitName(name)
	_, err := s.c.do(ctx, http.MethodPost, s.c.entityPath(ns, "rules", rest), nil, &RulePut{Status: state}, nil)
	return err
}

// PackageService manages packages and bindings.
type PackageService struct{ c *Client }

// List returns the namespace's packages, or those of namespace ns when the
// argument is not empty.
func (s *PackageService) List(ctx context.Context, ns string, opts *ListOptions) ([]PackageSummary, error) {
	if ns == "" {
		ns = s.c.namespace
	}
	var out []PackageSummary
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(ns, "packages", ""), listQuery(opts), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns a package with its actions and feeds.
func (s *PackageService) Get(ctx context.Context, name string) (*Package, error) {
	ns, rest := s.c.splitName(name)
	var p Package
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(ns, "packages", rest), nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Put creates a package or binding, or replaces it when overwrite is true.
func (s *PackageService) Put(ctx context.Context, name string, p *PackagePut, overwrite bool) (*Package, error) {
	ns, rest := s.c.splitName(name)
	q := url.Values{"overwrite": {strconv.FormatBool(overwrite)}}
	var out Package
	if _, err := s.c.do(ctx, http.MethodPut, s.c.entityPath(ns, "packages", rest), q, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a package; force deletes its contents first.
func (s *PackageService) Delete(ctx context.Context, name string, force bool) error {
	ns, rest := s.c.splitName(name)
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	_, err := s.c.do(ctx, http.MethodDelete, s.c.entityPath(ns, "packages", rest), q, nil, nil)
	return err
}

// NamespaceService lists namespaces.
type NamespaceService struct{ c *Client }

// List returns the namespaces the key may use.
func (s *NamespaceService) List(ctx context.Context) ([]string, error) {
	var out []string
	if _, err := s.c.do(ctx, http.MethodGet, s.c.apiPath()+"/namespaces", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Limits returns the namespace's limits document.
func (s *NamespaceService) Limits(ctx context.Context, ns string) (map[string]json.RawMessage, error) {
	if ns == "" {
		ns = s.c.namespace
	}
	var out map[string]json.RawMessage
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(ns, "limits", ""), nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}
