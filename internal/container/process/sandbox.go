package process

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// nobody is the unprivileged uid and gid sandboxed actions run as.
const nobody = 65534

// bwrapArgs returns the bubblewrap arguments that put argv in a sandbox
// whose only writable place is a private /tmp and whose only view of Whirl's
// files is the container's own directory dir and the launchers (read-only).
func (f *Factory) bwrapArgs(dir string, argv []string) []string {
	a := []string{f.bwrap,
		"--ro-bind", "/", "/",
		"--dev", "/dev",
		"--proc", "/proc",
		"--tmpfs", "/tmp",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-user",
		"--uid", strconv.Itoa(nobody), "--gid", strconv.Itoa(nobody),
		"--hostname", "action",
		"--die-with-parent",
	}
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
	for _, t := range f.hide {
		a = append(a, "--tmpfs", t)
	}
	a = append(a, "--ro-bind", f.launcher, f.launcher, "--ro-bind", dir, dir, "--chdir", dir, "--")
	return append(a, argv...)
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

// cgroups is where this factory makes per-container cgroups (cgroup v1
// memory and pids controllers), or empty paths when it cannot.
type cgroups struct {
	memory string // parent directory for memory cgroups, "" if unavailable
	pids   string // parent directory for pids cgroups, "" if unavailable
}

// probeCgroups finds the cgroup v1 memory and pids hierarchies this process
// lives in and checks that a child cgroup can be made in each.
func probeCgroups() cgroups {
	var cg cgroups
	fh, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return cg
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			var dst *string
			switch ctl {
			case "memory":
				dst = &cg.memory
			case "pids":
				dst = &cg.pids
			default:
				continue
			}
			base := filepath.Join("/sys/fs/cgroup", ctl, parts[2])
			probe := filepath.Join(base, fmt.Sprintf("whirl-probe-%d", os.Getpid()))
			if err := os.Mkdir(probe, 0o755); err == nil {
				os.Remove(probe)
				*dst = base
			}
		}
	}
	return cg
}

// cgroup is one container's cgroups.
type cgroup struct {
	memory, pids string
}

func (f *Factory) makeCgroup(id string, memoryMB int) (*cgroup, error) {
	cg := &cgroup{}
	if f.cg.memory != "" && memoryMB > 0 {
		p := filepath.Join(f.cg.memory, "whirl-"+id)
		if err := os.Mkdir(p, 0o755); err != nil {
			return nil, fmt.Errorf("make memory cgroup: %w", err)
		}
		cg.memory = p
		limit := strconv.Itoa(memoryMB << 20)
		if err := os.WriteFile(filepath.Join(p, "memory.limit_in_bytes"), []byte(limit), 0); err != nil {
			cg.remove()
			return nil, fmt.Errorf("set memory limit: %w", err)
		}
		// Without swap accounting this file is absent; that is fine.
		_ = os.WriteFile(filepath.Join(p, "memory.memsw.limit_in_bytes"), []byte(limit), 0)
	}
	if f.cg.pids != "" && f.opts.MaxProcs > 0 {
		p := filepath.Join(f.cg.pids, "whirl-"+id)
		if err := os.Mkdir(p, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("make pids cgroup: %w", err)
		}
		cg.pids = p
		if err := os.WriteFile(filepath.Join(p, "pids.max"), []byte(strconv.Itoa(f.opts.MaxProcs)), 0); err != nil {
			cg.remove()
			return nil, fmt.Errorf("set pids limit: %w", err)
		}
	}
	return cg, nil
}

// join moves pid into the container's cgroups.
func (cg *cgroup) join(pid int) error {
	for _, p := range []string{cg.memory, cg.pids} {
		if p == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(p, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", p, err)
		}
	}
	return nil
}

// oomKilled reports whether the kernel killed a process of the container
// for exceeding its memory limit.
func (cg *cgroup) oomKilled() bool {
	if cg == nil || cg.memory == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(cg.memory, "memory.oom_control"))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n > 0
		}
	}
	return false
}

// killAll kills every process left in the container's cgroups.
func (cg *cgroup) killAll() {
	if cg == nil {
		return
	}
	for _, p := range []string{cg.pids, cg.memory} {
		if p == "" {
			continue
		}
		for range 100 {
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if err != nil || len(strings.TrimSpace(string(b))) == 0 {
				break
			}
			for _, s := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(s); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
}

// remove deletes the cgroups; they must be empty.
func (cg *cgroup) remove() {
	if cg == nil {
		return
	}
	for _, p := range []string{cg.memory, cg.pids} {
		if p != "" {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				// A process still exiting keeps it busy: kill and retry once.
				cg.killAll()
				os.Remove(p)
			}
		}
	}
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
