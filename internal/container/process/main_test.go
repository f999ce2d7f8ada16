package process_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

var (
	goCachesMu sync.Mutex
	goCaches   string              // parent of the shared Go build caches, made on first use
	goWarmed   = map[string]bool{} // sandbox modes whose cache was warmed
)

// sharedGoCache returns a Go build cache directory that the package's
// factories of one sandbox mode share, so that the standard library is
// compiled once per test run rather than once per factory. Tests that
// need a cold or private cache set Options.GoCacheDir themselves.
func sharedGoCache(t testing.TB, sandbox string) string {
	goCachesMu.Lock()
	defer goCachesMu.Unlock()
	if goCaches == "" {
		d, err := os.MkdirTemp("", "whirl-gocache-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o711)
		goCaches = d
	}
	dir := filepath.Join(goCaches, sandbox)
	if !goWarmed[sandbox] {
		goWarmed[sandbox] = true
		warmGoCache(t, sandbox, dir)
	}
	return dir
}

// warmGoCache compiles the standard library into the "guest" namespace's
// cache of dir once, so that the conformance suite's Go inits (namespace
// guest, 30 s each) do not pay a cold compile on a loaded machine.
func warmGoCache(t testing.TB, sandbox, dir string) {
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: sandbox, GoCacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	if !slicesContains(f.Kinds(), runtimes.FamilyGo) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := f.Create(ctx, container.Spec{Kind: "go:" + runtimes.GoVersion(), MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	if _, err := c.Init(ctx, container.InitRequest{Name: "/guest/warm", Code: []byte(goProbe)}); err != nil {
		t.Fatalf("warm the Go build cache: %v", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goCaches != "" {
		os.RemoveAll(goCaches)
	}
	os.Exit(code)
}
