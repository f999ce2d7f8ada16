// Package bus is the contract for the messages between controllers and
// invokers: invocations going to an invoker, and completions coming back.
//
// Implementations live in subpackages (bus/local: in-process; bus/nats:
// NATS JetStream) and prove themselves with the conformance suite in
// bus/bustest. Only internal/app and tests import them.
//
// What every bus guarantees:
//   - an invocation published to invoker X reaches only X's handler, and a
//     completion reaches only the handler of the controller it names;
//   - invocations published one after another by one caller to one invoker
//     reach its handler in that order (a redelivered invocation may come
//     out of order);
//   - once Subscribe or Completions returns, messages sent to that name
//     reach the handler; once the subscription's context is done, no new
//     call of the handler begins.
//
// Where buses differ (each implementation's package comment says which):
//   - delivery: bus/local hands an invocation over exactly once, on the
//     publisher's goroutine; bus/nats delivers at least once (it
//     redelivers an invocation whose handler did not return, after a crash
//     or a Close), so the same activation id may arrive twice and the
//     invoker must tolerate it (activation records dedupe by id);
//   - durability: bus/local fails Publish when nobody subscribed to the
//     invoker; bus/nats stores the invocation and delivers it when a
//     subscriber comes, so no journal is needed in front of it.
package bus

import (
	"context"
	"encoding/json"
	"time"

	"github.com/whirlfaas/whirl/whisk"
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
	// Reason says what ended the activation (whisk.ReasonOverloaded: it
	// never ran, and its caller may retry).
	Reason whisk.Reason `json:"reason,omitempty"`
}

// Handler receives invocations or completions. It must not block for long;
// invokers hand work to their own workers. It may be called from several
// goroutines at once (bus/local calls it on each publisher's goroutine).
// Its context is done no later than the bus's Close.
//
// An InvocationHandler that returns has taken the invocation over: a
// durable bus acknowledges it then and will not deliver it again. The
// message belongs to the handler; the bus does not touch it afterwards.
type (
	InvocationHandler func(ctx context.Context, inv *Invocation)
	CompletionHandler func(ctx context.Context, c *Completion)
)

// AckHandler is an invocation handler that keeps the invocation past its
// return: the bus acknowledges the invocation only when the handler calls
// ack, and delivers it again (after the bus closes, or the process dies)
// if ack was never called. ack may be called from any goroutine, once;
// later calls do nothing. An invoker calls it once the activation's
// record is stored, so that work queued in memory is not lost with the
// process. The handler itself must still return quickly.
type AckHandler func(ctx context.Context, inv *Invocation, ack func())

// AckSubscriber is a Bus whose subscribers may hold an invocation's
// acknowledgement past the handler's return (bus/nats). A bus that hands
// invocations over exactly once in process (bus/local) need not implement
// it: there is nothing to acknowledge. Found by type assertion.
type AckSubscriber interface {
	// SubscribeAck is Subscribe with an AckHandler: same rules, except
	// that an invocation counts as handled when its ack is called, not
	// when the handler returns.
	SubscribeAck(ctx context.Context, invoker string, h AckHandler) error
}

// Bus carries invocations and completions. Methods are safe for concurrent
// use.
type Bus interface {
	// Publish sends inv to the named invoker. It returns once the invoker
	// is certain to see it: handed over in-process, or stored by the
	// broker. A non-durable bus returns an error when nobody subscribed
	// to invoker; a durable one keeps inv until someone does.
	Publish(ctx context.Context, invoker string, inv *Invocation) error
	// Subscribe delivers invocations for invoker to h until ctx is done.
	// It returns once the subscription is in place. One Bus holds at
	// most one live subscription per invoker name: a second Subscribe
	// fails until the first one's ctx is done.
	Subscribe(ctx context.Context, invoker string, h InvocationHandler) error
	// Complete sends c to the controller named in it. Completions are
	// not stored: with nobody listening, a bus either returns an error or
	// drops c (the controller that waited for it is gone).
	Complete(ctx context.Context, c *Completion) error
	// Completions delivers completions for controller to h until ctx is
	// done, with the same rules as Subscribe.
	Completions(ctx context.Context, controller string, h CompletionHandler) error
	// Close stops delivery: Publish, Subscribe, Complete and Completions
	// fail afterwards and no handler call begins. Calling it again
	// returns nil.
	Close() error
}
