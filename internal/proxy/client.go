package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/whisk"
)

// Client is a container.Container reached over HTTP at BaseURL: a runtime
// container serving /init and /run (Whirl's proxy or an OpenWhisk runtime
// image). Its fields are set before first use.
type Client struct {
	Name    string
	BaseURL string
	HTTP    *http.Client // nil means http.DefaultClient
	// Logs, when set, returns the log lines the container wrote for the
	// activation that just ended (read from the container's output up to
	// the sentinel by whoever runs it).
	Logs func() []string
	// OnDestroy, when set, stops the container.
	OnDestroy func(ctx context.Context) error
}

var _ container.Container = (*Client)(nil)

// ID returns the container's name.
func (c *Client) ID() string { return c.Name }

func (c *Client) post(ctx context.Context, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, nil, container.ErrTimeout
		}
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, fmt.Errorf("%s: %w (%v)", path, container.ErrExited, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w (%v)", path, container.ErrExited, err)
	}
	return resp.StatusCode, out, nil
}

func (c *Client) logs() []string {
	if c.Logs == nil {
		return nil
	}
	return c.Logs()
}

func errorOf(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return fmt.Sprintf(whisk.MsgInitFailed, body)
}

// Init posts the action's code to /init.
func (c *Client) Init(ctx context.Context, req container.InitRequest) ([]string, error) {
	code := string(req.Code)
	if req.Binary {
		code = base64.StdEncoding.EncodeToString(req.Code)
	}
	v := map[string]any{"name": req.Name, "main": mainOr(req.Main), "code": code, "binary": req.Binary, "env": req.Env}
	if req.Concurrency > 1 {
		v["concurrency"] = req.Concurrency
	}
	status, body, err := c.post(ctx, "/init", map[string]any{"value": v})
	if err != nil {
		return c.logs(), fmt.Errorf("init: %w", err)
	}
	if status == http.StatusOK {
		return c.logs(), nil
	}
	msg := errorOf(body)
	if msg == whisk.MsgAbnormalInit {
		return c.logs(), fmt.Errorf("init: %w", container.ErrExited)
	}
	return c.logs(), &container.InitError{Message: msg}
}

func mainOr(m string) string {
	if m == "" {
		return "main"
	}
	return m
}

// Run posts one activation to /run. A 502 whose error is not one of the
// container failures is returned as the result body for the invoker to
// judge.
func (c *Client) Run(ctx context.Context, req container.RunRequest) (container.RunResult, error) {
	start := timeNow()
	body := map[string]any{}
	for k, v := range req.Env {
		body[k] = v
	}
	value := req.Value
	if len(value) == 0 {
		value = json.RawMessage("{}")
	}
	body["value"] = value
	status, out, err := c.post(ctx, "/run", body)
	res := container.RunResult{Start: start, Duration: timeSince(start)}
	if err != nil {
		res.Logs = c.logs()
		return res, fmt.Errorf("run: %w", err)
	}
	res.Logs = c.logs()
	if status != http.StatusOK {
		switch errorOf(out) {
		case whisk.MsgAbnormalRun:
			return res, fmt.Errorf("run: %w", container.ErrExited)
		case whisk.MsgMemoryExhausted:
			return res, fmt.Errorf("run: %w", container.ErrMemory)
		case "The action exceeded its time limit.":
			return res, fmt.Errorf("run: %w", container.ErrTimeout)
		case msgNotInitialized:
			return res, fmt.Errorf("run: %w", container.ErrExited)
		}
	}
	res.Body = out
	return res, nil
}

// Destroy stops the container through OnDestroy.
func (c *Client) Destroy(ctx context.Context) error {
	if c.OnDestroy == nil {
		return nil
	}
	f := c.OnDestroy
	c.OnDestroy = nil
	return f(ctx)
}

var (
	timeNow   = time.Now
	timeSince = time.Since
)
