package process_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// kindNoop returns a no-op action of kind (java: the probe jar's hello).
func kindNoop(b *testing.B, kind string) container.InitRequest {
	switch runtimes.FamilyOf(kind) {
	case runtimes.FamilyJava:
		return container.InitRequest{Code: javaJar(b), Binary: true, Main: "Probe#hello"}
	case runtimes.FamilyPHP:
		return container.InitRequest{Code: []byte("<?php\nfunction main(array $a) : array { return $a; }\n")}
	default:
		return container.InitRequest{Code: []byte("def main(a)\n  a\nend\n")}
	}
}

// benchKindCold is a sandboxed cold start of kind: create (the
// interpreter and its launcher start), init, one run.
func benchKindCold(b *testing.B, kind string) {
	requireBwrap(b)
	f := newFactory(b, process.SandboxBwrap)
	requireInterpreter(b, f, runtimes.FamilyOf(kind))
	req := kindNoop(b, kind)
	// The first java container compiles the launcher: not part of a cold start.
	if c, err := f.Create(context.Background(), container.Spec{Kind: kind, MemoryMB: 256}); err == nil {
		c.Destroy(context.Background())
	}
	benchColdOn(b, f, kind, req, false)
}

// benchKindWarm runs warm activations of kind back to back, sandboxed.
func benchKindWarm(b *testing.B, kind string) {
	requireBwrap(b)
	f := newFactory(b, process.SandboxBwrap)
	requireInterpreter(b, f, runtimes.FamilyOf(kind))
	ctx := context.Background()
	c, err := f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Init(ctx, kindNoop(b, kind)); err != nil {
		b.Fatal(err)
	}
	req := container.RunRequest{Value: json.RawMessage(`{"a":1}`), Env: map[string]string{"activation_id": "x"}, LogLimit: 1 << 20}
	for b.Loop() {
		if _, err := c.Run(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkColdJavaBwrap(b *testing.B) { benchKindCold(b, "java:8") }
func BenchmarkWarmJavaBwrap(b *testing.B) { benchKindWarm(b, "java:8") }
func BenchmarkColdPHPBwrap(b *testing.B)  { benchKindCold(b, "php:8.1") }
func BenchmarkWarmPHPBwrap(b *testing.B)  { benchKindWarm(b, "php:8.1") }
func BenchmarkColdRubyBwrap(b *testing.B) { benchKindCold(b, "ruby:2.5") }
func BenchmarkWarmRubyBwrap(b *testing.B) { benchKindWarm(b, "ruby:2.5") }
