package process_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

func symlink(name, target string) entry {
	return entry{name: name, body: target, mode: fs.ModeSymlink | 0o777}
}

// chainZip is issue 9's reproduction: a Go action whose go.mod is a chain
// of links, each of whose text stays inside the zip, ending at
// /etc/passwd.
func chainZip(t testing.TB) []byte {
	return makeZip(t,
		entry{name: "main.go", body: "package main\n\nfunc Main(a map[string]interface{}) map[string]interface{} { return a }\n"},
		symlink("a/b/c/d/s", "../../../.."),
		symlink("esc", "a/b/c/d/s/../../../../.."),
		symlink("go.mod", "esc/etc/passwd"),
	)
}

// initErr initialises a fresh container of kind with req and returns the
// error.
func initErrOf(t *testing.T, f *process.Factory, kind string, req container.InitRequest) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	c, err := f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(context.Background()) })
	_, err = c.Init(ctx, req)
	return err
}

func requireGo(t testing.TB, f *process.Factory) string {
	if !slicesContains(f.Kinds(), runtimes.FamilyGo) {
		t.Skip("go is not installed")
	}
	return "go:" + runtimes.GoVersion()
}

// TestZipEscapes checks that every way out of the action's folder is
// refused at extraction with a clear message, for every kind.
func TestZipEscapes(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	kind := requireGo(t, f)
	outside := filepath.Join(workDir(t), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	mainGo := entry{name: "main.go", body: "package main\n\nfunc Main(a map[string]interface{}) map[string]interface{} { return a }\n"}
	cases := []struct {
		name    string
		zip     []byte
		mention string
	}{
		{"link chain to /etc/passwd", chainZip(t), "symbolic link"},
		{"dot-dot entry", makeZip(t, mainGo, entry{name: "../../evil.go", body: "x"}), "outside"},
		{"absolute entry", makeZip(t, mainGo, entry{name: filepath.Join(outside, "evil"), body: "x"}), "absolute"},
		{"link to an absolute path", makeZip(t, mainGo, symlink("go.mod", "/etc/passwd")), "symbolic link"},
		{"write through a link to a folder", makeZip(t, mainGo, symlink("d", "sub"), entry{name: "d/evil", body: "x"}), "through a symbolic link"},
		{"link through a link folder", makeZip(t, mainGo, symlink("up", "."), symlink("d", "up/../.."), entry{name: "x", body: "x"}), "symbolic link"},
	}
	for _, tc := range cases {
		for _, k := range []string{kind, "python:3", "blackbox"} {
			t.Run(tc.name+"/"+k, func(t *testing.T) {
				err := initErrOf(t, f, k, container.InitRequest{Code: tc.zip, Binary: true})
				wantInitError(t, err, tc.mention)
				if strings.Contains(err.Error(), "root:x:0:0") {
					t.Fatalf("the error shows /etc/passwd: %v", err)
				}
			})
		}
	}
	if es, _ := os.ReadDir(outside); len(es) > 0 {
		t.Fatalf("a zip wrote outside its folder: %v", es)
	}
}

// TestZipLinksInside checks that links that stay inside the zip still
// work: a python action whose __main__.py is a link into a folder.
func TestZipLinksInside(t *testing.T) {
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			z := makeZip(t,
				entry{name: "app/main.py", body: "def main(a):\n    return {'ok': True}\n"},
				symlink("__main__.py", "app/main.py"),
				symlink("app/up", ".."),
			)
			if body := initRun(t, f, "python:3", container.InitRequest{Code: z, Binary: true}, `{}`); body != `{"ok": true}` {
				t.Fatalf("result %s", body)
			}
		})
	}
}

// TestGoBuildSeesNoHost checks what a Go build can reach: a go.mod
// replace pointing at a Go module in a hidden host directory (Whirl's data
// directory) or at /etc gets nothing from it; the compiler's error names
// no host path of Whirl's.
func TestGoBuildSeesNoHost(t *testing.T) {
	requireBwrap(t)
	data := workDir(t)
	secret := "whirl-secret-" + filepath.Base(data)
	os.WriteFile(filepath.Join(data, "go.mod"), []byte("module example.com/secret\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(data, "secret.go"), []byte("package secret\n\nconst Value = \""+secret+"\"\n"), 0o644)
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: process.SandboxBwrap, HideDirs: []string{data}, GoCacheDir: sharedGoCache(t, process.SandboxBwrap)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	kind := requireGo(t, f)
	useSecret := "package main\n\nimport \"example.com/secret\"\n\nfunc Main(a map[string]interface{}) map[string]interface{} { return map[string]interface{}{\"s\": secret.Value} }\n"
	for _, target := range []string{data, "/etc"} {
		t.Run(target, func(t *testing.T) {
			z := makeZip(t,
				entry{name: "go.mod", body: "module action\n\ngo 1.21\n\nrequire example.com/secret v0.0.0\n\nreplace example.com/secret => " + target + "\n"},
				entry{name: "main.go", body: useSecret},
			)
			err := initErrOf(t, f, kind, container.InitRequest{Name: "/tenant/a", Code: z, Binary: true})
			wantInitError(t, err, "failed to compile")
			for _, leak := range []string{secret, "root:x:0:0", f.WorkDir()} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("the build's error shows %q: %v", leak, err)
				}
			}
		})
	}
	t.Run("chain", func(t *testing.T) {
		err := initErrOf(t, f, kind, container.InitRequest{Name: "/tenant/a", Code: chainZip(t), Binary: true})
		wantInitError(t, err, "symbolic link")
		if strings.Contains(err.Error(), "root:x:0:0") {
			t.Fatalf("the error shows /etc/passwd: %v", err)
		}
	})
}

// TestGoBuildEnvironment checks that a Go build sees none of the server's
// environment and downloads nothing: the server's GOPROXY (a canary URL),
// had it reached the build, would be named in the error of a build that
// needs a module.
func TestGoBuildEnvironment(t *testing.T) {
	canary := "http://127.0.0.1:9/whirl-canary-proxy"
	t.Setenv("GOPROXY", canary)
	t.Setenv("GOFLAGS", "-mod=mod -tags=whirlcanary")
	z := makeZip(t,
		entry{name: "go.mod", body: "module action\n\ngo 1.21\n\nrequire example.com/missing v1.0.0\n"},
		entry{name: "main.go", body: "package main\n\nimport \"example.com/missing\"\n\nfunc Main(a map[string]interface{}) map[string]interface{} { return map[string]interface{}{\"v\": missing.V} }\n"},
	)
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			kind := requireGo(t, f)
			err := initErrOf(t, f, kind, container.InitRequest{Name: "/tenant/a", Code: z, Binary: true})
			wantInitError(t, err, "GOPROXY=off")
			for _, leak := range []string{"whirl-canary", f.WorkDir()} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("the build's error shows %q: %v", leak, err)
				}
			}
		})
	}
}

// TestGoCompileErrorPaths checks that a compiler error names no host
// directory of Whirl's, sandboxed or not.
func TestGoCompileErrorPaths(t *testing.T) {
	z := makeZip(t,
		entry{name: "go.mod", body: "module action\n\ngo 1.21\n\nrequire example.com/up v0.0.0\n\nreplace example.com/up => ../up\n"},
		entry{name: "main.go", body: "package main\n\nimport \"example.com/up\"\n\nfunc Main(a map[string]interface{}) map[string]interface{} { return map[string]interface{}{\"v\": up.V} }\n"},
	)
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			kind := requireGo(t, f)
			err := initErrOf(t, f, kind, container.InitRequest{Name: "/tenant/a", Code: z, Binary: true})
			wantInitError(t, err, "failed to compile", "up")
			if strings.Contains(err.Error(), f.WorkDir()) || strings.Contains(err.Error(), os.TempDir()+"/whirl-") {
				t.Fatalf("the compiler's error names a host path: %v", err)
			}
		})
	}
}

// TestGoBuildUnprivileged checks that a sandboxed build runs as uid 65534,
// not as the server's user: what it writes to its cache is 65534's.
func TestGoBuildUnprivileged(t *testing.T) {
	requireBwrap(t)
	if os.Getuid() != 0 {
		t.Skip("the sandbox maps uid 65534 to the server's uid when not run as root")
	}
	cache := filepath.Join(workDir(t), "gocache")
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: process.SandboxBwrap, GoCacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	kind := requireGo(t, f)
	code := "package main\n\nfunc Main(a map[string]interface{}) map[string]interface{} { return a }\n"
	if body := initRun(t, f, kind, container.InitRequest{Name: "/tenant/a", Code: []byte(code)}, `{"x":1}`); body != `{"x":1}` {
		t.Fatalf("result %s", body)
	}
	n := 0
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == cache {
			return err
		}
		info, _ := d.Info()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n++
			if st.Uid != 65534 {
				t.Errorf("%s belongs to uid %d: the build ran as the server's user", p, st.Uid)
				return filepath.SkipAll
			}
		}
		return nil
	})
	if n == 0 {
		t.Fatal("the build wrote nothing to its cache")
	}
}
