package kubernetes_test

// Tests of the defects a first contact with a real cluster found
// (docs/kubernetes.md, "Defects fixed"), on the fake cluster.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/containertest"
	"github.com/whirlfaas/whirl/internal/container/kubernetes"
)

func initProbe(t *testing.T, c container.Container) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	logs, err := c.Init(ctx, container.InitRequest{Name: "/guest/probe", Code: []byte(pythonProbe),
		Env: map[string]string{"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/probe"}, Concurrency: 1})
	if err != nil {
		t.Fatalf("init: %v (logs %q)", err, logs)
	}
	return logs
}

func runProbe(t *testing.T, c container.Container, params string) (container.RunResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Run(ctx, container.RunRequest{Value: json.RawMessage(params), LogLimit: 1 << 20,
		Env: map[string]string{"activation_id": "a1", "namespace": "guest", "action_name": "/guest/probe", "deadline": "0"}})
}

// The runtime's start-up line is the pod log's first line: it is neither
// init's nor the first activation's log.
func TestBannerNotInLogs(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	logs := initProbe(t, c)
	res, err := runProbe(t, c, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append(logs, res.Logs...) {
		if strings.Contains(l, "listening on") {
			t.Fatalf("the runtime's banner is in an activation's logs: %q", l)
		}
	}
	if len(res.Logs) != 2 {
		t.Errorf("first run's logs %q, want its two lines", res.Logs)
	}
}

// whirl proxy is told the action's memory (it defaults to 256 MB, and
// enforces it on python with an address-space limit that ends in "out of
// memory"); the pod's limit leaves room for whirl proxy itself.
func TestWhirlImageGetsActionMemory(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	fc.mu.Lock()
	ct := fc.pods[c.ID()].pod.Spec.Containers[0]
	fc.mu.Unlock()
	i := slices.Index(ct.Args, "--memory")
	if i < 0 || i+1 >= len(ct.Args) || ct.Args[i+1] != "128" {
		t.Fatalf("args %q: whirl proxy is not given the action's 128 MB", ct.Args)
	}
	if ct.Resources.Requests["memory"] != "128Mi" || ct.Resources.Limits["memory"] != "192Mi" {
		t.Errorf("resources %+v, want request 128Mi and limit 128Mi + 64Mi for whirl proxy", ct.Resources)
	}
}

// A run whose action crashed in a runtime that keeps serving (Whirl's
// image) fails at once: the factory does not poll the pod for a
// terminated state that never comes.
func TestCrashDoesNotPoll(t *testing.T) {
	fc := newFakeCluster(t, processFactory(t))
	f, err := newFactory(t, fc, func(o *kubernetes.Options) { o.PollInterval = time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	c := containertest.Start(t, f, containertest.Sources{Kind: "python:3", Probe: containertest.Action{Code: []byte(pythonProbe)}}, 1)
	fc.mu.Lock()
	before := fc.gets
	fc.mu.Unlock()
	if _, err := runProbe(t, c, `{"crash": true}`); !errors.Is(err, container.ErrExited) {
		t.Fatalf("crash: err = %v, want ErrExited", err)
	}
	fc.mu.Lock()
	gets := fc.gets - before
	fc.mu.Unlock()
	if gets > 1 {
		t.Errorf("the failed run read the pod %d times (polling for a termination that never comes)", gets)
	}
}

// A log stream that cannot be followed is reported in the activation's
// logs, not silently empty; split streams the API refuses (422, the
// feature is off by default) fall back to the merged stream.
func TestLogFailures(t *testing.T) {
	t.Run("unreadable", func(t *testing.T) {
		fc := newFakeCluster(t, processFactory(t))
		fc.logCode = http.StatusInternalServerError
		f, err := newFactory(t, fc, func(o *kubernetes.Options) { o.LogWait = 200 * time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		c := containertest.Start(t, f, containertest.Sources{Kind: "python:3", Probe: containertest.Action{Code: []byte(pythonProbe)}}, 1)
		res, err := runProbe(t, c, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Logs) == 0 || !strings.Contains(strings.Join(res.Logs, "\n"), "logs could not be read") {
			t.Fatalf("logs %q: the failure to read them is silent", res.Logs)
		}
	})
	t.Run("split refused", func(t *testing.T) {
		fc := newFakeCluster(t, processFactory(t))
		fc.noSplit = true
		f, err := newFactory(t, fc, func(o *kubernetes.Options) { o.SplitLogStreams = true })
		if err != nil {
			t.Fatal(err)
		}
		c := containertest.Start(t, f, containertest.Sources{Kind: "python:3", Probe: containertest.Action{Code: []byte(pythonProbe)}}, 1)
		res, err := runProbe(t, c, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		if j := strings.Join(res.Logs, "\n"); !strings.Contains(j, "hello stdout") || !strings.Contains(j, "hello stderr") {
			t.Fatalf("logs %q, want the merged stream's lines", res.Logs)
		}
	})
}

// The service account's token and CA are re-read when they change
// (projected tokens rotate).
func TestServiceAccountRotation(t *testing.T) {
	var seen []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		w.Write([]byte(`{"items": []}`))
	}))
	defer api.Close()
	dir := t.TempDir()
	defer kubernetes.SetServiceAccountDir(dir)()
	defer kubernetes.SetRecheck(0)()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		// A new modification time, whatever the file system's resolution.
		at := time.Now().Add(time.Duration(len(seen)+1) * time.Second)
		os.Chtimes(filepath.Join(dir, name), at, at)
	}
	caOf := func(s *httptest.Server) string { // httptest's own certificate
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
	}
	write("token", "one")
	write("ca.crt", caOf(api))
	write("namespace", "actions")
	u, _ := url.Parse(api.URL)
	host, port, _ := net.SplitHostPort(u.Host)
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	f, err := kubernetes.New(context.Background(), kubernetes.Options{Invoker: "i"})
	if err != nil {
		t.Fatal(err)
	}
	write("token", "two")
	if err := f.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "Bearer one" || seen[1] != "Bearer two" {
		t.Fatalf("tokens sent %q, want the rotated one after the change", seen)
	}
	write("ca.crt", otherCA(t))
	api.CloseClientConnections() // the CA is checked at each handshake
	if err := f.Cleanup(context.Background()); err == nil {
		t.Fatal("the API server was trusted after the CA changed to another one")
	} else if !errors.As(err, new(*tls.CertificateVerificationError)) && !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	write("ca.crt", caOf(api))
	if err := f.Cleanup(context.Background()); err != nil {
		t.Fatalf("after the CA came back: %v", err)
	}
}

// Action pods carry CPU, activeDeadlineSeconds, nodeSelector,
// tolerations and imagePullSecrets from configuration, and the invoker's
// pod as owner.
func TestPodSettings(t *testing.T) {
	ps, err := kubernetes.ParsePodSettings("openwhisk-role=invoker", `[{"key":"openwhisk-role","operator":"Equal","value":"invoker","effect":"NoSchedule"}]`, "regcred", "1", "3600")
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeCluster(t, processFactory(t))
	fc.put("invoker-0", map[string]string{"app": "whirl"})
	fc.mu.Lock()
	fc.pods["invoker-0"].pod.Metadata.UID = "uid-0"
	fc.mu.Unlock()
	f, err := newFactory(t, fc, func(o *kubernetes.Options) { o.Pod = ps; o.OwnerPod = "invoker-0" })
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Create(context.Background(), container.Spec{Kind: "python:3", MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	fc.mu.Lock()
	p := fc.pods[c.ID()].pod
	fc.mu.Unlock()
	ct := p.Spec.Containers[0]
	if ct.Resources.Requests["cpu"] != "250m" || ct.Resources.Limits["cpu"] != "250m" {
		t.Errorf("cpu %+v, want 250m (1 core per GB, 256 MB)", ct.Resources)
	}
	if p.Spec.ActiveDeadlineSeconds != 3600 || p.Spec.NodeSelector["openwhisk-role"] != "invoker" ||
		len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0].Effect != "NoSchedule" ||
		len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("pod spec %+v", p.Spec)
	}
	if o := p.Metadata.OwnerReferences; len(o) != 1 || o[0].Kind != "Pod" || o[0].Name != "invoker-0" || o[0].UID != "uid-0" {
		t.Errorf("owner references %+v, want the invoker's pod", o)
	}
	for _, bad := range [][5]string{{"novalue", "", "", "", ""}, {"", "{", "", "", ""}, {"", "", "", "x", ""}, {"", "", "", "", "-1"}} {
		if _, err := kubernetes.ParsePodSettings(bad[0], bad[1], bad[2], bad[3], bad[4]); err == nil {
			t.Errorf("ParsePodSettings%q: no error", bad)
		}
	}
}

// otherCA returns a self-signed certificate that signed nothing.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
