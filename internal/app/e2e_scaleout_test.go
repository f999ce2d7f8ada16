//go:build e2e

package app_test

// The scale-out end-to-end test (make e2e-scaleout): NATS and each
// invoker run in network namespaces of their own, joined by veth pairs to
// a bridge the test makes; the controller runs in this process, in the
// root namespace, and reaches the machine's PostgreSQL on loopback; the
// invokers reach it through a TCP relay the test runs on the bridge. The
// invokers are the real binary (WHIRL_E2E_BIN, built by the make target),
// so `kill -9` kills a real process. Run as root.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
)

// net is the test's bridge and the namespaces on it.
type netLab struct {
	t      *testing.T
	tag    string // short, unique: names of links and namespaces
	bridge string
	next   int // next host address on 10.77.<sub>.0/24
	sub    int
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetLab makes the bridge (10.77.<sub>.1/24 in the root namespace).
func newNetLab(t *testing.T) *netLab {
	if os.Geteuid() != 0 {
		t.Fatal("the scale-out e2e test makes network namespaces: run it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("the scale-out e2e test needs ip (iproute2)")
	}
	l := &netLab{t: t, tag: randomToken()[:5], next: 2, sub: 100 + int(time.Now().UnixNano()%100)}
	l.bridge = "whb" + l.tag
	run(t, "ip", "link", "add", l.bridge, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", l.bridge).Run() })
	run(t, "ip", "addr", "add", l.ip(1)+"/24", "dev", l.bridge)
	run(t, "ip", "link", "set", l.bridge, "up")
	return l
}

func (l *netLab) ip(host int) string { return fmt.Sprintf("10.77.%d.%d", l.sub, host) }

// host makes a namespace with one veth on the bridge and returns its
// name, its address and its end of the link.
func (l *netLab) host(name string) (ns, addr, link string) {
	t := l.t
	ns = "wh" + l.tag + name
	addr = l.ip(l.next)
	l.next++
	outer, inner := "wo"+l.tag+name, "wi"+l.tag+name
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", outer).Run() })
	run(t, "ip", "link", "set", inner, "netns", ns)
	run(t, "ip", "link", "set", outer, "master", l.bridge)
	run(t, "ip", "link", "set", outer, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", addr+"/24", "dev", inner)
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", inner, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	return ns, addr, inner
}

// relay forwards connections to listen → target until the test ends.
func relay(t *testing.T, listen, target string) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				// Either side ending ends both, as a real network path
				// does when a host dies: PostgreSQL sees its session end.
				go func() { io.Copy(u, c); u.Close(); c.Close() }()
				io.Copy(c, u)
			}()
		}
	}()
}

// proc is a process the test started in a namespace.
type proc struct {
	cmd *exec.Cmd
}

func startIn(t *testing.T, ns string, env []string, logf string, args ...string) *proc {
	t.Helper()
	// nsenter, not ip netns exec: that one mounts a fresh /sys, without
	// the cgroup hierarchies the invoker's containers need.
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { p.signal(syscall.SIGKILL); f.Close() })
	return p
}

// signal sends sig to the process group (nsenter execs the command, so
// the pid is the command's) and reaps it.
func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// waitTCP waits until addr accepts connections.
func waitTCP(t *testing.T, addr string) {
	t.Helper()
	eventually(t, 30*time.Second, addr+" to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// lab is one deployment: NATS and two invokers in namespaces, the
// controller here.
type lab struct {
	t        *testing.T
	net      *netLab
	dir, bin string
	natsNS   string
	natsAddr string
	nats     *proc
	storeIn  string // the DSN as the invokers see it (through the relay)
	prefix   string
	inv      map[string]*proc
	invNS    map[string]string
	invLink  map[string]string
	invAddr  map[string]string
	ctl      *role
}

func (l *lab) startNATS() {
	l.nats = startIn(l.t, l.natsNS, nil, filepath.Join(l.dir, "nats.log"),
		natsServerBin(l.t), "-a", l.natsAddr, "-p", "4222", "-js", "-sd", filepath.Join(l.dir, "js"))
	waitTCP(l.t, l.natsAddr+":4222")
}

func natsServerBin(t *testing.T) string {
	for _, n := range []string{"nats-server", "/usr/sbin/nats-server"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatal("nats-server is needed (scripts/deps.sh installs it)")
	return ""
}

func (l *lab) startInvoker(name string) {
	l.inv[name] = startIn(l.t, l.invNS[name], []string{"WHIRL_DATA_DIR=" + filepath.Join(l.dir, name), "WHIRL_ACTION_NETWORK=none"},
		filepath.Join(l.dir, name+".log"), l.bin, "invoker",
		"--store", l.storeIn, "--bus", "nats://"+l.natsAddr+":4222", "--bus-prefix", l.prefix,
		"--invoker-name", name, "--listen", l.invAddr[name]+":3234")
	waitTCP(l.t, l.invAddr[name]+":3234")
}

func newLab(t *testing.T) *lab {
	bin := os.Getenv("WHIRL_E2E_BIN")
	if bin == "" {
		t.Fatal("WHIRL_E2E_BIN names the whirl binary the invokers run (make e2e-scaleout builds it)")
	}
	n := newNetLab(t)
	l := &lab{t: t, net: n, dir: t.TempDir(), bin: bin, prefix: "we" + randomToken(),
		inv: map[string]*proc{}, invNS: map[string]string{}, invLink: map[string]string{}, invAddr: map[string]string{}}
	t.Cleanup(func() { // the other hosts' logs, when something failed
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(l.dir, "*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s:\n%s", filepath.Base(f), b)
		}
	})
	l.natsNS, l.natsAddr, _ = n.host("n")
	for _, name := range []string{"inv0", "inv1"} {
		l.invNS[name], l.invAddr[name], l.invLink[name] = n.host(name[len(name)-1:] + "i")
	}
	store := testPostgres(t)
	u, _ := url.Parse(store)
	relayAddr := n.ip(1) + ":15432"
	relay(t, relayAddr, u.Host)
	u.Host = relayAddr
	l.storeIn = u.String()
	l.startNATS()
	c := cluster{store: store, bus: "nats://" + l.natsAddr + ":4222", prefix: l.prefix}
	l.ctl = c.start(t, app.NewController, func(cfg *config.Config) {
		cfg.ControllerName = "ctl0"
		cfg.BlockingWait = 20 * time.Second
	})
	return l
}

// load is mixed traffic: blocking invokes by `clients` callers and a
// non-blocking one in between, until stop. It remembers every accepted
// non-blocking id and every blocking outcome.
type load struct {
	mu       sync.Mutex
	async    []string
	ok, fail int
	failures map[string]int
	slowest  time.Duration
	wait     func() // until every caller returned
}

func (l *lab) load(ctx context.Context, clients, actions int) *load {
	ld := &load{failures: map[string]int{}}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("who%d", (c+i)%actions)
				start := time.Now()
				r, err := rawPost(l.ctl.url+"/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", auth.GuestKey, strings.NewReader(`{"sleep":0.01}`))
				took := time.Since(start)
				ld.mu.Lock()
				switch {
				case err == nil && r.status == 200:
					ld.ok++
					ld.slowest = max(ld.slowest, took)
				case err != nil:
					ld.fail++
					ld.failures[err.Error()]++
				default:
					ld.fail++
					ld.failures[fmt.Sprintf("%d %s", r.status, r.body)]++
				}
				ld.mu.Unlock()
				if i%4 == 0 {
					r, err := rawPost(l.ctl.url+"/api/v1/namespaces/_/actions/"+name, auth.GuestKey, strings.NewReader(`{}`))
					if err == nil && r.status == 202 {
						ld.mu.Lock()
						ld.async = append(ld.async, r.obj(l.t)["activationId"].(string))
						ld.mu.Unlock()
					}
				}
			}
		}()
	}
	ld.wait = wg.Wait
	return ld
}

// throughput runs blocking invokes from clients callers for d and
// returns invokes per second.
func (l *lab) throughput(clients, actions int, d time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ld := l.load(ctx, clients, actions)
	<-ctx.Done()
	ld.wait()
	return float64(ld.ok) / d.Seconds()
}

// records waits until every id has a record and checks each is stored
// once (keyed by id: the list shows it once).
func (l *lab) records(ids []string, within time.Duration) {
	t := l.t
	seen := map[string]bool{}
	eventually(t, within, fmt.Sprintf("records of all %d accepted invocations", len(ids)), func() bool {
		for _, id := range ids {
			if !seen[id] && l.ctl.ns(t, "GET", "activations/"+id, nil).status == 200 {
				seen[id] = true
			}
		}
		return len(seen) == len(ids)
	})
}

// phase runs mixed load for d, calling during(…) after a second, and
// reports the load's outcome once every caller returned.
func (l *lab) phase(name string, d time.Duration, during func()) *load {
	ctx, cancel := context.WithCancel(context.Background())
	ld := l.load(ctx, 8, 6)
	time.Sleep(time.Second)
	start := time.Now()
	during()
	time.Sleep(d - time.Since(start))
	cancel()
	ld.wait()
	l.t.Logf("%s: %d blocking invokes succeeded, %d failed, slowest success %v; %d non-blocking accepted",
		name, ld.ok, ld.fail, ld.slowest.Round(time.Millisecond), len(ld.async))
	for f, n := range ld.failures {
		l.t.Logf("  %dx %s", n, f)
	}
	return ld
}

// TestE2EScaleOut: one controller, two invokers and NATS on separate
// network hosts. Measures throughput with one and two invokers, then:
// kill -9 of an invoker under mixed load; an invoker cut from NATS and
// healed; NATS restarted. Every accepted non-blocking invocation ends
// with its record; with an invoker killed or partitioned every blocking
// invoke succeeds within its wait.
func TestE2EScaleOut(t *testing.T) {
	l := newLab(t)
	l.startInvoker("inv0")
	for i := range 6 {
		mustStatus(t, l.ctl.ns(t, "PUT", fmt.Sprintf("actions/who%d?overwrite=true", i), pyAction(fmt.Sprintf(pyWho, fmt.Sprint("who", i), 1))), 200)
	}
	eventually(t, 60*time.Second, "a first blocking invoke", func() bool {
		r, err := rawPost(l.ctl.url+"/api/v1/namespaces/_/actions/who0?blocking=true", auth.GuestKey, strings.NewReader(`{}`))
		return err == nil && r.status == 200
	})
	l.throughput(8, 6, 2*time.Second) // warm containers
	one := l.throughput(8, 6, 4*time.Second)
	l.startInvoker("inv1")
	time.Sleep(2 * time.Second) // its first heartbeats reach the controller
	l.throughput(8, 6, 2*time.Second)
	two := l.throughput(8, 6, 4*time.Second)
	t.Logf("THROUGHPUT blocking invokes/s, 8 callers: one invoker %.0f, two invokers %.0f", one, two)

	var accepted []string
	t.Run("kill -9 an invoker", func(t *testing.T) {
		ld := l.phase("kill -9 inv1", 8*time.Second, func() {
			l.inv["inv1"].signal(syscall.SIGKILL)
		})
		if ld.fail > 0 {
			t.Errorf("%d blocking invokes failed with an invoker killed", ld.fail)
		}
		t.Logf("RECOVERY kill -9: slowest blocking invoke %v (heartbeat timeout 3s)", ld.slowest.Round(time.Millisecond))
		start := time.Now()
		l.records(ld.async, 90*time.Second)
		t.Logf("RECOVERY kill -9: every accepted non-blocking invocation had its record %v after the load ended", time.Since(start).Round(time.Millisecond))
		accepted = append(accepted, ld.async...)
	})
	l.startInvoker("inv1")
	time.Sleep(2 * time.Second)

	t.Run("partition an invoker from NATS and heal it", func(t *testing.T) {
		ns, link := l.invNS["inv0"], l.invLink["inv0"]
		ld := l.phase("partition inv0", 10*time.Second, func() {
			run(t, "ip", "netns", "exec", ns, "ip", "link", "set", link, "down")
			time.AfterFunc(5*time.Second, func() {
				_ = exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", link, "up").Run()
			})
		})
		if ld.fail > 0 {
			t.Errorf("%d blocking invokes failed with an invoker partitioned", ld.fail)
		}
		t.Logf("RECOVERY partition: slowest blocking invoke %v", ld.slowest.Round(time.Millisecond))
		start := time.Now()
		l.records(ld.async, 90*time.Second)
		t.Logf("RECOVERY partition: every accepted non-blocking invocation had its record %v after the load ended", time.Since(start).Round(time.Millisecond))
		accepted = append(accepted, ld.async...)
	})

	t.Run("restart NATS", func(t *testing.T) {
		var down time.Time
		ld := l.phase("restart NATS", 10*time.Second, func() {
			down = time.Now()
			l.nats.signal(syscall.SIGTERM)
			l.startNATS()
			t.Logf("NATS down and up again in %v", time.Since(down).Round(time.Millisecond))
		})
		// Blocking invokes may fail while NATS is down (503, or 202
		// after the wait): accepted ones must not be lost.
		start := time.Now()
		l.records(ld.async, 120*time.Second)
		t.Logf("RECOVERY NATS restart: every accepted non-blocking invocation had its record %v after the load ended", time.Since(start).Round(time.Millisecond))
		accepted = append(accepted, ld.async...)
	})

	// The controller closes while its NATS runs (cleanups would stop the
	// restarted server first).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l.ctl.stop(ctx)
	// Keyed by id: no accepted invocation has two records.
	sort.Strings(accepted)
	for i := 1; i < len(accepted); i++ {
		if accepted[i] == accepted[i-1] {
			t.Fatalf("activation id %s accepted twice", accepted[i])
		}
	}
}

// startController runs a controller process (the real binary) in a
// namespace of its own, campaigning for the alarms scheduler.
func (l *lab) startController(name string) (*proc, string) {
	ns, addr, _ := l.net.host(name)
	p := startIn(l.t, ns, []string{"WHIRL_DATA_DIR=" + filepath.Join(l.dir, name), "WHIRL_USE_WELL_KNOWN_KEYS=true"},
		filepath.Join(l.dir, name+".log"), l.bin, "controller", "--log-level", "info",
		"--store", l.storeIn, "--bus", "nats://"+l.natsAddr+":4222", "--bus-prefix", l.prefix,
		"--controller-name", name, "--schedule-alarms", "--listen", addr+":3233")
	waitTCP(l.t, addr+":3233")
	return p, filepath.Join(l.dir, name+".log")
}

// leads reports whether the controller whose log is at path was elected
// n times.
func leads(path string, n int) bool {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "alarms scheduler: this controller leads") >= n
}

// TestE2EAlarmsLeader: two controllers (processes on hosts of their own)
// campaign for the alarms scheduler; an alarm fires every second; the
// leader is killed with kill -9 and the other takes over. Every tick
// between the first and the last fires once: none lost in the hand-over,
// none fired twice.
func TestE2EAlarmsLeader(t *testing.T) {
	l := newLab(t)
	l.startInvoker("inv0")
	a, alog := l.startController("ca")
	b, blog := l.startController("cb")
	eventually(t, 30*time.Second, "a leader", func() bool { return leads(alog, 1) || leads(blog, 1) })
	leader, flog := a, blog
	if leads(blog, 1) {
		leader, flog = b, alog
	}
	ctl := l.ctl
	mustStatus(t, ctl.ns(t, "PUT", "actions/who0?overwrite=true", pyAction(fmt.Sprintf(pyWho, "who0", 1))), 200)
	mustStatus(t, ctl.ns(t, "PUT", "triggers/tick", map[string]any{}), 200)
	mustStatus(t, ctl.ns(t, "PUT", "rules/tickrule", map[string]any{"trigger": "/_/tick", "action": "/_/who0"}), 200)
	feed := func(event string) {
		r := call(t, "POST", ctl.url+"/api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true&result=true", auth.GuestKey,
			map[string]any{"lifecycleEvent": event, "triggerName": "/guest/tick", "authKey": auth.GuestKey, "cron": "* * * * * *"})
		mustStatus(t, r, 200)
	}
	feed("CREATE")
	fires := func() []time.Time {
		r := ctl.ns(t, "GET", "activations?name=tick&limit=200", nil)
		mustStatus(t, r, 200)
		var out []time.Time
		for _, v := range r.json(t).([]any) {
			out = append(out, time.UnixMilli(int64(v.(map[string]any)["start"].(float64))))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
		return out
	}
	eventually(t, 30*time.Second, "3 ticks", func() bool { return len(fires()) >= 3 })
	killed := time.Now()
	leader.signal(syscall.SIGKILL)
	eventually(t, 30*time.Second, "the other controller to lead", func() bool { return leads(flog, 1) })
	t.Logf("RECOVERY alarms leader: the follower leads %v after kill -9", time.Since(killed).Round(time.Millisecond))
	n := len(fires())
	eventually(t, 30*time.Second, "3 more ticks", func() bool { return len(fires()) >= n+3 })
	feed("DELETE")
	got := fires()
	first, last := got[0].Truncate(time.Second), got[len(got)-1].Truncate(time.Second)
	want := int(last.Sub(first)/time.Second) + 1
	t.Logf("%d fires from %v to %v (%d ticks)", len(got), first.Format("15:04:05"), last.Format("15:04:05"), want)
	if len(got) != want {
		t.Errorf("%d fires for %d ticks across the hand-over (lost or doubled)", len(got), want)
	}
}
