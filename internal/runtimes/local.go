package runtimes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Interpreter is a program on this machine that runs one family's actions:
// a python3.X, a node, a JDK's java, a phpX.Y, a rubyX.Y, a Go toolchain.
type Interpreter struct {
	Family  string // "python"
	Version string // "3.11", "20", "17"
	Path    string // the binary, not a shim: "/usr/bin/python3.11"
}

// String returns "python 3.11 (/usr/bin/python3.11)".
func (i Interpreter) String() string {
	return fmt.Sprintf("%s %s (%s)", i.Family, i.Version, i.Path)
}

// LocalFamilies are the families Whirl runs with its own launchers on the
// local machine (besides blackbox). Kinds of other families (dotnet, swift,
// rust) run only in OpenWhisk's images, on Kubernetes.
var LocalFamilies = []string{FamilyPython, FamilyNodejs, FamilyGo, FamilyJava, FamilyPHP, FamilyRuby}

// HasLauncher reports whether Whirl can run family's actions on a local
// interpreter (or is blackbox).
func HasLauncher(family string) bool {
	if family == FamilyBlackbox {
		return true
	}
	for _, f := range LocalFamilies {
		if f == family {
			return true
		}
	}
	return false
}

// installHints say what to install for a family, on Debian.
var installHints = map[string]string{
	FamilyPython: "install python3 (apt-get install python3), or python3.X for kind python:3.X",
	FamilyNodejs: "install Node.js (apt-get install nodejs)",
	FamilyGo:     "install a Go toolchain (https://go.dev/dl, or apt-get install golang-go)",
	FamilyJava:   "install a JDK and Gson (apt-get install default-jdk-headless libgoogle-gson-java)",
	FamilyPHP:    "install PHP's command line (apt-get install php-cli)",
	FamilyRuby:   "install Ruby (apt-get install ruby)",
}

// MissingError says that no local interpreter runs a kind, and what to do.
type MissingError struct {
	Kind string
}

// Error names the kind and what to install (or where it runs instead).
func (e *MissingError) Error() string {
	family := FamilyOf(e.Kind)
	if hint, ok := installHints[family]; ok {
		return fmt.Sprintf("This machine has no interpreter for the kind '%s': %s.", e.Kind, hint)
	}
	return fmt.Sprintf("Whirl has no local runtime for the kind '%s': it runs in OpenWhisk's image on Kubernetes (whirl invoker --containers kubernetes); locally, build the action as another kind or as a blackbox executable.", e.Kind)
}

var (
	localOnce sync.Once
	localVal  []Interpreter
)

// Interpreters returns the interpreters this machine has for LocalFamilies,
// found once per process: python3.X and pythonX.Y-style binaries in
// /usr/bin and /usr/local/bin, node on PATH, the JDKs under /usr/lib/jvm
// (with javac: the java launcher is compiled at first use), phpX.Y and
// rubyX.Y binaries (and php, ruby on PATH), and the go on PATH (its
// version is the one Whirl reports for go kinds, GoVersion).
func Interpreters() []Interpreter {
	localOnce.Do(func() { localVal = discover() })
	return append([]Interpreter(nil), localVal...)
}

var (
	rePython = regexp.MustCompile(`^python(3\.\d+)$`)
	rePHP    = regexp.MustCompile(`^php(\d+\.\d+)$`)
	reRuby   = regexp.MustCompile(`^ruby(\d+\.\d+)$`)
	reJVM    = regexp.MustCompile(`^JAVA_VERSION="(?:1\.)?(\d+)`)
)

func discover() []Interpreter {
	var out []Interpreter
	seen := map[string]bool{}
	add := func(i Interpreter) {
		key := i.Family + " " + i.Version
		if i.Version == "" || seen[key] {
			return
		}
		seen[key] = true
		out = append(out, i)
	}
	if p, err := FindPython(); err == nil {
		add(Interpreter{FamilyPython, p.Version, sameVersionBinary(p.Path, "python"+p.Version)})
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			name, p := e.Name(), filepath.Join(dir, e.Name())
			if !executable(p) {
				continue
			}
			if m := rePython.FindStringSubmatch(name); m != nil {
				add(Interpreter{FamilyPython, m[1], p})
			} else if m := rePHP.FindStringSubmatch(name); m != nil {
				add(Interpreter{FamilyPHP, m[1], p})
			} else if m := reRuby.FindStringSubmatch(name); m != nil {
				add(Interpreter{FamilyRuby, m[1], p})
			}
		}
	}
	if p, err := exec.LookPath("node"); err == nil {
		if v, err := exec.Command(p, "--version").Output(); err == nil {
			major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
			add(Interpreter{FamilyNodejs, major, p})
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		add(Interpreter{FamilyGo, GoVersion(), p})
	}
	jdks, _ := filepath.Glob("/usr/lib/jvm/*/release")
	sort.Strings(jdks)
	for _, rel := range jdks {
		dir := filepath.Dir(rel)
		if st, err := os.Lstat(dir); err != nil || st.Mode()&os.ModeSymlink != 0 {
			continue
		}
		java, javac := filepath.Join(dir, "bin", "java"), filepath.Join(dir, "bin", "javac")
		b, _ := os.ReadFile(rel)
		for _, line := range strings.Split(string(b), "\n") {
			if m := reJVM.FindStringSubmatch(line); m != nil && executable(java) && executable(javac) {
				add(Interpreter{FamilyJava, m[1], java})
			}
		}
	}
	for _, fam := range []string{FamilyPHP, FamilyRuby} {
		if hasFamily(out, fam) {
			continue
		}
		// A php or ruby on PATH that is not Debian's versioned binary.
		if p, err := exec.LookPath(fam); err == nil {
			code := map[string][]string{FamilyPHP: {"-r", `echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;`}, FamilyRuby: {"-e", `print RUBY_VERSION.split(".")[0,2].join(".")`}}[fam]
			if v, err := exec.Command(p, code...).Output(); err == nil {
				add(Interpreter{fam, strings.TrimSpace(string(v)), p})
			}
		}
	}
	return out
}

func hasFamily(list []Interpreter, family string) bool {
	for _, i := range list {
		if i.Family == family {
			return true
		}
	}
	return false
}

// sameVersionBinary prefers Debian's versioned binary of an interpreter
// (/usr/bin/python3.11) to the path it was found at.
func sameVersionBinary(p, name string) string {
	for _, d := range []string{"/usr/bin", "/usr/local/bin"} {
		if q := filepath.Join(d, name); executable(q) {
			return q
		}
	}
	return p
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Pick returns the interpreter of list that runs kind: the one of its exact
// version, else the nearest of its family (the same major version first,
// then the nearest minor, a newer one before an older one at the same
// distance). A major-only or missing version ("python:3", "ruby") takes the
// newest of that major (of the family). Python never crosses a major
// version. Without one it returns a *MissingError.
func Pick(list []Interpreter, kind string) (Interpreter, error) {
	family, version, _ := strings.Cut(kind, ":")
	want := parseVersion(version)
	var best *Interpreter
	var bestScore [3]int
	for i := range list {
		in := list[i]
		if in.Family != family {
			continue
		}
		have := parseVersion(in.Version)
		if in.Version == version {
			return in, nil
		}
		if family == FamilyPython && len(want) > 0 && have[0] != want[0] {
			continue
		}
		score := distance(want, have)
		if best == nil || less(score, bestScore) {
			best, bestScore = &list[i], score
		}
	}
	if best == nil {
		return Interpreter{}, &MissingError{Kind: kind}
	}
	return *best, nil
}

// distance scores how far have is from want: major distance, minor
// distance, and 0 for newer or equal, 1 for older (lower is nearer).
func distance(want, have []int) [3]int {
	at := func(v []int, i int) int {
		if i < len(v) {
			return v[i]
		}
		return 0
	}
	if len(want) == 0 {
		// No version: the newest.
		return [3]int{-at(have, 0), -at(have, 1), 0}
	}
	dMaj := abs(at(have, 0) - at(want, 0))
	older := 0
	if cmpVersion(have, want) < 0 {
		older = 1
	}
	if len(want) == 1 {
		// A major-only version: the newest of that major.
		return [3]int{dMaj, -at(have, 1), older}
	}
	dMin := abs(at(have, 1) - at(want, 1))
	if dMaj != 0 {
		dMin = 0
	}
	return [3]int{dMaj, dMin, older}
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func parseVersion(v string) []int {
	if v == "" || v == "default" {
		return nil
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out
		}
		out = append(out, n)
	}
	return out
}

func cmpVersion(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		x, y := 0, 0
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
