package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
)

// TestBackupUnderLoad: a backup taken while writers commit is a whole,
// consistent database holding every record durable before it began.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "whirl.db")
	s := open(t, path)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"v":1}`)}, 0); err != nil {
		t.Fatal(err)
	}
	fill(t, s, "guest", 0, 500, time.Now().UnixMilli())

	var next atomic.Int64
	next.Store(1000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Activations().Put(ctx, bigActivation("guest", fmt.Sprintf("%032x", next.Add(1)), time.Now().UnixMilli())); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the load build up
	dest := filepath.Join(dir, "backup.db")
	if err := sqlite.Backup(ctx, path, dest); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if err := sqlite.Backup(ctx, path, dest); err == nil {
		t.Fatal("a backup overwrote an existing file")
	}
	if v, err := sqlite.Check(ctx, dest); err != nil || v != sqlite.SchemaVersion() {
		t.Fatalf("Check(backup) = %d, %v", v, err)
	}
	b := open(t, dest)
	defer b.Close()
	n, err := b.Activations().Count(ctx, "guest", store.ActivationQuery{})
	if err != nil || n < 500 {
		t.Fatalf("backup holds %d records, %v; want at least the 500 flushed before it", n, err)
	}
	if e, err := b.Entities().Get(ctx, store.Actions, "guest", "hello"); err != nil || string(e.Doc) != `{"v":1}` {
		t.Fatalf("backup entity: %+v, %v", e, err)
	}
	t.Logf("backup under load holds %d of %d records", n, next.Load()-1000+500)
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Check(ctx, filepath.Join(dir, "junk.db")); err == nil {
		t.Fatal("Check accepted a file that is not a database")
	}
}
