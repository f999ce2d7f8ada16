package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestAdminExportImport: an export of one data directory imports into
// another, idempotently, and a dry run writes nothing.
func TestAdminExportImport(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	out, code := admin(t, a, "namespace", "create", "alice")
	if code != 0 {
		t.Fatalf("namespace create: %d %q", code, out)
	}
	uuid, _, _ := strings.Cut(strings.TrimSpace(out), ":")
	if out, code = admin(t, a, "limits", "set", "alice", "--invocations-per-minute", "600"); code != 0 {
		t.Fatalf("limits set: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "alice.export")
	if out, code = admin(t, a, "export", "--namespace", "alice", "-o", file); code != 0 || !strings.Contains(out, "exported 1 entities, 1 keys") {
		t.Fatalf("export: %d %q", code, out)
	}
	if out, code = admin(t, b, "import", file, "--dry-run"); code != 0 || !strings.Contains(out, "create    subject alice/"+uuid) || !strings.Contains(out, "would 2 create, 0 update, 0 unchanged") {
		t.Fatalf("import --dry-run: %d %q", code, out)
	}
	if out, _ = admin(t, b, "key", "list", "alice"); strings.Contains(out, uuid) {
		t.Fatalf("a dry run imported the key: %q", out)
	}
	if out, code = admin(t, b, "import", file); code != 0 || !strings.Contains(out, "imported: 2 create") {
		t.Fatalf("import: %d %q", code, out)
	}
	if out, _ = admin(t, b, "key", "list", "alice"); !strings.Contains(out, uuid) {
		t.Fatalf("the key was not imported: %q", out)
	}
	if out, _ = admin(t, b, "limits", "get", "alice"); out != "invocationsPerMinute = 600\n" {
		t.Fatalf("limits were not imported: %q", out)
	}
	if out, code = admin(t, b, "import", file); code != 0 || !strings.Contains(out, "0 create, 0 update, 2 unchanged") {
		t.Fatalf("import again: %d %q", code, out)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte(`{"format":"something-else","version":1}`+"\n"), 0o600)
	if out, code = admin(t, b, "import", junk); code == 0 || !strings.Contains(out, "not a whirl export") {
		t.Fatalf("import of a foreign file: %d %q", code, out)
	}
}

// TestAdminBackupRestore: a backup restores into another data directory,
// the replaced store is kept, and a data directory whose lock a running
// Whirl holds is refused.
func TestAdminBackupRestore(t *testing.T) {
	a, c := t.TempDir(), t.TempDir()
	out, code := admin(t, a, "namespace", "create", "alice")
	if code != 0 {
		t.Fatalf("namespace create: %d %q", code, out)
	}
	uuid, _, _ := strings.Cut(strings.TrimSpace(out), ":")
	file := filepath.Join(t.TempDir(), "backup.db")
	if out, code = admin(t, a, "backup", file); code != 0 {
		t.Fatalf("backup: %d %q", code, out)
	}
	if out, code = admin(t, a, "backup", file); code == 0 {
		t.Fatalf("a backup overwrote %s: %q", file, out)
	}
	if out, code = admin(t, c, "namespace", "create", "bob"); code != 0 {
		t.Fatalf("namespace create: %d %q", code, out)
	}
	out, code = admin(t, c, "restore", file)
	kept := regexp.MustCompile(`kept as (\S+)`).FindStringSubmatch(out)
	if code != 0 || kept == nil {
		t.Fatalf("restore: %d %q", code, out)
	}
	if _, err := os.Stat(kept[1]); err != nil {
		t.Fatalf("the replaced store was not kept: %v", err)
	}
	if out, _ = admin(t, c, "key", "list"); !strings.Contains(out, uuid) || strings.Contains(out, "bob") {
		t.Fatalf("after restore: %q", out)
	}

	// A running whirl up holds the lock (app.lockDataDir); so does this.
	f, err := os.OpenFile(filepath.Join(c, "whirl.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if out, code = admin(t, c, "restore", file); code == 0 || !strings.Contains(out, "used by a running whirl") {
		t.Fatalf("restore into a live data directory: %d %q", code, out)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database at all, no"), 0o600)
	if out, code = admin(t, t.TempDir(), "restore", junk); code == 0 {
		t.Fatalf("restore of a file that is no database: %q", out)
	}
	if out, code = admin(t, a, "prune", "--retention", "0"); code == 0 {
		t.Fatalf("prune with nothing to prune: %q", out)
	}
	if out, code = admin(t, a, "prune", "--retention", "1h"); code != 0 || !strings.Contains(out, "pruned 0 activation records") {
		t.Fatalf("prune: %d %q", code, out)
	}
}
