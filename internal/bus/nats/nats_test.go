package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/bustest"
	"github.com/whirlfaas/whirl/internal/bus/nats"
	"github.com/whirlfaas/whirl/whisk"
)

// serverURL returns the NATS server the tests use: WHIRL_TEST_NATS, or the
// one on this machine. The tests fail, not skip, when it is unreachable:
// CI starts it.
func serverURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("WHIRL_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := natsgo.Connect(url, natsgo.Timeout(5*time.Second))
	if err != nil {
		tb.Fatalf("no NATS server at %s (%v): start nats-server -js, or set WHIRL_TEST_NATS to one with JetStream enabled", url, err)
	}
	nc.Close()
	return url
}

// uniquePrefix returns a subject prefix no other test run uses.
func uniquePrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "wt" + hex.EncodeToString(b[:])
}

// open returns a bus with prefix on the test server; the test deletes the
// prefix's stream when it ends.
func open(tb testing.TB, url, prefix string, opts ...nats.Option) *nats.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := nats.New(ctx, url, append([]nats.Option{nats.WithPrefix(prefix)}, opts...)...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	deleteStreamAtCleanup(tb, url, b.StreamName())
	return b
}

// deleteStreamAtCleanup deletes the stream when the test ends (once).
func deleteStreamAtCleanup(tb testing.TB, url, stream string) {
	tb.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			tb.Errorf("cleanup: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			tb.Errorf("cleanup: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			tb.Errorf("cleanup: delete stream %s: %v", stream, err)
		}
	})
}

func TestConformance(t *testing.T) {
	url := serverURL(t)
	bustest.Run(t, func(t *testing.T) bus.Bus { return open(t, url, uniquePrefix()) },
		bustest.Durable(), bustest.AtLeastOnce())
}

// inbox collects invocations and signals each arrival.
type inbox struct {
	ch chan *bus.Invocation
}

func newInbox() *inbox { return &inbox{ch: make(chan *bus.Invocation, 100)} }

func (ib *inbox) handler(_ context.Context, inv *bus.Invocation) { ib.ch <- inv }

// next returns the next invocation, failing the test after a generous
// bound.
func (ib *inbox) next(t *testing.T, what string) *bus.Invocation {
	t.Helper()
	select {
	case inv := <-ib.ch:
		return inv
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20s", what)
		return nil
	}
}

// TestAcrossProcesses runs a controller and an invoker on two buses, as
// two processes do: the invocation is published while the invoker is
// not subscribed, kept by JetStream, and its completion comes back.
func TestAcrossProcesses(t *testing.T) {
	url, prefix := serverURL(t), uniquePrefix()
	ctl := open(t, url, prefix)
	defer ctl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *bus.Completion, 1)
	if err := ctl.Completions(ctx, "controller0", func(_ context.Context, c *bus.Completion) { done <- c }); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "a1", Controller: "controller0"}); err != nil {
		t.Fatal(err)
	}
	// The controller's process goes away; the invocation stays.
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	ctl = open(t, url, prefix)
	defer ctl.Close()
	if err := ctl.Completions(ctx, "controller0", func(_ context.Context, c *bus.Completion) { done <- c }); err != nil {
		t.Fatal(err)
	}

	inv := open(t, url, prefix)
	defer inv.Close()
	if err := inv.Subscribe(ctx, "invoker0", func(hctx context.Context, i *bus.Invocation) {
		if err := inv.Complete(hctx, &bus.Completion{ActivationID: i.ActivationID, Controller: i.Controller}); err != nil {
			t.Errorf("Complete: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-done:
		if c.ActivationID != "a1" {
			t.Fatalf("completion for %s, want a1", c.ActivationID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no completion within 20s")
	}
}

// TestRedeliveryAfterClose shows at-least-once delivery: an invoker
// whose bus closes while its handler runs has not taken the invocation
// over, and the next invoker subscribed under that name receives it.
func TestRedeliveryAfterClose(t *testing.T) {
	url, prefix := serverURL(t), uniquePrefix()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := open(t, url, prefix)
	entered := make(chan struct{})
	if err := first.Subscribe(ctx, "invoker0", func(hctx context.Context, _ *bus.Invocation) {
		close(entered)
		<-hctx.Done() // the bus closes under the running handler
	}); err != nil {
		t.Fatal(err)
	}
	if err := first.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "r1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first handler never ran")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := open(t, url, prefix)
	defer second.Close()
	got := newInbox()
	if err := second.Subscribe(ctx, "invoker0", got.handler); err != nil {
		t.Fatal(err)
	}
	if inv := got.next(t, "redelivered invocation"); inv.ActivationID != "r1" {
		t.Fatalf("got %s, want r1 again", inv.ActivationID)
	}
}

// TestHeldAcks shows SubscribeAck: an invocation whose handler returned
// but never called ack is handed back at Close and delivered to the next
// subscription under the same name; one whose ack was called is not; the
// held ack is kept alive past the ack wait rather than redelivered.
func TestHeldAcks(t *testing.T) {
	url, prefix := serverURL(t), uniquePrefix()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := open(t, url, prefix, nats.WithAckWait(time.Second))
	type held struct {
		inv *bus.Invocation
		ack func()
	}
	got := make(chan held, 10)
	if err := first.SubscribeAck(ctx, "invoker0", func(_ context.Context, inv *bus.Invocation, ack func()) {
		got <- held{inv, ack}
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"h1", "h2"} {
		if err := first.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: id}); err != nil {
			t.Fatal(err)
		}
	}
	next := func(what string) held {
		select {
		case h := <-got:
			return h
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s", what)
			return held{}
		}
	}
	h1, h2 := next("h1"), next("h2")
	if h1.inv.ActivationID != "h1" || h2.inv.ActivationID != "h2" {
		t.Fatalf("got %s, %s; want h1, h2", h1.inv.ActivationID, h2.inv.ActivationID)
	}
	h1.ack()
	h1.ack() // a second call does nothing
	// Hold h2 past three ack waits: the keep-alive must stop JetStream
	// from delivering it again meanwhile.
	select {
	case h := <-got:
		t.Fatalf("%s delivered again while its ack was held", h.inv.ActivationID)
	case <-time.After(3500 * time.Millisecond):
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	h2.ack() // after Close: harmless

	second := open(t, url, prefix)
	defer second.Close()
	again := newInbox()
	if err := second.Subscribe(ctx, "invoker0", again.handler); err != nil {
		t.Fatal(err)
	}
	if inv := again.next(t, "the held invocation"); inv.ActivationID != "h2" {
		t.Fatalf("got %s, want h2 (h1 was acknowledged)", inv.ActivationID)
	}
	if err := second.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "marker"}); err != nil {
		t.Fatal(err)
	}
	if inv := again.next(t, "the marker"); inv.ActivationID != "marker" {
		t.Fatalf("got %s after h2, want the marker (h1 was acknowledged)", inv.ActivationID)
	}
}

// TestPublishDeduplicates shows that publishing one activation id twice
// (a controller retrying after a lost acknowledgement) stores it once.
func TestPublishDeduplicates(t *testing.T) {
	url := serverURL(t)
	b := open(t, url, uniquePrefix())
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		if err := b.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "d1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "d2"}); err != nil {
		t.Fatal(err)
	}
	got := newInbox()
	if err := b.Subscribe(ctx, "invoker0", got.handler); err != nil {
		t.Fatal(err)
	}
	if a, b := got.next(t, "first invocation").ActivationID, got.next(t, "second invocation").ActivationID; a != "d1" || b != "d2" {
		t.Fatalf("delivered %s then %s, want d1 then d2 (d1 once)", a, b)
	}
}

func TestRefusals(t *testing.T) {
	url := serverURL(t)
	b := open(t, url, uniquePrefix())
	defer b.Close()
	ctx := context.Background()
	if err := b.Publish(ctx, "a.b", &bus.Invocation{ActivationID: "x"}); !errors.Is(err, nats.ErrName) {
		t.Errorf("Publish to a.b = %v, want ErrName", err)
	}
	if err := b.Subscribe(ctx, "*", newInbox().handler); !errors.Is(err, nats.ErrName) {
		t.Errorf("Subscribe * = %v, want ErrName", err)
	}
	if err := b.Complete(ctx, &bus.Completion{ActivationID: "x"}); !errors.Is(err, nats.ErrName) {
		t.Errorf("Complete without controller = %v, want ErrName", err)
	}
	code := strings.Repeat("x", 2<<20) // over the default 1 MB max payload
	big := &bus.Invocation{ActivationID: "big", Action: &whisk.Action{Name: "big", Exec: whisk.Exec{Kind: "nodejs:20", Code: &code}}}
	if err := b.Publish(ctx, "invoker0", big); !errors.Is(err, nats.ErrTooLarge) {
		t.Errorf("Publish of a 2 MB invocation = %v, want ErrTooLarge", err)
	}
}

func TestNewFailsClearly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := nats.New(ctx, url); err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("New(%s) = %v, want an error naming the URL", url, err)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	bb := open(b, serverURL(b), uniquePrefix())
	defer bb.Close()
	bustest.BenchmarkRoundTrip(b, bb)
}

func BenchmarkThroughput(b *testing.B) {
	bb := open(b, serverURL(b), uniquePrefix())
	defer bb.Close()
	bustest.BenchmarkThroughput(b, bb)
}

func BenchmarkPublish(b *testing.B) {
	bb := open(b, serverURL(b), uniquePrefix())
	defer bb.Close()
	bustest.BenchmarkPublish(b, bb)
}

// TestRepublishElsewhere: the same activation id published to another
// invoker (the controller moving a dead invoker's work) is stored and
// delivered there; deduplication is per invoker.
func TestRepublishElsewhere(t *testing.T) {
	url := serverURL(t)
	b := open(t, url, uniquePrefix())
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, inv := range []string{"invoker0", "invoker1"} {
		if err := b.Publish(ctx, inv, &bus.Invocation{ActivationID: "moved"}); err != nil {
			t.Fatal(err)
		}
	}
	got := newInbox()
	if err := b.Subscribe(ctx, "invoker1", got.handler); err != nil {
		t.Fatal(err)
	}
	if id := got.next(t, "the moved invocation").ActivationID; id != "moved" {
		t.Fatalf("invoker1 got %s, want moved", id)
	}
}
