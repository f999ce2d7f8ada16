package runtimes_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/runtimes"
)

// activationMsg is one activation line as the container factories send it:
// the value and the seven fields that become __OW_* variables.
func activationMsg(i int) map[string]any {
	return map[string]any{
		"value":          map[string]any{"i": i},
		"activation_id":  fmt.Sprintf("a%031d", i),
		"transaction_id": fmt.Sprintf("t%031d", i),
		"deadline":       strconv.Itoa(1700000000000 + i),
		"action_name":    "/guest/leak",
		"action_version": "0.0.1",
		"namespace":      "guest",
		"api_key":        "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP",
	}
}

// launcher is a running launcher process fed activation lines.
type launcher struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	results *bufio.Reader
}

// startLauncher starts an interpreter on a launcher (python or node) with
// the action file and sends the init message.
func startLauncher(t *testing.T, argv []string, src []byte, name, action string) *launcher {
	t.Helper()
	dir := t.TempDir()
	lp := filepath.Join(dir, name)
	ap := filepath.Join(dir, "action"+filepath.Ext(name))
	if err := os.WriteFile(lp, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ap, []byte(action), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatalf("%s is needed (scripts/deps.sh installs it): %v", argv[0], err)
	}
	r3, w3, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(argv[1:], lp)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	cmd.ExtraFiles = []*os.File{w3}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w3.Close()
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		r3.Close()
	})
	l := &launcher{cmd: cmd, in: in, results: bufio.NewReaderSize(r3, 1<<16)}
	if got := l.line(t); got != runtimes.ReadyLine {
		t.Fatalf("ready line %q", got)
	}
	init, _ := json.Marshal(map[string]any{"file": ap, "main": "main", "source": true, "env": map[string]string{"FROM_INIT": "yes"}})
	if _, err := in.Write(append(init, '\n')); err != nil {
		t.Fatal(err)
	}
	if got := l.line(t); got != `{"ok":true}` {
		t.Fatalf("init answered %q", got)
	}
	return l
}

func (l *launcher) line(t *testing.T) string {
	t.Helper()
	s, err := l.results.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a result: %v", err)
	}
	return strings.TrimSuffix(s, "\n")
}

// run sends activations [from, to) (written by another goroutine, so the
// pipes never fill both ways) and checks that each result carries that
// activation's own __OW_* values.
func (l *launcher) run(t *testing.T, from, to int) map[string]string {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(l.in)
		for i := from; i < to; i++ {
			b, _ := json.Marshal(activationMsg(i))
			w.Write(append(b, '\n'))
		}
		errc <- w.Flush()
	}()
	var last map[string]string
	for i := from; i < to; i++ {
		var got map[string]string
		line := l.line(t)
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("activation %d: result %q", i, line)
		}
		want := activationMsg(i)
		for k, v := range want {
			if k == "value" {
				continue
			}
			if env := "__OW_" + strings.ToUpper(k); got[env] != v {
				t.Fatalf("activation %d: the action saw %s=%q, want %q (result %s)", i, env, got[env], v, line)
			}
		}
		last = got
		if got["FROM_INIT"] != "yes" {
			t.Fatalf("activation %d: the init env FROM_INIT is %q", i, got["FROM_INIT"])
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return last
}

// rssKB reads the process's resident set from /proc.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// leakActivations is how many activations the leak tests run after a
// warm-up: at the ~250 bytes per activation that a setenv per __OW_*
// variable kept, about 7.5 MB.
const leakActivations = 30000

// maxGrowthKB bounds the resident growth over leakActivations: allocator
// noise, far below what keeping each activation's variables costs.
const maxGrowthKB = 2048

const pythonEnvAction = `
import os
KEYS = ("__OW_ACTIVATION_ID", "__OW_TRANSACTION_ID", "__OW_DEADLINE", "__OW_ACTION_NAME",
        "__OW_ACTION_VERSION", "__OW_NAMESPACE", "__OW_API_KEY", "FROM_INIT")
def main(args):
    return {k: os.environ.get(k) for k in KEYS}
`

// TestPythonLauncherEnvDoesNotLeak runs a warm python container through
// many activations: the action sees each activation's own __OW_* values
// in os.environ, and the interpreter's resident memory does not grow with
// the number of activations (each setenv of a new value used to keep its
// string for the life of the process).
func TestPythonLauncherEnvDoesNotLeak(t *testing.T) {
	l := startLauncher(t, append([]string{"python3"}, runtimes.PythonFlags...), runtimes.PythonLauncher(), "launcher.py", pythonEnvAction)
	l.run(t, 0, 2000) // warm up: the allocator's arenas, the caches
	before := rssKB(t, l.cmd.Process.Pid)
	l.run(t, 2000, 2000+leakActivations)
	after := rssKB(t, l.cmd.Process.Pid)
	t.Logf("python launcher RSS %d kB -> %d kB over %d activations", before, after, leakActivations)
	if after-before > maxGrowthKB {
		t.Errorf("RSS grew by %d kB over %d activations (%d bytes each); want at most %d kB", after-before, leakActivations, (after-before)*1024/leakActivations, maxGrowthKB)
	}
}

const nodeEnvAction = `
const KEYS = ["__OW_ACTIVATION_ID", "__OW_TRANSACTION_ID", "__OW_DEADLINE", "__OW_ACTION_NAME",
  "__OW_ACTION_VERSION", "__OW_NAMESPACE", "__OW_API_KEY", "FROM_INIT"];
function main(args) {
  const out = {};
  for (const k of KEYS) out[k] = process.env[k];
  const m = process.memoryUsage();
  out.MEM = String((m.rss - m.heapTotal) >> 10);
  return out;
}
`

// TestNodeLauncherEnvDoesNotLeak is TestPythonLauncherEnvDoesNotLeak for
// the nodejs launcher. It measures what lies outside V8's heap (resident
// minus heap total, reported by the action), where the C library's
// allocations are: V8 grows its heap in steps that would hide a leak.
func TestNodeLauncherEnvDoesNotLeak(t *testing.T) {
	l := startLauncher(t, []string{"node"}, runtimes.NodeLauncher(), "launcher.js", nodeEnvAction)
	mem := func(res map[string]string) int {
		n, err := strconv.Atoi(res["MEM"])
		if err != nil {
			t.Fatalf("the action reported no memory: %v", res)
		}
		return n
	}
	before := mem(l.run(t, 0, 2000))
	after := mem(l.run(t, 2000, 2000+leakActivations))
	t.Logf("nodejs launcher RSS outside V8's heap %d kB -> %d kB over %d activations", before, after, leakActivations)
	if after-before > maxGrowthKB {
		t.Errorf("memory outside V8's heap grew by %d kB over %d activations (%d bytes each); want at most %d kB", after-before, leakActivations, (after-before)*1024/leakActivations, maxGrowthKB)
	}
}

const nodeSubprocessAction = `
const { execFileSync } = require('child_process');
const KEYS = ["__OW_ACTIVATION_ID", "__OW_TRANSACTION_ID", "__OW_DEADLINE", "__OW_ACTION_NAME",
  "__OW_ACTION_VERSION", "__OW_NAMESPACE", "__OW_API_KEY", "FROM_INIT"];
function main(args) {
  process.env.SET_BY_ACTION = 42;
  const seen = {};
  for (const l of execFileSync('env').toString().split('\n')) {
    const i = l.indexOf('=');
    if (i > 0) seen[l.slice(0, i)] = l.slice(i + 1);
  }
  const out = {};
  for (const k of KEYS) out[k] = seen[k];
  out.SET_BY_ACTION = seen.SET_BY_ACTION + "," + typeof process.env.SET_BY_ACTION;
  out.LISTED = String(Object.keys(process.env).includes('__OW_ACTIVATION_ID'));
  return out;
}
`

// TestNodeLauncherEnvReachesSubprocesses checks that a process the
// action starts inherits the current activation's __OW_* values, that
// what the action assigns to process.env is a string there and in its
// children, and that the __OW_* variables are listed in process.env.
func TestNodeLauncherEnvReachesSubprocesses(t *testing.T) {
	l := startLauncher(t, []string{"node"}, runtimes.NodeLauncher(), "launcher.js", nodeSubprocessAction)
	if got := l.run(t, 0, 10); got["SET_BY_ACTION"] != "42,string" || got["LISTED"] != "true" {
		t.Errorf("the action's own variable: %q, __OW_ACTIVATION_ID listed: %q", got["SET_BY_ACTION"], got["LISTED"])
	}
}

const pythonSubprocessAction = `
import os, subprocess
KEYS = ("__OW_ACTIVATION_ID", "__OW_TRANSACTION_ID", "__OW_DEADLINE", "__OW_ACTION_NAME",
        "__OW_ACTION_VERSION", "__OW_NAMESPACE", "__OW_API_KEY", "FROM_INIT")
def main(args):
    if args["i"] % 2:
        os.system("env > env.txt")
        with open("env.txt") as f:
            out = f.read()
    else:
        out = subprocess.check_output(["env"]).decode()
    seen = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    return {k: seen.get(k) for k in KEYS}
`

// TestPythonLauncherEnvReachesSubprocesses checks that a process the
// action starts (subprocess, os.system) inherits the current activation's
// __OW_* values, though the launcher no longer sets them in the C
// environment at each activation.
func TestPythonLauncherEnvReachesSubprocesses(t *testing.T) {
	l := startLauncher(t, append([]string{"python3"}, runtimes.PythonFlags...), runtimes.PythonLauncher(), "launcher.py", pythonSubprocessAction)
	l.run(t, 0, 20)
}
