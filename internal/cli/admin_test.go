package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// admin runs `whirl admin ARGS --data-dir dir` and returns its output and
// exit code.
func admin(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	code := run(append(append([]string{"whirl", "admin"}, args...), "--data-dir", dir), e)
	return out.String() + errb.String(), code
}

// TestAdmin: namespaces, keys and limits as an operator manages them.
func TestAdmin(t *testing.T) {
	dir := t.TempDir()
	out, code := admin(t, dir, "namespace", "create", "alice")
	key := regexp.MustCompile(`^[0-9a-f-]{36}:[A-Za-z0-9]{64}\n$`)
	if code != 0 || !key.MatchString(out) {
		t.Fatalf("namespace create: %d %q", code, out)
	}
	uuid, secret, _ := strings.Cut(strings.TrimSpace(out), ":")
	// Keys are stored hashed: the list names the key, never its secret.
	if out, code = admin(t, dir, "key", "list", "alice"); code != 0 || !strings.Contains(out, uuid) || strings.Contains(out, secret) {
		t.Fatalf("key list: %d %q", code, out)
	}
	if out, code = admin(t, dir, "namespace", "create", "bad/name"); code == 0 {
		t.Fatalf("an illegal namespace name was accepted: %q", out)
	}
	if out, code = admin(t, dir, "limits", "set", "alice", "--invocations-per-minute", "600", "--fires-per-minute", "0"); code != 0 {
		t.Fatalf("limits set: %d %q", code, out)
	}
	if out, code = admin(t, dir, "limits", "get", "alice"); code != 0 || out != "invocationsPerMinute = 600\nfiresPerMinute = 0\n" {
		t.Fatalf("limits get: %d %q", code, out)
	}
	if out, code = admin(t, dir, "limits", "set", "alice"); code == 0 {
		t.Fatalf("limits set with no limit succeeded: %q", out)
	}
	if out, code = admin(t, dir, "limits", "delete", "alice"); code != 0 {
		t.Fatalf("limits delete: %d %q", code, out)
	}
	if out, _ = admin(t, dir, "limits", "get", "alice"); !strings.Contains(out, "system limits") {
		t.Fatalf("limits get after delete: %q", out)
	}
	if out, code = admin(t, dir, "key", "delete", uuid); code != 0 {
		t.Fatalf("key delete: %d %q", code, out)
	}
	if out, _ = admin(t, dir, "key", "list", "alice"); strings.Contains(out, uuid) {
		t.Fatalf("the deleted key is still listed: %q", out)
	}
}
