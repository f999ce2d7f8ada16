package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/runtimes"
)

func runWhirl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	code := run(append([]string{"whirl"}, args...), e)
	return out.String(), errb.String(), code
}

// TestRuntimesInstallNode: `whirl runtimes` names the missing Node.js
// bundle and its install command; `whirl runtimes install nodejs` installs
// it into the runtime library directory with npm ci; then it is listed
// as present.
func TestRuntimesInstallNode(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed (make deps installs it)")
	}
	t.Setenv(runtimes.EnvLibDir, t.TempDir())
	out, _, code := runWhirl(t, "runtimes")
	if code != 0 || !strings.Contains(out, "missing: openwhisk; install: whirl runtimes install nodejs") {
		t.Fatalf("whirl runtimes (exit %d):\n%s", code, out)
	}
	out, errs, code := runWhirl(t, "runtimes", "install", "nodejs:default")
	if code != 0 || !strings.Contains(out, "the bundle is installed") {
		t.Fatalf("install (exit %d):\n%s%s", code, out, errs)
	}
	out, _, _ = runWhirl(t, "runtimes")
	if !strings.Contains(out, "present: openwhisk") || strings.Contains(out, "missing: openwhisk") {
		t.Fatalf("after install:\n%s", out)
	}
}

func TestRuntimesInstallUnknownKind(t *testing.T) {
	_, errs, code := runWhirl(t, "runtimes", "install", "cobol:85")
	if code == 0 || !strings.Contains(errs, "cobol:85") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}
