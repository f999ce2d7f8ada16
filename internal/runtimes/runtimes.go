// Package runtimes owns the runtime manifest (which kinds Whirl runs, which
// is the default of each family, their images and their stem cells) in the
// shape of OpenWhisk's runtimes.json, and the launchers that run action code
// inside a container process (python, nodejs, go). It resolves kind names
// ("python:3", "nodejs:default", "go") to a Kind.
//
// It imports only internal/whisk and the standard library. The controller
// (to validate kinds), the container pool (stem cells), container/process
// and proxy (launchers) import it.
package runtimes

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

//go:embed runtimes.json
var defaultManifest []byte

// Families of kinds whose code Whirl runs with its own launchers.
const (
	FamilyPython = "python"
	FamilyNodejs = "nodejs"
	FamilyGo     = "go"
	FamilyJava   = "java"
	FamilyPHP    = "php"
	FamilyRuby   = "ruby"
	// FamilyBlackbox runs an executable (or a zip holding exec) that speaks
	// the action-loop protocol itself.
	FamilyBlackbox = "blackbox"
)

// Image names a container image as runtimes.json does.
type Image struct {
	Prefix string `json:"prefix,omitempty"`
	Name   string `json:"name"`
	Tag    string `json:"tag,omitempty"`
}

// String returns "prefix/name:tag".
func (i Image) String() string {
	s := i.Name
	if i.Prefix != "" {
		s = i.Prefix + "/" + s
	}
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	return s
}

// Reactive is the reactive part of a stem-cell configuration, as written in
// the manifest ("ttl": "2 minutes").
type Reactive struct {
	MinCount  int    `json:"minCount"`
	MaxCount  int    `json:"maxCount"`
	TTL       string `json:"ttl"`
	Threshold int    `json:"threshold"`
	Increment int    `json:"increment"`
}

// StemCellJSON is one stemCells entry as written in the manifest.
type StemCellJSON struct {
	InitialCount int       `json:"initialCount"`
	Memory       string    `json:"memory"`
	Reactive     *Reactive `json:"reactive,omitempty"`
}

// StemCell is a parsed stem-cell configuration for the container pool:
// keep InitialCount containers of the kind started with MemoryMB; when
// Reactive is set, add Increment per Threshold cold starts up to MaxCount,
// expire them after TTL but keep MinCount.
type StemCell struct {
	InitialCount int
	MemoryMB     int
	Reactive     *ReactiveConfig
}

// ReactiveConfig is Reactive with the TTL parsed.
type ReactiveConfig struct {
	MinCount  int
	MaxCount  int
	TTL       time.Duration
	Threshold int
	Increment int
}

// KindJSON is one kind entry of a family, as written in the manifest.
type KindJSON struct {
	Kind        string         `json:"kind"`
	Default     bool           `json:"default"`
	Image       Image          `json:"image"`
	Deprecated  bool           `json:"deprecated"`
	RequireMain bool           `json:"requireMain,omitempty"`
	StemCells   []StemCellJSON `json:"stemCells,omitempty"`
}

// ManifestJSON is the manifest file: runtimes by family, and blackbox images.
type ManifestJSON struct {
	Runtimes   map[string][]KindJSON `json:"runtimes"`
	Blackboxes []Image               `json:"blackboxes,omitempty"`
}

// Kind is a resolved runtime kind.
type Kind struct {
	Kind        string // "python:3.11"
	Family      string // "python"
	Default     bool
	Image       Image
	Deprecated  bool
	RequireMain bool
	StemCells   []StemCell
}

// Manifest is a loaded, validated runtimes manifest. It is immutable and safe
// for concurrent use.
type Manifest struct {
	kinds      map[string]Kind   // by exact kind
	defaults   map[string]string // family -> default kind
	order      []string          // valid kinds, sorted, for messages
	blackboxes []Image
}

// Default returns the embedded manifest with python's and go's versions
// set to the local ones (python:3.11 and go:1.26 on a machine with those).
func Default() *Manifest {
	defaultOnce.Do(func() {
		m, err := Parse(defaultManifest)
		if err != nil {
			panic("runtimes: embedded manifest: " + err.Error())
		}
		defaultM = m
	})
	return defaultM
}

var (
	defaultOnce sync.Once
	defaultM    *Manifest
)

// Load reads a manifest file in runtimes.json shape. An empty path returns
// Default().
func Load(path string) (*Manifest, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load runtimes manifest: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("load runtimes manifest %s: %w", path, err)
	}
	return m, nil
}

// Parse parses a manifest. "${PYTHON}" and "${GO}" in a kind entry are
// replaced by the local python minor version ("3.11") and Go minor version
// ("1.26"); such a templated entry replaces a listed entry of the same kind,
// so that a manifest may list OpenWhisk's kinds and still make the local
// version the default.
func Parse(b []byte) (*Manifest, error) {
	var mj ManifestJSON
	if err := json.Unmarshal(b, &mj); err != nil {
		return nil, fmt.Errorf("parse runtimes manifest: %w", err)
	}
	m := &Manifest{kinds: map[string]Kind{}, defaults: map[string]string{}, blackboxes: mj.Blackboxes}
	for family, kinds := range mj.Runtimes {
		kinds, err := expandTemplates(family, kinds)
		if err != nil {
			return nil, err
		}
		for _, kj := range kinds {
			if !strings.HasPrefix(kj.Kind, family+":") {
				return nil, fmt.Errorf("runtimes manifest: kind %q is not in family %q", kj.Kind, family)
			}
			k := Kind{Kind: kj.Kind, Family: family, Default: kj.Default, Image: kj.Image, Deprecated: kj.Deprecated, RequireMain: kj.RequireMain}
			for _, sc := range kj.StemCells {
				s, err := parseStemCell(sc)
				if err != nil {
					return nil, fmt.Errorf("runtimes manifest: kind %s: %w", kj.Kind, err)
				}
				k.StemCells = append(k.StemCells, s)
			}
			if kj.Default {
				if d, ok := m.defaults[family]; ok {
					return nil, fmt.Errorf("runtimes manifest: family %s has two defaults (%s, %s)", family, d, kj.Kind)
				}
				m.defaults[family] = kj.Kind
			}
			m.kinds[kj.Kind] = k
			m.order = append(m.order, kj.Kind)
		}
		if _, ok := m.defaults[family]; !ok && len(kinds) > 0 {
			return nil, fmt.Errorf("runtimes manifest: family %s has no default kind", family)
		}
	}
	m.kinds[whisk.KindBlackbox] = Kind{Kind: whisk.KindBlackbox, Family: FamilyBlackbox}
	m.order = append(m.order, whisk.KindBlackbox)
	sort.Slice(m.order, func(i, j int) bool { return kindLess(m.order[i], m.order[j]) })
	return m, nil
}

// expandTemplates substitutes the local versions in a family's entries and
// lets each templated entry replace the listed entry of the same kind (and
// take the default from the others). Two listed entries of one kind are an
// error.
func expandTemplates(family string, kinds []KindJSON) ([]KindJSON, error) {
	var out []KindJSON
	at := map[string]int{}
	templated := map[string]bool{}
	for _, kj := range kinds {
		tmpl := strings.Contains(kj.Kind, "${")
		if tmpl {
			kj.Kind = expandVersions(kj.Kind)
			kj.Image.Prefix, kj.Image.Name, kj.Image.Tag = expandVersions(kj.Image.Prefix), expandVersions(kj.Image.Name), expandVersions(kj.Image.Tag)
		}
		i, dup := at[kj.Kind]
		switch {
		case !dup:
			at[kj.Kind] = len(out)
			templated[kj.Kind] = tmpl
			out = append(out, kj)
		case tmpl && !templated[kj.Kind]:
			templated[kj.Kind] = true
			out[i] = kj
		case !tmpl && templated[kj.Kind]:
			// The template already holds this kind.
		default:
			return nil, fmt.Errorf("runtimes manifest: kind %q listed twice", kj.Kind)
		}
	}
	for kind, tmpl := range templated {
		if tmpl && out[at[kind]].Default {
			for i := range out {
				if out[i].Kind != kind {
					out[i].Default = false
				}
			}
		}
	}
	return out, nil
}

// expandVersions replaces ${PYTHON} and ${GO} by the local minor versions
// (python "3" when the machine has no python3).
func expandVersions(s string) string {
	if strings.Contains(s, "${PYTHON}") {
		v := "3"
		if p, err := FindPython(); err == nil {
			v = p.Version
		}
		s = strings.ReplaceAll(s, "${PYTHON}", v)
	}
	return strings.ReplaceAll(s, "${GO}", GoVersion())
}

// kindLess orders kinds by name, then by version number ("python:3.9"
// before "python:3.10").
func kindLess(a, b string) bool {
	fa, fb := FamilyOf(a), FamilyOf(b)
	if fa != fb || !strings.Contains(a, ":") || !strings.Contains(b, ":") {
		return a < b
	}
	if versionLess(a, b) || versionLess(b, a) {
		return versionLess(a, b)
	}
	return a < b
}

func parseStemCell(sc StemCellJSON) (StemCell, error) {
	mem, err := ParseMemory(sc.Memory)
	if err != nil {
		return StemCell{}, err
	}
	if sc.InitialCount < 0 {
		return StemCell{}, fmt.Errorf("stem cell initialCount %d is negative", sc.InitialCount)
	}
	s := StemCell{InitialCount: sc.InitialCount, MemoryMB: mem}
	if r := sc.Reactive; r != nil {
		ttl, err := ParseDuration(r.TTL)
		if err != nil {
			return StemCell{}, err
		}
		if r.MinCount < 0 || r.MaxCount < r.MinCount || r.Threshold < 1 || r.Increment < 1 {
			return StemCell{}, fmt.Errorf("stem cell reactive counts are inconsistent (minCount %d, maxCount %d, threshold %d, increment %d)", r.MinCount, r.MaxCount, r.Threshold, r.Increment)
		}
		s.Reactive = &ReactiveConfig{MinCount: r.MinCount, MaxCount: r.MaxCount, TTL: ttl, Threshold: r.Threshold, Increment: r.Increment}
	}
	return s, nil
}

// ParseMemory parses a manifest memory size ("256 MB", "1 GB", "256m") into
// megabytes.
func ParseMemory(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"GB", 1024}, {"G", 1024}, {"MB", 1}, {"M", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("memory %q is not a size like \"256 MB\"", s)
	}
	return n * mult, nil
}

// ParseDuration parses a manifest duration in Scala's style ("2 minutes",
// "30 seconds", "1 hour") or Go's ("2m").
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	f := strings.Fields(s)
	if len(f) == 2 {
		n, err := strconv.Atoi(f[0])
		if err == nil && n >= 0 {
			unit := strings.TrimSuffix(strings.ToLower(f[1]), "s")
			switch unit {
			case "millisecond", "milli", "ms":
				return time.Duration(n) * time.Millisecond, nil
			case "second", "sec":
				return time.Duration(n) * time.Second, nil
			case "minute", "min":
				return time.Duration(n) * time.Minute, nil
			case "hour":
				return time.Duration(n) * time.Hour, nil
			case "day":
				return time.Duration(n) * 24 * time.Hour, nil
			}
		}
	}
	return 0, fmt.Errorf("duration %q is not like \"2 minutes\"", s)
}

// Resolve returns the kind named by kind: an exact kind ("python:3.11"),
// "family:default", a bare family ("nodejs", "go"), or a major-version alias
// ("python:3", "nodejs:20" when only one kind matches, the newest otherwise).
// An unknown kind is a 400 *whisk.Error with OpenWhisk's unsupported-runtime
// message; a deprecated kind is a 400 saying it is no longer supported.
func (m *Manifest) Resolve(kind string) (Kind, error) {
	if k, ok := m.kinds[kind]; ok {
		return m.checkDeprecated(k)
	}
	family, version, _ := strings.Cut(kind, ":")
	if d, ok := m.defaults[family]; ok && (version == "" || version == "default") {
		return m.checkDeprecated(m.kinds[d])
	}
	if version != "" && !strings.Contains(version, ".") {
		// A major-version alias: the default if it matches, else the newest.
		var best *Kind
		for _, name := range m.order {
			k := m.kinds[name]
			if k.Family != family || !strings.HasPrefix(k.Kind, family+":"+version+".") || k.Deprecated {
				continue
			}
			if k.Default {
				return k, nil
			}
			if best == nil || versionLess(best.Kind, k.Kind) {
				kk := k
				best = &kk
			}
		}
		if best != nil {
			return *best, nil
		}
	}
	return Kind{}, whisk.Errorf(http.StatusBadRequest, whisk.MsgUnsupportedRuntime, kind, "'"+strings.Join(m.order, "', '")+"'")
}

func (m *Manifest) checkDeprecated(k Kind) (Kind, error) {
	if k.Deprecated {
		return Kind{}, whisk.BadRequest(fmt.Sprintf(MsgDeprecated, k.Kind))
	}
	return k, nil
}

// MsgDeprecated is OpenWhisk's message for a kind that is no longer supported.
const MsgDeprecated = "The '%s' runtime is no longer supported. You may read and delete but not update or invoke this action."

func versionLess(a, b string) bool {
	pa := strings.Split(a[strings.IndexByte(a, ':')+1:], ".")
	pb := strings.Split(b[strings.IndexByte(b, ':')+1:], ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// Lookup returns the manifest's entry of exactly kind, deprecated or not.
func (m *Manifest) Lookup(kind string) (Kind, bool) {
	k, ok := m.kinds[kind]
	return k, ok
}

// Kinds returns every kind in the manifest, sorted, including blackbox.
func (m *Manifest) Kinds() []string { return append([]string(nil), m.order...) }

// DefaultKind returns the default kind of family, or "" when it has none.
func (m *Manifest) DefaultKind(family string) string { return m.defaults[family] }

// StemCells returns the stem-cell configuration of every kind that has one.
func (m *Manifest) StemCells() map[string][]StemCell {
	out := map[string][]StemCell{}
	for name, k := range m.kinds {
		if len(k.StemCells) > 0 {
			out[name] = append([]StemCell(nil), k.StemCells...)
		}
	}
	return out
}

// Blackboxes returns the blackbox images the manifest lists.
func (m *Manifest) Blackboxes() []Image { return append([]Image(nil), m.blackboxes...) }

// FamilyOf returns the family of a kind name ("python:3.11" → "python",
// "blackbox" → "blackbox") without consulting a manifest.
func FamilyOf(kind string) string {
	f, _, _ := strings.Cut(kind, ":")
	return f
}

// GoVersion returns the Go minor version Whirl was built with ("1.26").
func GoVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		return parts[0] + "." + strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	}
	return v
}

// Python is the real python3 interpreter found on this machine.
type Python struct {
	Path    string // the interpreter binary itself, not a shim
	Version string // minor version, "3.11"
}

var (
	pythonOnce sync.Once
	pythonVal  Python
	pythonErr  error
)

// DebianPython is the system's interpreter on Debian and its derivatives,
// the one Debian's python3-* packages are built for.
const DebianPython = "/usr/bin/python3"

// FindPython returns the interpreter python actions run on and its minor
// version: the system's DebianPython when the machine has one (Debian's
// packages, the python bundle, are built for its minor version, and it is
// reachable from the sandbox where a pyenv build under /root is not), else
// python3 on PATH resolved to the binary it runs (pyenv and similar shims
// cost ~100 ms per start). The answer is computed once per process.
func FindPython() (Python, error) {
	pythonOnce.Do(func() {
		p, err := exec.LookPath(DebianPython)
		if err != nil {
			p, err = exec.LookPath("python3")
		}
		if err != nil {
			pythonErr = fmt.Errorf("find python3: %w", err)
			return
		}
		out, err := exec.Command(p, "-c", "import sys;print(sys.executable);print('%d.%d'%sys.version_info[:2])").Output()
		if err != nil {
			pythonErr = fmt.Errorf("find python3: %s: %w", p, err)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			pythonErr = fmt.Errorf("find python3: unexpected answer %q", out)
			return
		}
		pythonVal = Python{Path: strings.TrimSpace(lines[0]), Version: strings.TrimSpace(lines[1])}
	})
	return pythonVal, pythonErr
}
