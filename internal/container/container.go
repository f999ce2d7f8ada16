// Package container is the contract between the invoker and whatever runs
// action code: a Factory creates Containers, each of which is initialised
// once with an action's code and then runs activations.
//
// Implementations live in subpackages (container/process: local sandboxed
// processes; container/kubernetes: pods) and must pass the conformance
// suite in container/containertest. Only internal/app and tests import them.
package container

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors returned by Init and Run. The invoker turns them into activation
// results with OpenWhisk's messages; a container that returned any of them
// must be destroyed, never reused (a failed init is an *InitError).
var (
	// ErrTimeout: the deadline in the context passed before the container
	// answered. The container has been stopped.
	ErrTimeout = errors.New("container: timed out")
	// ErrExited: the process died or closed its result channel (a crash,
	// an exit at import time, a kill).
	ErrExited = errors.New("container: exited unexpectedly")
	// ErrMemory: the process was killed for exceeding its memory limit.
	ErrMemory = errors.New("container: memory exhausted")
	// ErrUnsupportedKind: the factory cannot run this kind.
	ErrUnsupportedKind = errors.New("container: unsupported kind")
)

// InitError is an initialisation failure the developer caused (a syntax
// error, a missing main, a bad zip). Message is what the activation result
// shows as {"error": Message}.
type InitError struct{ Message string }

func (e *InitError) Error() string { return e.Message }

// Spec describes the container to create. Kind is a resolved runtime kind
// ("python:3.11", "nodejs:20", "go:1.26", "blackbox"); Image is set for
// blackbox kinds. MemoryMB bounds the container's memory. Env is added to
// the process environment at start (e.g. __OW_API_HOST).
type Spec struct {
	Kind     string
	Image    string
	MemoryMB int
	Env      map[string]string
	// Name is a human-readable label for logs and process titles.
	Name string
}

// InitRequest is the /init payload: the action's code and entry point.
type InitRequest struct {
	Name   string            // "/ns/[pkg/]action"
	Main   string            // entry point; "" means "main"
	Code   []byte            // decoded code: source text or zip bytes
	Binary bool              // Code is a zip (or an executable)
	Env    map[string]string // __OW_* variables and init parameters
	// Concurrency is the action's limits.concurrency: how many runs the
	// invoker may have in flight on this container at once. 0 means 1. A
	// container whose kind cannot run several at once serialises them.
	Concurrency int
}

// RunRequest is the /run payload.
type RunRequest struct {
	Value json.RawMessage   // the parameters object
	Env   map[string]string // activation_id, namespace, action_name, deadline, ... (keys without __OW_)
	// LogLimit bounds the bytes of log lines kept for this run; 0 means
	// no logs are kept.
	LogLimit int
}

// RunResult is what one run produced. Body is the single line the action
// wrote as its result (not yet validated as JSON). Logs are formatted
// OpenWhisk lines ("<rfc3339nano padded to 30> stdout: text"), in order,
// already truncated at the limit with OpenWhisk's message as the last line.
type RunResult struct {
	Body     []byte
	Logs     []string
	Start    time.Time
	Duration time.Duration
}

// Factory creates containers. It is safe for concurrent use.
type Factory interface {
	// Create starts a container for spec, not yet initialised (a stem cell
	// when the pool prewarms one). ctx bounds the start only.
	Create(ctx context.Context, spec Spec) (Container, error)
	// Kinds reports the kinds this factory can run.
	Kinds() []string
	// Close destroys every container the factory still holds.
	Close(ctx context.Context) error
}

// Container is one running runtime. Init is called at most once; Run may be
// called concurrently up to the concurrency the container was initialised
// for (1 unless the kind supports more). Destroy is idempotent.
type Container interface {
	// ID identifies the container in logs and metrics.
	ID() string
	// Init loads the action. A failure the developer caused is an
	// *InitError; ErrTimeout and ErrExited as for Run. Logs written during
	// init are returned with the error or the success.
	Init(ctx context.Context, req InitRequest) (logs []string, err error)
	// Run runs one activation with the deadline in ctx. On ErrTimeout,
	// ErrExited or ErrMemory the result still carries the logs captured.
	Run(ctx context.Context, req RunRequest) (RunResult, error)
	// Destroy stops the container and frees its resources.
	Destroy(ctx context.Context) error
}
