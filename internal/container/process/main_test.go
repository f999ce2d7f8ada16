package process_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	goCachesMu sync.Mutex
	goCaches   string // parent of the shared Go build caches, made on first use
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
	return filepath.Join(goCaches, sandbox)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goCaches != "" {
		os.RemoveAll(goCaches)
	}
	os.Exit(code)
}
