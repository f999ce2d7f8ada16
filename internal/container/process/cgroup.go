package process

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cgroup controllers the factory uses for each container.
const (
	ctlMemory  = "memory"
	ctlPids    = "pids"
	ctlCPU     = "cpu"
	ctlFreezer = "freezer"
)

// cpuPeriodUs is the CFS period a CPU quota is expressed in (100 ms, the
// kernel's and Docker's default).
const cpuPeriodUs = 100000

// cgroups is where this factory makes per-container cgroups: on cgroup v1
// one parent directory per controller (the cgroup this process lives in,
// in that controller's hierarchy); on v2 (unified) one parent for all,
// with a field set only when its controller is enabled for children (the
// freezer needs no controller on v2). An empty field means unavailable.
type cgroups struct {
	v2                         bool
	memory, pids, cpu, freezer string
}

// parents returns the distinct parent directories in use.
func (g cgroups) parents() []string {
	var out []string
	for _, p := range []string{g.memory, g.pids, g.cpu, g.freezer} {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// cgroupMount is one mounted cgroup hierarchy: the hierarchy path mounted
// (root) and where (dir).
type cgroupMount struct{ root, dir string }

// under returns the directory of the hierarchy path p in the mount.
func (m cgroupMount) under(p string) string {
	if m.root != "/" {
		if rest, ok := strings.CutPrefix(p, m.root); ok {
			p = rest
		}
	}
	return filepath.Join(m.dir, p)
}

// cgroupMounts reads /proc/self/mountinfo: the v1 mounts of the
// controllers the factory uses, by controller, and the v2 mount.
func cgroupMounts() (v1 map[string]cgroupMount, v2 *cgroupMount) {
	v1 = map[string]cgroupMount{}
	fh, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return v1, nil
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(p) < 3 {
			continue
		}
		m := cgroupMount{root: f[3], dir: f[4]}
		switch p[0] {
		case "cgroup2":
			v2 = &m
		case "cgroup":
			for _, o := range strings.Split(p[2], ",") {
				switch o {
				case ctlMemory, ctlPids, ctlCPU, ctlFreezer:
					v1[o] = m
				}
			}
		}
	}
	return v1, v2
}

// probeCgroups finds the cgroups this process lives in and checks that a
// child cgroup can be made under each: cgroup v1 memory, pids, cpu and
// freezer hierarchies when any is mounted, else the v2 unified hierarchy.
func probeCgroups() cgroups {
	var g cgroups
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return g
	}
	v1, v2 := cgroupMounts()
	unified := ""
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			m, ok := v1[ctl]
			if !ok {
				continue
			}
			base, ok := actionsCgroup(m.under(parts[2]), ctl)
			if !ok {
				continue
			}
			switch ctl {
			case ctlMemory:
				g.memory = base
			case ctlPids:
				g.pids = base
			case ctlCPU:
				g.cpu = base
			case ctlFreezer:
				g.freezer = base
			}
		}
	}
	if len(v1) > 0 || v2 == nil || unified == "" {
		return g
	}
	return probeUnified(v2.under(unified))
}

// probeUnified checks the v2 cgroup base: children can be made there, and
// which controllers they get. Enabling a controller for children fails
// when base holds processes and is not the root (the "no internal
// processes" rule): then containers get the freezer only, unless the
// operator delegated a cgroup with the controllers enabled.
func probeUnified(base string) cgroups {
	g := cgroups{v2: true}
	for _, ctl := range []string{ctlMemory, ctlPids, ctlCPU} {
		_ = os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+"+ctl), 0)
	}
	probe := filepath.Join(base, fmt.Sprintf("whirl-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return cgroups{}
	}
	defer os.Remove(probe)
	has := func(file string) bool {
		_, err := os.Stat(filepath.Join(probe, file))
		return err == nil
	}
	if has("memory.max") {
		g.memory = base
	}
	if has("pids.max") {
		g.pids = base
	}
	if has("cpu.weight") {
		g.cpu = base
	}
	if has("cgroup.freeze") {
		g.freezer = base
	}
	return g
}

// actionsCgroupName is the cgroup, under the one this process lives in,
// that holds every action container's cgroup (cgroup v1). Without it the
// containers would be siblings of every task of the parent cgroup, and a
// container's CPU share (a fraction of 1024, by memory) would weigh less
// than one thread of the server: actions would starve under load. As one
// group they weigh actionsCPUShares, and share it by memory among them,
// as Docker's containers share the docker cgroup.
const actionsCgroupName = "whirl-actions"

// actionsCPUShares is the CPU weight of all action containers together
// against the other tasks of the parent cgroup: as many busy threads as
// the machine has CPUs.
var actionsCPUShares = 1024 * runtime.NumCPU()

// actionsCgroup makes (or finds) the cgroup of all action containers
// under base in controller ctl's hierarchy, and reports whether child
// cgroups can be made there.
func actionsCgroup(base, ctl string) (string, bool) {
	if !canMakeChild(base) {
		return "", false
	}
	dir := filepath.Join(base, actionsCgroupName)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", false
	}
	if ctl == ctlCPU {
		_ = os.WriteFile(filepath.Join(dir, "cpu.shares"), []byte(strconv.Itoa(actionsCPUShares)), 0)
	}
	return dir, canMakeChild(dir)
}

// canMakeChild reports whether a child cgroup can be made under base.
func canMakeChild(base string) bool {
	probe := filepath.Join(base, fmt.Sprintf("whirl-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return false
	}
	os.Remove(probe)
	return true
}

// cgLimits are one container's cgroup settings; a zero field sets nothing.
type cgLimits struct {
	memoryMB   int
	maxProcs   int
	cpuShares  int // cgroup v1 cpu.shares (2..262144); v2 gets the matching cpu.weight
	cpuQuotaUs int // CPU time per cpuPeriodUs
}

// cgroup is one container's cgroups: one directory per controller on v1,
// the same directory in every used field on v2. An empty field means the
// container has no cgroup of that controller.
type cgroup struct {
	v2                         bool
	memory, pids, cpu, freezer string
}

// dirs returns the container's distinct cgroup directories.
func (cg *cgroup) dirs() []string {
	if cg == nil {
		return nil
	}
	var out []string
	for _, p := range []string{cg.memory, cg.pids, cg.cpu, cg.freezer} {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// makeCgroup makes the cgroups named name (under each parent) with lim.
func (f *Factory) makeCgroup(name string, lim cgLimits) (*cgroup, error) {
	if f.cg.v2 {
		return makeCgroupV2(f.cg, name, lim)
	}
	cg := &cgroup{}
	mk := func(parent string, dst *string, what string, files ...string) error {
		p := filepath.Join(parent, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("make %s cgroup: %w", what, err)
		}
		*dst = p
		for i := 0; i+1 < len(files); i += 2 {
			if err := os.WriteFile(filepath.Join(p, files[i]), []byte(files[i+1]), 0); err != nil {
				return fmt.Errorf("set %s: %w", files[i], err)
			}
		}
		return nil
	}
	err := func() error {
		if f.cg.memory != "" && lim.memoryMB > 0 {
			limit := strconv.Itoa(lim.memoryMB << 20)
			if err := mk(f.cg.memory, &cg.memory, "memory", "memory.limit_in_bytes", limit); err != nil {
				return err
			}
			// Without swap accounting this file is absent; that is fine.
			_ = os.WriteFile(filepath.Join(cg.memory, "memory.memsw.limit_in_bytes"), []byte(limit), 0)
		}
		if f.cg.pids != "" && lim.maxProcs > 0 {
			if err := mk(f.cg.pids, &cg.pids, "pids", "pids.max", strconv.Itoa(lim.maxProcs)); err != nil {
				return err
			}
		}
		if f.cg.cpu != "" && (lim.cpuShares > 0 || lim.cpuQuotaUs > 0) {
			var files []string
			if lim.cpuShares > 0 {
				files = append(files, "cpu.shares", strconv.Itoa(lim.cpuShares))
			}
			if lim.cpuQuotaUs > 0 {
				files = append(files, "cpu.cfs_period_us", strconv.Itoa(cpuPeriodUs), "cpu.cfs_quota_us", strconv.Itoa(lim.cpuQuotaUs))
			}
			if err := mk(f.cg.cpu, &cg.cpu, "cpu", files...); err != nil {
				return err
			}
		}
		if f.cg.freezer != "" {
			if err := mk(f.cg.freezer, &cg.freezer, "freezer"); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		cg.remove()
		return nil, err
	}
	return cg, nil
}

// makeCgroupV2 makes one v2 cgroup named name under g's parent with lim,
// for the controllers g has.
func makeCgroupV2(g cgroups, name string, lim cgLimits) (*cgroup, error) {
	parent := g.parents()
	if len(parent) == 0 {
		return &cgroup{}, nil
	}
	p := filepath.Join(parent[0], name)
	if err := os.Mkdir(p, 0o755); err != nil {
		return nil, fmt.Errorf("make cgroup: %w", err)
	}
	cg := &cgroup{v2: true}
	if g.freezer != "" {
		cg.freezer = p
	}
	var files []string
	if g.memory != "" && lim.memoryMB > 0 {
		cg.memory = p
		files = append(files, "memory.max", strconv.Itoa(lim.memoryMB<<20))
	}
	if g.pids != "" && lim.maxProcs > 0 {
		cg.pids = p
		files = append(files, "pids.max", strconv.Itoa(lim.maxProcs))
	}
	if g.cpu != "" && lim.cpuShares > 0 {
		cg.cpu = p
		files = append(files, "cpu.weight", strconv.Itoa(sharesToWeight(lim.cpuShares)))
	}
	if g.cpu != "" && lim.cpuQuotaUs > 0 {
		cg.cpu = p
		files = append(files, "cpu.max", fmt.Sprintf("%d %d", lim.cpuQuotaUs, cpuPeriodUs))
	}
	if cg.memory == "" && cg.pids == "" && cg.cpu == "" && cg.freezer == "" {
		cg.freezer = p // keep the directory known, to remove it
	}
	for i := 0; i < len(files); i += 2 {
		if err := os.WriteFile(filepath.Join(p, files[i]), []byte(files[i+1]), 0); err != nil {
			os.Remove(p)
			return nil, fmt.Errorf("set %s: %w", files[i], err)
		}
	}
	if cg.memory != "" {
		// No swap beyond the limit, as with v1's memsw; absent without swap.
		_ = os.WriteFile(filepath.Join(p, "memory.swap.max"), []byte("0"), 0)
	}
	return cg, nil
}

// sharesToWeight converts cgroup v1 cpu.shares (2..262144, default 1024)
// to v2 cpu.weight (1..10000, default 100), as the OCI runtimes do.
func sharesToWeight(shares int) int {
	return 1 + (shares-2)*9999/262142
}

// join moves pid into the container's cgroups.
func (cg *cgroup) join(pid int) error {
	for _, p := range cg.dirs() {
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
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(cg.memory, file))
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

// freeze stops every process of the container (cgroup freezer). It
// returns without waiting for the kernel to finish (v1 may report
// FREEZING for a moment). Without a freezer cgroup it does nothing.
func (cg *cgroup) freeze() error { return cg.setFrozen(true) }

// thaw lets the container's processes run again.
func (cg *cgroup) thaw() error { return cg.setFrozen(false) }

func (cg *cgroup) setFrozen(frozen bool) error {
	if cg == nil || cg.freezer == "" {
		return nil
	}
	return setFrozen(cg.freezer, cg.v2, frozen)
}

// setFrozen freezes or thaws the cgroup dir.
func setFrozen(dir string, v2, frozen bool) error {
	file, val := "freezer.state", "THAWED"
	if frozen {
		val = "FROZEN"
	}
	if v2 {
		file, val = "cgroup.freeze", "0"
		if frozen {
			val = "1"
		}
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0); err != nil {
		return fmt.Errorf("freezer %s: %w", dir, err)
	}
	return nil
}

// killAll kills every process left in the container's cgroups. It thaws
// them first: a frozen process does not die until it is thawed.
func (cg *cgroup) killAll() {
	if cg == nil {
		return
	}
	_ = cg.thaw()
	for _, p := range cg.dirs() {
		killCgroup(p)
	}
}

// killCgroup sends SIGKILL to every process in the cgroup dir until none
// is listed (bounded, for a fork loop racing it).
func killCgroup(dir string) {
	// cgroup v2 (Linux 5.14+) kills the whole cgroup in one write.
	_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	for range 100 {
		pids := cgroupProcs(dir)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// cgroupProcs lists the processes in the cgroup dir.
func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, s := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(s); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// remove deletes the cgroups; they must be empty.
func (cg *cgroup) remove() {
	if cg == nil {
		return
	}
	for _, p := range cg.dirs() {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			// A process still exiting keeps it busy: kill and retry once.
			cg.killAll()
			os.Remove(p)
		}
	}
}

// removeCgroupDir removes the cgroup dir once its killed processes are
// gone: rmdir fails with EBUSY until they have exited, which takes a
// moment after SIGKILL. It gives up after about two seconds.
func removeCgroupDir(dir string) error {
	var err error
	for range 200 {
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}
