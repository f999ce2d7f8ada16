package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
)

// spinner leaves a forked child and a thread spinning after its first
// activation: the leftovers a tenant could keep burning CPU with.
var spinner = container.InitRequest{Code: []byte(`import os, threading
started = []
def spin():
    while True:
        pass
def main(a):
    if not started:
        started.append(1)
        if os.fork() == 0:
            spin()
        threading.Thread(target=spin, daemon=True).start()
    return {"pid": os.getpid()}
`)}

// requireCgroup skips when f cannot make cgroups of controller ctl (not
// root, or no such hierarchy).
func requireCgroup(t testing.TB, f *process.Factory, ctl string) {
	t.Helper()
	if f.CgroupParent(ctl) == "" {
		t.Skipf("no %s cgroup can be made here (needs root and the %s controller)", ctl, ctl)
	}
}

// cpuTicks sums the user and system CPU time, in clock ticks, of every
// process in the cgroup dir (all their threads included).
func cpuTicks(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range strings.Fields(string(b)) {
		st, err := os.ReadFile(filepath.Join("/proc", p, "stat"))
		if err != nil {
			continue // exited
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		total += u + s
	}
	return total
}

// frozen reports whether the freezer cgroup dir is frozen.
func frozen(t *testing.T, dir string) bool {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, "freezer.state")); err == nil {
		return strings.TrimSpace(string(b)) == "FROZEN"
	}
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), "frozen 1")
}

// waitFrozen waits until the freezer cgroup dir is frozen.
func waitFrozen(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !frozen(t, dir); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not frozen", dir)
		}
	}
}

func run(t *testing.T, c container.Container) map[string]any {
	t.Helper()
	res, err := c.Run(t.Context(), container.RunRequest{Value: json.RawMessage(`{}`), LogLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("result %q: %v", res.Body, err)
	}
	return out
}

// TestIdleContainerIsFrozen: what an action leaves running (a forked child
// and a thread, spinning) gets no CPU while the container is idle, and the
// container still serves the next activation and can be destroyed.
func TestIdleContainerIsFrozen(t *testing.T) {
	requireBwrap(t)
	f := newFactory(t, process.SandboxBwrap)
	requireCgroup(t, f, "freezer")
	ctx := t.Context()
	c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(ctx, spinner); err != nil {
		t.Fatal(err)
	}
	first := run(t, c)
	dir := process.CgroupDir(c, "freezer")
	waitFrozen(t, dir)
	if n := len(strings.Fields(readFile(t, filepath.Join(dir, "cgroup.procs")))); n < 2 {
		t.Fatalf("the forked child is not in the container's cgroup (%d processes)", n)
	}
	// Unfrozen, two spinners gain about 20 ticks per 100 ms even on a busy
	// machine; frozen, none.
	before := cpuTicks(t, dir)
	time.Sleep(300 * time.Millisecond)
	if gained := cpuTicks(t, dir) - before; gained > 1 {
		t.Fatalf("an idle container's leftovers used %d clock ticks of CPU", gained)
	}
	if got := run(t, c); got["pid"] != first["pid"] {
		t.Fatalf("the next activation ran in another process: %v, then %v", first, got)
	}
	waitFrozen(t, dir)
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a frozen container's cgroup outlived Destroy: %v", err)
	}
}

// TestEagerFreezing runs activations back to back and concurrently with
// a freeze after every activation: each one thaws its container first.
func TestEagerFreezing(t *testing.T) {
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: process.SandboxNone, FreezeAfter: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.WithoutCancel(t.Context())) })
	requireCgroup(t, f, "freezer")
	ctx := t.Context()
	c, err := f.Create(ctx, container.Spec{Kind: "nodejs:20", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(ctx, container.InitRequest{Code: []byte("function main(a) { return new Promise(r => setTimeout(() => r(a), a.ms)) }"), Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	dir := process.CgroupDir(c, "freezer")
	for i := range 5 {
		waitFrozen(t, dir)
		errs := make(chan error, 4)
		for j := range 4 {
			go func() {
				v := fmt.Sprintf(`{"ms":%d}`, 10*j)
				res, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(v), Env: map[string]string{"activation_id": fmt.Sprintf("%d-%d", i, j)}})
				if err == nil && string(res.Body) != v {
					err = fmt.Errorf("result %s, want %s", res.Body, v)
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCPUSharesFollowMemory: a container's cpu.shares is its memory's
// fraction of the pool's (OpenWhisk's rule): 256 MB gets twice 128 MB's.
func TestCPUSharesFollowMemory(t *testing.T) {
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: process.SandboxNone, UserMemoryMB: 2048})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.WithoutCancel(t.Context())) })
	requireCgroup(t, f, "cpu")
	shares := map[int]int{}
	for _, mb := range []int{128, 256} {
		c, err := f.Create(t.Context(), container.Spec{Kind: "python:3", MemoryMB: mb})
		if err != nil {
			t.Fatal(err)
		}
		dir := process.CgroupDir(c, "cpu")
		if f.CgroupV2() {
			shares[mb], _ = strconv.Atoi(readFile(t, filepath.Join(dir, "cpu.weight")))
		} else {
			shares[mb], _ = strconv.Atoi(readFile(t, filepath.Join(dir, "cpu.shares")))
		}
	}
	if !f.CgroupV2() && shares[128] != 1024*128/2048 {
		t.Fatalf("cpu.shares of 128 MB of 2048: %d, want %d", shares[128], 1024*128/2048)
	}
	if shares[256] < 2*shares[128] || shares[256] > 2*shares[128]+1 {
		t.Fatalf("CPU shares not proportional to memory: 128 MB %d, 256 MB %d", shares[128], shares[256])
	}
}

// TestCPUQuota: with UserCPUs a container's CPU time is capped at its
// memory's fraction of them, and the cap bites; without, it is not capped.
func TestCPUQuota(t *testing.T) {
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: process.SandboxNone, UserMemoryMB: 1024, UserCPUs: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.WithoutCancel(t.Context())) })
	requireCgroup(t, f, "cpu")
	if f.CgroupV2() {
		t.Skip("the quota test reads cgroup v1 files")
	}
	ctx := t.Context()
	c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	dir := process.CgroupDir(c, "cpu")
	// 0.4 CPUs * 256 / 1024 = 0.1 CPU: 10 ms per 100 ms.
	if q, p := readFile(t, filepath.Join(dir, "cpu.cfs_quota_us")), readFile(t, filepath.Join(dir, "cpu.cfs_period_us")); q != "10000" || p != "100000" {
		t.Fatalf("quota %s per period %s, want 10000 per 100000", q, p)
	}
	busy := container.InitRequest{Code: []byte("import time\ndef main(a):\n    t = time.time()\n    while time.time() - t < 0.3:\n        pass\n    return a\n")}
	if _, err := c.Init(ctx, busy); err != nil {
		t.Fatal(err)
	}
	run(t, c)
	if st := readFile(t, filepath.Join(dir, "cpu.stat")); !strings.Contains(st, "nr_throttled ") || strings.Contains(st, "nr_throttled 0\n") {
		t.Fatalf("a busy action was never throttled:\n%s", st)
	}

	g := newFactory(t, process.SandboxNone)
	c2, err := g.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	if q := readFile(t, filepath.Join(process.CgroupDir(c2, "cpu"), "cpu.cfs_quota_us")); q != "-1" {
		t.Fatalf("quota without UserCPUs: %s, want -1", q)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// liveOwner starts a process standing for another live Whirl and returns
// its owner tag.
func liveOwner(t *testing.T) string {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	tag, err := process.OwnerTag(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// TestLeftoversOfACrashAreReaped: a kill -9 leaves container folders (with
// tenants' code) and cgroups (with frozen processes). The next factory on
// the same work directory removes those of dead owners, killing their
// processes, and keeps those of live owners and untagged ones.
func TestLeftoversOfACrashAreReaped(t *testing.T) {
	wd := workDir(t)
	probe, err := process.New(process.Options{WorkDir: wd, Sandbox: process.SandboxNone})
	if err != nil {
		t.Fatal(err)
	}
	requireCgroup(t, probe, "freezer")
	self, err := process.OwnerTag(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dead := []string{
		fmt.Sprintf("%d-1-%d", deadPID(t), time.Now().UnixNano()),  // pid gone
		fmt.Sprintf("%d-1-%d", os.Getpid(), time.Now().UnixNano()), // pid reused
	}
	kept := []string{liveOwner(t) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10), self + "-x"}

	for _, n := range append(append([]string{}, dead...), kept...) {
		d := filepath.Join(wd, "c", n)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "__main__.py"), []byte("secret = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	untagged := filepath.Join(wd, "c", "0123456789abcdef")
	if err := os.Mkdir(untagged, 0o755); err != nil {
		t.Fatal(err)
	}

	// Cgroups in every hierarchy; the dead run's first one holds a
	// process, frozen (as it would be after a crash while idle).
	var ctls []string
	for _, ctl := range []string{"memory", "pids", "cpu", "freezer"} {
		if probe.CgroupParent(ctl) != "" {
			ctls = append(ctls, ctl)
		}
	}
	cgdir := func(ctl, n string) string { return filepath.Join(probe.CgroupParent(ctl), "whirl-"+n) }
	for _, n := range append(append([]string{}, dead...), kept[0]) {
		for _, ctl := range ctls {
			if err := os.MkdirAll(cgdir(ctl, n), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		for _, ctl := range ctls {
			os.Remove(cgdir(ctl, kept[0]))
		}
	})
	orphan := exec.Command("sleep", "600")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orphan.Process.Kill() })
	for _, ctl := range ctls {
		if err := os.WriteFile(filepath.Join(cgdir(ctl, dead[0]), "cgroup.procs"), []byte(strconv.Itoa(orphan.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if probe.CgroupV2() {
		err = os.WriteFile(filepath.Join(cgdir("freezer", dead[0]), "cgroup.freeze"), []byte("1"), 0)
	} else {
		err = os.WriteFile(filepath.Join(cgdir("freezer", dead[0]), "freezer.state"), []byte("FROZEN"), 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFrozen(t, cgdir("freezer", dead[0]))
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()

	f, err := process.New(process.Options{WorkDir: wd, Sandbox: process.SandboxNone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.WithoutCancel(t.Context())) })
	removed, err := f.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the crashed run's frozen process was not killed")
	}
	for _, n := range dead {
		if _, err := os.Stat(filepath.Join(wd, "c", n)); !os.IsNotExist(err) {
			t.Errorf("dead owner's folder %s kept (%v)", n, err)
		}
		for _, ctl := range ctls {
			if _, err := os.Stat(cgdir(ctl, n)); !os.IsNotExist(err) {
				t.Errorf("dead owner's %s cgroup %s kept (%v)", ctl, n, err)
			}
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(filepath.Join(wd, "c", n)); err != nil {
			t.Errorf("live owner's folder %s removed: %v", n, err)
		}
	}
	for _, ctl := range ctls {
		if _, err := os.Stat(cgdir(ctl, kept[0])); err != nil {
			t.Errorf("live owner's %s cgroup removed: %v", ctl, err)
		}
	}
	if _, err := os.Stat(untagged); err != nil {
		t.Errorf("untagged folder removed: %v", err)
	}
	if want := 2 + 2*len(ctls); len(removed) != want {
		t.Errorf("Leftovers reports %d removed, want %d: %v", len(removed), want, removed)
	}
}

// TestNewWorkDirReapsDeadOnes: work directories of dead Whirl processes
// are removed; a live one's are kept; the new one is named after this
// process and reachable by the sandbox's uid.
func TestNewWorkDirReapsDeadOnes(t *testing.T) {
	parent := t.TempDir()
	deadDir := filepath.Join(parent, fmt.Sprintf("whirl-containers-%d-1-abc", deadPID(t)))
	liveDir := filepath.Join(parent, "whirl-containers-"+liveOwner(t)+"-def")
	for _, d := range []string{filepath.Join(deadDir, "c", "x"), liveDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wd, err := process.NewWorkDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		t.Errorf("dead owner's work dir kept (%v)", err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("live owner's work dir removed: %v", err)
	}
	self, _ := process.OwnerTag(os.Getpid())
	st, err := os.Stat(wd)
	if err != nil || st.Mode().Perm() != 0o711 || !strings.HasPrefix(filepath.Base(wd), "whirl-containers-"+self+"-") {
		t.Fatalf("new work dir %s: %v %v", wd, st.Mode(), err)
	}
}
