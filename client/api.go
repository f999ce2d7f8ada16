package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// APIService manages API gateway routes through the whisk.system/apimgmt
// web actions (createApi, getApi, deleteApi), as wsk api does.
type APIService struct{ c *Client }

// APIAction is the backend of one API operation.
type APIAction struct {
	Name          string `json:"name"`
	Namespace     string `json:"namespace"`
	BackendMethod string `json:"backendMethod"`
	BackendURL    string `json:"backendUrl"`
	AuthKey       string `json:"authkey"`
	SecureKey     any    `json:"secureKey,omitempty"`
}

// APIParameter is a path parameter of an operation ("/books/{isbn}").
type APIParameter struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
	Type     string `json:"type"`
}

// APIDoc describes one operation to create, or (with Swagger set) a whole
// swagger document.
type APIDoc struct {
	Namespace       string         `json:"namespace"`
	GatewayBasePath string         `json:"gatewayBasePath,omitempty"`
	GatewayPath     string         `json:"gatewayPath,omitempty"`
	GatewayMethod   string         `json:"gatewayMethod,omitempty"`
	ID              string         `json:"id,omitempty"`
	APIName         string         `json:"apiName,omitempty"`
	Action          *APIAction     `json:"action,omitempty"`
	PathParameters  []APIParameter `json:"pathParameters,omitempty"`
	Swagger         string         `json:"swagger,omitempty"`
}

// API is one stored API: its gateway URL and swagger document.
type API struct {
	Namespace      string          `json:"namespace"`
	GwAPIURL       string          `json:"gwApiUrl"`
	GwAPIActivated bool            `json:"gwApiActivated"`
	TenantID       string          `json:"tenantId"`
	APIDoc         json.RawMessage `json:"apidoc"`
}

// APIListEntry is one row of getApi's answer.
type APIListEntry struct {
	ID    string `json:"id"`
	Key   string `json:"key"`
	Value *API   `json:"value"`
}

// APIOptions are the query parameters every apimgmt call carries. AccessToken
// defaults to "DUMMY TOKEN" and SpaceGUID to the uuid part of the key.
type APIOptions struct {
	AccessToken  string
	SpaceGUID    string
	ResponseType string // createApi: json (default), http, html, svg, text
	BasePath     string // getApi, deleteApi: base path or API name
	RelPath      string // deleteApi
	Operation    string // deleteApi: verb
	Limit, Skip  int    // getApi
}

func (s *APIService) query(o APIOptions) url.Values {
	tok := o.AccessToken
	if tok == "" {
		tok = "DUMMY TOKEN"
	}
	guid := o.SpaceGUID
	if guid == "" {
		guid, _, _ = strings.Cut(s.c.auth, ":")
	}
	return url.Values{"accesstoken": {tok}, "spaceguid": {guid}}
}

func (s *APIService) path(fn string) string {
	return s.c.apiPath() + "/web/whisk.system/apimgmt/" + fn + ".http"
}

// Create creates (or extends) an API with doc.
func (s *APIService) Create(ctx context.Context, doc *APIDoc, o APIOptions) (*API, error) {
	q := s.query(o)
	rt := o.ResponseType
	if rt == "" {
		rt = "json"
	}
	q.Set("responsetype", rt)
	var out API
	if _, err := s.c.do(ctx, http.MethodPost, s.path("createApi"), q, map[string]any{"apidoc": doc}, &out); err != nil {
		return nil, err
	}
	if len(out.APIDoc) == 0 {
		return nil, errors.New("the API gateway answered without an apidoc")
	}
	return &out, nil
}

// List returns the namespace's APIs, or those matching o.BasePath.
func (s *APIService) List(ctx context.Context, o APIOptions) ([]APIListEntry, error) {
	q := s.query(o)
	if o.BasePath != "" {
		q.Set("basepath", o.BasePath)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Skip > 0 {
		q.Set("skip", strconv.Itoa(o.Skip))
	}
	var out struct {
		APIs []APIListEntry `json:"apis"`
	}
	if _, err := s.c.do(ctx, http.MethodGet, s.path("getApi"), q, nil, &out); err != nil {
		return nil, err
	}
	for _, a := range out.APIs {
		if a.Value == nil {
			return nil, errors.New("the API gateway answered with an API without a value")
		}
	}
	return out.APIs, nil
}

// Delete deletes an API, one path of it, or one operation of a path.
func (s *APIService) Delete(ctx context.Context, o APIOptions) error {
	q := s.query(o)
	q.Set("basepath", o.BasePath)
	if o.RelPath != "" {
		q.Set("relpath", o.RelPath)
	}
	if o.Operation != "" {
		q.Set("operation", o.Operation)
	}
	_, err := s.c.do(ctx, http.MethodDelete, s.path("deleteApi"), q, nil, nil)
	return err
}
