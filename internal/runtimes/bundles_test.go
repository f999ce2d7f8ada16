package runtimes_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/runtimes"
)

// TestPythonRunsOnDebiansInterpreter: where Debian's interpreter exists,
// python actions run on it (its dist-packages hold the python bundle),
// not on a python3 earlier on PATH (a pyenv build).
func TestPythonRunsOnDebiansInterpreter(t *testing.T) {
	if _, err := os.Stat(runtimes.DebianPython); err != nil {
		t.Skip("no " + runtimes.DebianPython + " on this machine")
	}
	out, err := exec.Command(runtimes.DebianPython, "-c", "import sys;print('%d.%d'%sys.version_info[:2])").Output()
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtimes.FindPython()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); p.Version != want || !strings.HasPrefix(p.Path, "/usr/bin/python3") {
		t.Fatalf("FindPython = %+v, want Debian's python %s", p, want)
	}
	if k := runtimes.Default().DefaultKind(runtimes.FamilyPython); k != "python:"+p.Version {
		t.Errorf("default python kind %s, want python:%s", k, p.Version)
	}
}

// TestNodeLockMatchesPackage: the committed lockfile pins what
// package.json asks for, and every bundled package.
func TestNodeLockMatchesPackage(t *testing.T) {
	pkgB, lockB := runtimes.NodePackageFiles()
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version      string            `json:"version"`
			Dependencies map[string]string `json:"dependencies"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(pkgB, &pkg); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lockB, &lock); err != nil {
		t.Fatal(err)
	}
	root := lock.Packages[""].Dependencies
	for _, p := range runtimes.Bundle(runtimes.FamilyNodejs) {
		want := pkg.Dependencies[p.Name]
		if want == "" || root[p.Name] != want || lock.Packages["node_modules/"+p.Name].Version != want {
			t.Errorf("%s: package.json %q, lockfile root %q, locked %q", p.Name, want, root[p.Name], lock.Packages["node_modules/"+p.Name].Version)
		}
	}
	if len(root) != len(pkg.Dependencies) {
		t.Errorf("lockfile root dependencies %v, package.json %v", root, pkg.Dependencies)
	}
}

func TestLibDir(t *testing.T) {
	t.Setenv(runtimes.EnvLibDir, "/opt/libs")
	if d := runtimes.LibDir(); d != "/opt/libs" {
		t.Errorf("LibDir with %s set = %s", runtimes.EnvLibDir, d)
	}
	t.Setenv(runtimes.EnvLibDir, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	want := "/xdg/whirl/runtimes"
	if os.Geteuid() == 0 {
		want = runtimes.SystemLibDir
	}
	if d := runtimes.LibDir(); d != want {
		t.Errorf("LibDir = %s, want %s", d, want)
	}
	if n := runtimes.NodeModules("/l"); n != "/l/nodejs/node_modules" {
		t.Errorf("NodeModules = %s", n)
	}
}

func TestCheckNodeAndSummary(t *testing.T) {
	lib := t.TempDir()
	s := runtimes.CheckNode("/usr/bin/node", lib)
	if s.Complete() || len(s.Missing) != 1 || s.Missing[0].Name != "openwhisk" || s.Install != "whirl runtimes install nodejs" {
		t.Fatalf("empty lib dir: %+v", s)
	}
	sum := runtimes.MissingSummary([]runtimes.Status{s, {Family: "python", Interpreter: "/usr/bin/python3"}})
	if !strings.Contains(sum, "nodejs lacks openwhisk (install: whirl runtimes install nodejs)") || strings.Contains(sum, "python") {
		t.Errorf("summary %q", sum)
	}
	if sum := runtimes.MissingSummary([]runtimes.Status{{Family: "nodejs", Missing: s.Missing}}); sum != "" {
		t.Errorf("a family without an interpreter is not reported: %q", sum)
	}
	ow := filepath.Join(runtimes.NodeModules(lib), "openwhisk")
	os.MkdirAll(ow, 0o755)
	os.WriteFile(filepath.Join(ow, "package.json"), []byte(`{}`), 0o644)
	if s := runtimes.CheckNode("/usr/bin/node", lib); !s.Complete() || s.Install != "" {
		t.Errorf("installed bundle: %+v", s)
	}
}

func TestCheckPythonNamesDebianPackages(t *testing.T) {
	p, err := runtimes.FindPython()
	if err != nil {
		t.Skip("python3 is not installed")
	}
	s := runtimes.CheckPython(p)
	if len(s.Present)+len(s.Missing) != len(runtimes.Bundle(runtimes.FamilyPython)) {
		t.Fatalf("status %+v does not cover the bundle", s)
	}
	for _, m := range s.Missing {
		if !strings.Contains(s.Install, m.Debian) {
			t.Errorf("install command %q lacks %s", s.Install, m.Debian)
		}
	}
	// What CheckPython calls present, the interpreter imports.
	var mods []string
	for _, m := range s.Present {
		mods = append(mods, m.Import)
	}
	if len(mods) == 0 {
		return
	}
	out, err := exec.Command(p.Path, append([]string{"-c", "import importlib,sys\nfor m in sys.argv[1:]: importlib.import_module(m)"}, mods...)...).CombinedOutput()
	if err != nil {
		t.Errorf("importing %v: %v\n%s", mods, err, out)
	}
}

// TestInstallNodeIsQuietWhenPresent: with the embedded lockfile installed
// and the bundle present, InstallNode runs nothing (not even npm).
func TestInstallNodeIsQuietWhenPresent(t *testing.T) {
	lib := t.TempDir()
	_, lock := runtimes.NodePackageFiles()
	os.MkdirAll(filepath.Join(runtimes.NodeModules(lib), "openwhisk"), 0o755)
	os.WriteFile(filepath.Join(runtimes.NodeModules(lib), "openwhisk", "package.json"), []byte(`{}`), 0o644)
	os.WriteFile(filepath.Join(lib, "nodejs", "package-lock.json"), lock, 0o644)
	t.Setenv("PATH", "")
	if out, err := runtimes.InstallNode(lib); err != nil || out != nil {
		t.Fatalf("InstallNode = %q, %v; want nothing done", out, err)
	}
	os.WriteFile(filepath.Join(lib, "nodejs", "package-lock.json"), []byte(`{}`), 0o644)
	if _, err := runtimes.InstallNode(lib); err == nil || !strings.Contains(err.Error(), "npm") {
		t.Fatalf("a stale lockfile without npm: err = %v, want npm missing", err)
	}
}
