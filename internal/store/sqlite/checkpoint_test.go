package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// TestCheckpointsOffTheWriter: the writer's commits never checkpoint
// (wal_autocheckpoint 0 on its connection); the checkpointer copies the
// WAL into the database after writes, so that it does not grow without
// bound, and records read back.
func TestCheckpointsOffTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "whirl.db")
	s := open(t, path)
	defer s.Close()
	if n, err := s.WriterAutocheckpoint(); err != nil || n != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want 0 (checkpoints off the writer)", n, err)
	}
	// ~2,000 pages of records: past SQLite's automatic threshold.
	big := strings.Repeat("x", 3000)
	for i := range 2000 {
		a := &whisk.Activation{Namespace: "guest", Name: "a", ActivationID: aid(i), Start: int64(i), End: int64(i) + 1, Logs: []string{big}}
		if err := s.Activations().Put(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The checkpointer copies the records from the WAL into the
	// database file shortly after (no bound on how long asserted).
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 5<<20 && s.Checkpoints() > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, err := s.Activations().Get(ctx, "guest", aid(1999)); err != nil || got.Start != 1999 {
		t.Fatalf("Get = %v, %v", got, err)
	}
}
