// Package bus is the contract for the messages between controllers and
// invokers: invocations going to an invoker, and completions coming back.
//
// Implementations live in subpackages (bus/local: in-process; bus/nats:
// NATS JetStream). Only internal/app and tests import them.
package bus

import (
	"context"
	"encoding/json"
	"time"

	"github.com/whirlfaas/whirl/internal/whisk"
)

// Invocation asks an invoker to run one action once.
type Invocation struct {
	ActivationID  string          `json:"activationId"`
	TransactionID string          `json:"transactionId"`
	Action        *whisk.Action   `json:"action"`
	Params        json.RawMessage `json:"params"`    // merged: package, binding, action, request
	Namespace     string          `json:"namespace"` // the invoking identity's namespace
	Subject       string          `json:"subject"`
	APIKey        string          `json:"apiKey,omitempty"` // uuid:key, passed when provide-api-key
	Blocking      bool            `json:"blocking"`
	Received      time.Time       `json:"received"` // when the controller accepted the request
	Cause         string          `json:"cause,omitempty"`
	Annotations   whisk.KeyValues `json:"annotations,omitempty"` // added to the record (binding, causedBy)
	Controller    string          `json:"controller,omitempty"`  // who waits for the completion
	// Error, when set, is recorded as the activation's developer error
	// without running anything (e.g. a recovered invocation whose action
	// was deleted meanwhile).
	Error string `json:"error,omitempty"`
}

// Completion reports that an activation finished and its record is stored.
type Completion struct {
	ActivationID string            `json:"activationId"`
	Controller   string            `json:"controller,omitempty"`
	Activation   *whisk.Activation `json:"activation"`
}

// Handler receives invocations or completions. It runs on the bus's
// goroutine and must not block for long; invokers hand work to their own
// workers.
type (
	InvocationHandler func(ctx context.Context, inv *Invocation)
	CompletionHandler func(ctx context.Context, c *Completion)
)

// Bus carries invocations and completions. Methods are safe for concurrent
// use.
type Bus interface {
	// Publish sends inv to the named invoker. It returns once the invoker
	// is certain to see it (handed over in-process, or stored by the
	// broker).
	Publish(ctx context.Context, invoker string, inv *Invocation) error
	// Subscribe delivers invocations for invoker to h until ctx is done.
	Subscribe(ctx context.Context, invoker string, h InvocationHandler) error
	// Complete sends c to the controller named in it.
	Complete(ctx context.Context, c *Completion) error
	// Completions delivers completions for controller to h until ctx is
	// done.
	Completions(ctx context.Context, controller string, h CompletionHandler) error
	// Close stops delivery.
	Close() error
}
