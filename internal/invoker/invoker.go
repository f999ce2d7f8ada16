// Package invoker runs activations: it takes invocations off the bus,
// acquires a container from the pool (warm, prewarmed or cold), runs the
// action with its deadline, turns what the container produced into an
// activation record with OpenWhisk's statuses and messages, stores the
// record (group commit) and reports the completion.
//
// The controller never imports this package; app wires it to the bus.
package invoker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/containerpool"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// MaxResultSize is the largest result an activation may produce (1 MB).
const MaxResultSize = 1 << 20

// MsgNeverFits is the error of the record of an action whose memory limit
// (the first %d, MB) is larger than the whole container pool (the second,
// MB): it can never run on this invoker, so it fails at once rather than
// waiting. Configuration keeps limits.actions.memory.max within
// containerPool.userMemory, so only an action created under another
// configuration, or an invoker with a smaller pool, meets it.
const MsgNeverFits = "The action needs %d MB of memory but the invoker's container pool has only %d MB in all: it can never run here."

// Pool is what the invoker needs of the container pool. *containerpool.Pool
// satisfies it.
type Pool interface {
	Acquire(ctx context.Context, req containerpool.Request) (*containerpool.Lease, error)
}

// Observer is told of every activation (metrics): Running(+1) when one
// starts and Running(-1) when it ends, then ActivationCompleted. start is
// "cold", "prewarm", "warm" or "none" when no container ran; async is true
// for non-blocking invocations.
type Observer interface {
	Running(delta int)
	ActivationCompleted(namespace, action, status, start string, async bool, d time.Duration)
}

// KindResolver maps an action's kind ("python:3", "nodejs:default") to the
// kind a container runs ("python:3.11").
type KindResolver func(kind string) (string, error)

// Config wires an invoker.
type Config struct {
	Name        string // the invoker's id on the bus
	Bus         bus.Bus
	Pool        Pool
	Activations store.Activations
	Resolve     KindResolver
	Observer    Observer // may be nil
	APIHost     string   // __OW_API_HOST given to every container
	Logger      *slog.Logger
	// MaxAsync bounds the non-blocking activations running (or waiting
	// in the pool's queue for a container) at once; the rest wait in the
	// invoker's queue, in order. It is also the bound of the pool's queue
	// for them: the pool does not refuse them (containerpool.Request.Async).
	// Blocking activations are not bounded here: their callers wait, and
	// the pool's queue (MaxQueue) bounds them. 0 means 256.
	MaxAsync int
}

// Invoker runs activations. Start subscribes it; Wait waits for the
// activations in flight.
//
// A blocking invocation runs at once on a goroutine of its own and asks
// the pool for a container: with no room and the pool's queue full it
// ends at once as overloaded (its caller gets 503). A non-blocking one
// joins a FIFO queue that a dispatcher drains while fewer than MaxAsync
// run, so that a burst of accepted invocations waits here — cheaply, and
// journaled by the balancer; once started it waits for room in the pool's
// own queue, never refused for its length: every accepted invocation
// runs. Nothing is retried: a container that can never fit (larger than
// the pool) ends the activation at once with MsgNeverFits.
type Invoker struct {
	cfg Config
	ctx context.Context

	mu sync.Mutex
	// running counts activations started and not finished; idle is
	// signalled (with mu) when it drops to zero. Not a WaitGroup: the
	// dispatcher may start one while Close waits, which a WaitGroup
	// forbids when its count is zero.
	running int
	idle    *sync.Cond
	queue   []queued      // non-blocking invocations not yet started
	wake    chan struct{} // buffered(1): the queue grew
	slots   chan struct{} // MaxAsync tokens
}

// queued is a non-blocking invocation waiting to start, with the bus's
// acknowledgement (nil when the bus has none).
type queued struct {
	inv *bus.Invocation
	ack func()
}

// New returns an invoker; call Start to receive work.
func New(cfg Config) *Invoker {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxAsync <= 0 {
		cfg.MaxAsync = 256
	}
	iv := &Invoker{cfg: cfg, wake: make(chan struct{}, 1), slots: make(chan struct{}, cfg.MaxAsync)}
	iv.idle = sync.NewCond(&iv.mu)
	return iv
}

// started counts an activation in; finished counts it out.
func (iv *Invoker) started() {
	iv.mu.Lock()
	iv.running++
	iv.mu.Unlock()
}

func (iv *Invoker) finished() {
	iv.mu.Lock()
	iv.running--
	if iv.running == 0 {
		iv.idle.Broadcast()
	}
	iv.mu.Unlock()
}

// Start subscribes to the invoker's queue until ctx is done. Activations
// run with ctx as their parent: cancelling it aborts the runs in flight.
//
// On a bus that lets a handler hold the acknowledgement
// (bus.AckSubscriber: NATS), the invoker acknowledges each invocation
// once its record is stored, so an invocation queued or running when the
// process dies is delivered again rather than lost. On bus/local the
// balancer's journal plays that part.
func (iv *Invoker) Start(ctx context.Context) error {
	iv.ctx = ctx
	go iv.dispatch(ctx)
	if s, ok := iv.cfg.Bus.(bus.AckSubscriber); ok {
		return s.SubscribeAck(ctx, iv.cfg.Name, iv.accept)
	}
	return iv.cfg.Bus.Subscribe(ctx, iv.cfg.Name, func(hctx context.Context, inv *bus.Invocation) {
		iv.accept(hctx, inv, nil)
	})
}

// accept takes one invocation off the bus: a blocking one starts at once,
// a non-blocking one joins the queue. ack, when not nil, is called once
// the record is stored.
func (iv *Invoker) accept(_ context.Context, inv *bus.Invocation, ack func()) {
	if !inv.Blocking {
		iv.mu.Lock()
		iv.queue = append(iv.queue, queued{inv, ack})
		iv.mu.Unlock()
		select {
		case iv.wake <- struct{}{}:
		default:
		}
		return
	}
	iv.started()
	go func() {
		defer iv.finished()
		if iv.run(iv.ctx, inv, ack != nil) && ack != nil {
			ack()
		}
	}()
}

// dispatch starts queued non-blocking invocations in order, at most
// MaxAsync at a time, until ctx is done. What is still queued then stays
// in the balancer's journal (bus/local) or unacknowledged in the stream
// (NATS) and runs after a restart.
func (iv *Invoker) dispatch(ctx context.Context) {
	for {
		iv.mu.Lock()
		var next queued
		if len(iv.queue) > 0 {
			next = iv.queue[0]
			iv.queue[0] = queued{}
			iv.queue = iv.queue[1:]
			if len(iv.queue) == 0 {
				iv.queue = nil // let the backing array go
			}
		}
		iv.mu.Unlock()
		if next.inv == nil {
			select {
			case <-iv.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case iv.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		iv.started()
		go func() {
			defer func() { <-iv.slots; iv.finished() }()
			if iv.run(iv.ctx, next.inv, next.ack != nil) && next.ack != nil {
				next.ack()
			}
		}()
	}
}

// Queued returns how many non-blocking invocations wait to start.
func (iv *Invoker) Queued() int {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return len(iv.queue)
}

// Wait blocks until every activation started so far has finished.
func (iv *Invoker) Wait() {
	iv.mu.Lock()
	for iv.running > 0 {
		iv.idle.Wait()
	}
	iv.mu.Unlock()
}

// Run runs one invocation to completion: record stored, completion sent
// (for a non-blocking one, unless ctx ends before it could finish: see
// run).
func (iv *Invoker) Run(ctx context.Context, inv *bus.Invocation) { iv.run(ctx, inv, false) }

// run is Run; it reports whether the record was stored (and so whether
// the bus may forget the invocation). An invocation that will come again
// stores nothing when the invoker stops before it could finish (waiting
// for a container, or running): it runs again in full rather than leaving
// a record of the interruption. That is every invocation when durable is
// true (the bus delivers it again unless it is acknowledged; a run ending
// after ctx did is treated alike), and a non-blocking one on any bus
// (bus/local: the balancer journaled it and Recover republishes it at the
// next start).
func (iv *Invoker) run(ctx context.Context, inv *bus.Invocation, durable bool) (stored bool) {
	if iv.cfg.Observer != nil {
		iv.cfg.Observer.Running(1)
		defer iv.cfg.Observer.Running(-1)
	}
	act, reason, interrupted := iv.execute(ctx, inv)
	if durable && ctx.Err() != nil || !inv.Blocking && interrupted {
		return false
	}
	err := iv.store(ctx, inv, act)
	done := act
	if err != nil {
		iv.cfg.Logger.Error("store activation", "id", act.ActivationID, "err", err)
		if inv.Blocking && errors.Is(err, store.ErrUnavailable) {
			done, reason = unstored(act), whisk.ReasonUnstored
		}
	}
	if err := iv.cfg.Bus.Complete(ctx, &bus.Completion{ActivationID: act.ActivationID, Controller: inv.Controller, Activation: done, Reason: reason}); err != nil {
		iv.cfg.Logger.Debug("complete", "id", act.ActivationID, "err", err)
	}
	return err == nil
}

// outcome is what a run produced, before it becomes a record.
type outcome struct {
	status   int
	reason   whisk.Reason
	result   json.RawMessage
	logs     []string
	timedOut bool
	start    string // cold, prewarm, warm, none
	initTime time.Duration
	runStart time.Time
	end      time.Time
	// interrupted: the invoker stopped (its context ended, or the pool
	// closed) before the action could finish.
	interrupted bool
}

// execute runs inv and returns its record, what ended it, and whether the
// invoker stopped before the action could finish (the record then says
// so, but the invocation may be better run again: see run).
func (iv *Invoker) execute(ctx context.Context, inv *bus.Invocation) (*whisk.Activation, whisk.Reason, bool) {
	a := inv.Action
	o := iv.runAction(ctx, inv)
	fqn := a.FQN()
	rec := &whisk.Activation{
		Namespace:    inv.Namespace,
		Name:         a.Name,
		Version:      a.Version,
		Subject:      inv.Subject,
		ActivationID: inv.ActivationID,
		Start:        o.runStart.UnixMilli(),
		End:          o.end.UnixMilli(),
		Cause:        inv.Cause,
		Response:     whisk.Response{StatusCode: o.status, Result: o.result},
		Logs:         o.logs,
	}
	rec.Duration = rec.End - rec.Start
	wait := o.runStart.Sub(inv.Received)
	if wait < 0 {
		wait = 0
	}
	// Built directly as raw JSON: this runs for every activation.
	ann := make(whisk.KeyValues, 0, 6+len(inv.Annotations))
	ann = append(ann,
		whisk.KeyValue{Key: "path", Value: jsonString(fqn.Path())},
		whisk.KeyValue{Key: "waitTime", Value: strconv.AppendInt(nil, wait.Milliseconds(), 10)},
		whisk.KeyValue{Key: "kind", Value: jsonString(a.Exec.Kind)},
		whisk.KeyValue{Key: "timeout", Value: strconv.AppendBool(nil, o.timedOut)},
		whisk.KeyValue{Key: "limits", Value: limitsJSON(a.Limits)})
	if o.start == "cold" || o.start == "prewarm" {
		ann = append(ann, whisk.KeyValue{Key: "initTime", Value: strconv.AppendInt(nil, o.initTime.Milliseconds(), 10)})
	}
	if len(inv.Annotations) > 0 {
		ann = ann.Merge(inv.Annotations)
	}
	rec.Annotations = ann
	if iv.cfg.Observer != nil {
		iv.cfg.Observer.ActivationCompleted(inv.Namespace, fqn.Key(), whisk.StatusName(o.status), o.start, !inv.Blocking, o.end.Sub(o.runStart))
	}
	return rec, o.reason, o.interrupted
}

func errorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

func (iv *Invoker) runAction(ctx context.Context, inv *bus.Invocation) outcome {
	a := inv.Action
	o := outcome{start: "none", runStart: time.Now()}
	fail := func(reason whisk.Reason, status int, msg string) outcome {
		o.reason, o.status, o.result, o.end = reason, status, errorResult(msg), time.Now()
		return o
	}
	if inv.Error != "" {
		return fail(whisk.ReasonDeveloperError, whisk.StatusDeveloperError, inv.Error)
	}
	kind, err := iv.cfg.Resolve(a.Exec.Kind)
	if err != nil {
		return fail(whisk.ReasonDeveloperError, whisk.StatusDeveloperError, err.Error())
	}
	code, err := a.Exec.CodeBytes()
	if err != nil {
		return fail(whisk.ReasonDeveloperError, whisk.StatusDeveloperError, err.Error())
	}
	timeout := time.Duration(a.Limits.Timeout) * time.Millisecond
	fqn := a.FQN()
	initEnv := map[string]string{}
	for _, p := range a.Parameters {
		if p.Init {
			initEnv[p.Key] = envString(p.Value)
		}
	}
	concurrency := a.Limits.Concurrency
	if concurrency < 1 {
		concurrency = 1
	}
	// A pool with no room and a full queue refuses a blocking invocation
	// at once (its caller gets 503 and may retry); a non-blocking one was
	// accepted and must run, so it waits in the pool's queue (Async) until
	// there is room or the invoker stops. MaxAsync bounds how many wait.
	req := containerpool.Request{
		Key:         fqn.Path() + "@" + a.Version + "#" + strconv.FormatInt(a.Updated, 10),
		Spec:        container.Spec{Kind: kind, Image: a.Exec.Image, MemoryMB: a.Limits.Memory, Env: map[string]string{"__OW_API_HOST": iv.cfg.APIHost}, Name: fqn.String()},
		Init:        container.InitRequest{Name: fqn.String(), Main: a.Exec.Main, Code: code, Binary: a.Exec.Binary, Env: initEnv, Concurrency: concurrency},
		Concurrency: concurrency,
		InitTimeout: timeout, // waiting for room is not init time
		Async:       !inv.Blocking,
	}
	lease, err := iv.cfg.Pool.Acquire(ctx, req)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, containerpool.ErrClosed) {
			// The invoker stops: no container was had, nothing ran.
			o.interrupted = true
		}
		var fail2 *containerpool.InitFailure
		if errors.As(err, &fail2) {
			o.start, o.initTime, o.logs = "cold", fail2.Duration, fail2.Logs
		}
		var ie *container.InitError
		var never *containerpool.NeverFitsError
		switch {
		case errors.As(err, &ie):
			return fail(whisk.ReasonDeveloperError, whisk.StatusDeveloperError, ie.Message)
		case errors.Is(err, container.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			o.timedOut = true
			return fail(whisk.ReasonTimeout, whisk.StatusDeveloperError, fmt.Sprintf(whisk.MsgTimedOutInit, a.Limits.Timeout))
		case errors.Is(err, container.ErrMemory):
			return fail(whisk.ReasonMemory, whisk.StatusDeveloperError, whisk.MsgMemoryExhausted)
		case errors.Is(err, container.ErrExited):
			o.logs = append(o.logs, logLine(whisk.MsgLogsMissing))
			return fail(whisk.ReasonDeveloperError, whisk.StatusDeveloperError, whisk.MsgAbnormalInit)
		case errors.Is(err, containerpool.ErrOverloaded):
			return fail(whisk.ReasonOverloaded, whisk.StatusWhiskError, whisk.MsgOverloaded)
		case errors.As(err, &never):
			return fail(whisk.ReasonNeverFits, whisk.StatusWhiskError, fmt.Sprintf(MsgNeverFits, never.MemoryMB, never.UserMemoryMB))
		default:
			if !o.interrupted {
				iv.cfg.Logger.Error("acquire container", "action", fqn.String(), "err", err)
			}
			return fail(whisk.ReasonWhiskError, whisk.StatusWhiskError, whisk.MsgInternal)
		}
	}
	o.start, o.initTime = lease.Start.String(), lease.InitDuration
	o.logs = lease.InitLogs
	runStart := time.Now()
	// As in OpenWhisk, a cold activation starts when its init starts, so
	// that its duration includes initTime.
	o.runStart = runStart.Add(-o.initTime)
	deadline := runStart.Add(timeout)
	runEnv := map[string]string{
		"namespace":      inv.Namespace,
		"action_name":    fqn.String(),
		"action_version": a.Version,
		"activation_id":  inv.ActivationID,
		"transaction_id": inv.TransactionID,
		"deadline":       strconv.FormatInt(deadline.UnixMilli(), 10),
	}
	if provideAPIKey(a) && inv.APIKey != "" {
		runEnv["api_key"] = inv.APIKey
	}
	params := inv.Params
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	res, err := lease.Container.Run(runCtx, container.RunRequest{Value: params, Env: runEnv, LogLimit: a.Limits.Logs << 20})
	cancel()
	o.end = time.Now()
	o.logs = append(o.logs, res.Logs...)
	o.interrupted = err != nil && ctx.Err() != nil
	switch {
	case err == nil:
		lease.Release()
		o.status, o.result = interpret(res.Body)
		o.reason = whisk.ReasonOf(o.status)
		return o
	case errors.Is(err, container.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		lease.Destroy()
		o.timedOut = true
		o.reason, o.status, o.result = whisk.ReasonTimeout, whisk.StatusDeveloperError, errorResult(fmt.Sprintf(whisk.MsgTimedOut, a.Limits.Timeout))
	case errors.Is(err, container.ErrMemory):
		lease.Destroy()
		o.reason, o.status, o.result = whisk.ReasonMemory, whisk.StatusDeveloperError, errorResult(whisk.MsgMemoryExhausted)
	case errors.Is(err, container.ErrExited):
		lease.Destroy()
		o.logs = append(o.logs, logLine(whisk.MsgLogsMissing))
		o.reason, o.status, o.result = whisk.ReasonDeveloperError, whisk.StatusDeveloperError, errorResult(whisk.MsgAbnormalRun)
	default:
		lease.Destroy()
		iv.cfg.Logger.Error("run", "action", fqn.String(), "err", err)
		o.reason, o.status, o.result = whisk.ReasonWhiskError, whisk.StatusWhiskError, errorResult(whisk.MsgInternal)
	}
	return o
}

// interpret turns the line an action wrote into a status and result, as
// OpenWhisk's processRunResponseContent does.
func interpret(body []byte) (int, json.RawMessage) {
	body = bytes.TrimSpace(body)
	if len(body) > MaxResultSize {
		trunc := body
		if len(trunc) > 1024 {
			trunc = trunc[:1024]
		}
		return whisk.StatusApplicationError, errorResult(fmt.Sprintf(whisk.MsgResultTooLarge, len(body), MaxResultSize, string(trunc)))
	}
	if len(body) == 0 || !json.Valid(body) {
		return whisk.StatusDeveloperError, errorResult(fmt.Sprintf(whisk.MsgInvalidRunResponse, string(body)))
	}
	switch body[0] {
	case '[':
		return whisk.StatusSuccess, body
	case '{':
		if !mayHaveKey(body, "error") {
			return whisk.StatusSuccess, body
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return whisk.StatusDeveloperError, errorResult(fmt.Sprintf(whisk.MsgInvalidRunResponse, string(body)))
		}
		if e, ok := fields["error"]; ok {
			out, _ := json.Marshal(map[string]json.RawMessage{"error": e})
			return whisk.StatusApplicationError, out
		}
		return whisk.StatusSuccess, body
	default:
		return whisk.StatusDeveloperError, errorResult(fmt.Sprintf(whisk.MsgInvalidRunResponse, string(body)))
	}
}

// mayHaveKey reports whether the valid JSON object obj may have key at
// its top level: one of its keys is key, or has an escape (which only
// decoding can tell). Most results have no "error" key: this spares
// decoding them into a map.
func mayHaveKey(obj []byte, key string) bool {
	depth, atKey := 0, false
	for i := 0; i < len(obj); i++ {
		switch obj[i] {
		case '{':
			depth++
			atKey = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			atKey = depth == 1
		case '"':
			start, escaped := i+1, false
			for i++; i < len(obj) && obj[i] != '"'; i++ {
				if obj[i] == '\\' {
					escaped = true
					i++
				}
			}
			if atKey {
				if escaped || string(obj[start:min(i, len(obj))]) == key {
					return true
				}
				atKey = false
			}
		}
	}
	return false
}

// provideAPIKey reports whether the action gets __OW_API_KEY: the
// annotation is true, or absent (actions older than the annotation).
func provideAPIKey(a *whisk.Action) bool {
	if !a.Annotations.Has("provide-api-key") {
		return true
	}
	return a.Annotations.Truthy("provide-api-key")
}

// envString renders a parameter value as an environment variable: strings
// bare, anything else as JSON.
func envString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// jsonString returns s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// limitsJSON returns l as the limits annotation: the same JSON as
// json.Marshal(l), without reflection.
func limitsJSON(l whisk.Limits) json.RawMessage {
	b := make([]byte, 0, 80)
	b = append(b, `{"timeout":`...)
	b = strconv.AppendInt(b, int64(l.Timeout), 10)
	b = append(b, `,"memory":`...)
	b = strconv.AppendInt(b, int64(l.Memory), 10)
	b = append(b, `,"logs":`...)
	b = strconv.AppendInt(b, int64(l.Logs), 10)
	b = append(b, `,"concurrency":`...)
	b = strconv.AppendInt(b, int64(l.Concurrency), 10)
	if l.Instances != nil {
		b = append(b, `,"instances":`...)
		b = strconv.AppendInt(b, int64(*l.Instances), 10)
	}
	return append(b, '}')
}

// logLine formats a system message as an activation log line.
func logLine(msg string) string {
	return fmt.Sprintf("%-30s %s: %s", time.Now().UTC().Format(time.RFC3339Nano), "stderr", msg)
}
