package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config says where the server is and who the caller is.
type Config struct {
	// APIHost is the server: "host[:port]" (meaning https, as wsk does) or a
	// URL with an explicit http:// or https:// scheme.
	APIHost string
	// Auth is the caller's key, "uuid:key".
	Auth string
	// Namespace is the default namespace; "_" (the caller's own) when empty.
	Namespace string
	// Insecure skips TLS certificate verification.
	Insecure bool
	// Version is the API version path element; "v1" when empty.
	Version string
	// HTTPClient replaces the default client (and its transport).
	HTTPClient *http.Client
	// Debug, when set, receives every request and response.
	Debug io.Writer
	// UserAgent is sent with every request when set.
	UserAgent string
}

// Client talks to one OpenWhisk API host. Create it with New.
type Client struct {
	base      *url.URL // scheme://host[:port]
	auth      string
	namespace string
	version   string
	http      *http.Client
	debug     io.Writer
	userAgent string

	Actions     *ActionService
	Activations *ActivationService
	Triggers    *TriggerService
	Rules       *RuleService
	Packages    *PackageService
	Namespaces  *NamespaceService
	APIs        *APIService
}

// Error is a response with a status outside 2xx. Message and Code come from
// OpenWhisk's {"error","code"} body when there is one; Body keeps the raw
// body (for a failed blocking invoke it is the activation record).
type Error struct {
	StatusCode int
	Message    string
	Code       string
	Body       []byte
}

// Error returns the message as wsk prints it: "msg (code X)".
func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s (code %s)", e.Message, e.Code)
	}
	return e.Message
}

// StatusCode returns the HTTP status of err when it is (or wraps) an *Error,
// else 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// NewTransport returns an HTTP transport tuned for many concurrent requests
// to one host: keep-alive with a large idle pool.
func NewTransport(insecure bool) *http.Transport {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it (-i)
	}
	return t
}

// ParseAPIHost turns an apihost as wsk accepts it into a base URL: a bare
// "host[:port]" means https; an explicit http:// or https:// is kept.
func ParseAPIHost(apihost string) (*url.URL, error) {
	h := strings.TrimSpace(apihost)
	if h == "" {
		return nil, errors.New("no API host given")
	}
	if !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
		h = "https://" + h
	}
	u, err := url.Parse(h)
	if err != nil {
		return nil, fmt.Errorf("invalid API host %q: %w", apihost, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid API host %q", apihost)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	base, err := ParseAPIHost(cfg.APIHost)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      base,
		auth:      cfg.Auth,
		namespace: cfg.Namespace,
		version:   cfg.Version,
		http:      cfg.HTTPClient,
		debug:     cfg.Debug,
		userAgent: cfg.UserAgent,
	}
	if c.namespace == "" {
		c.namespace = "_"
	}
	if c.version == "" {
		c.version = "v1"
	}
	if c.http == nil {
		c.http = &http.Client{Transport: NewTransport(cfg.Insecure)}
	}
	c.Actions = &ActionService{c}
	c.Activations = &ActivationService{c}
	c.Triggers = &TriggerService{c}
	c.Rules = &RuleService{c}
	c.Packages = &PackageService{c}
	c.Namespaces = &NamespaceService{c}
	c.APIs = &APIService{c}
	return c, nil
}

// Namespace returns the client's default namespace ("_" unless set).
func (c *Client) Namespace() string { return c.namespace }

// BaseURL returns the API host as a URL, e.g. "https://host:443".
func (c *Client) BaseURL() string { return c.base.String() }

// Info returns the document at GET /api/v1.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var info Info
	_, err := c.do(ctx, http.MethodGet, c.apiPath(), nil, nil, &info)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// apiPath returns "/api/v1".
func (c *Client) apiPath() string { return c.base.Path + "/api/" + c.version }

// splitName splits a possibly fully qualified entity name into namespace
// and the rest: "/ns/pkg/a" → ("ns", "pkg/a"); "pkg/a" → (default, "pkg/a").
func (c *Client) splitName(name string) (ns, rest string) {
	if strings.HasPrefix(name, "/") {
		parts := strings.SplitN(strings.TrimPrefix(name, "/"), "/", 2)
		if len(parts) == 2 {
			return parts[0], parts[1]
		}
		return c.namespace, parts[0]
	}
	return c.namespace, name
}

// entityPath returns the escaped path of collection coll in namespace ns,
// with rest (slash separated segments) appended when not empty.
func (c *Client) entityPath(ns, coll, rest string) string {
	p := c.apiPath() + "/namespaces/" + url.PathEscape(ns) + "/" + coll
	if rest == "" {
		return p
	}
	segs := strings.Split(rest, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return p + "/" + strings.Join(segs, "/")
}

// request is one HTTP exchange's outcome.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with body (JSON-encoded when not nil) and decodes a 2xx
// body into out when out is not nil. A non-2xx status returns *Error with
// the response still filled in.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any) (*response, error) {
	return c.doAuth(ctx, method, path, query, body, out, true)
}

func (c *Client) doAuth(ctx context.Context, method, path string, query url.Values, body any, out any, auth bool) (*response, error) {
	u := *c.base
	u.Path = path
	u.RawPath = ""
	if strings.Contains(path, "%") {
		if p, err := url.PathUnescape(path); err == nil {
			u.Path, u.RawPath = p, path
		}
	}
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	var payload []byte
	if body != nil {
		switch b := body.(type) {
		case json.RawMessage:
			payload = b
		case []byte:
			payload = b
		default:
			var err error
			payload, err = json.Marshal(body)
			if err != nil {
				return nil, fmt.Errorf("encode request body: %w", err)
			}
		}
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if auth && c.auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.auth)))
	}
	if c.debug != nil {
		fmt.Fprintf(c.debug, "REQUEST:\n[%s]\t%s\n", method, u.String())
		for k, v := range req.Header {
			if k == "Authorization" {
				v = []string{"Basic ***"}
			}
			fmt.Fprintf(c.debug, "  %s: %s\n", k, strings.Join(v, ", "))
		}
		if payload != nil {
			fmt.Fprintf(c.debug, "Req Body\n%s\n", truncate(payload))
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response of %s %s: %w", method, u.Redacted(), err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: data}
	if c.debug != nil {
		fmt.Fprintf(c.debug, "RESPONSE:\nGot response with code %d\n", resp.StatusCode)
		for k, v := range resp.Header {
			fmt.Fprintf(c.debug, "  %s: %s\n", k, strings.Join(v, ", "))
		}
		fmt.Fprintf(c.debug, "Response body size is %d bytes\nResponse body received:\n%s\n", len(data), truncate(data))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return r, errorFrom(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := decode(data, out); err != nil {
			return r, fmt.Errorf("decode response of %s %s: %w", method, u.Redacted(), err)
		}
	}
	return r, nil
}

func decode(data []byte, out any) error {
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], data...)
		return nil
	}
	return json.Unmarshal(data, out)
}

func truncate(b []byte) string {
	const max = 4096
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// errorFrom builds an *Error from a non-2xx response body.
func errorFrom(status int, body []byte) *Error {
	e := &Error{StatusCode: status, Body: body}
	var eb struct {
		Error json.RawMessage `json:"error"`
		Code  json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &eb) == nil && len(eb.Error) > 0 {
		var msg string
		if json.Unmarshal(eb.Error, &msg) == nil {
			e.Message = msg
		} else {
			e.Message = string(eb.Error)
		}
		var code string
		if json.Unmarshal(eb.Code, &code) == nil {
			e.Code = code
		} else if len(eb.Code) > 0 {
			e.Code = string(eb.Code)
		}
		return e
	}
	if msg, ok := activationFailure(body); ok {
		e.Message = msg
		return e
	}
	e.Message = fmt.Sprintf("The connection failed, or timed out. (HTTP status code %d)", status)
	return e
}

// activationFailure describes a failed activation record (the body of a
// failed blocking invoke) as "status: error (activation ID)".
func activationFailure(body []byte) (string, bool) {
	var a struct {
		ActivationID string `json:"activationId"`
		Response     *struct {
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		} `json:"response"`
	}
	if json.Unmarshal(body, &a) != nil || a.ActivationID == "" || a.Response == nil {
		return "", false
	}
	var res struct {
		Error json.RawMessage `json:"error"`
	}
	detail := ""
	if json.Unmarshal(a.Response.Result, &res) == nil && len(res.Error) > 0 {
		var msg string
		if json.Unmarshal(res.Error, &msg) == nil {
			detail = msg
		} else {
			detail = string(res.Error)
		}
	}
	status := a.Response.Status
	if status == "" {
		status = "the action failed"
	}
	if detail == "" {
		return fmt.Sprintf("%s (activation %s)", status, a.ActivationID), true
	}
	return fmt.Sprintf("%s: %s (activation %s)", status, detail, a.ActivationID), true
}
