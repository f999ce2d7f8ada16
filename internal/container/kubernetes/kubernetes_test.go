package kubernetes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/containertest"
	"github.com/whirlfaas/whirl/internal/container/kubernetes"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/proxy"
	"github.com/whirlfaas/whirl/whisk"
)

// logEntry is one line of a fake pod's log.
type logEntry struct {
	stream string // "Stdout" or "Stderr"
	line   string // "<timestamp> <text>"
}

type fakePod struct {
	pod  kubernetes.Pod
	srv  *proxy.Server
	hs   *http.Server
	addr string // where its /init + /run listens

	logs    []logEntry
	changed chan struct{}
	gone    bool
}

// fakeCluster is an API server storing pods and a "kubelet" that, unless
// neverReady, runs each created pod as an in-process proxy.Server backed
// by the process factory, and gives it a fake pod IP the test's dialer
// maps to that server.
type fakeCluster struct {
	t          *testing.T
	pf         *process.Factory
	neverReady bool
	createCode int // answer pod creation with this status when not 0
	// logCode answers every log request with this status when not 0;
	// noSplit answers 422 to stream= (split log streams off, as by
	// default in Kubernetes 1.37).
	logCode int
	noSplit bool

	gets    int // GET pod requests served
	mu      sync.Mutex
	pods    map[string]*fakePod
	byIP    map[string]string
	nextIP  int
	deleted []string
	ts      *httptest.Server
}

func newFakeCluster(t *testing.T, pf *process.Factory) *fakeCluster {
	fc := &fakeCluster{t: t, pf: pf, pods: map[string]*fakePod{}, byIP: map[string]string{}}
	mux := http.NewServeMux()
	const base = "/api/v1/namespaces/{ns}/pods"
	mux.HandleFunc("POST "+base, fc.create)
	mux.HandleFunc("GET "+base, fc.list)
	mux.HandleFunc("GET "+base+"/{name}", fc.get)
	mux.HandleFunc("DELETE "+base+"/{name}", fc.delete)
	mux.HandleFunc("GET "+base+"/{name}/log", fc.log)
	fc.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		fc.ts.CloseClientConnections()
		fc.ts.Close()
		fc.mu.Lock()
		pods := fc.pods
		fc.pods = map[string]*fakePod{}
		fc.mu.Unlock()
		for _, p := range pods {
			fc.stop(p)
		}
	})
	return fc
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": msg})
}

func (fc *fakeCluster) create(w http.ResponseWriter, r *http.Request) {
	if fc.createCode != 0 {
		status(w, fc.createCode, "Forbidden", `pods is forbidden: User "system:serviceaccount:whirl:invoker" cannot create resource "pods"`)
		return
	}
	var p kubernetes.Pod
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		status(w, 400, "BadRequest", err.Error())
		return
	}
	p.Metadata.Namespace = r.PathValue("ns")
	p.Status = kubernetes.PodStatus{Phase: "Pending"}
	fp := &fakePod{pod: p, changed: make(chan struct{})}
	fc.mu.Lock()
	if _, ok := fc.pods[p.Metadata.Name]; ok {
		fc.mu.Unlock()
		status(w, 409, "AlreadyExists", "exists")
		return
	}
	fc.pods[p.Metadata.Name] = fp
	fc.mu.Unlock()
	if !fc.neverReady {
		fc.start(fp)
	}
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(p)
}

// put adds a pod as an earlier run would have left it.
func (fc *fakeCluster) put(name string, labels map[string]string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.pods[name] = &fakePod{pod: kubernetes.Pod{Metadata: kubernetes.ObjectMeta{Name: name, Labels: labels}, Status: kubernetes.PodStatus{Phase: "Running"}}, changed: make(chan struct{})}
}

// start is the kubelet: run the pod's runtime and mark it Ready.
func (fc *fakeCluster) start(fp *fakePod) {
	c := fp.pod.Spec.Containers[0]
	kind := "python:3"
	for i, a := range c.Args {
		if a == "--kind" && i+1 < len(c.Args) {
			kind = c.Args[i+1]
		}
	}
	srv := proxy.New(fc.pf, kind)
	srv.Logs = func(lines []string) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		for _, l := range lines {
			ts, text := strings.TrimSpace(l[:30]), l[31:]
			stream := "Stdout"
			if rest, ok := strings.CutPrefix(text, "stderr: "); ok {
				stream, text = "Stderr", rest
			} else {
				text = strings.TrimPrefix(text, "stdout: ")
			}
			fp.logs = append(fp.logs, logEntry{stream, ts + " " + text})
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		fp.logs = append(fp.logs, logEntry{"Stdout", now + " " + whisk.MsgActivationLogsSentinel}, logEntry{"Stderr", now + " " + whisk.MsgActivationLogsSentinel})
		close(fp.changed)
		fp.changed = make(chan struct{})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fc.t.Errorf("kubelet: %v", err)
		return
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.nextIP++
	ip := fmt.Sprintf("10.0.0.%d", fc.nextIP)
	fc.byIP[ip] = ln.Addr().String()
	fp.srv, fp.hs, fp.addr = srv, hs, ln.Addr().String()
	// What whirl proxy prints when it starts: the pod log's first line.
	fp.logs = append(fp.logs, logEntry{"Stdout", time.Now().UTC().Format(time.RFC3339Nano) + " whirl proxy (" + kind + ") listening on [::]:8080"})
	fp.pod.Status = kubernetes.PodStatus{Phase: "Running", PodIP: ip, Conditions: []kubernetes.PodCondition{{Type: "Ready", Status: "True"}},
		ContainerStatuses: []kubernetes.ContainerStatus{{Name: c.Name, Ready: true, State: kubernetes.ContainerState{Running: &struct{}{}}}}}
}

func (fc *fakeCluster) stop(fp *fakePod) {
	if fp.hs != nil {
		fp.hs.Close()
		fp.srv.Close(context.Background())
	}
}

func (fc *fakeCluster) get(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	fc.gets++
	fp, ok := fc.pods[r.PathValue("name")]
	var p kubernetes.Pod
	if ok {
		p = fp.pod
	}
	fc.mu.Unlock()
	if !ok {
		status(w, 404, "NotFound", fmt.Sprintf("pods %q not found", r.PathValue("name")))
		return
	}
	json.NewEncoder(w).Encode(p)
}

func (fc *fakeCluster) list(w http.ResponseWriter, r *http.Request) {
	k, v, _ := strings.Cut(r.URL.Query().Get("labelSelector"), "=")
	var items []kubernetes.Pod
	fc.mu.Lock()
	for _, fp := range fc.pods {
		if fp.pod.Metadata.Labels[k] == v {
			items = append(items, fp.pod)
		}
	}
	fc.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"kind": "PodList", "items": items})
}

func (fc *fakeCluster) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if r.URL.Query().Get("gracePeriodSeconds") != "0" {
		status(w, 400, "BadRequest", "want gracePeriodSeconds=0")
		return
	}
	fc.mu.Lock()
	fp, ok := fc.pods[name]
	if ok {
		delete(fc.pods, name)
		fc.deleted = append(fc.deleted, name)
		fp.gone = true
		close(fp.changed)
		fp.changed = make(chan struct{})
	}
	fc.mu.Unlock()
	if !ok {
		status(w, 404, "NotFound", "not found")
		return
	}
	fc.stop(fp)
	json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Success"})
}

// log serves the pod's log, followed until the pod is deleted.
func (fc *fakeCluster) log(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("follow") != "true" || q.Get("timestamps") != "true" {
		status(w, 400, "BadRequest", "want follow and timestamps")
		return
	}
	stream := q.Get("stream")
	if fc.logCode != 0 {
		status(w, fc.logCode, "InternalError", "the kubelet is unreachable")
		return
	}
	if fc.noSplit && stream != "" {
		status(w, 422, "Invalid", `PodLogOptions "x" is invalid: stream: Forbidden: may not be specified`)
		return
	}
	fc.mu.Lock()
	fp, ok := fc.pods[r.PathValue("name")]
	fc.mu.Unlock()
	if !ok {
		status(w, 404, "NotFound", "not found")
		return
	}
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	next := 0
	for {
		fc.mu.Lock()
		var out []string
		for ; next < len(fp.logs); next++ {
			if stream == "" || fp.logs[next].stream == stream {
				out = append(out, fp.logs[next].line)
			}
		}
		ch, gone := fp.changed, fp.gone
		fc.mu.Unlock()
		for _, l := range out {
			fmt.Fprintln(w, l)
		}
		fl.Flush()
		if gone {
			return
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

func (fc *fakeCluster) deletedPods() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.deleted...)
}

func (fc *fakeCluster) podCount() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.pods)
}

// actionClient reaches fake pod IPs on :8080 at their servers.
func (fc *fakeCluster) actionClient() *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		fc.mu.Lock()
		real, ok := fc.byIP[host]
		fc.mu.Unlock()
		if !ok || port != "8080" {
			return nil, fmt.Errorf("no route to %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	}}
	return &http.Client{Transport: tr}
}

func processFactory(t *testing.T) *process.Factory {
	d, err := os.MkdirTemp("", "whirl-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o711)
	t.Cleanup(func() { os.RemoveAll(d) })
	pf, err := process.New(process.Options{WorkDir: d, Sandbox: "none", Network: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pf.Close(context.Background()) })
	return pf
}

func newFactory(t *testing.T, fc *fakeCluster, mod func(*kubernetes.Options)) (*kubernetes.Factory, error) {
	o := kubernetes.Options{
		APIURL: fc.ts.URL, Token: "t", Namespace: "actions", Invoker: "invoker0",
		Image: "whirlfaas/action-runtime:test", ActionClient: fc.actionClient(),
		APIHost: "https://whirl.test", PollInterval: 5 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	f, err := kubernetes.New(context.Background(), o)
	if err == nil {
		t.Cleanup(func() { f.Close(context.Background()) })
	}
	return f, err
}

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

func TestConformanceThroughFakeCluster(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, func(o *kubernetes.Options) { o.SplitLogStreams = true })
	if err != nil {
		t.Fatal(err)
	}
	containertest.Run(t, f, containertest.Sources{
		Kind:    "python:3",
		Probe:   containertest.Action{Code: []byte(pythonProbe)},
		Broken:  containertest.Action{Code: []byte("def main(a:\n")},
		APIHost: "https://whirl.test",
	})
}

func TestCreateForbidden(t *testing.T) {
	fc := newFakeCluster(t, nil)
	fc.createCode = http.StatusForbidden
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 256})
	var ae *kubernetes.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("create refused by the API: err = %v, want an *APIError with 403", err)
	}
	if !strings.Contains(err.Error(), "cannot create resource") {
		t.Errorf("error %q does not carry the API's message", err)
	}
}

func TestNeverReadyTimesOut(t *testing.T) {
	fc := newFakeCluster(t, nil)
	fc.neverReady = true
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 256})
	if !errors.Is(err, container.ErrTimeout) {
		t.Fatalf("create of a pod that never gets ready: err = %v, want ErrTimeout", err)
	}
	// The pod that never started is deleted.
	if fc.podCount() != 0 || len(fc.deletedPods()) != 1 {
		t.Errorf("after the timeout: %d pods left, deleted %v", fc.podCount(), fc.deletedPods())
	}
}

func TestPodSpecAndDestroy(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, func(o *kubernetes.Options) { o.Image = "" })
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 384, Env: map[string]string{"X": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	fp := fc.pods[c.ID()]
	fc.mu.Unlock()
	if fp == nil {
		t.Fatalf("no pod named %s", c.ID())
	}
	p := fp.pod
	ct := p.Spec.Containers[0]
	if p.Metadata.Labels[kubernetes.LabelInvoker] != "invoker0" || p.Metadata.Labels[kubernetes.LabelContainerID] != c.ID() {
		t.Errorf("labels %v", p.Metadata.Labels)
	}
	if p.Spec.RestartPolicy != "Never" || p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		t.Errorf("restartPolicy %q, automount %v", p.Spec.RestartPolicy, p.Spec.AutomountServiceAccountToken)
	}
	if ct.Resources.Limits["memory"] != "384Mi" {
		t.Errorf("memory limit %q", ct.Resources.Limits["memory"])
	}
	if !strings.HasPrefix(ct.Image, "whirlfaas/action-python:") || len(ct.Args) != 0 {
		t.Errorf("image %q args %q, want the manifest's python image", ct.Image, ct.Args)
	}
	env := map[string]string{}
	for _, e := range ct.Env {
		env[e.Name] = e.Value
	}
	if env["X"] != "y" || env["__OW_API_HOST"] != "https://whirl.test" {
		t.Errorf("env %v", env)
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	if d := fc.deletedPods(); len(d) != 1 || d[0] != c.ID() || fc.podCount() != 0 {
		t.Errorf("after destroy: deleted %v, %d pods left", d, fc.podCount())
	}
}

func TestMergedLogsAreStdout(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := containertest.Start(t, f, containertest.Sources{Kind: "python:3", Probe: containertest.Action{Code: []byte(pythonProbe)}}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 {
		res, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{}`), Env: map[string]string{"activation_id": "a"}, LogLimit: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, l := range res.Logs {
			got[l[31:]] = true
		}
		if len(res.Logs) != 2 || !got["stdout: hello stdout"] || !got["stdout: hello stderr"] {
			t.Errorf("run %d: merged logs %q, want both lines as stdout", i, res.Logs)
		}
	}
}

func TestCleanupAtStart(t *testing.T) {
	fc := newFakeCluster(t, nil)
	fc.put("wsk-invoker0-old1", map[string]string{kubernetes.LabelInvoker: "invoker0"})
	fc.put("wsk-invoker0-old2", map[string]string{kubernetes.LabelInvoker: "invoker0"})
	fc.put("wsk-invoker1-other", map[string]string{kubernetes.LabelInvoker: "invoker1"})
	if _, err := newFactory(t, fc, nil); err != nil {
		t.Fatal(err)
	}
	d := fc.deletedPods()
	if len(d) != 2 || fc.podCount() != 1 {
		t.Fatalf("deleted %v, %d left; want the two pods of invoker0 deleted", d, fc.podCount())
	}
	for _, n := range d {
		if !strings.Contains(n, "invoker0") {
			t.Errorf("deleted %s, which is not invoker0's", n)
		}
	}
}

func TestOOMKilledIsErrMemory(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := containertest.Start(t, f, containertest.Sources{Kind: "python:3", Probe: containertest.Action{Code: []byte(pythonProbe)}}, 1)
	// The kubelet reports the container killed for its memory limit and
	// the runtime is gone.
	fc.mu.Lock()
	fp := fc.pods[c.ID()]
	fp.pod.Status.Phase = "Failed"
	fp.pod.Status.ContainerStatuses[0].State = kubernetes.ContainerState{Terminated: &kubernetes.StateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	fc.mu.Unlock()
	fc.stop(fp)
	_, err = c.Run(context.Background(), container.RunRequest{Value: json.RawMessage(`{}`), LogLimit: 1 << 20})
	if !errors.Is(err, container.ErrMemory) {
		t.Fatalf("run on an OOM-killed pod: err = %v, want ErrMemory", err)
	}
}

func TestUnsupportedKind(t *testing.T) {
	fc := newFakeCluster(t, nil)
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(context.Background(), container.Spec{Kind: "cobol:1"}); !errors.Is(err, container.ErrUnsupportedKind) {
		t.Fatalf("err = %v, want ErrUnsupportedKind", err)
	}
	if _, err := f.Create(context.Background(), container.Spec{Kind: whisk.KindBlackbox}); !errors.Is(err, container.ErrUnsupportedKind) {
		t.Fatalf("blackbox without image: err = %v, want ErrUnsupportedKind", err)
	}
}

// TestOpenWhiskImageForKindsWithoutLauncher: kinds Whirl has no runtime
// for (swift, dotnet, rust) run in OpenWhisk's image from the manifest even
// when Whirl's own image runs the others.
func TestOpenWhiskImageForKindsWithoutLauncher(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]string{"swift:5.3": "openwhisk/action-swift-v5.3:nightly", "python:3.10": "whirlfaas/action-runtime:test"} {
		c, err := f.Create(context.Background(), container.Spec{Kind: kind, MemoryMB: 128})
		if err != nil {
			t.Fatalf("create %s: %v", kind, err)
		}
		fc.mu.Lock()
		ct := fc.pods[c.ID()].pod.Spec.Containers[0]
		fc.mu.Unlock()
		if ct.Image != want {
			t.Errorf("%s: image %q, want %q", kind, ct.Image, want)
		}
		c.Destroy(context.Background())
	}
}
