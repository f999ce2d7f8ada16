package process

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Network modes for Options.NetworkMode.
const (
	// NetworkNone gives each container a private network namespace with
	// loopback only.
	NetworkNone = "none"
	// NetworkIsolated gives each container a private network namespace
	// whose only way out is slirp4netns, filtered by nftables rules set
	// inside the namespace: the internet and the ranges in
	// Options.NetworkAllow are reachable; the host's loopback, the host's
	// own addresses, link-local and metadata addresses, private ranges and
	// Options.NetworkBlock are not.
	NetworkIsolated = "isolated"
	// NetworkHost shares the host's network (no isolation).
	NetworkHost = "host"
)

// ErrNoIsolation is wrapped by New's error when NetworkIsolated is asked
// for and this machine cannot provide it (no bubblewrap, not root, or
// slirp4netns or nft missing).
var ErrNoIsolation = errors.New("isolated action network unavailable")

// slirpDNS is slirp4netns's built-in DNS forwarder inside the namespace.
const slirpDNS = "10.0.2.3"

// forbidden4 and forbidden6 are never reachable from an isolated
// container unless the operator allows them: loopback, "this network",
// private, shared (CGNAT), link-local (cloud metadata), benchmarking,
// multicast and reserved ranges.
var (
	forbidden4 = []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"}
	forbidden6 = []string{"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8"}
)

// netTools are the programs an isolated network needs.
type netTools struct {
	slirp string // slirp4netns
	nft   string // nft
}

// lookNetTools checks that isolated networking can work here: sandboxed
// with bubblewrap (so that the action has no capability over its network
// namespace), as root (to make namespaces and set rules), with slirp4netns
// and nft installed.
func lookNetTools(bwrap string) (netTools, error) {
	var t netTools
	if bwrap == "" {
		return t, fmt.Errorf("%w: actions are not sandboxed (bubblewrap is required)", ErrNoIsolation)
	}
	if os.Geteuid() != 0 {
		return t, fmt.Errorf("%w: Whirl must run as root to make network namespaces", ErrNoIsolation)
	}
	var missing []string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"slirp4netns", &t.slirp}, {"nft", &t.nft}} {
		*p.dst = findTool(p.name)
		if *p.dst == "" {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: %s not installed (Debian packages slirp4netns and nftables)", ErrNoIsolation, strings.Join(missing, " and "))
	}
	return t, nil
}

// findTool finds name on PATH or in the sbin directories.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// netPolicy is what an isolated container may reach, parsed once.
type netPolicy struct {
	allow []netip.Prefix
	block []netip.Prefix
	api   netip.AddrPort // the API host, reachable on its port only; zero if none
}

// parsePolicy parses the operator's allowed and blocked ranges (CIDRs or
// single addresses) and resolves the API host.
func parsePolicy(opts Options) (netPolicy, error) {
	var p netPolicy
	var err error
	if p.allow, err = parsePrefixes(opts.NetworkAllow); err != nil {
		return p, fmt.Errorf("network allow: %w", err)
	}
	if p.block, err = parsePrefixes(opts.NetworkBlock); err != nil {
		return p, fmt.Errorf("network block: %w", err)
	}
	p.api = apiAddr(opts.APIHost)
	return p, nil
}

func parsePrefixes(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if pf, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// apiAddr returns the address and port of an API host URL given as an IP
// address (a name is not resolved here: the operator allows it by range).
func apiAddr(apiHost string) netip.AddrPort {
	u, err := url.Parse(apiHost)
	if err != nil || u.Hostname() == "" {
		return netip.AddrPort{}
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || a.IsLoopback() || a.IsUnspecified() {
		return netip.AddrPort{}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(n))
}

// hostAddrs returns every address of every interface of the host.
func hostAddrs() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("host addresses: %w", err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// ruleset returns the nftables rules of an isolated container's
// namespace: its own loopback and slirp4netns's DNS are open; blocked
// ranges (Whirl's store and bus) are refused first; then the API host's
// port and the allowed ranges are open; then the host's addresses and the
// forbidden ranges are refused; the rest (the internet) is open.
func (p netPolicy) ruleset(host []netip.Prefix) string {
	var b strings.Builder
	b.WriteString("table inet whirl {\n")
	set := func(name string, v6 bool, pfs []netip.Prefix) {
		var els []string
		for _, pf := range pfs {
			if pf.Addr().Is6() == v6 {
				els = append(els, pf.String())
			}
		}
		typ := "ipv4_addr"
		if v6 {
			typ = "ipv6_addr"
		}
		fmt.Fprintf(&b, "  set %s {\n    type %s\n    flags interval\n    auto-merge\n", name, typ)
		if len(els) > 0 {
			fmt.Fprintf(&b, "    elements = { %s }\n", strings.Join(els, ", "))
		}
		b.WriteString("  }\n")
	}
	deny := append(mustPrefixes(forbidden4), mustPrefixes(forbidden6)...)
	deny = append(deny, host...)
	for _, s := range []struct {
		name string
		pfs  []netip.Prefix
	}{{"block", p.block}, {"allow", p.allow}, {"deny", deny}} {
		set(s.name+"4", false, s.pfs)
		set(s.name+"6", true, s.pfs)
	}
	b.WriteString("  chain output {\n    type filter hook output priority 0; policy accept;\n")
	b.WriteString("    oifname \"lo\" accept\n")
	const reject = "reject with icmpx type admin-prohibited"
	fmt.Fprintf(&b, "    ip daddr @block4 %s\n    ip6 daddr @block6 %s\n", reject, reject)
	fmt.Fprintf(&b, "    ip daddr %s udp dport 53 accept\n    ip daddr %s tcp dport 53 accept\n", slirpDNS, slirpDNS)
	if p.api.IsValid() {
		fam := "ip"
		if p.api.Addr().Is6() {
			fam = "ip6"
		}
		fmt.Fprintf(&b, "    %s daddr %s tcp dport %d accept\n", fam, p.api.Addr(), p.api.Port())
	}
	b.WriteString("    ip daddr @allow4 accept\n    ip6 daddr @allow6 accept\n")
	fmt.Fprintf(&b, "    ip daddr @deny4 %s\n    ip6 daddr @deny6 %s\n", reject, reject)
	b.WriteString("  }\n}\n")
	return b.String()
}

func mustPrefixes(s []string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, x := range s {
		out[i] = netip.MustParsePrefix(x)
	}
	return out
}

// netns is one isolated container's network namespace. It exists while
// fd is open or a process is inside it, so a crash of Whirl leaves nothing
// behind: the kernel drops the namespace once slirp4netns (stopped by its
// exit pipe and its parent-death signal) and the action are gone.
type netns struct {
	fd    *os.File  // the namespace
	slirp *exec.Cmd // slirp4netns, attached to the namespace
	exitW *os.File  // closing it makes slirp4netns exit
	done  chan struct{}
}

// newNetns makes a network namespace, sets its rules and attaches
// slirp4netns to it.
func (f *Factory) newNetns() (_ *netns, err error) {
	host, err := hostAddrs()
	if err != nil {
		return nil, err
	}
	rules := f.policy.ruleset(host)
	n := &netns{}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	// The namespace is made on a locked thread, configured by nft started
	// from that thread (a child inherits its thread's namespace), and the
	// thread returns to the host's namespace.
	err = onThread(func() error {
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			return fmt.Errorf("new network namespace: %w", err)
		}
		fd, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return fmt.Errorf("open network namespace: %w", err)
		}
		n.fd = fd
		cmd := exec.Command(f.net.nft, "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft: %v: %s", err, bytes.TrimSpace(out))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := n.startSlirp(f.net.slirp); err != nil {
		return nil, err
	}
	return n, nil
}

// startSlirp starts slirp4netns on the namespace and waits until it has
// configured the namespace's interface and route.
func (n *netns) startSlirp(slirp string) error {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return err
	}
	n.exitW = exitW
	cmd := exec.Command(slirp,
		"--configure", "--mtu=65520", "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp",
		"--ready-fd=4", "--exit-fd=5",
		"--netns-type=path", "/proc/self/fd/3", "tap0")
	cmd.ExtraFiles = []*os.File{n.fd, readyW, exitR}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
		// slirp4netns's sandbox unmounts the host's root in its own mount
		// namespace; a private copy keeps that from propagating to shared
		// mounts of the host (such as `ip netns` files).
		Unshareflags: syscall.CLONE_NEWNS,
	}
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		return fmt.Errorf("start slirp4netns: %w", err)
	}
	n.slirp = cmd
	n.done = make(chan struct{})
	go func() { cmd.Wait(); close(n.done) }()
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := readyR.Read(b)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			<-n.done
			return fmt.Errorf("slirp4netns did not start: %s", bytes.TrimSpace(stderr.Bytes()))
		}
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("slirp4netns did not start within 10s")
	}
}

// enter runs fn on a locked thread inside the namespace: processes fn
// starts are born in it.
func (n *netns) enter(fn func() error) error {
	return onThread(func() error {
		if err := setns(n.fd); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		return fn()
	})
}

// close stops slirp4netns and releases the namespace.
func (n *netns) close() {
	if n == nil {
		return
	}
	if n.exitW != nil {
		n.exitW.Close()
	}
	if n.slirp != nil && n.slirp.Process != nil {
		n.slirp.Process.Kill()
		<-n.done
	}
	if n.fd != nil {
		n.fd.Close()
	}
}

// onThread runs fn on a locked OS thread that fn may move into another
// network namespace, and moves the thread back to the namespace it was in.
// If it cannot move back, the thread stays locked and ends with the
// goroutine, so no other goroutine ever runs in the wrong namespace.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("open network namespace: %w", err)
			return // the thread is still in its namespace: unlocked on exit
		}
		defer orig.Close()
		ferr := fn()
		if err := setns(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the host network namespace: %w", err))
			return // the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// setupNetwork decides the factory's network mode from its options and
// checks that the tools of NetworkIsolated are there.
func (f *Factory) setupNetwork() error {
	mode := f.opts.NetworkMode
	if mode == "" {
		mode = NetworkNone
		if f.opts.Network {
			mode = NetworkHost
		}
	}
	switch mode {
	case NetworkNone, NetworkHost:
		f.netMode = mode
		return nil
	case NetworkIsolated:
	default:
		return fmt.Errorf("unknown network mode %q (want none, isolated or host)", mode)
	}
	pol, err := parsePolicy(f.opts)
	if err != nil {
		return err
	}
	tools, err := lookNetTools(f.bwrap)
	if err != nil {
		if !f.opts.NetworkFallback {
			return err
		}
		f.netMode = NetworkNone
		f.warning = strings.TrimPrefix(f.warning+"; ", "; ") + err.Error() + ": actions have no network (actionNetwork none); install slirp4netns and nftables and run as root for isolated, or set actionNetwork"
		return nil
	}
	f.netMode, f.net, f.policy = NetworkIsolated, tools, pol
	// Inside the namespace the host's resolver may be on its loopback:
	// isolated containers use slirp4netns's forwarder instead.
	if p, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil {
		if err := os.WriteFile(filepath.Join(f.launcher, "resolv.conf"), []byte("nameserver "+slirpDNS+"\n"), 0o644); err != nil {
			return err
		}
		f.resolv = p
	}
	return nil
}

// NetworkMode reports the network mode containers get (after any
// fallback).
func (f *Factory) NetworkMode() string { return f.netMode }
