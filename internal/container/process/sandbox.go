package process

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"
)

// nobody is the unprivileged uid and gid sandboxed actions run as.
const nobody = 65534

// bwrapBase returns the bubblewrap arguments every sandbox starts with:
// the system read-only, a private /dev, /proc and /tmp, its own pid, ipc,
// uts and user namespaces, uid and gid 65534, killed with its parent, and
// Whirl's directories hidden. The caller adds the network and its binds.
func (f *Factory) bwrapBase(hostname string) []string {
	a := []string{f.bwrap,
		"--ro-bind", "/", "/",
		"--dev", "/dev",
		"--proc", "/proc",
		"--tmpfs", "/tmp",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-user",
		"--uid", strconv.Itoa(nobody), "--gid", strconv.Itoa(nobody),
		"--hostname", hostname,
		"--die-with-parent",
	}
	for _, t := range f.hide {
		a = append(a, "--tmpfs", t)
	}
	return a
}

// bwrapArgs returns the bubblewrap arguments that put argv in a sandbox
// whose only writable place is a private /tmp and whose only view of Whirl's
// files is the container's own directory dir, the launchers and the
// runtime libraries (read-only, see libs.go).
func (f *Factory) bwrapArgs(dir string, argv []string) []string {
	a := f.bwrapBase("action")
	switch f.netMode {
	case NetworkNone:
		a = append(a, "--unshare-net")
	case NetworkIsolated:
		// The process starts inside the container's own namespace (see
		// netns.enter); its resolver is slirp4netns's.
		if f.resolv != "" {
			a = append(a, "--ro-bind", filepath.Join(f.launcher, "resolv.conf"), f.resolv)
		}
	}
	a = append(a, "--ro-bind", f.launcher, f.launcher)
	a = append(a, f.libBinds()...)
	a = append(a, "--ro-bind", dir, dir, "--chdir", dir, "--")
	return append(a, argv...)
}

// startLimited starts the command newCmd makes with limit applied to its
// process before it runs anything of its own: under ptrace where allowed,
// else behind a shell gate (newCmd(true)) that waits on fd 4 until limit
// is done. It returns the started command.
func (f *Factory) startLimited(newCmd func(gate bool) *exec.Cmd, limit func(pid int) error) (*exec.Cmd, error) {
	if f.ptraceGate() {
		cmd := newCmd(false)
		err := startTraced(cmd, limit)
		if !errors.Is(err, syscall.EPERM) {
			return cmd, err
		}
		// ptrace is not allowed here: use the shell gate from now on.
		f.noPtrace.Store(true)
	}
	cmd := newCmd(true)
	return cmd, startGated(cmd, limit)
}

// closedAncestor returns the topmost proper ancestor of p that uid 65534
// cannot search, or "" when every ancestor is searchable.
func closedAncestor(p string) string {
	var parts []string
	for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
		parts = append(parts, d)
	}
	for i := len(parts) - 1; i >= 0; i-- {
		st, err := os.Stat(parts[i])
		if err == nil && st.Mode().Perm()&0o001 == 0 {
			return parts[i]
		}
	}
	return ""
}

// prlimit sets a resource limit of another process.
func prlimit(pid, resource int, limit uint64) error {
	lim := syscall.Rlimit{Cur: limit, Max: limit}
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource), uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

const (
	rlimitNproc = 6
	rlimitAS    = 9
)

// fionread returns how many bytes wait unread in a pipe.
func fionread(fd uintptr) int {
	var n int32
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	if e != 0 {
		return 0
	}
	return int(n)
}

// lookBwrap finds bubblewrap.
func lookBwrap() string {
	p, err := exec.LookPath("bwrap")
	if err != nil {
		return ""
	}
	return p
}
