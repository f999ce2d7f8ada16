package runtimes

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// A bundle is what OpenWhisk's runtime image of a family carries besides
// the language itself: the python images' default packages
// (beautifulsoup4, httplib2, kafka_python, lxml, python-dateutil,
// requests, scrapy, simplejson, virtualenv, twisted) and the Node.js
// images' openwhisk client. Whirl makes them importable by every action of
// the family, after the action's own code, its virtualenv/ and its
// node_modules, so that an action's own version wins:
//
//   - python: Debian's packages (python3-requests, python3-bs4, …) in the
//     dist-packages directories of Debian's interpreter, which is the one
//     python actions run on (see FindPython);
//   - nodejs: a node_modules directory in Whirl's runtime library directory
//     (LibDir), installed with npm from the package.json and lockfile
//     embedded here, and put on node's module path (NODE_PATH).

// Package is one package of a runtime's bundle.
type Package struct {
	Name   string // OpenWhisk's name of it: "beautifulsoup4", "openwhisk"
	Import string // what an action imports or requires: "bs4", "openwhisk"
	Debian string // the Debian package that provides it (python), or ""
}

// Bundle returns the packages OpenWhisk's image of family bundles, sorted
// by name; nil for a family without one (go, blackbox).
func Bundle(family string) []Package {
	switch family {
	case FamilyPython:
		return append([]Package(nil), pythonBundle...)
	case FamilyNodejs:
		return append([]Package(nil), nodeBundle...)
	}
	return nil
}

// pythonBundle is the default requirements of OpenWhisk's python runtime
// images, with the Debian packages that provide them.
var pythonBundle = []Package{
	{Name: "beautifulsoup4", Import: "bs4", Debian: "python3-bs4"},
	{Name: "httplib2", Import: "httplib2", Debian: "python3-httplib2"},
	{Name: "kafka_python", Import: "kafka", Debian: "python3-kafka"},
	{Name: "lxml", Import: "lxml", Debian: "python3-lxml"},
	{Name: "python-dateutil", Import: "dateutil", Debian: "python3-dateutil"},
	{Name: "requests", Import: "requests", Debian: "python3-requests"},
	{Name: "scrapy", Import: "scrapy", Debian: "python3-scrapy"},
	{Name: "simplejson", Import: "simplejson", Debian: "python3-simplejson"},
	{Name: "twisted", Import: "twisted", Debian: "python3-twisted"},
	{Name: "virtualenv", Import: "virtualenv", Debian: "python3-virtualenv"},
}

var nodeBundle = []Package{{Name: "openwhisk", Import: "openwhisk"}}

//go:embed nodejs/package.json nodejs/package-lock.json
var nodeFiles embed.FS

// NodePackageFiles returns the package.json and package-lock.json that
// pin the Node.js bundle, as `npm ci` installs them.
func NodePackageFiles() (pkg, lock []byte) {
	pkg, _ = nodeFiles.ReadFile("nodejs/package.json")
	lock, _ = nodeFiles.ReadFile("nodejs/package-lock.json")
	return pkg, lock
}

// EnvLibDir names the environment variable that overrides LibDir.
const EnvLibDir = "WHIRL_RUNTIME_LIB_DIR"

// SystemLibDir is root's runtime library directory.
const SystemLibDir = "/var/cache/whirl/runtimes"

// LibDir returns Whirl's runtime library directory, where bundles that the
// machine's package manager does not provide are installed (the Node.js
// bundle in LibDir/nodejs/node_modules): $WHIRL_RUNTIME_LIB_DIR, else for
// root SystemLibDir (the sandbox's uid cannot traverse /root), else
// whirl/runtimes in the user's cache directory ($XDG_CACHE_HOME, else
// ~/.cache). It is a cache: deleting it loses nothing that `make deps` or
// `whirl runtimes install` cannot put back.
func LibDir() string {
	if d := os.Getenv(EnvLibDir); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return SystemLibDir
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = filepath.Join(os.TempDir(), "whirl-cache")
	}
	return filepath.Join(d, "whirl", "runtimes")
}

// NodeModules returns the node_modules directory of the Node.js bundle
// under libDir.
func NodeModules(libDir string) string { return filepath.Join(libDir, "nodejs", "node_modules") }

// PythonSitePackages returns the directories Debian's packages for python
// minor version v ("3.11") live in, in the order Debian's interpreter
// searches them: the local administrator's, then Debian's.
func PythonSitePackages(v string) []string {
	return []string{
		"/usr/local/lib/python" + v + "/dist-packages",
		"/usr/lib/python3/dist-packages",
		"/usr/lib/python" + v + "/dist-packages",
	}
}

// Status says which packages of a family's bundle this machine has.
type Status struct {
	Family      string    // "python", "nodejs"
	Interpreter string    // the interpreter actions of the family run on, "" when none
	Present     []Package // importable by the family's actions
	Missing     []Package // not installed
	Install     string    // the command that installs the missing ones, "" when none are
	Problem     string    // why installed packages cannot be used, "" when they can
}

// Complete reports whether every bundled package is present.
func (s Status) Complete() bool { return len(s.Missing) == 0 }

// CheckPython returns the python bundle's status for the interpreter py
// (from FindPython): a package is present when its module is in one of
// Debian's dist-packages directories for py's minor version. It starts no
// process.
func CheckPython(py Python) Status {
	s := Status{Family: FamilyPython, Interpreter: py.Path}
	dirs := PythonSitePackages(py.Version)
	for _, p := range pythonBundle {
		if hasPythonModule(dirs, p.Import) {
			s.Present = append(s.Present, p)
		} else {
			s.Missing = append(s.Missing, p)
		}
	}
	if len(s.Missing) > 0 {
		s.Install = aptCommand(s.Missing)
	}
	return s
}

func hasPythonModule(dirs []string, mod string) bool {
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, mod, "__init__.py")); err == nil && !st.IsDir() {
			return true
		}
		if _, err := os.Stat(filepath.Join(d, mod+".py")); err == nil {
			return true
		}
		if m, _ := filepath.Glob(filepath.Join(d, mod+".*.so")); len(m) > 0 {
			return true
		}
	}
	return false
}

// CheckNode returns the Node.js bundle's status in libDir for the
// interpreter node ("" when node is not installed).
func CheckNode(node, libDir string) Status {
	s := Status{Family: FamilyNodejs, Interpreter: node}
	nm := NodeModules(libDir)
	for _, p := range nodeBundle {
		if _, err := os.Stat(filepath.Join(nm, p.Import, "package.json")); err == nil {
			s.Present = append(s.Present, p)
		} else {
			s.Missing = append(s.Missing, p)
		}
	}
	if len(s.Missing) > 0 {
		s.Install = "whirl runtimes install nodejs"
	}
	return s
}

func aptCommand(missing []Package) string {
	var debs []string
	for _, p := range missing {
		debs = append(debs, p.Debian)
	}
	sort.Strings(debs)
	sudo := "sudo "
	if os.Geteuid() == 0 {
		sudo = ""
	}
	return sudo + "apt-get install " + strings.Join(debs, " ")
}

// MissingSummary returns one line naming the incomplete bundles of st and
// how to install them ("" when every bundle is complete), for `whirl up`
// to log once at start.
func MissingSummary(st []Status) string {
	var parts []string
	for _, s := range st {
		if s.Complete() || s.Interpreter == "" {
			continue
		}
		var names []string
		for _, p := range s.Missing {
			names = append(names, p.Name)
		}
		how := "install: " + s.Install
		if s.Problem != "" {
			how = s.Problem
		}
		parts = append(parts, fmt.Sprintf("%s lacks %s (%s)", s.Family, strings.Join(names, ", "), how))
	}
	if len(parts) == 0 {
		return ""
	}
	return "runtime libraries missing, actions importing them fail: " + strings.Join(parts, "; ") + " (whirl runtimes lists them; make deps installs all in a checkout)"
}

// InstallNode installs the Node.js bundle into libDir with npm ci from the
// embedded package.json and lockfile, and returns npm's output. It does
// nothing when the installed lockfile is the embedded one and the bundle is
// present.
func InstallNode(libDir string) ([]byte, error) {
	dir := filepath.Join(libDir, "nodejs")
	pkg, lock := NodePackageFiles()
	if old, err := os.ReadFile(filepath.Join(dir, "package-lock.json")); err == nil && string(old) == string(lock) && CheckNode("node", libDir).Complete() {
		return nil, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("install the nodejs bundle: npm is not installed (Debian package npm)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("install the nodejs bundle: %w", err)
	}
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("install the nodejs bundle: %w", err)
		}
	}
	cmd := exec.Command(npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("install the nodejs bundle: npm ci in %s: %w", dir, err)
	}
	return out, nil
}

// InstallPythonCommand returns the command that installs the missing
// packages of the python bundle with the machine's package manager:
// apt-get, behind sudo when sudo is set; nil when none are missing.
func InstallPythonCommand(s Status, sudo bool) []string {
	if s.Complete() {
		return nil
	}
	var debs []string
	for _, p := range s.Missing {
		debs = append(debs, p.Debian)
	}
	sort.Strings(debs)
	argv := append([]string{"apt-get", "install", "-y", "-q"}, debs...)
	if sudo {
		argv = append([]string{"sudo"}, argv...)
	}
	return argv
}
