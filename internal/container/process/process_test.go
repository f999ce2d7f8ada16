package process_test

import (
	"os"
	"testing"

	"github.com/whirlfaas/whirl/internal/container/containertest"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

const pythonProbe = `import os, sys, time
def main(a):
    if a.get("sleep"):
        time.sleep(a["sleep"] / 1000)
    if a.get("crash"):
        os._exit(3)
    if a.get("big"):
        return {"s": "x" * a["big"]}
    for i in range(a.get("log", 0)):
        print("line", i)
    print("hello stdout")
    print("hello stderr", file=sys.stderr)
    return {"params": a, "activation": os.environ.get("__OW_ACTIVATION_ID", ""), "api_host": os.environ.get("__OW_API_HOST", "")}
`

const nodeProbe = `function main(a) {
  if (a.crash) process.exit(3);
  if (a.big) return {s: 'x'.repeat(a.big)};
  for (let i = 0; i < (a.log || 0); i++) console.log('line', i);
  console.log('hello stdout');
  console.error('hello stderr');
  const r = {params: a, activation: process.env.__OW_ACTIVATION_ID || '', api_host: process.env.__OW_API_HOST || ''};
  if (a.sleep) return new Promise(res => setTimeout(() => res(r), a.sleep));
  return r;
}
`

const goProbe = `package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func Main(a map[string]interface{}) map[string]interface{} {
	if v, ok := a["sleep"].(float64); ok {
		time.Sleep(time.Duration(v) * time.Millisecond)
	}
	if a["crash"] == true {
		os.Exit(3)
	}
	if v, ok := a["big"].(float64); ok {
		return map[string]interface{}{"s": strings.Repeat("x", int(v))}
	}
	if v, ok := a["log"].(float64); ok {
		for i := 0; i < int(v); i++ {
			fmt.Println("line", i)
		}
	}
	fmt.Println("hello stdout")
	fmt.Fprintln(os.Stderr, "hello stderr")
	return map[string]interface{}{"params": a, "activation": os.Getenv("__OW_ACTIVATION_ID"), "api_host": os.Getenv("__OW_API_HOST")}
}
`

// nativeProbe is a blackbox executable speaking the action-loop protocol
// itself (written in python for brevity).
const nativeProbe = `#!/usr/bin/python3
import json, os, sys, time
out = os.fdopen(3, "w")
for line in sys.stdin:
    m = json.loads(line)
    a = m.get("value", {})
    if a.get("sleep"):
        time.sleep(a["sleep"] / 1000)
    if a.get("crash"):
        os._exit(3)
    if a.get("big"):
        res = {"s": "x" * a["big"]}
    else:
        for i in range(a.get("log", 0)):
            print("line", i)
        print("hello stdout")
        print("hello stderr", file=sys.stderr)
        res = {"params": a, "activation": m.get("activation_id", ""), "api_host": os.environ.get("__OW_API_HOST", "")}
    sys.stdout.flush()
    sys.stderr.flush()
    out.write(json.dumps(res) + "\n")
    out.flush()
`

// Sources returns the probe actions for each family.
func sources() []containertest.Sources {
	return []containertest.Sources{
		{Kind: "python:3", Probe: containertest.Action{Code: []byte(pythonProbe)}, Broken: containertest.Action{Code: []byte("def main(a:\n  return a\n")}},
		{Kind: "nodejs:20", Probe: containertest.Action{Code: []byte(nodeProbe)}, Broken: containertest.Action{Code: []byte("function main(a) { return a\n")}, Concurrent: true},
		{Kind: "go:" + runtimes.GoVersion(), Probe: containertest.Action{Code: []byte(goProbe)}, Broken: containertest.Action{Code: []byte("package main\nfunc Main(a map[string]interface{}) map[string]interface{} { return b }\n")}},
		{Kind: "blackbox", Probe: containertest.Action{Code: []byte(nativeProbe), Binary: true}, Broken: containertest.Action{Code: []byte("not an executable"), Binary: true}},
	}
}

// workDir returns a directory the sandbox's uid can reach.
func workDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "whirl-process-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o711)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func newFactory(t testing.TB, sandbox string) *process.Factory {
	t.Helper()
	f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: sandbox, Network: true, APIHost: "http://whirl.test", GoCacheDir: sharedGoCache(t, sandbox)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(t.Context()) })
	return f
}

func TestConformance(t *testing.T) {
	for _, sb := range []string{process.SandboxNone, process.SandboxBwrap} {
		t.Run(sb, func(t *testing.T) {
			if sb == process.SandboxBwrap {
				requireBwrap(t)
			}
			f := newFactory(t, sb)
			for _, src := range sources() {
				src.APIHost = "http://whirl.test"
				t.Run(src.Kind, func(t *testing.T) { containertest.Run(t, f, src) })
			}
		})
	}
}

func requireBwrap(t testing.TB) {
	if _, err := os.Stat("/usr/bin/bwrap"); err != nil {
		t.Skip("bwrap is not installed")
	}
}
