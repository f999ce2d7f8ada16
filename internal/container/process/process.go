// Package process is the container.Factory that runs each action container
// as a local process speaking the action-loop protocol on pipes: one JSON
// line per activation on stdin, one result line on fd 3, and the log
// sentinel on stdout and stderr after each activation.
//
// Python and nodejs containers start their interpreter with Whirl's launcher
// at Create (a stem cell: running, waiting for code); Init hands over the
// code. Go containers compile the action at Init with the local toolchain,
// in the same sandbox and limits as an action, with a clean environment
// and a compiler cache per namespace (binaries cached by code hash under
// the work directory), and start the binary; blackbox containers start the
// action's own executable. Zips are checked with whisk.CheckZip and
// extracted through an os.Root.
//
// Each process runs in a bubblewrap sandbox when available: read-only
// system, its own code directory, a private /tmp, its own pid, ipc and uts
// namespaces, uid 65534, killed with its parent, Whirl's directories hidden.
// Memory is bounded by a cgroup (v1 memory controller, or v2) when one can
// be made, else by an address-space limit for python; processes by a pids
// cgroup, else RLIMIT_NPROC. A cpu cgroup gives each container a CPU share
// proportional to its memory and, optionally, a quota; a freezer cgroup
// stops its processes while it is idle between activations (freeze.go).
// Folders and cgroups carry their owner's pid and start time, so New
// removes what a crashed run left (reap.go). The network is the host's,
// none (loopback only), or isolated: the container's own namespace,
// reaching out through slirp4netns under nftables rules (see network.go).
//
// The package imports internal/container, internal/runtimes and
// internal/whisk. Only internal/app, internal/proxy and tests import it.
package process

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// Sandbox modes for Options.Sandbox.
const (
	SandboxAuto  = "auto"  // bubblewrap when installed, else none (with a warning)
	SandboxNone  = "none"  // plain processes
	SandboxBwrap = "bwrap" // bubblewrap; New fails when it is missing
)

// Options configure a Factory.
type Options struct {
	// WorkDir holds the containers' code directories, the launchers and the
	// Go build cache. It is hidden from actions. Its parent directories
	// must be searchable by uid 65534 when sandboxed as root. Required.
	WorkDir string
	// Sandbox is SandboxAuto (the default when empty), SandboxNone or
	// SandboxBwrap.
	Sandbox string
	// Network lets actions reach the network. Off means a private network
	// namespace with loopback only (sandboxed mode only). Deprecated: used
	// only when NetworkMode is empty (true is NetworkHost, false
	// NetworkNone).
	Network bool
	// NetworkMode is NetworkNone, NetworkIsolated or NetworkHost (see
	// network.go). NetworkIsolated needs bubblewrap, root, slirp4netns and
	// nft: New fails without them (wrapping ErrNoIsolation) unless
	// NetworkFallback is set.
	NetworkMode string
	// NetworkFallback makes New use NetworkNone, with a Warning, when
	// NetworkIsolated is asked for and unavailable.
	NetworkFallback bool
	// NetworkAllow are ranges (CIDRs or addresses) isolated containers may
	// reach although they are private or the host's.
	NetworkAllow []string
	// NetworkBlock are ranges isolated containers never reach, even when
	// allowed (Whirl's store and bus).
	NetworkBlock []string
	// APIHost is exported as __OW_API_HOST unless Spec.Env sets it.
	APIHost string
	// HideDirs are directories actions must not see (Whirl's data
	// directory); each gets an empty tmpfs in the sandbox.
	HideDirs []string
	// MaxProcs bounds the processes (and threads) of one container; 0 means
	// 256.
	MaxProcs int
	// MaxResultBytes bounds the result line kept from a run; longer lines
	// are cut to this length (the invoker then reports them as too large).
	// 0 means 8 MiB.
	MaxResultBytes int
	// Go is the go command used to compile Go actions; "" means "go" on PATH.
	Go string
	// GoProxy is the module proxy Go builds may download modules from
	// (GOPROXY); "" means none: builds download nothing and see no
	// network.
	GoProxy string
	// GoCacheDir holds the compiler's caches of Go builds, one per
	// namespace; "" means WorkDir/gocache. It is hidden from actions.
	GoCacheDir string
	// UserMemoryMB is the memory of all action containers together (the
	// pool's containerPool.userMemory). Each container's CPU share is its
	// fraction of it, as in OpenWhisk: cpu.shares = 1024 * memory /
	// UserMemoryMB, at least 2. 0 means 2048.
	UserMemoryMB int
	// UserCPUs, when positive, caps the CPU time of action containers: each
	// gets a CFS quota of UserCPUs * memory / UserMemoryMB CPUs (OpenWhisk's
	// container-pool.user-cpus). 0 means no quota.
	UserCPUs float64
	// RuntimeLibDir is Whirl's runtime library directory, where the
	// Node.js bundle is installed (see runtimes.LibDir, the default when
	// empty).
	RuntimeLibDir string
	// FreezeAfter is how long a container stays idle after an activation
	// before its processes are frozen (cgroup freezer); 0 means
	// DefaultFreezeAfter, negative never freezes.
	FreezeAfter time.Duration
}

// Factory creates process containers. It is safe for concurrent use.
type Factory struct {
	opts     Options
	bwrap    string // bubblewrap path when sandboxing, else ""
	hide     []string
	cg       cgroups
	python   runtimes.Python
	pyErr    error
	node     string
	goCmd    string
	launcher string // directory with launcher.py and launcher.js
	goCache  string // parent of the per-namespace Go build caches
	warning  string
	netMode  string    // NetworkNone, NetworkIsolated or NetworkHost
	net      netTools  // the tools of NetworkIsolated
	policy   netPolicy // what NetworkIsolated lets through
	resolv   string    // resolv.conf of isolated containers, "" if not bound
	libDir   string    // Whirl's runtime library directory (see libs.go)
	nodeLib  string    // the Node.js bundle's node_modules in it
	// nodeLibErr says why the sandbox cannot see nodeLib, nil when it can.
	nodeLibErr error

	freezeAfter time.Duration // < 0: never freeze
	leftovers   []string      // what reapLeftovers removed at New
	reapErr     error

	noPtrace atomic.Bool // ptrace was refused: gate starts with /bin/sh

	interps []runtimes.Interpreter // local interpreters (interp.go)
	javaMu  sync.Mutex             // held while compiling the java launcher

	mu         sync.Mutex
	containers map[string]*Container
	builds     map[string]*buildOnce
}

var _ container.Factory = (*Factory)(nil)

// New returns a Factory. With Sandbox "auto" and no bubblewrap it runs
// unsandboxed and Warning says so (for `whirl up` to print once).
func New(opts Options) (*Factory, error) {
	if opts.WorkDir == "" {
		return nil, errors.New("process factory: no work directory")
	}
	if opts.MaxProcs == 0 {
		opts.MaxProcs = 256
	}
	if opts.MaxResultBytes == 0 {
		opts.MaxResultBytes = 8 << 20
	}
	if opts.Sandbox == "" {
		opts.Sandbox = SandboxAuto
	}
	if opts.UserMemoryMB <= 0 {
		opts.UserMemoryMB = 2048
	}
	if opts.UserCPUs < 0 {
		return nil, fmt.Errorf("process factory: negative CPU count %g", opts.UserCPUs)
	}
	wd, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	opts.WorkDir = wd
	f := &Factory{opts: opts, containers: map[string]*Container{}, builds: map[string]*buildOnce{}}
	switch f.freezeAfter = opts.FreezeAfter; {
	case f.freezeAfter == 0:
		f.freezeAfter = DefaultFreezeAfter
	case f.freezeAfter < 0:
		f.freezeAfter = -1
	}
	switch opts.Sandbox {
	case SandboxNone:
	case SandboxAuto, SandboxBwrap:
		f.bwrap = lookBwrap()
		if f.bwrap == "" {
			if opts.Sandbox == SandboxBwrap {
				return nil, errors.New("process factory: sandbox bwrap requested but bwrap is not installed (Debian package bubblewrap)")
			}
			f.warning = "bubblewrap (bwrap) is not installed: actions run unsandboxed, with Whirl's permissions; install the bubblewrap package or pass --sandbox=none to silence this"
		}
	default:
		return nil, fmt.Errorf("process factory: unknown sandbox %q (want auto, none or bwrap)", opts.Sandbox)
	}
	if opts.GoCacheDir == "" {
		opts.GoCacheDir = filepath.Join(wd, "gocache")
	}
	if opts.GoCacheDir, err = filepath.Abs(opts.GoCacheDir); err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	f.goCache = opts.GoCacheDir
	f.opts.GoCacheDir = opts.GoCacheDir
	for _, d := range []string{wd, filepath.Join(wd, "c"), filepath.Join(wd, "launchers"), filepath.Join(wd, "gobuild"), opts.GoCacheDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("process factory: %w", err)
		}
		os.Chmod(d, 0o711)
	}
	if f.bwrap != "" && os.Getuid() == 0 {
		if d := closedAncestor(filepath.Join(wd, "c")); d != "" {
			return nil, fmt.Errorf("process factory: work directory %s is not reachable by the sandbox's uid %d: %s is not searchable by others (chmod o+x)", wd, nobody, d)
		}
	}
	f.launcher = filepath.Join(wd, "launchers")
	if err := os.WriteFile(filepath.Join(f.launcher, "launcher.py"), runtimes.PythonLauncher(), 0o644); err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(f.launcher, "launcher.js"), runtimes.NodeLauncher(), 0o644); err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	if err := f.setupLibs(); err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	if err := f.setupNetwork(); err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	hide := map[string]bool{}
	for _, h := range append([]string{wd, opts.GoCacheDir}, opts.HideDirs...) {
		if h == "" || h != wd && within(wd, h) {
			continue
		}
		a, err := filepath.Abs(h)
		if err != nil {
			return nil, fmt.Errorf("process factory: %w", err)
		}
		hide[a] = true
	}
	for h := range hide {
		f.hide = append(f.hide, h)
	}
	f.cg = probeCgroups()
	f.leftovers, f.reapErr = f.reapLeftovers()
	f.python, f.pyErr = runtimes.FindPython()
	if f.pyErr == nil {
		// Prefer the system's build of the same minor version: it starts
		// faster than a pyenv build (whose site-packages are not used
		// anyway, see runtimes.PythonFlags), and when sandboxed as root it
		// is reachable by uid 65534 where /root/.pyenv is not.
		for _, d := range []string{"/usr/bin", "/usr/local/bin"} {
			p := filepath.Join(d, "python"+f.python.Version)
			if st, err := os.Stat(p); err == nil && st.Mode()&0o001 != 0 && closedAncestor(p) == "" {
				f.python.Path = p
				break
			}
		}
		if f.bwrap != "" && os.Getuid() == 0 && closedAncestor(f.python.Path) != "" {
			f.pyErr = fmt.Errorf("python %s is not reachable from the sandbox", f.python.Version)
		}
	}
	if f.bwrap != "" && os.Getuid() != 0 {
		if st, err := os.Stat(f.bwrap); err == nil && st.Mode()&os.ModeSetuid != 0 {
			// A traced exec ignores the setuid bit bwrap needs here.
			f.noPtrace.Store(true)
		}
	}
	f.node, _ = lookPath("node")
	f.goCmd = opts.Go
	if f.goCmd == "" {
		f.goCmd, _ = lookPath("go")
	}
	if err := f.setupInterpreters(); err != nil {
		return nil, fmt.Errorf("process factory: %w", err)
	}
	if m := runtimes.MissingSummary(f.Bundles()); m != "" {
		f.warning = strings.TrimPrefix(f.warning+"; "+m, "; ")
	}
	return f, nil
}

// Warning is a message to print once when the factory runs without the
// sandbox it was asked to use ("auto" without bubblewrap) or a runtime's
// bundled libraries are missing (one line for all); "" otherwise.
func (f *Factory) Warning() string { return f.warning }

// Sandboxed reports whether containers run under bubblewrap.
func (f *Factory) Sandboxed() bool { return f.bwrap != "" }

// Kinds reports the kind families this factory can run on this machine:
// "python", "nodejs", "go", "java", "php", "ruby" when an interpreter of
// theirs is installed, and "blackbox". Any kind of a listed family is
// accepted by Create, which runs it on the nearest version (Interpreter).
func (f *Factory) Kinds() []string {
	var k []string
	if f.pyErr == nil {
		k = append(k, runtimes.FamilyPython)
	}
	if f.node != "" {
		k = append(k, runtimes.FamilyNodejs)
	}
	if f.goCmd != "" {
		k = append(k, runtimes.FamilyGo)
	}
	for _, fam := range []string{runtimes.FamilyJava, runtimes.FamilyPHP, runtimes.FamilyRuby} {
		for _, in := range f.interps {
			if in.Family == fam {
				k = append(k, fam)
				break
			}
		}
	}
	return append(k, runtimes.FamilyBlackbox)
}

func (f *Factory) supports(family string) bool {
	for _, k := range f.Kinds() {
		if k == family {
			return true
		}
	}
	return false
}

// Create starts a container for spec. Python and nodejs containers start
// their interpreter now, in their cgroups and limits, and return without
// waiting for it to finish starting, so that a cold start overlaps the
// interpreter's start with writing the code at Init; Ready waits for it
// (the container pool does, for stem cells). Go and blackbox containers
// start their process at Init, once the code is known. ctx bounds the start
// only.
func (f *Factory) Create(ctx context.Context, spec container.Spec) (container.Container, error) {
	family := runtimes.FamilyOf(spec.Kind)
	if !f.supports(family) {
		// The invoker reports the message (what to install) as the
		// activation's developer error.
		return nil, fmt.Errorf("create %s: %w: %w", spec.Kind, container.ErrUnsupportedKind, &container.InitError{Message: (&runtimes.MissingError{Kind: spec.Kind}).Error()})
	}
	var interp runtimes.Interpreter
	if family != runtimes.FamilyBlackbox {
		in, err := f.Interpreter(spec.Kind)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w: %w", spec.Kind, container.ErrUnsupportedKind, &container.InitError{Message: err.Error()})
		}
		interp = in
	}
	id := newID()
	dir := filepath.Join(f.opts.WorkDir, "c", f.owned(id))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	c := &Container{f: f, id: id, spec: spec, family: family, interp: interp, dir: dir, logs: newLogCollector(), pending: map[string]chan []byte{}}
	f.mu.Lock()
	f.containers[id] = c
	f.mu.Unlock()
	if note := substituteNote(spec.Kind, interp); note != "" {
		c.logs.add(1, []byte(note), time.Now())
	}
	argv, err := f.launcherArgv(ctx, spec, interp)
	if err != nil {
		c.Destroy(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("create %s: %w", spec.Kind, err)
	}
	if argv != nil {
		c.awaitReady = true
		if err := c.start(ctx, argv); err != nil {
			c.Destroy(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("create %s: %w", spec.Kind, err)
		}
	}
	return c, nil
}

// Close destroys every container the factory still holds.
func (f *Factory) Close(ctx context.Context) error {
	f.mu.Lock()
	cs := make([]*Container, 0, len(f.containers))
	for _, c := range f.containers {
		cs = append(cs, c)
	}
	f.mu.Unlock()
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Destroy(ctx))
	}
	return errors.Join(errs...)
}

func (f *Factory) forget(id string) {
	f.mu.Lock()
	delete(f.containers, id)
	f.mu.Unlock()
}

// owned returns the name of container id's folder and (prefixed) cgroups:
// it names this process, so that a later run can tell them from a live
// Whirl's once this one is dead (see reapLeftovers).
func (f *Factory) owned(id string) string { return self().String() + "-" + id }

// Leftovers returns the container folders and cgroups that crashed runs
// had left, which New removed, and why some could not be removed.
func (f *Factory) Leftovers() ([]string, error) { return f.leftovers, f.reapErr }

// cgLimits returns the cgroup settings of a container of memoryMB.
func (f *Factory) cgLimits(memoryMB int) cgLimits {
	lim := cgLimits{memoryMB: memoryMB, maxProcs: f.opts.MaxProcs}
	if memoryMB <= 0 {
		return lim
	}
	lim.cpuShares = min(max(1024*memoryMB/f.opts.UserMemoryMB, 2), 262144)
	if f.opts.UserCPUs > 0 {
		q := f.opts.UserCPUs * float64(memoryMB) / float64(f.opts.UserMemoryMB) * cpuPeriodUs
		lim.cpuQuotaUs = max(int(q), 1000) // the kernel's least quota is 1 ms
	}
	return lim
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// baseEnv is the environment every action process starts with.
func (f *Factory) baseEnv(spec container.Spec) []string {
	env := map[string]string{
		"PATH":                    "/usr/local/bin:/usr/bin:/bin",
		"HOME":                    "/tmp",
		"LANG":                    "C.UTF-8",
		"TMPDIR":                  "/tmp",
		"PYTHONDONTWRITEBYTECODE": "1",
		"__OW_ALLOW_CONCURRENT":   "true",
	}
	if f.opts.APIHost != "" {
		env["__OW_API_HOST"] = f.opts.APIHost
	}
	if runtimes.FamilyOf(spec.Kind) == runtimes.FamilyNodejs {
		if p := f.nodePath(); p != "" {
			env["NODE_PATH"] = p
		}
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func lookPath(name string) (string, error) {
	for _, d := range strings.Split(os.Getenv("PATH"), ":") {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH", name)
}

// ptraceGate reports whether processes start stopped under ptrace (see
// startTraced) rather than behind a /bin/sh gate.
func (f *Factory) ptraceGate() bool { return !f.noPtrace.Load() }

// WorkDir returns the factory's absolute work directory.
func (f *Factory) WorkDir() string { return f.opts.WorkDir }
