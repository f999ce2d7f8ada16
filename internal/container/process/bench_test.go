package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bench/cputest"
	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

var noop = container.InitRequest{Code: []byte("def main(a):\n    return a\n")}
var noopJS = container.InitRequest{Code: []byte("function main(a) { return a }\n")}

func benchCold(b *testing.B, sandbox, kind string, req container.InitRequest, prewarmed bool) {
	benchColdOn(b, newFactory(b, sandbox), kind, req, prewarmed)
}

func benchColdOn(b *testing.B, f *process.Factory, kind string, req container.InitRequest, prewarmed bool) {
	ctx := context.Background()
	for b.Loop() {
		var c container.Container
		if prewarmed {
			b.StopTimer()
			var err error
			if c, err = f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256}); err != nil {
				b.Fatal(err)
			}
			// A stem cell in the pool is a started interpreter.
			if err := c.(*process.Container).Ready(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		} else {
			var err error
			if c, err = f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := c.Init(ctx, req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{}`)}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Destroy(ctx)
		b.StartTimer()
	}
}

func BenchmarkColdPython(b *testing.B) { benchCold(b, process.SandboxNone, "python:3", noop, false) }
func BenchmarkColdPythonBwrap(b *testing.B) {
	requireBwrap(b)
	benchCold(b, process.SandboxBwrap, "python:3", noop, false)
}

// BenchmarkColdPythonIsolated is BenchmarkColdPythonBwrap with actionNetwork
// isolated: a network namespace, its nftables rules and slirp4netns per
// container.
func BenchmarkColdPythonIsolated(b *testing.B) {
	requireIsolation(b)
	f := netFactory(b, process.Options{NetworkMode: process.NetworkIsolated})
	benchColdOn(b, f, "python:3", noop, false)
}
func BenchmarkPrewarmedPython(b *testing.B) {
	benchCold(b, process.SandboxNone, "python:3", noop, true)
}
func BenchmarkPrewarmedPythonBwrap(b *testing.B) {
	requireBwrap(b)
	benchCold(b, process.SandboxBwrap, "python:3", noop, true)
}
func BenchmarkColdNode(b *testing.B) { benchCold(b, process.SandboxNone, "nodejs:20", noopJS, false) }
func BenchmarkColdNodeBwrap(b *testing.B) {
	requireBwrap(b)
	benchCold(b, process.SandboxBwrap, "nodejs:20", noopJS, false)
}
func BenchmarkPrewarmedNode(b *testing.B) {
	benchCold(b, process.SandboxNone, "nodejs:20", noopJS, true)
}

func benchWarm(b *testing.B, sandbox string) { benchWarmFreeze(b, sandbox, 0) }

// benchWarmFreeze runs warm activations back to back on a factory whose
// containers freeze after freezeAfter idle (0: the default; < 0: never).
func benchWarmFreeze(b *testing.B, sandbox string, freezeAfter time.Duration) {
	f, err := process.New(process.Options{WorkDir: workDir(b), Sandbox: sandbox, Network: true, FreezeAfter: freezeAfter})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close(context.Background()) })
	ctx := context.Background()
	c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Init(ctx, noop); err != nil {
		b.Fatal(err)
	}
	req := container.RunRequest{Value: json.RawMessage(`{"a":1}`), Env: map[string]string{"activation_id": "x"}, LogLimit: 1 << 20}
	b.ReportAllocs()
	cpu := cputest.Start()
	for b.Loop() {
		if _, err := c.Run(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

func BenchmarkWarmPython(b *testing.B)      { benchWarm(b, process.SandboxNone) }
func BenchmarkWarmPythonBwrap(b *testing.B) { requireBwrap(b); benchWarm(b, process.SandboxBwrap) }

// benchColdGo measures a Go cold start whose code was never built (the
// binary cache misses; the compiler's own cache is warm after the first
// round; the test caches of namespace guest are warmed first): create,
// compile, start, one run.
func benchColdGo(b *testing.B, sandbox string) {
	f := newFactory(b, sandbox)
	if !slicesContains(f.Kinds(), runtimes.FamilyGo) {
		b.Skip("go is not installed")
	}
	ctx := context.Background()
	kind := "go:" + runtimes.GoVersion()
	n := 0
	for b.Loop() {
		n++
		code := strings.Replace(goProbe, `"hello stdout"`, fmt.Sprintf(`"hello %d"`, n), 1)
		c, err := f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Init(ctx, container.InitRequest{Name: "/guest/bench", Code: []byte(code)}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{}`)}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Destroy(ctx)
		b.StartTimer()
	}
}

func BenchmarkColdGo(b *testing.B) { benchColdGo(b, process.SandboxNone) }
func BenchmarkColdGoBwrap(b *testing.B) {
	requireBwrap(b)
	benchColdGo(b, process.SandboxBwrap)
}

// BenchmarkWarmPythonBwrapNoFreeze is the baseline of BenchmarkWarmPythonBwrap:
// containers are never frozen.
func BenchmarkWarmPythonBwrapNoFreeze(b *testing.B) {
	requireBwrap(b)
	benchWarmFreeze(b, process.SandboxBwrap, -1)
}

// BenchmarkFreezeThaw is what freezing costs an activation that finds its
// container frozen: one freeze and one thaw of an idle python container's
// cgroup (the freeze is off the activation's path, after it returned).
func BenchmarkFreezeThaw(b *testing.B) {
	requireBwrap(b)
	f := newFactory(b, process.SandboxBwrap)
	requireCgroup(b, f, "freezer")
	ctx := context.Background()
	c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Init(ctx, noop); err != nil {
		b.Fatal(err)
	}
	b.Run("freeze+thaw", func(b *testing.B) {
		for b.Loop() {
			if err := process.Freeze(c); err != nil {
				b.Fatal(err)
			}
			if err := process.Thaw(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What lazy freezing adds to a Run on a container that is not frozen:
	// cancelling and re-arming the freeze timer.
	b.Run("busy+done", func(b *testing.B) {
		for b.Loop() {
			if err := process.BusyDone(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What a Run pays on a frozen container: the thaw only. The kernel
	// (v1) switches its freezer on when the first cgroup freezes and off
	// when the last thaws, which costs most of it; with another container
	// frozen meanwhile (a pool with idle containers), it does not.
	thaw := func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := process.Freeze(c); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := process.Thaw(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("thaw", thaw)
	other, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		b.Fatal(err)
	}
	if err := process.Freeze(other); err != nil {
		b.Fatal(err)
	}
	b.Run("thaw-another-frozen", thaw)
}
