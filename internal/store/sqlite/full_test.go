package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/store/storetest"
	"github.com/whirlfaas/whirl/whisk"
)

// logCapture collects a store's log lines.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logCapture) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func aid(n int) string { return fmt.Sprintf("%032x", n) }

// checkpoint folds the WAL into the database file and truncates it, so
// that the next commit needs new blocks (a WAL that has room would take a
// small commit even on a full disk).
func checkpoint(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
}

// integrity runs SQLite's integrity check on the closed database at path.
func integrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check: %s", res)
	}
}

// waitWritable flushes until every held record is committed.
func waitWritable(t *testing.T, s *sqlite.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		err := s.Flush(ctx)
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Flush after space returned: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("records still wait after space returned: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestFullDisk fills the database's disk: records Put meanwhile stay
// visible and are committed once space returns (none is dropped, and the
// journal entry of an accepted invocation is retired only with its
// record), journal appends and entity writes fail with store.ErrNoSpace,
// records past the memory bound are refused, Health and the log say why
// once per change, and nothing stored before is damaged.
func TestFullDisk(t *testing.T) {
	disk := storetest.SmallDisk(t, 2<<20)
	path := filepath.Join(disk.Dir, "whirl.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logCapture{}
	s.Logf = logs.logf
	s.SetMaxHeldBytes(64 << 10)
	defer s.Close()

	// Before: an entity, records, and an accepted asynchronous invocation.
	doc := []byte(`{"name":"hello","exec":{"kind":"python:3","code":"def main(a): return a"}}`)
	if _, err := s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: doc}, 0); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if err := s.Activations().Put(ctx, storetest.Activation("guest", "hello", aid(i), int64(i), "")); err != nil {
			t.Fatal(err)
		}
	}
	async := aid(100)
	if err := s.Journal().Append(ctx, store.JournalEntry{ID: async, Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	checkpoint(t, path)
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health before the disk filled: %v", err)
	}

	disk.Fill(t)

	// Records of runs that finished: accepted, visible, not yet durable.
	for i := 6; i <= 8; i++ {
		if err := s.Activations().Put(ctx, storetest.Activation("guest", "hello", aid(i), int64(i), "")); err != nil {
			t.Fatalf("Put %d on a full disk: %v", i, err)
		}
	}
	if err := s.Activations().Put(ctx, storetest.Activation("guest", "hello", async, 100, "")); err != nil {
		t.Fatalf("Put of the async record on a full disk: %v", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("Flush on a full disk = %v, want ErrNoSpace", err)
	}
	if err := s.Health(ctx); !errors.Is(err, store.ErrNoSpace) || !strings.Contains(err.Error(), "store: no space left on device") {
		t.Fatalf("Health on a full disk = %v, want store: no space left on device", err)
	}
	for i := 6; i <= 8; i++ {
		if _, err := s.Activations().Get(ctx, "guest", aid(i)); err != nil {
			t.Fatalf("Get of waiting record %d: %v", i, err)
		}
	}
	if n, err := s.Activations().Count(ctx, "guest", store.ActivationQuery{}); err != nil || n != 9 {
		t.Fatalf("Count on a full disk = %d, %v; want 9", n, err)
	}

	// Accepts and entity writes are refused, with the sentinel.
	if err := s.Journal().Append(ctx, store.JournalEntry{ID: aid(200), Payload: []byte(`{}`)}); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("Journal.Append on a full disk = %v, want ErrNoSpace", err)
	}
	if _, err := s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"broken":`)}, 1); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("Entities.Put on a full disk = %v, want ErrNoSpace", err)
	}
	if _, err := s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "other", Doc: doc}, 0); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("Entities.Put (create) on a full disk = %v, want ErrNoSpace", err)
	}

	// Past the memory bound, Put says so rather than dropping the record.
	big := storetest.Activation("guest", "hello", aid(300), 300, "")
	big.Response.Result = json.RawMessage(`{"pad":"` + strings.Repeat("x", 80<<10) + `"}`)
	if err := s.Activations().Put(ctx, big); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put past the memory bound = %v, want ErrUnavailable", err)
	}
	if _, err := s.Activations().Get(ctx, "guest", aid(300)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused record is visible: %v", err)
	}

	disk.Free(t)
	waitWritable(t, s)
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health after space returned: %v", err)
	}
	if n := logs.count("cannot be written"); n != 1 {
		t.Errorf("logged the failure %d times, want once: %q", n, logs.lines)
	}
	if n := logs.count("can be written again"); n != 1 {
		t.Errorf("logged the recovery %d times, want once: %q", n, logs.lines)
	}
	t.Logf("log: %q", logs.lines)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	integrity(t, path)
	s2, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e, err := s2.Entities().Get(ctx, store.Actions, "guest", "hello")
	if err != nil || e.Rev != 1 || string(e.Doc) != string(doc) {
		t.Fatalf("entity after the full disk: %+v, %v", e, err)
	}
	if _, err := s2.Entities().Get(ctx, store.Actions, "guest", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused create left an entity: %v", err)
	}
	acts, err := s2.Activations().List(ctx, "guest", store.ActivationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.ActivationID)
	}
	want := []string{async, aid(8), aid(7), aid(6), aid(5), aid(4), aid(3), aid(2), aid(1)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("records after the full disk:\n got %v\nwant %v", got, want)
	}
	for _, a := range acts {
		if a.Response.StatusCode != whisk.StatusSuccess || string(a.Response.Result) != `{"hello":"world"}` {
			t.Fatalf("record %s damaged: %+v", a.ActivationID, a)
		}
	}
	p, err := s2.Journal().Pending(ctx)
	if err != nil || len(p) != 0 {
		t.Fatalf("journal after its record was committed: %v, %v", p, err)
	}
}
