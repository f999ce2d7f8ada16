package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/storetest"
)

// fullTablespace creates a tablespace on a small tmpfs of its own, owned
// by the local PostgreSQL server's user, and returns its name and disk.
// It skips when the server is not local (its user does not exist here).
func fullTablespace(t *testing.T) (string, *storetest.Disk) {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("a full tablespace needs the PostgreSQL server on this machine (no user postgres: %v)", err)
	}
	disk := storetest.SmallDisk(t, 1<<20)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(disk.Dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	// The server's user must reach the mount point.
	if err := os.Chmod(filepath.Dir(disk.Dir), 0o711); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN())
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable: %v", err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "whirl_full_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE TABLESPACE "+name+" LOCATION '"+disk.Dir+"'"); err != nil {
		t.Skipf("cannot create a tablespace on a tmpfs (the server may not be local): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, baseDSN())
		if err != nil {
			t.Errorf("drop tablespace %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP TABLESPACE "+name); err != nil {
			t.Errorf("drop tablespace %s: %v", name, err)
		}
	})
	return name, disk
}

// TestFullDisk puts the store's tables on a tablespace whose disk is then
// filled: PostgreSQL's disk_full (SQLSTATE 53100) reaches callers as
// store.ErrNoSpace, for records, journal appends and entity writes, and
// what was stored before is intact once space returns.
func TestFullDisk(t *testing.T) {
	ts, disk := fullTablespace(t)
	dsn := withParam(t, freshSchema(t), "default_tablespace", ts)
	s := open(t, dsn)
	defer s.Close()
	ctx := context.Background()

	doc := []byte(`{"name":"hello"}`)
	if _, err := s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: doc}, 0); err != nil {
		t.Fatal(err)
	}
	before := storetest.Activation("guest", "hello", "00000000000000000000000000000001", 1, "")
	if err := s.Activations().Put(ctx, before); err != nil {
		t.Fatal(err)
	}

	disk.Fill(t)
	// Enough rows to need new pages in every table and index.
	pad := make([]byte, 16<<10)
	_, _ = rand.Read(pad) // incompressible: TOAST cannot shrink it into a page that has room
	refused := false
	for i := range 8 {
		a := storetest.Activation("guest", "hello", "1000000000000000000000000000000"+strconv.Itoa(i), 2, "")
		a.Logs = []string{hex.EncodeToString(pad)}
		err := s.Activations().Put(ctx, a)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("Put on a full disk = %v, want ErrNoSpace", err)
		}
		refused = true
		break
	}
	if !refused {
		t.Fatal("every Put succeeded on a full disk")
	}
	for _, err := range []error{
		func() error {
			_, err := s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "big", Doc: []byte(`"` + hex.EncodeToString(pad) + `"`)}, 0)
			return err
		}(),
		s.Journal().Append(ctx, store.JournalEntry{ID: "20000000000000000000000000000000", Payload: pad}),
	} {
		if !errors.Is(err, store.ErrNoSpace) {
			t.Fatalf("write on a full disk = %v, want ErrNoSpace", err)
		}
	}

	disk.Free(t)
	if err := s.Journal().Append(ctx, store.JournalEntry{ID: "20000000000000000000000000000000", Payload: pad}); err != nil {
		t.Fatalf("Append after space returned: %v", err)
	}
	e, err := s.Entities().Get(ctx, store.Actions, "guest", "hello")
	if err != nil || string(e.Doc) != string(doc) || e.Rev != 1 {
		t.Fatalf("entity after the full disk: %+v, %v", e, err)
	}
	got, err := s.Activations().Get(ctx, "guest", before.ActivationID)
	if err != nil || string(got.Response.Result) != string(before.Response.Result) {
		t.Fatalf("record after the full disk: %+v, %v", got, err)
	}
}
