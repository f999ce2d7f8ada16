package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "whirl.db")) },
		storetest.WithReopen(func(t *testing.T) func() store.Store {
			// A directory that does not exist yet: Open creates it.
			path := filepath.Join(t.TempDir(), "data", "sub", "whirl.db")
			return func() store.Store { return open(t, path) }
		}))
}

func BenchmarkActivationPut(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkActivationPut(b, s)
}

func BenchmarkActivationPutSerial(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkActivationPutSerial(b, s)
}

func BenchmarkActivationList(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkActivationList(b, s)
}
