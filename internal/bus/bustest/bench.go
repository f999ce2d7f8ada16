package bustest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/whisk"
)

// BenchmarkRoundTrip measures one invocation's trip from a controller to
// an invoker and back, one at a time: Publish, the invoker's handler sends
// the Completion, the controller's handler receives it. It reports the
// round trip's p50 and p99 in microseconds.
func BenchmarkRoundTrip(b *testing.B, bb bus.Bus) {
	benchmarkRoundTrip(b, bb, 1)
}

// BenchmarkThroughput measures round trips from 64 concurrent callers, as
// a loaded controller makes them: it reports round trips per second and
// the callers' p50 and p99 in microseconds.
func BenchmarkThroughput(b *testing.B, bb bus.Bus) {
	benchmarkRoundTrip(b, bb, 64)
}

// benchInvocation is a typical invocation: a small python action with its
// code, a few parameters and annotations.
func benchInvocation() *bus.Invocation {
	code := "def main(args):\n    return {\"greeting\": \"Hello \" + args.get(\"name\", \"stranger\")}\n"
	return &bus.Invocation{
		TransactionID: "bench",
		Action: &whisk.Action{Namespace: "guest", Name: "hello", Version: "0.0.1",
			Exec:        whisk.Exec{Kind: "python:3", Code: &code},
			Limits:      whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1},
			Annotations: whisk.KeyValues{{Key: "exec", Value: json.RawMessage(`"python:3"`)}}},
		Params:    json.RawMessage(`{"name":"world"}`),
		Namespace: "guest",
		Subject:   "guest",
		Blocking:  true,
		Received:  time.Now(),
	}
}

func benchmarkRoundTrip(b *testing.B, bb bus.Bus, callers int) {
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	waiting := map[string]chan struct{}{}
	if err := bb.Completions(c, "bench-ctl", func(_ context.Context, cm *bus.Completion) {
		mu.Lock()
		ch := waiting[cm.ActivationID]
		delete(waiting, cm.ActivationID)
		mu.Unlock()
		if ch != nil {
			close(ch)
		}
	}); err != nil {
		b.Fatalf("Completions: %v", err)
	}
	if err := bb.Subscribe(c, "bench-inv", func(hctx context.Context, inv *bus.Invocation) {
		now := time.Now().UnixMilli()
		act := &whisk.Activation{Namespace: inv.Namespace, Name: inv.Action.Name, Version: inv.Action.Version,
			Subject: inv.Subject, ActivationID: inv.ActivationID, Start: now, End: now,
			Response: whisk.Response{Result: json.RawMessage(`{"greeting":"Hello world"}`)}}
		if err := bb.Complete(hctx, &bus.Completion{ActivationID: inv.ActivationID, Controller: inv.Controller, Activation: act}); err != nil {
			b.Errorf("Complete: %v", err)
		}
	}); err != nil {
		b.Fatalf("Subscribe: %v", err)
	}
	runCallers(b, callers, "roundtrips/s", func(id string) error {
		inv := benchInvocation()
		inv.ActivationID = id
		inv.Controller = "bench-ctl"
		ch := make(chan struct{})
		mu.Lock()
		waiting[id] = ch
		mu.Unlock()
		if err := bb.Publish(c, "bench-inv", inv); err != nil {
			return fmt.Errorf("Publish: %w", err)
		}
		select {
		case <-ch:
			return nil
		case <-time.After(wait):
			return fmt.Errorf("no completion for %s within %v", id, wait)
		}
	})
}

// BenchmarkPublish measures what a non-blocking invoke waits for: Publish
// from 64 concurrent callers to a subscribed invoker whose handler does
// nothing. It reports publishes per second and the callers' p50 and p99
// in microseconds.
func BenchmarkPublish(b *testing.B, bb bus.Bus) {
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	var handled atomic.Int64
	if err := bb.Subscribe(c, "bench-pub", func(context.Context, *bus.Invocation) { handled.Add(1) }); err != nil {
		b.Fatalf("Subscribe: %v", err)
	}
	runCallers(b, 64, "publishes/s", func(id string) error {
		inv := benchInvocation()
		inv.ActivationID = id
		inv.Blocking = false
		if err := bb.Publish(c, "bench-pub", inv); err != nil {
			return fmt.Errorf("Publish: %w", err)
		}
		return nil
	})
}

// runCallers runs b.N calls from callers goroutines, each call given a
// fresh activation id, and reports the calls' p50 and p99 in microseconds
// and their rate per second under unit. The first failing call stops the
// benchmark.
func runCallers(b *testing.B, callers int, unit string, call func(id string) error) {
	var next atomic.Int64
	seed := fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff)
	lat := make([][]time.Duration, callers)
	var failed atomic.Bool
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) || failed.Load() {
					return
				}
				t0 := time.Now()
				if err := call(fmt.Sprintf("%s%024x", seed, n)); err != nil {
					b.Error(err)
					failed.Store(true)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(all[len(all)/2]), "p50-us")
	b.ReportMetric(us(all[len(all)*99/100]), "p99-us")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), unit)
}
