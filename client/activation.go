package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// ActivationService reads activation records.
type ActivationService struct{ c *Client }

// ActivationListOptions filter GET /activations. Name is an action name
// ("a" or "pkg/a"); Since and Upto are epoch milliseconds (0: unbounded);
// Limit 0 asks for the server's maximum.
type ActivationListOptions struct {
	Name  string
	Since int64
	Upto  int64
	Limit int
	Skip  int
}

// query returns the options as GET /activations' query.
func (o ActivationListOptions) query() url.Values {
	q := url.Values{"limit": {strconv.Itoa(o.Limit)}, "skip": {strconv.Itoa(o.Skip)}}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if o.Since > 0 {
		q.Set("since", strconv.FormatInt(o.Since, 10))
	}
	if o.Upto > 0 {
		q.Set("upto", strconv.FormatInt(o.Upto, 10))
	}
	return q
}

// List returns activations, newest first, as list rows: no response and no
// logs, but each row's status code.
func (s *ActivationService) List(ctx context.Context, opts ActivationListOptions) ([]ActivationSummary, error) {
	var out []ActivationSummary
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "activations", ""), opts.query(), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListFull returns full activation records, newest first (docs=true).
func (s *ActivationService) ListFull(ctx context.Context, opts ActivationListOptions) ([]Activation, error) {
	q := opts.query()
	q.Set("docs", "true")
	var out []Activation
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "activations", ""), q, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns one full activation record.
func (s *ActivationService) Get(ctx context.Context, id string) (*Activation, error) {
	var a Activation
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "activations", id), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Result returns an activation's result: its status, success and result
// (GET /activations/{id}/result).
func (s *ActivationService) Result(ctx context.Context, id string) (*Response, error) {
	var r Response
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "activations", id+"/result"), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Logs returns an activation's log lines.
func (s *ActivationService) Logs(ctx context.Context, id string) ([]string, error) {
	var r struct {
		Logs []string `json:"logs"`
	}
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "activations", id+"/logs"), nil, nil, &r); err != nil {
		return nil, err
	}
	return r.Logs, nil
}

// Stats are the completion counts and rates Whirl reports at GET
// /namespaces/_/stats (not part of OpenWhisk's API). Window is the number of
// whole seconds measured; PerSecond is Completed / Window; the Async fields
// count the completions of non-blocking invocations; the Total fields count
// since the server started; InFlight is running now and Queued is accepted
// non-blocking work not yet completed.
type Stats struct {
	Window              float64                   `json:"window"`
	Completed           uint64                    `json:"completed"`
	PerSecond           float64                   `json:"perSecond"`
	AsyncCompleted      uint64                    `json:"asyncCompleted"`
	AsyncPerSecond      float64                   `json:"asyncPerSecond"`
	TotalCompleted      uint64                    `json:"totalCompleted"`
	TotalAsyncCompleted uint64                    `json:"totalAsyncCompleted"`
	InFlight            int64                     `json:"inFlight"`
	Queued              int64                     `json:"queued"`
	Namespaces          map[string]NamespaceStats `json:"namespaces,omitempty"`
}

// NamespaceStats are one namespace's completions in a Stats window.
type NamespaceStats struct {
	Completed           uint64  `json:"completed"`
	PerSecond           float64 `json:"perSecond"`
	AsyncCompleted      uint64  `json:"asyncCompleted"`
	AsyncPerSecond      float64 `json:"asyncPerSecond"`
	TotalCompleted      uint64  `json:"totalCompleted"`
	TotalAsyncCompleted uint64  `json:"totalAsyncCompleted"`
}

// Stats returns the server's completion counts and rates (a Whirl
// extension; an OpenWhisk server answers 404).
func (s *ActivationService) Stats(ctx context.Context) (*Stats, error) {
	var st Stats
	if _, err := s.c.do(ctx, http.MethodGet, s.c.entityPath(s.c.namespace, "stats", ""), nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
