// Package nats is the bus of scale-out Whirl, on NATS JetStream.
//
// Invocations go to a JetStream stream with work-queue retention (default
// name WHIRL_INVOKE) on the subject whirl.invoke.<invoker>; each invoker
// name has one durable pull consumer filtered to its subject. Publish
// returns once JetStream has stored the message, so an accepted
// invocation survives a controller crash without a journal in front of
// the bus (balancer.New takes a nil journal in scale-out mode), and an
// invocation published while its invoker is down waits for it.
//
// Delivery is at least once. With Subscribe the message is acknowledged
// when the handler returns; with SubscribeAck (bus.AckSubscriber) when
// the handler calls ack, which the invoker does once the activation's
// record is stored, so that work queued in the invoker's memory is not
// lost with the process. A message not acknowledged is delivered again,
// to this invoker's next subscription or to another process subscribed
// under the same name: at once when the bus closes (Close hands back every
// unacknowledged message), after the consumer's ack wait (default 30 s)
// when the process died. While an ack is held the bus tells JetStream
// every third of the ack wait that the work is in progress, so a long
// queue in the invoker is not redelivered; the consumer's max ack pending
// (JetStream's default, 1000) bounds how many invocations one invoker
// holds, the rest wait in the stream. An invoker must therefore tolerate
// seeing an activation id twice: activation records are keyed by id, so
// a second run overwrites the first's record rather than adding one.
// Publish gives each message the activation id as its JetStream message
// id, so publishing one id twice within the stream's duplicate window (2
// minutes) stores it once.
//
// Invocations published one after another by one caller to one invoker
// reach its handler in that order, one at a time; a redelivered
// invocation comes out of order.
//
// Completions go over core NATS on whirl.complete.<controller>, not
// stored: the controller that waits for one is live, and one that is gone
// has no one to hand it to. Complete with nobody listening drops the
// completion and returns nil.
//
// Messages are JSON (bus.Invocation and bus.Completion). An invocation
// larger than the server's max_payload (1 MB unless configured) is refused
// with ErrTooLarge.
package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whirlfaas/whirl/internal/bus"
)

// Errors returned by the bus.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("nats bus: closed")
	// ErrTooLarge is returned by Publish and Complete when the encoded
	// message exceeds the server's maximum payload.
	ErrTooLarge = errors.New("nats bus: message larger than the server's max payload")
	// ErrName is returned for an invoker or controller name that cannot
	// be a NATS subject token (empty, or holding '.', '*', '>', '/',
	// '\\' or white space).
	ErrName = errors.New("nats bus: invalid name")
)

// Option configures New.
type Option func(*options)

type options struct {
	prefix     string
	stream     string
	ackWait    time.Duration
	replicas   int
	duplicates time.Duration
	logger     *slog.Logger
	natsOpts   []natsgo.Option
	credsFile  string
}

// WithPrefix sets the first subject token(s) (default "whirl"): invocations
// go to <prefix>.invoke.<invoker> and completions to
// <prefix>.complete.<controller>. Unless WithStream says otherwise, the
// stream is named after it: <PREFIX>_INVOKE. Deployments sharing one NATS
// server, and test runs, keep apart by prefix.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithStream names the invocation stream (default <PREFIX>_INVOKE).
func WithStream(name string) Option { return func(o *options) { o.stream = name } }

// WithAckWait sets how long JetStream waits for a handler to return before
// it delivers the invocation again (default 30 s). The clock starts when
// the message is fetched, and a subscription fetches up to 500 ahead, so
// handlers must return quickly (the invoker's only queue the work): 500
// handler calls must fit in the ack wait, or fetched messages are
// delivered twice.
func WithAckWait(d time.Duration) Option { return func(o *options) { o.ackWait = d } }

// WithReplicas sets the stream's replicas in a clustered JetStream
// (default 1).
func WithReplicas(n int) Option { return func(o *options) { o.replicas = n } }

// WithLogger sets where the bus reports what it cannot return: an
// undecodable message, a consumer error (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithNATSOptions passes options to the NATS connection (credentials, TLS,
// reconnect policy). They apply after the bus's own defaults (name
// "whirl", reconnect forever); a ClosedHandler among them is replaced by
// the bus's.
func WithNATSOptions(opts ...natsgo.Option) Option {
	return func(o *options) { o.natsOpts = append(o.natsOpts, opts...) }
}

// Bus is a bus.Bus on NATS JetStream. Create it with New.
type Bus struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	opt     options
	log     *slog.Logger
	closed  atomic.Bool
	ctx     context.Context // handed to handlers; done at Close
	cancel  context.CancelFunc
	drained chan struct{} // closed when the connection is closed

	mu          sync.Mutex
	invokers    map[string]*subscription
	controllers map[string]*subscription

	// heldMu guards held: the messages handed to an AckHandler and not
	// yet acknowledged.
	heldMu sync.Mutex
	held   map[*heldMsg]struct{}
}

// heldMsg is a delivered invocation whose acknowledgement the handler
// holds.
type heldMsg struct {
	m    jetstream.Msg
	once sync.Once
}

// subscription is one live Subscribe or Completions.
type subscription struct {
	ctx context.Context
}

var (
	_ bus.Bus           = (*Bus)(nil)
	_ bus.AckSubscriber = (*Bus)(nil)
)

// New connects to the NATS server at url and creates or updates the
// invocation stream. The stream outlives the Bus; Close leaves it. The
// URL may carry credentials (nats://user:password@host, nats://token@host);
// errors show it redacted (Redact). A server that refuses the credentials
// gives an error wrapping ErrCredentials.
func New(ctx context.Context, url string, opts ...Option) (*Bus, error) {
	o := options{prefix: "whirl", ackWait: 30 * time.Second, replicas: 1, duplicates: 2 * time.Minute}
	for _, f := range opts {
		f(&o)
	}
	if o.stream == "" {
		o.stream = strings.ToUpper(strings.ReplaceAll(o.prefix, ".", "_")) + "_INVOKE"
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	for _, tok := range strings.Split(o.prefix, ".") {
		if !validName(tok) {
			return nil, fmt.Errorf("nats bus: prefix %q: %w", o.prefix, ErrName)
		}
	}
	b := &Bus{opt: o, log: o.logger, drained: make(chan struct{}),
		invokers: map[string]*subscription{}, controllers: map[string]*subscription{},
		held: map[*heldMsg]struct{}{}}
	nopts := append([]natsgo.Option{natsgo.Name("whirl"), natsgo.MaxReconnects(-1)}, o.natsOpts...)
	presented := ""
	if hasUserInfo(url) {
		presented = "the user information in the URL"
	}
	if o.credsFile != "" {
		copt, what, err := credentialsOption(o.credsFile)
		if err != nil {
			return nil, err
		}
		nopts, presented = append(nopts, copt), what
	}
	nopts = append(nopts, natsgo.ClosedHandler(func(*natsgo.Conn) { close(b.drained) }))
	nc, err := natsgo.Connect(url, nopts...)
	if err != nil {
		return nil, connectError(url, presented, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: jetstream: %w", err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        o.stream,
		Description: "Whirl invocations, one subject per invoker",
		Subjects:    []string{o.prefix + ".invoke.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    o.replicas,
		Duplicates:  o.duplicates,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: create stream %s at %s (is JetStream enabled?): %w", o.stream, Redact(url), err)
	}
	b.nc, b.js = nc, js
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.keepAlive()
	return b, nil
}

// Conn returns the bus's NATS connection, for core NATS subjects of the
// same deployment (the controllers' cache invalidation). Closing the bus
// closes it.
func (b *Bus) Conn() *natsgo.Conn { return b.nc }

// Prefix returns the first subject token(s) of the bus's subjects.
func (b *Bus) Prefix() string { return b.opt.prefix }

// keepAlive tells JetStream, every third of the ack wait until Close,
// that each held invocation is still being worked on, so that it is not
// delivered again while it waits in an invoker's queue.
func (b *Bus) keepAlive() {
	t := time.NewTicker(b.opt.ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.heldMu.Lock()
		msgs := make([]jetstream.Msg, 0, len(b.held))
		for h := range b.held {
			msgs = append(msgs, h.m)
		}
		b.heldMu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// StreamName returns the name of the invocation stream.
func (b *Bus) StreamName() string { return b.opt.stream }

func (b *Bus) invokeSubject(invoker string) string { return b.opt.prefix + ".invoke." + invoker }

func (b *Bus) completeSubject(controller string) string {
	return b.opt.prefix + ".complete." + controller
}

// Publish stores inv in the invocation stream for invoker and returns once
// JetStream acknowledged it. Nobody need be subscribed.
func (b *Bus) Publish(ctx context.Context, invoker string, inv *bus.Invocation) error {
	if b.closed.Load() {
		return fmt.Errorf("publish to %s: %w", invoker, ErrClosed)
	}
	if !validName(invoker) {
		return fmt.Errorf("publish to %q: %w", invoker, ErrName)
	}
	data, err := json.Marshal(inv)
	if err != nil {
		return fmt.Errorf("publish %s to %s: %w", inv.ActivationID, invoker, err)
	}
	if max := b.nc.MaxPayload(); int64(len(data)) > max {
		return fmt.Errorf("publish %s to %s: %d bytes, max %d: %w", inv.ActivationID, invoker, len(data), max, ErrTooLarge)
	}
	var popts []jetstream.PublishOpt
	if inv.ActivationID != "" {
		// Deduplicated per invoker: the same id published again to
		// another invoker (the controller moving a dead invoker's
		// work) must be stored.
		popts = append(popts, jetstream.WithMsgID(invoker+":"+inv.ActivationID))
	}
	if _, err := b.js.Publish(ctx, b.invokeSubject(invoker), data, popts...); err != nil {
		return fmt.Errorf("publish %s to %s: %w", inv.ActivationID, invoker, err)
	}
	return nil
}

// Subscribe creates (or resumes) invoker's durable consumer and delivers
// its invocations to h, one at a time, until ctx is done. Each message is
// acknowledged when h returns (or handed back, if the bus closed while h
// ran). Invocations stored while nobody was subscribed come first.
func (b *Bus) Subscribe(ctx context.Context, invoker string, h bus.InvocationHandler) error {
	return b.subscribe(ctx, invoker, func(ctx context.Context, inv *bus.Invocation, _ func()) { h(ctx, inv) }, true)
}

// SubscribeAck is Subscribe, except that each message is acknowledged
// when h calls its ack, not when h returns. Messages whose ack was not
// called are handed back to the stream at Close, and delivered again
// after the ack wait if the process dies.
func (b *Bus) SubscribeAck(ctx context.Context, invoker string, h bus.AckHandler) error {
	return b.subscribe(ctx, invoker, h, false)
}

func (b *Bus) subscribe(ctx context.Context, invoker string, h bus.AckHandler, ackOnReturn bool) error {
	if !validName(invoker) {
		return fmt.Errorf("subscribe %q: %w", invoker, ErrName)
	}
	s, err := b.reserve(ctx, b.invokers, invoker)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", invoker, err)
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.opt.stream, jetstream.ConsumerConfig{
		Durable:       invoker,
		Description:   "Whirl invoker " + invoker,
		FilterSubject: b.invokeSubject(invoker),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.opt.ackWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	})
	if err != nil {
		b.release(b.invokers, invoker, s)
		return fmt.Errorf("subscribe %s: consumer: %w", invoker, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { b.deliver(s, m, h, ackOnReturn) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !b.closed.Load() {
				b.log.Warn("nats bus: consume", "invoker", invoker, "err", err)
			}
		}))
	if err != nil {
		b.release(b.invokers, invoker, s)
		return fmt.Errorf("subscribe %s: consume: %w", invoker, err)
	}
	// Drain, not Stop: messages already fetched pass through deliver,
	// which hands them back (Nak) at once instead of leaving them to the
	// ack wait.
	b.activate(b.invokers, invoker, s, cc.Drain)
	return nil
}

// deliver runs h for one message of subscription s and acknowledges it
// when h returns (ackOnReturn) or when h calls its ack. A message arriving
// after s or the bus ended goes back to the stream for the next
// subscriber.
func (b *Bus) deliver(s *subscription, m jetstream.Msg, h bus.AckHandler, ackOnReturn bool) {
	if s.ctx.Err() != nil || b.closed.Load() {
		_ = m.Nak()
		return
	}
	var inv bus.Invocation
	if err := json.Unmarshal(m.Data(), &inv); err != nil {
		b.log.Error("nats bus: dropping an undecodable invocation", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if !ackOnReturn {
		hm := &heldMsg{m: m}
		b.heldMu.Lock()
		b.held[hm] = struct{}{}
		b.heldMu.Unlock()
		h(b.ctx, &inv, func() { b.ack(hm, inv.ActivationID) })
		return
	}
	h(b.ctx, &inv, nil)
	if b.closed.Load() {
		// The bus closed while h ran: h may have been cut short, so
		// let the invocation run again rather than risk losing it.
		_ = m.Nak()
		return
	}
	if err := m.Ack(); err != nil {
		b.log.Warn("nats bus: ack (the invocation will be delivered again)", "id", inv.ActivationID, "err", err)
	}
}

// ack acknowledges a held message, once.
func (b *Bus) ack(hm *heldMsg, id string) {
	hm.once.Do(func() {
		b.heldMu.Lock()
		delete(b.held, hm)
		b.heldMu.Unlock()
		if err := hm.m.Ack(); err != nil {
			b.log.Warn("nats bus: ack (the invocation will be delivered again)", "id", id, "err", err)
		}
	})
}

// nakHeld hands every held message back to the stream, for Close.
func (b *Bus) nakHeld() {
	b.heldMu.Lock()
	held := b.held
	b.held = map[*heldMsg]struct{}{}
	b.heldMu.Unlock()
	for hm := range held {
		hm.once.Do(func() { _ = hm.m.Nak() })
	}
}

// Complete sends c to its controller over core NATS. With nobody
// subscribed the completion is dropped.
func (b *Bus) Complete(ctx context.Context, c *bus.Completion) error {
	if b.closed.Load() {
		return fmt.Errorf("complete %s: %w", c.ActivationID, ErrClosed)
	}
	if !validName(c.Controller) {
		return fmt.Errorf("complete %s for %q: %w", c.ActivationID, c.Controller, ErrName)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("complete %s: %w", c.ActivationID, err)
	}
	if max := b.nc.MaxPayload(); int64(len(data)) > max {
		return fmt.Errorf("complete %s: %d bytes, max %d: %w", c.ActivationID, len(data), max, ErrTooLarge)
	}
	if err := b.nc.Publish(b.completeSubject(c.Controller), data); err != nil {
		return fmt.Errorf("complete %s: %w", c.ActivationID, err)
	}
	return nil
}

// Completions subscribes to controller's completion subject until ctx is
// done. It returns once the server has the subscription, so a completion
// sent from any process after that reaches h.
func (b *Bus) Completions(ctx context.Context, controller string, h bus.CompletionHandler) error {
	if !validName(controller) {
		return fmt.Errorf("completions %q: %w", controller, ErrName)
	}
	s, err := b.reserve(ctx, b.controllers, controller)
	if err != nil {
		return fmt.Errorf("completions %s: %w", controller, err)
	}
	sub, err := b.nc.Subscribe(b.completeSubject(controller), func(m *natsgo.Msg) {
		if s.ctx.Err() != nil || b.closed.Load() {
			return
		}
		var c bus.Completion
		if err := json.Unmarshal(m.Data, &c); err != nil {
			b.log.Error("nats bus: dropping an undecodable completion", "subject", m.Subject, "err", err)
			return
		}
		h(b.ctx, &c)
	})
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = b.nc.FlushWithContext(fctx)
		cancel()
		if err != nil {
			_ = sub.Unsubscribe()
		}
	}
	if err != nil {
		b.release(b.controllers, controller, s)
		return fmt.Errorf("completions %s: %w", controller, err)
	}
	b.activate(b.controllers, controller, s, func() { _ = sub.Unsubscribe() })
	return nil
}

// reserve claims name in m for a subscription bounded by ctx, unless a
// live one holds it.
func (b *Bus) reserve(ctx context.Context, m map[string]*subscription, name string) (*subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if old := m[name]; old != nil && old.ctx.Err() == nil {
		return nil, errors.New("already subscribed")
	}
	s := &subscription{ctx: ctx}
	m[name] = s
	return s, nil
}

// release gives up a reservation whose subscription failed.
func (b *Bus) release(m map[string]*subscription, name string, s *subscription) {
	b.mu.Lock()
	if m[name] == s {
		delete(m, name)
	}
	b.mu.Unlock()
}

// activate stops s with stop when its context ends (Close stops every
// subscription itself).
func (b *Bus) activate(m map[string]*subscription, name string, s *subscription, stop func()) {
	context.AfterFunc(s.ctx, func() {
		b.mu.Lock()
		if m[name] == s {
			delete(m, name)
		}
		b.mu.Unlock()
		if !b.closed.Load() {
			stop()
		}
	})
}

// Close stops delivery and closes the connection, after handing back to
// the stream every invocation fetched but not yet handled (and any whose
// handler was running, or whose ack a SubscribeAck handler still holds). It waits for the connection's drain, at most the
// NATS drain timeout (30 s by default). The stream and the durable
// consumers stay.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	b.cancel()
	b.nakHeld()
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
		return fmt.Errorf("nats bus: close: %w", err)
	}
	<-b.drained
	return nil
}

// validName reports whether s can be one subject token and a consumer
// name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r == '.' || r == '*' || r == '>' || r == '/' || r == '\\':
			return false
		case r <= ' ' || r == 0x7f:
			return false
		}
	}
	return true
}
