package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/store/storetest"
	"github.com/whirlfaas/whirl/whisk"
)

// bigActivation is a record with about 2 KB of logs.
func bigActivation(ns, id string, start int64) *whisk.Activation {
	a := storetest.Activation(ns, "hello", id, start, "")
	a.Logs = []string{strings.Repeat("x", 2048)}
	return a
}

func fill(t testing.TB, s *sqlite.Store, ns string, from, n int, start int64) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i += 100 {
		var acts []*whisk.Activation
		for j := i; j < min(i+100, from+n); j++ {
			acts = append(acts, bigActivation(ns, fmt.Sprintf("%032x", j), start))
		}
		if err := s.Activations().Put(ctx, acts...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func pragma(t testing.TB, path, name string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int64
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func size(t testing.TB, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestPruneReclaimsSpace: a new database has incremental auto-vacuum, and
// pruning gives the deleted records' pages back to the file system.
func TestPruneReclaimsSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whirl.db")
	s := open(t, path)
	old := time.Now().Add(-48 * time.Hour).UnixMilli()
	fill(t, s, "guest", 0, 3000, old)
	fill(t, s, "guest", 3000, 100, time.Now().UnixMilli())
	s.Close()
	if v := pragma(t, path, "auto_vacuum"); v != 2 {
		t.Fatalf("auto_vacuum = %d, want 2 (incremental)", v)
	}
	full := size(t, path)

	s = open(t, path)
	res, err := s.PruneActivations(context.Background(), store.PruneOptions{Before: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 3000 || res.Reclaimed <= 0 {
		t.Fatalf("prune: %+v, want 3000 records and space reclaimed", res)
	}
	if n, _ := s.Activations().Count(context.Background(), "guest", store.ActivationQuery{}); n != 100 {
		t.Fatalf("%d records left, want 100", n)
	}
	s.Close()
	pruned := size(t, path)
	t.Logf("database: %d KiB with 3100 records, %d KiB after pruning 3000 (reclaimed %d KiB)", full/1024, pruned/1024, res.Reclaimed/1024)
	if pruned > full/4 {
		t.Fatalf("the file kept its size: %d bytes before, %d after", full, pruned)
	}
}

// TestExistingDatabaseGetsIncrementalVacuum: a database created without
// auto-vacuum (by a Whirl before retention) is converted once at Open,
// keeping its data.
func TestExistingDatabaseGetsIncrementalVacuum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whirl.db")
	s := open(t, path)
	fill(t, s, "guest", 0, 10, time.Now().UnixMilli())
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA auto_vacuum = NONE; VACUUM"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v := pragma(t, path, "auto_vacuum"); v != 0 {
		t.Fatalf("setup: auto_vacuum = %d, want 0", v)
	}
	s = open(t, path)
	n, err := s.Activations().Count(context.Background(), "guest", store.ActivationQuery{})
	s.Close()
	if err != nil || n != 10 {
		t.Fatalf("after conversion: %d records, %v; want 10", n, err)
	}
	if v := pragma(t, path, "auto_vacuum"); v != 2 {
		t.Fatalf("auto_vacuum = %d after Open, want 2 (incremental)", v)
	}
}

// latencies runs writers that each Put a fresh record and wait for it to
// be durable (Flush) for d, and returns every write's latency.
func latencies(t *testing.T, s *sqlite.Store, d time.Duration, next *atomic.Int64) []time.Duration {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				id := fmt.Sprintf("%032x", next.Add(1))
				began := time.Now()
				if err := s.Activations().Put(ctx, bigActivation("guest", id, time.Now().UnixMilli())); err != nil {
					t.Error(err)
					return
				}
				if err := s.Flush(ctx); err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, time.Since(began))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(all)
	return all
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestPruneUnderWriteLoad: the pruner deletes a large backlog while
// writers store records and wait for them to be durable; every new
// record stays, every old one goes. It reports the write path's latency
// without and with the pruner running (no assertion on it: figures are
// for reading, see docs/operations.md).
func TestPruneUnderWriteLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whirl.db")
	s := open(t, path)
	defer s.Close()
	const backlog = 20000
	fill(t, s, "guest", 0, backlog, time.Now().Add(-48*time.Hour).UnixMilli())
	var next atomic.Int64
	next.Store(backlog)

	base := latencies(t, s, time.Second, &next)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan store.PruneResult, 1)
	var took time.Duration
	go func() {
		began := time.Now()
		res, err := s.PruneActivations(ctx, store.PruneOptions{Before: time.Now().Add(-24 * time.Hour)})
		took = time.Since(began)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	var during []time.Duration
	var res store.PruneResult
	for {
		during = append(during, latencies(t, s, 250*time.Millisecond, &next)...)
		select {
		case res = <-done:
		default:
			continue
		}
		break
	}
	cancel()
	slices.Sort(during)
	t.Logf("write (Put+Flush, 4 writers) latency without pruner: n=%d p50=%v p99=%v max=%v", len(base), pct(base, .5), pct(base, .99), pct(base, 1))
	t.Logf("write latency while pruning %d records (%d batches, %v, reclaimed %d MiB): n=%d p50=%v p99=%v max=%v",
		res.Records, res.Batches, took.Round(time.Millisecond), res.Reclaimed>>20, len(during), pct(during, .5), pct(during, .99), pct(during, 1))
	if res.Records != backlog {
		t.Fatalf("pruned %d records, want the backlog of %d", res.Records, backlog)
	}
	written := int(next.Load()) - backlog
	n, err := s.Activations().Count(context.Background(), "guest", store.ActivationQuery{})
	if err != nil || n != written {
		t.Fatalf("%d records after pruning, %v; want the %d written under load", n, err, written)
	}
}
