package process_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

type entry struct {
	name, body string
	mode       fs.FileMode
}

func makeZip(t testing.TB, entries ...entry) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sandboxes returns the sandbox modes to test: bwrap when installed.
func sandboxes(t *testing.T) []string {
	if _, err := os.Stat("/usr/bin/bwrap"); err != nil {
		return []string{process.SandboxNone}
	}
	return []string{process.SandboxNone, process.SandboxBwrap}
}

func initPython(t *testing.T, f *process.Factory, req container.InitRequest, timeout time.Duration) (container.Container, error) {
	t.Helper()
	c, err := f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = c.Init(ctx, req)
	return c, err
}

func wantInitError(t *testing.T, err error, contains ...string) {
	t.Helper()
	var ie *container.InitError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *container.InitError", err)
	}
	for _, s := range contains {
		if !strings.Contains(ie.Message, s) {
			t.Errorf("init error %q does not mention %q", ie.Message, s)
		}
	}
}

func TestBadZips(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	bomb := strings.Repeat("\x00", 60<<20)
	local := mustPython(t).Version
	cases := []struct {
		name    string
		zip     []byte
		mention []string
	}{
		{"slip", makeZip(t, entry{name: "__main__.py", body: "def main(a): return a"}, entry{name: "../evil.py", body: "x"}), []string{"outside", "../evil.py"}},
		{"absolute", makeZip(t, entry{name: "/tmp/evil.py", body: "x"}), []string{"absolute"}},
		{"symlink", makeZip(t, entry{name: "link", body: "../../../../etc", mode: fs.ModeSymlink | 0o777}, entry{name: "__main__.py", body: "def main(a): return a"}), []string{"symbolic link"}},
		{"bomb", makeZip(t, entry{name: "__main__.py", body: "def main(a): return a"}, entry{name: "zeros", body: bomb}), []string{"48 MB"}},
		{"empty", makeZip(t), []string{"empty"}},
		{"no main file", makeZip(t, entry{name: "helper.py", body: "x = 1"}), []string{"__main__.py"}},
		{"requirements", makeZip(t, entry{name: "__main__.py", body: "import requests"}, entry{name: "requirements.txt", body: "requests"}), []string{"requirements.txt", "virtualenv", local}},
		{"venv for another python", makeZip(t, entry{name: "__main__.py", body: "def main(a): return a"}, entry{name: "virtualenv/lib/python3.7/site-packages/m.py", body: "x = 1"}), []string{"3.7", local}},
		{"not a zip", []byte("PK\x03\x04garbage"), []string{"zip"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := initPython(t, f, container.InitRequest{Code: tc.zip, Binary: true}, 10*time.Second)
			wantInitError(t, err, tc.mention...)
		})
	}
	if len(bomb) == 0 {
		t.Fatal("unreachable")
	}
}

func mustPython(t testing.TB) runtimes.Python {
	p, err := runtimes.FindPython()
	if err != nil {
		t.Skip("python3 is not installed")
	}
	return p
}

func TestPythonVirtualenv(t *testing.T) {
	v := mustPython(t).Version
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			z := makeZip(t,
				entry{name: "__main__.py", body: "import greeting\ndef main(a):\n    return {'greeting': greeting.hello(a.get('name', 'world'))}\n"},
				entry{name: "virtualenv/lib/python" + v + "/site-packages/greeting.py", body: "def hello(n):\n    return 'hello ' + n\n"},
			)
			c, err := initPython(t, f, container.InitRequest{Code: z, Binary: true}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Run(context.Background(), container.RunRequest{Value: json.RawMessage(`{"name":"zip"}`)})
			if err != nil || string(res.Body) != `{"greeting": "hello zip"}` {
				t.Fatalf("run = %s, %v", res.Body, err)
			}
		})
	}
}

func TestPythonBadCode(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	t.Run("missing main", func(t *testing.T) {
		_, err := initPython(t, f, container.InitRequest{Code: []byte("def handler(a):\n    return a\n")}, 10*time.Second)
		wantInitError(t, err, "main")
	})
	t.Run("other main", func(t *testing.T) {
		c, err := initPython(t, f, container.InitRequest{Code: []byte("def handler(a):\n    return {'h': 1}\n"), Main: "handler"}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Run(context.Background(), container.RunRequest{})
		if err != nil || string(res.Body) != `{"h": 1}` {
			t.Fatalf("run = %s, %v", res.Body, err)
		}
	})
	t.Run("syntax error", func(t *testing.T) {
		_, err := initPython(t, f, container.InitRequest{Code: []byte("def main(a)\n    return a\n")}, 10*time.Second)
		wantInitError(t, err, "SyntaxError")
	})
	for _, code := range []string{"import os\nos._exit(1)\n", "import sys\nsys.exit(2)\n"} {
		t.Run("exit at import", func(t *testing.T) {
			_, err := initPython(t, f, container.InitRequest{Code: []byte(code)}, 10*time.Second)
			if !errors.Is(err, container.ErrExited) {
				t.Fatalf("err = %v, want ErrExited", err)
			}
		})
	}
	t.Run("sleep at import", func(t *testing.T) {
		_, err := initPython(t, f, container.InitRequest{Code: []byte("import time\ntime.sleep(3600)\n")}, 300*time.Millisecond)
		if !errors.Is(err, container.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	})
	t.Run("exception", func(t *testing.T) {
		c, err := initPython(t, f, container.InitRequest{Code: []byte("def main(a):\n    raise ValueError('nope')\n")}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Run(context.Background(), container.RunRequest{LogLimit: 1 << 20})
		if err != nil || string(res.Body) != `{"error": "nope"}` {
			t.Fatalf("run = %s, %v", res.Body, err)
		}
		if !strings.Contains(strings.Join(res.Logs, "\n"), "ValueError: nope") {
			t.Errorf("logs lack the traceback: %q", res.Logs)
		}
	})
}

func TestFlood(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	// 256 MB to stdout, half without newlines.
	code := "import sys\ndef main(a):\n    b = 'x' * (1 << 20)\n    for i in range(128):\n        sys.stdout.write(b + '\\n')\n        sys.stdout.write(b)\n    return {'done': True}\n"
	c, err := initPython(t, f, container.InitRequest{Code: []byte(code)}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := c.Run(ctx, container.RunRequest{LogLimit: 10 << 20})
	if err != nil || string(res.Body) != `{"done": true}` {
		t.Fatalf("run = %s, %v", res.Body, err)
	}
	n := 0
	for _, l := range res.Logs {
		n += len(l)
	}
	if n > 11<<20 || !strings.Contains(res.Logs[len(res.Logs)-1], "Logs were truncated") {
		t.Fatalf("logs: %d lines, %d bytes; last %.80q", len(res.Logs), n, res.Logs[len(res.Logs)-1])
	}
}

func TestSandbox(t *testing.T) {
	requireBwrap(t)
	data := workDir(t)
	if err := os.WriteFile(filepath.Join(data, "whirl.db"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := process.New(process.Options{WorkDir: filepath.Join(workDir(t), "work"), Sandbox: process.SandboxBwrap, HideDirs: []string{data}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	if !f.Sandboxed() {
		t.Fatal("factory is not sandboxed")
	}
	other, err := initPython(t, f, container.InitRequest{Code: []byte("def main(a):\n    return a\n")}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = other
	probe := `import os, glob
def main(a):
    out = {"uid": os.getuid()}
    for p in a["paths"]:
        try:
            open(p).read()
            out[p] = "read"
        except Exception as e:
            out[p] = type(e).__name__
    try:
        open("/etc/whirl-test", "w")
        out["write"] = "wrote"
    except Exception as e:
        out["write"] = type(e).__name__
    out["others"] = [d for d in glob.glob(a["containers"] + "/*") ]
    return out
`
	c, err := initPython(t, f, container.InitRequest{Code: []byte(probe)}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(filepath.Dir(data), "x")
	_ = work
	params, _ := json.Marshal(map[string]any{"paths": []string{filepath.Join(data, "whirl.db"), "/etc/shadow"}, "containers": filepath.Dir(filepath.Dir(codeDirOf(t, f)))})
	res, err := c.Run(context.Background(), container.RunRequest{Value: params})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.Unmarshal(res.Body, &out)
	if out["uid"] != float64(65534) {
		t.Errorf("action runs as uid %v, want 65534", out["uid"])
	}
	if out[filepath.Join(data, "whirl.db")] == "read" || out["/etc/shadow"] == "read" {
		t.Errorf("action read a hidden file: %v", out)
	}
	if out["write"] == "wrote" {
		t.Errorf("action wrote to the system: %v", out)
	}
	if others, _ := out["others"].([]any); len(others) > 1 {
		t.Errorf("action sees other containers: %v", others)
	}
}

// codeDirOf returns a path inside the factory's container directories.
func codeDirOf(t *testing.T, f *process.Factory) string {
	return filepath.Join(f.WorkDir(), "c", "x", "code")
}

func TestForkBomb(t *testing.T) {
	requireBwrap(t)
	f := newFactory(t, process.SandboxBwrap)
	code := "import os\ndef main(a):\n    n = 0\n    while True:\n        try:\n            os.fork()\n            n += 1\n        except OSError:\n            pass\n"
	c, err := initPython(t, f, container.InitRequest{Code: []byte(code)}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Run(ctx, container.RunRequest{})
	if err == nil {
		t.Fatal("fork bomb returned a result")
	}
	c.Destroy(context.Background())
	// Whirl and other actions are unharmed.
	c2, err := initPython(t, f, container.InitRequest{Code: []byte("def main(a):\n    return {'ok': True}\n")}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c2.Run(context.Background(), container.RunRequest{}); err != nil || string(res.Body) != `{"ok": true}` {
		t.Fatalf("run after a fork bomb = %s, %v", res.Body, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	c, err := f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	if _, err := c.Init(context.Background(), container.InitRequest{Code: []byte("def main(a):\n    x = bytearray(512 << 20)\n    x[::4096] = b'x' * len(x[::4096])\n    return {'n': len(x)}\n")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Run(ctx, container.RunRequest{})
	if !errors.Is(err, container.ErrMemory) {
		t.Fatalf("err = %v, want ErrMemory", err)
	}
}
