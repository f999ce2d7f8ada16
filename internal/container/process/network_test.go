package process_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
)

// netProbe connects to each target and says what happened; with "listen"
// it first serves a port in the background (and keeps serving).
const netProbe = `import socket, threading
srv = None
def main(a):
    global srv
    if a.get("listen") and srv is None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", a["listen"]))
        srv.listen(8)
        def serve():
            while True:
                c, _ = srv.accept()
                c.close()
        threading.Thread(target=serve, daemon=True).start()
    out = {}
    for h, p in a.get("targets", []):
        try:
            socket.create_connection((h, p), timeout=3).close()
            out["%s:%d" % (h, p)] = "ok"
        except Exception as e:
            out["%s:%d" % (h, p)] = str(e) or type(e).__name__
    try:
        out["resolv"] = open("/etc/resolv.conf").read()
    except Exception as e:
        out["resolv"] = str(e)
    return out
`

// listener is a TCP listener on the host that counts the connections it
// accepted.
type listener struct {
	addr     string
	host     string
	port     int
	accepted atomic.Int32
}

func listen(t *testing.T, host string) *listener {
	t.Helper()
	l, err := tryListen(t, host)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tryListen(t *testing.T, host string) (*listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { ln.Close() })
	l := &listener{addr: ln.Addr().String(), host: host, port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			c.Close()
		}
	}()
	return l, nil
}

// hostIPv4 returns a non-loopback IPv4 address of this machine, or "".
func hostIPv4() string {
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return ""
}

// metadataListener serves 169.254.169.254 for the test's duration, from a
// network namespace the test makes behind a veth pair (so that it is not
// one of the host's own addresses); nil when it cannot.
func metadataListener(t *testing.T) *listener {
	name := mdNetns()
	ipc := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", name).Run()
		exec.Command("ip", "link", "del", name).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", name},
		{"link", "add", name, "type", "veth", "peer", "name", name + "p"},
		{"link", "set", name + "p", "netns", name},
		{"addr", "add", "169.254.169.253/30", "dev", name},
		{"link", "set", name, "up"},
		{"-n", name, "addr", "add", "169.254.169.254/30", "dev", name + "p"},
		{"-n", name, "link", "set", name + "p", "up"},
	} {
		if err := ipc(args...); err != nil {
			t.Logf("no metadata listener: %v", err)
			return nil
		}
	}
	var l *listener
	err := inNetns("/run/netns/"+name, func() error {
		var err error
		l, err = tryListen(t, "169.254.169.254")
		return err
	})
	if err != nil {
		t.Logf("no metadata listener: %v", err)
		return nil
	}
	return l
}

// mdNetns names the test's metadata namespace.
func mdNetns() string { return fmt.Sprintf("wmd%d", os.Getpid()%100000) }

// inNetns runs fn on a thread inside the network namespace at path.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

func requireIsolation(t testing.TB) {
	requireBwrap(t)
	if os.Geteuid() != 0 {
		t.Skip("isolated networking needs root")
	}
	for _, p := range []string{"slirp4netns", "nft"} {
		if _, err := exec.LookPath(p); err != nil {
			if _, err := os.Stat("/usr/sbin/" + p); err != nil {
				t.Skipf("%s is not installed (scripts/deps.sh installs it)", p)
			}
		}
	}
}

func netFactory(t testing.TB, opts process.Options) *process.Factory {
	t.Helper()
	opts.WorkDir, opts.Sandbox = workDir(t), process.SandboxBwrap
	f, err := process.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	return f
}

// probe runs netProbe once in a new container of f and returns its result.
func probe(t *testing.T, f *process.Factory, args map[string]any) (map[string]string, container.Container) {
	t.Helper()
	ctx := t.Context()
	c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(context.Background()) })
	if _, err := c.Init(ctx, container.InitRequest{Code: []byte(netProbe)}); err != nil {
		t.Fatal(err)
	}
	return runProbe(t, c, args), c
}

func runProbe(t *testing.T, c container.Container, args map[string]any) map[string]string {
	t.Helper()
	v, _ := json.Marshal(args)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := c.Run(ctx, container.RunRequest{Value: v})
	if err != nil {
		t.Fatalf("run: %v (logs %v)", err, res.Logs)
	}
	var out map[string]string
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("result %s: %v", res.Body, err)
	}
	return out
}

func target(l *listener) []any { return []any{l.host, l.port} }

// expect checks that each listener was reached (or not) and the action
// says so.
func expect(t *testing.T, out map[string]string, reach bool, ls ...*listener) {
	t.Helper()
	for _, l := range ls {
		key := l.host + ":" + strconv.Itoa(l.port)
		got := out[key] == "ok"
		// The kernel completes a connection before the listener's Accept
		// loop counts it: give a reached listener a moment to.
		for deadline := time.Now().Add(2 * time.Second); reach && l.accepted.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if got != reach || (l.accepted.Load() > 0) != reach {
			t.Errorf("%s: reachable=%v (action says %q, listener accepted %d), want reachable=%v", key, got, out[key], l.accepted.Load(), reach)
		}
	}
}

func TestActionNetwork(t *testing.T) {
	requireIsolation(t)
	hostIP := hostIPv4()
	loop := listen(t, "127.0.0.1")
	var hostL, hostL2 *listener
	if hostIP != "" {
		hostL, hostL2 = listen(t, hostIP), listen(t, hostIP)
	}
	md := metadataListener(t)
	// slirp4netns's alias of the host's loopback.
	gw := &listener{host: "10.0.2.2", port: loop.port}
	reset := func() {
		for _, l := range []*listener{loop, hostL, hostL2, md} {
			if l != nil {
				l.accepted.Store(0)
			}
		}
	}
	targets := func(ls ...*listener) map[string]any {
		var ts []any
		for _, l := range ls {
			if l != nil {
				ts = append(ts, target(l))
			}
		}
		return map[string]any{"targets": ts}
	}
	nonNil := func(ls ...*listener) []*listener {
		var out []*listener
		for _, l := range ls {
			if l != nil {
				out = append(out, l)
			}
		}
		return out
	}

	t.Run("host reaches everything", func(t *testing.T) {
		reset()
		f := netFactory(t, process.Options{NetworkMode: process.NetworkHost})
		out, _ := probe(t, f, targets(loop, hostL, md))
		expect(t, out, true, nonNil(loop, hostL, md)...)
	})
	t.Run("none reaches nothing", func(t *testing.T) {
		reset()
		f := netFactory(t, process.Options{NetworkMode: process.NetworkNone, NetworkAllow: []string{"0.0.0.0/0"}})
		out, _ := probe(t, f, targets(loop, hostL, md))
		expect(t, out, false, nonNil(loop, hostL, md)...)
	})
	t.Run("isolated refuses the host and metadata", func(t *testing.T) {
		reset()
		f := netFactory(t, process.Options{NetworkMode: process.NetworkIsolated})
		if f.NetworkMode() != process.NetworkIsolated {
			t.Fatalf("mode %s, want isolated", f.NetworkMode())
		}
		out, _ := probe(t, f, targets(loop, gw, hostL, md))
		expect(t, out, false, nonNil(loop, hostL, md)...)
		if out["10.0.2.2:"+strconv.Itoa(loop.port)] == "ok" {
			t.Errorf("the host's loopback answered through slirp4netns's gateway")
		}
		if hostL == nil {
			t.Log("no non-loopback IPv4 address on this machine: the host-address cell was not run")
		}
		if md != nil {
			// slirp4netns's sandbox must not have unmounted the host's
			// shared mounts, such as this ip-netns file.
			if out, err := exec.Command("ip", "netns", "exec", mdNetns(), "true").CombinedOutput(); err != nil {
				t.Errorf("the test's network namespace file is gone after an isolated container ran: %v: %s", err, out)
			}
		} else {
			t.Log("could not serve 169.254.169.254 from a veth: the metadata cell was not run")
		}
		if !strings.Contains(out["resolv"], "nameserver 10.0.2.3") {
			t.Errorf("resolv.conf inside = %q, want slirp4netns's DNS", out["resolv"])
		}
	})
	t.Run("isolated reaches allowed ranges and the API host", func(t *testing.T) {
		if hostL == nil {
			t.Skip("no non-loopback IPv4 address on this machine to allow")
		}
		reset()
		f := netFactory(t, process.Options{NetworkMode: process.NetworkIsolated, NetworkAllow: []string{hostIP + "/32"}})
		out, _ := probe(t, f, targets(hostL))
		expect(t, out, true, hostL)

		reset()
		api := "http://" + hostL.addr
		f = netFactory(t, process.Options{NetworkMode: process.NetworkIsolated, APIHost: api})
		out, _ = probe(t, f, targets(hostL, hostL2, loop))
		expect(t, out, true, hostL)
		expect(t, out, false, hostL2, loop)
	})
	t.Run("isolated blocks what is blocked even when allowed", func(t *testing.T) {
		if hostL == nil {
			t.Skip("no non-loopback IPv4 address on this machine")
		}
		reset()
		f := netFactory(t, process.Options{NetworkMode: process.NetworkIsolated, NetworkAllow: []string{hostIP + "/16"}, NetworkBlock: []string{hostIP}})
		out, _ := probe(t, f, targets(hostL))
		expect(t, out, false, hostL)
	})
}

// freePort returns a TCP port free on the host's loopback now.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestActionNetworkContainersApart(t *testing.T) {
	requireIsolation(t)
	for _, tc := range []struct {
		mode  string
		reach bool
	}{{process.NetworkHost, true}, {process.NetworkIsolated, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			f := netFactory(t, process.Options{NetworkMode: tc.mode})
			port := freePort(t)
			probe(t, f, map[string]any{"listen": port}) // container A serves port
			out, _ := probe(t, f, map[string]any{"targets": []any{[]any{"127.0.0.1", port}, []any{"10.0.2.100", port}}})
			if got := out["127.0.0.1:"+strconv.Itoa(port)] == "ok"; got != tc.reach {
				t.Errorf("container B reached container A's port on 127.0.0.1: %v (%q), want %v", got, out["127.0.0.1:"+strconv.Itoa(port)], tc.reach)
			}
			if tc.mode == process.NetworkIsolated && out["10.0.2.100:"+strconv.Itoa(port)] == "ok" {
				t.Errorf("container B reached container A's port on its slirp4netns address")
			}
		})
	}
}

// slirpChildren returns the pids of slirp4netns processes whose parent is
// ppid.
func slirpChildren(ppid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(slirp4netns") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func TestActionNetworkCleanup(t *testing.T) {
	requireIsolation(t)
	f := netFactory(t, process.Options{NetworkMode: process.NetworkIsolated})
	ctx := t.Context()
	before := len(slirpChildren(os.Getpid()))
	probe(t, f, map[string]any{})
	c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(slirpChildren(os.Getpid())); n != before+2 {
		t.Fatalf("%d slirp4netns children with two containers, want %d", n, before+2)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(slirpChildren(os.Getpid())); n != before+1 {
		t.Errorf("%d slirp4netns children after Destroy, want %d", n, before+1)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(slirpChildren(os.Getpid())); n != before {
		t.Errorf("%d slirp4netns children after Close, want %d", n, before)
	}
}

// TestActionNetworkKilled kills (-9) a process holding an isolated
// container and checks that its slirp4netns and its action go with it:
// nothing is left for the next start to clean.
func TestActionNetworkKilled(t *testing.T) {
	if os.Getenv("WHIRL_NET_HELPER") != "" {
		return
	}
	requireIsolation(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "WHIRL_NET_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			for _, p := range strings.Fields(s) {
				n, _ := strconv.Atoi(p)
				pids = append(pids, n)
			}
			break
		}
	}
	if len(pids) < 2 {
		t.Fatalf("the helper did not report its slirp4netns and action pids: %v", pids)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d outlived the killed server", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(s[i+1:], " Z")
}

// TestNetHelperProcess is the server TestActionNetworkKilled kills: it
// makes an isolated container and prints the pids of its slirp4netns and
// of its sandbox, then waits.
func TestNetHelperProcess(t *testing.T) {
	if os.Getenv("WHIRL_NET_HELPER") == "" {
		t.Skip("helper process of TestActionNetworkKilled")
	}
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: process.SandboxBwrap, NetworkMode: process.NetworkIsolated})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Create(t.Context(), container.Spec{Kind: "python:3", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.(*process.Container).Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	pids := slirpChildren(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[i+1:]); i > 0 && len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) && strings.Contains(s[:i], "(bwrap") {
			pid, _ := strconv.Atoi(e.Name())
			pids = append(pids, pid)
		}
	}
	fmt.Printf("PIDS %s\n", strings.Trim(fmt.Sprint(pids), "[]"))
	time.Sleep(time.Minute)
}
