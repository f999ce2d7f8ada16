package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/postgres"
	"github.com/whirlfaas/whirl/internal/store/storetest"
)

// defaultDSN is the PostgreSQL that CI starts on this machine; set
// WHIRL_TEST_POSTGRES to use another.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func baseDSN() string {
	if v := os.Getenv("WHIRL_TEST_POSTGRES"); v != "" {
		return v
	}
	return defaultDSN
}

// freshSchema creates a schema of its own for one test, drops it when the
// test ends, and returns a DSN whose search_path names it.
func freshSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn := baseDSN()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s (start it, or set WHIRL_TEST_POSTGRES): %v", dsn, err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "whirl_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(t, dsn, "search_path", schema)
}

// withParam adds a run-time parameter to a URL or key=value DSN.
func withParam(t testing.TB, dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", dsn, err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) store.Store { return open(t, freshSchema(t)) },
		storetest.WithReopen(func(t *testing.T) func() store.Store {
			dsn := freshSchema(t)
			return func() store.Store { return open(t, dsn) }
		}))
}

// TestOpenTwice checks that schema creation is idempotent, also when two
// processes start at once.
func TestOpenTwice(t *testing.T) {
	dsn := freshSchema(t)
	type opened struct {
		s   *postgres.Store
		err error
	}
	results := make(chan opened, 2)
	for range 2 {
		go func() {
			s, err := postgres.Open(context.Background(), dsn)
			results <- opened{s, err}
		}()
	}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("Open: %v", r.err)
		}
		t.Cleanup(func() { r.s.Close() })
	}
}

func BenchmarkActivationPut(b *testing.B) {
	s := open(b, freshSchema(b))
	defer s.Close()
	storetest.BenchmarkActivationPut(b, s)
}

func BenchmarkActivationPutSerial(b *testing.B) {
	s := open(b, freshSchema(b))
	defer s.Close()
	storetest.BenchmarkActivationPutSerial(b, s)
}

func BenchmarkJournalAppend(b *testing.B) {
	s := open(b, freshSchema(b))
	defer s.Close()
	storetest.BenchmarkJournalAppend(b, s)
}

func BenchmarkActivationList(b *testing.B) {
	s := open(b, freshSchema(b))
	defer s.Close()
	storetest.BenchmarkActivationList(b, s)
}
