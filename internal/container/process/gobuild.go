package process

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
)

// Limits of one Go build (the compiler runs several processes, each with
// its own threads, and needs more memory than most actions).
const (
	goBuildTimeout  = 5 * time.Minute
	goBuildMemoryMB = 1536
	goBuildOutput   = 256 << 10 // bytes of compiler output kept
)

// Where a sandboxed build sees its directories: neutral names under its
// private /tmp, so that compiler messages name no host path.
const (
	sandboxSrc   = "/tmp/action"
	sandboxOut   = "/tmp/out"
	sandboxCache = "/tmp/gocache"
)

type buildOnce struct {
	done chan struct{}
	bin  string
	err  error
}

// goBuild compiles an action once per key: concurrent and later builds of
// the same code reuse the binary under WorkDir/gobuild/key, whichever
// namespace built it first (the key hashes the code, so an identical
// binary is all another namespace can get). ns chooses the compiler's
// cache (see goCacheFor).
func (f *Factory) goBuild(ctx context.Context, key, ns string, write func(src *os.Root) error) (string, error) {
	out := filepath.Join(f.opts.WorkDir, "gobuild", key)
	bin := filepath.Join(out, "exec")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	f.mu.Lock()
	b, ok := f.builds[key]
	if !ok {
		b = &buildOnce{done: make(chan struct{})}
		f.builds[key] = b
	}
	f.mu.Unlock()
	if ok {
		select {
		case <-b.done:
			return b.bin, b.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	b.bin, b.err = f.compile(ctx, ns, out, bin, write)
	if b.err != nil {
		// A failed build may succeed later (a timeout): forget it.
		f.mu.Lock()
		delete(f.builds, key)
		f.mu.Unlock()
	}
	close(b.done)
	return b.bin, b.err
}

// compile writes the code with write into a fresh build directory and runs
// go build there: in the sandbox (as uid 65534, Whirl's directories hidden,
// no network unless a module proxy is configured), in a memory and pids
// cgroup, within goBuildTimeout, with an environment of go's settings
// only.
func (f *Factory) compile(ctx context.Context, ns, out, bin string, write func(src *os.Root) error) (string, error) {
	tmp, err := os.MkdirTemp(filepath.Join(f.opts.WorkDir, "gobuild"), "src-")
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	defer os.RemoveAll(tmp)
	src, outDir := filepath.Join(tmp, "src"), filepath.Join(tmp, "out")
	for _, d := range []string{src, outDir, filepath.Join(tmp, "home")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return "", fmt.Errorf("init: %w", err)
		}
	}
	if err := writeSource(src, write); err != nil {
		return "", err
	}
	cache, err := f.goCacheFor(ns)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if f.sandboxAsRoot() {
		// The build runs as uid 65534: it may write its sources (go.mod,
		// go.sum) and its output, nothing else of Whirl's.
		if err := chownTree(tmp, nobody); err != nil {
			return "", fmt.Errorf("init: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, goBuildTimeout)
	defer cancel()
	if err := f.runBuild(ctx, tmp, cache); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var ie *container.InitError
		if errors.As(err, &ie) {
			ie.Message = f.neutralPaths(ie.Message, tmp, cache)
			return "", ie
		}
		return "", fmt.Errorf("init: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	built := filepath.Join(outDir, "exec")
	if st, err := os.Lstat(built); err != nil || !st.Mode().IsRegular() {
		return "", initErr("The action failed to compile: go build wrote no executable.")
	}
	if os.Getuid() == 0 {
		// The binary is Whirl's from now on, not the sandbox uid's.
		if err := os.Lchown(built, 0, 0); err != nil {
			return "", fmt.Errorf("init: %w", err)
		}
	}
	if err := os.Rename(built, bin); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	return bin, nil
}

// writeSource runs write on an os.Root of src.
func writeSource(src string, write func(src *os.Root) error) error {
	root, err := os.OpenRoot(src)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer root.Close()
	if err := write(root); err != nil {
		var ie *container.InitError
		if errors.As(err, &ie) {
			return err
		}
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

// sandboxAsRoot reports whether sandboxed processes are started by root as
// uid 65534 (whose files are then owned by 65534 on the host).
func (f *Factory) sandboxAsRoot() bool { return f.bwrap != "" && os.Getuid() == 0 }

// goCacheFor returns the compiler's cache directory (GOCACHE and GOPATH)
// for namespace ns, made on first use. Each namespace has its own: a
// build writes its cache, so a shared one would let one tenant's build
// leave compiled packages (or, through a compiler fault, doctored ones)
// that another tenant's build then links, and would hold every tenant's
// compiled code in one place a build can list. The price is one cold
// standard-library compile per namespace.
func (f *Factory) goCacheFor(ns string) (string, error) {
	h := sha256.Sum256([]byte(ns))
	dir := filepath.Join(f.goCache, hex.EncodeToString(h[:8]))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return dir, nil
		}
		return "", err
	}
	if f.sandboxAsRoot() {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			os.Remove(dir)
			return "", err
		}
	}
	return dir, nil
}

// runBuild runs go build in the build directory tmp (src, out and home
// inside) with the compiler cache cache. A failed build is an InitError
// carrying the compiler's output.
func (f *Factory) runBuild(ctx context.Context, tmp, cache string) error {
	outDir, cacheDir, home := filepath.Join(tmp, "out"), cache, filepath.Join(tmp, "home")
	if f.bwrap != "" {
		outDir, cacheDir, home = sandboxOut, sandboxCache, "/tmp"
	}
	argv := []string{f.goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(outDir, "exec"), "."}
	if f.bwrap != "" {
		argv = f.buildBwrapArgs(tmp, cache, argv)
	}
	env := f.goEnv(home, cacheDir)
	cg, err := f.makeCgroup(cgroupPrefix+f.owned("build-"+newID()), f.cgLimits(goBuildMemoryMB))
	if err != nil {
		return err
	}
	defer cg.remove()
	defer cg.killAll()
	var buf limitedBuffer
	buf.max = goBuildOutput
	newCmd := func(gate bool) *exec.Cmd {
		a := argv
		if gate {
			a = append([]string{"/bin/sh", "-c", `read _ <&4; exec 4<&- "$@"`, "sh"}, argv...)
		}
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Dir = filepath.Join(tmp, "src")
		if f.bwrap != "" {
			cmd.Dir = "/"
		}
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = &buf, &buf
		cmd.ExtraFiles = []*os.File{nil} // fd 3 closed; the gate is fd 4
		cmd.WaitDelay = 2 * time.Second
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if f.sandboxAsRoot() {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
		}
		return cmd
	}
	limit := func(pid int) error {
		lerr := cg.join(pid)
		if lerr == nil && cg.pids == "" && f.opts.MaxProcs > 0 {
			lerr = prlimit(pid, rlimitNproc, uint64(f.opts.MaxProcs)*4)
		}
		return lerr
	}
	cmd, err := f.startLimited(newCmd, limit)
	if err != nil {
		return fmt.Errorf("start go build: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cg.killAll()
		<-waited
		return ctx.Err()
	}
	if err != nil {
		if cg.oomKilled() {
			return initErr("The action failed to compile: the compiler ran out of its %d MB of memory.", goBuildMemoryMB)
		}
		return initErr("The action failed to compile:\n%s", strings.TrimSpace(buf.String()))
	}
	return nil
}

// buildBwrapArgs returns the bubblewrap command line of a build: the
// action sandbox's (read-only system, private /tmp, uid 65534, Whirl's
// directories hidden), with the build directory's src and out and the
// namespace's compiler cache as its only writable places, under neutral
// names. The network is private (loopback only) unless a module proxy is
// configured.
func (f *Factory) buildBwrapArgs(tmp, cache string, argv []string) []string {
	a := f.bwrapBase("build")
	if f.opts.GoProxy == "" {
		a = append(a, "--unshare-net")
	}
	a = append(a,
		"--bind", filepath.Join(tmp, "src"), sandboxSrc,
		"--bind", filepath.Join(tmp, "out"), sandboxOut,
		"--bind", cache, sandboxCache,
		"--chdir", sandboxSrc, "--")
	return append(a, argv...)
}

// goEnv is the whole environment of a build: go's settings and nothing of
// the server's. GOENV=off ignores any go env file; GOWORK=off any go.work
// in the code; GOTOOLCHAIN=local never fetches a toolchain; GOPROXY is the
// operator's module proxy, or off (then only the standard library and the
// code's own packages build).
func (f *Factory) goEnv(home, cache string) []string {
	proxy := f.opts.GoProxy
	if proxy == "" {
		proxy = "off"
	}
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"TMPDIR=" + home,
		"LANG=C.UTF-8",
		"GOCACHE=" + filepath.Join(cache, "build"),
		"GOPATH=" + filepath.Join(cache, "gopath"),
		"GOENV=off",
		"GOWORK=off",
		"GOFLAGS=-mod=mod",
		"GOTOOLCHAIN=local",
		"GOTELEMETRY=off",
		"CGO_ENABLED=0",
		"GOPROXY=" + proxy,
	}
}

// neutralPaths rewrites the host paths of a build in msg to neutral names:
// the sources to ".", the cache to /gocache, the rest of Whirl's work
// directory to /whirl.
func (f *Factory) neutralPaths(msg, tmp, cache string) string {
	src := filepath.Join(tmp, "src")
	return strings.NewReplacer(
		src+"/", "./", src, ".",
		sandboxSrc+"/", "./", sandboxSrc, ".",
		cache, "/gocache", sandboxCache, "/gocache",
		filepath.Join(tmp, "out"), "/out", sandboxOut, "/out",
		f.opts.WorkDir, "/whirl",
	).Replace(msg)
}

// chownTree gives every file under dir (dir included, links themselves) to
// uid and gid id.
func chownTree(dir string, id int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id, id)
	})
}

// limitedBuffer keeps the first max bytes written to it and drops the
// rest. It is safe for concurrent use (stdout and stderr share one).
type limitedBuffer struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// namespaceOf returns the namespace of an action name "/ns/[pkg/]action",
// or "_" when there is none.
func namespaceOf(name string) string {
	ns, _, _ := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if ns == "" {
		return "_"
	}
	return ns
}
