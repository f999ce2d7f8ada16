// Package proxy is the /init + /run HTTP server of OpenWhisk's runtime
// container protocol (CONTRACT §7), which `whirl proxy` serves on :8080 in
// Whirl's runtime image. It runs one container of a container.Factory
// (normally container/process, with the same launchers as standalone Whirl)
// and writes the action's logs to its own stdout and stderr followed by the
// activation sentinel, as OpenWhisk's invoker expects.
//
// Client is the other side: a container.Container that talks to such a
// server, for factories that run runtime images (and for tests).
package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/whisk"
)

// msgNotInitialized answers /run before a successful /init (or after the
// container failed and was destroyed).
const msgNotInitialized = "The action has not been initialized."

// Server serves /init and /run for one container. It is an http.Handler.
type Server struct {
	f    container.Factory
	kind string
	// MemoryMB is the memory limit of the container it creates.
	MemoryMB int
	// LogLimit bounds the log bytes kept per activation; 0 means 10 MB.
	LogLimit int
	// Logs receives each activation's log lines (OpenWhisk format). The
	// default writes their text to stdout or stderr and then the sentinel
	// on both.
	Logs func(lines []string)

	mux *http.ServeMux

	mu sync.Mutex
	c  container.Container
	ok bool // initialised
}

// New returns a Server that runs kind on f.
func New(f container.Factory, kind string) *Server {
	s := &Server{f: f, kind: kind, MemoryMB: 256, LogLimit: 10 << 20, mux: http.NewServeMux()}
	s.Logs = s.writeLogs
	s.mux.HandleFunc("POST /init", s.handleInit)
	s.mux.HandleFunc("POST /run", s.handleRun)
	return s
}

// ServeHTTP serves /init and /run.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close destroys the container.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	c := s.c
	s.c, s.ok = nil, false
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Destroy(ctx)
}

func (s *Server) writeLogs(lines []string) {
	for _, l := range lines {
		out := os.Stdout
		text := l
		if len(l) > 31 {
			text = l[31:]
		}
		if rest, ok := strings.CutPrefix(text, "stderr: "); ok {
			out, text = os.Stderr, rest
		} else {
			text = strings.TrimPrefix(text, "stdout: ")
		}
		fmt.Fprintln(out, text)
	}
	fmt.Fprintln(os.Stdout, whisk.MsgActivationLogsSentinel)
	fmt.Fprintln(os.Stderr, whisk.MsgActivationLogsSentinel)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type initBody struct {
	Value struct {
		Name   string         `json:"name"`
		Main   string         `json:"main"`
		Code   string         `json:"code"`
		Binary bool           `json:"binary"`
		Env    map[string]any `json:"env"`
		Conc   int            `json:"concurrency,omitempty"`
	} `json:"value"`
}

func (s *Server) handleInit(w http.ResponseWriter, r *http.Request) {
	var body initBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "The init body is not valid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok {
		writeError(w, http.StatusForbidden, "Cannot initialize the action more than once.")
		return
	}
	v := body.Value
	code := []byte(v.Code)
	if v.Binary {
		b, err := base64.StdEncoding.DecodeString(v.Code)
		if err != nil {
			writeError(w, http.StatusBadRequest, "The binary code is not valid base64.")
			return
		}
		code = b
	}
	if len(code) == 0 {
		writeError(w, http.StatusForbidden, "Missing main/no code to execute.")
		return
	}
	env := map[string]string{}
	for k, x := range v.Env {
		if str, ok := x.(string); ok {
			env[k] = str
		} else {
			b, _ := json.Marshal(x)
			env[k] = string(b)
		}
	}
	if s.c == nil {
		c, err := s.f.Create(r.Context(), container.Spec{Kind: s.kind, MemoryMB: s.MemoryMB, Name: v.Name})
		if err != nil {
			writeError(w, http.StatusBadGateway, "The action failed to start: "+err.Error())
			return
		}
		s.c = c
	}
	logs, err := s.c.Init(r.Context(), container.InitRequest{Name: v.Name, Main: v.Main, Code: code, Binary: v.Binary, Env: env, Concurrency: v.Conc})
	s.Logs(logs)
	var ie *container.InitError
	switch {
	case err == nil:
		s.ok = true
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case errors.As(err, &ie):
		writeError(w, http.StatusBadGateway, ie.Message)
	default:
		s.c.Destroy(context.WithoutCancel(r.Context()))
		s.c = nil
		writeError(w, http.StatusBadGateway, whisk.MsgAbnormalInit)
	}
}

func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "The run body is not valid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	c, ok := s.c, s.ok
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusForbidden, msgNotInitialized)
		return
	}
	req := container.RunRequest{Value: body["value"], Env: map[string]string{}, LogLimit: s.LogLimit}
	for k, v := range body {
		if k == "value" {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			str = string(v)
		}
		req.Env[k] = str
	}
	ctx := r.Context()
	if ms, err := strconv.ParseInt(req.Env["deadline"], 10, 64); err == nil && ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms))
		defer cancel()
	}
	res, err := c.Run(ctx, req)
	s.Logs(res.Logs)
	if err != nil {
		if errors.Is(err, container.ErrTimeout) || errors.Is(err, container.ErrExited) || errors.Is(err, container.ErrMemory) || ctx.Err() != nil {
			s.mu.Lock()
			if s.c == c {
				s.c, s.ok = nil, false
			}
			s.mu.Unlock()
			c.Destroy(context.WithoutCancel(ctx))
		}
		msg := whisk.MsgAbnormalRun
		switch {
		case errors.Is(err, container.ErrMemory):
			msg = whisk.MsgMemoryExhausted
		case errors.Is(err, container.ErrTimeout):
			msg = "The action exceeded its time limit."
		}
		writeError(w, http.StatusBadGateway, msg)
		return
	}
	b := strings.TrimSpace(string(res.Body))
	if !(strings.HasPrefix(b, "{") || strings.HasPrefix(b, "[")) || !json.Valid([]byte(b)) {
		writeError(w, http.StatusBadGateway, whisk.MsgNotDictionary)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, b)
}
