package proxy_test

import (
	"context"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/containertest"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/proxy"
)

// httpFactory is a container.Factory whose containers are proxy servers
// reached over HTTP, each running one process container: the runtime image
// path, in process.
type httpFactory struct{ pf *process.Factory }

func (h httpFactory) Create(ctx context.Context, spec container.Spec) (container.Container, error) {
	srv := proxy.New(h.pf, spec.Kind)
	var mu sync.Mutex
	var lines []string
	srv.Logs = func(l []string) {
		mu.Lock()
		lines = append(lines, l...)
		mu.Unlock()
	}
	ts := httptest.NewServer(srv)
	return &proxy.Client{
		Name:    "proxy",
		BaseURL: ts.URL,
		Logs: func() []string {
			mu.Lock()
			defer mu.Unlock()
			l := lines
			lines = nil
			return l
		},
		OnDestroy: func(ctx context.Context) error {
			ts.CloseClientConnections()
			ts.Close()
			return srv.Close(ctx)
		},
	}, nil
}

func (h httpFactory) Kinds() []string                 { return h.pf.Kinds() }
func (h httpFactory) Close(ctx context.Context) error { return h.pf.Close(ctx) }

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

func TestConformanceOverHTTP(t *testing.T) {
	d, err := os.MkdirTemp("", "whirl-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o711)
	t.Cleanup(func() { os.RemoveAll(d) })
	pf, err := process.New(process.Options{WorkDir: d, Sandbox: process.SandboxAuto, Network: true})
	if err != nil {
		t.Fatal(err)
	}
	f := httpFactory{pf}
	t.Cleanup(func() { f.Close(context.Background()) })
	// LogLimit over HTTP is the server's: the suite's per-run limit does
	// not travel in /run, so that case is covered by the process tests.
	containertest.Run(t, f, containertest.Sources{
		Kind:       "python:3",
		Probe:      containertest.Action{Code: []byte(pythonProbe)},
		Broken:     containertest.Action{Code: []byte("def main(a:\n")},
		NoLogLimit: true,
	})
}
