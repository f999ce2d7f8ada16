//go:build e2e_kubernetes

package kubernetes_test

// The factory against a real API server, kubelet and containerd (make
// e2e-kubernetes): the conformance suite on real pods running Whirl's
// runtime image, and the failure cases.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/containertest"
	"github.com/whirlfaas/whirl/internal/container/kubernetes"
	"github.com/whirlfaas/whirl/internal/e2ekube"
)

func clusterFactory(t *testing.T, ns string, mod func(*kubernetes.Options)) *kubernetes.Factory {
	t.Helper()
	c := e2ekube.Get(t)
	c.Namespace(t, ns)
	ca, err := os.ReadFile(os.Getenv("WHIRL_E2E_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	o := kubernetes.Options{APIURL: c.API, Token: c.Token, APIClient: &http.Client{Transport: tr}, Namespace: ns,
		Invoker: "e2e-" + ns, Image: c.Image, ImagePullPolicy: "Never", APIHost: "https://whirl.test"}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := kubernetes.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	return f
}

func TestClusterConformance(t *testing.T) {
	f := clusterFactory(t, "e2e-factory", func(o *kubernetes.Options) {
		// The harness' cluster has split log streams on
		// (PodLogsQuerySplitStreams): stdout and stderr keep their names.
		o.SplitLogStreams = true
	})
	containertest.Run(t, f, containertest.Sources{
		Kind:    "python:3",
		Probe:   containertest.Action{Code: []byte(pythonProbe)},
		Broken:  containertest.Action{Code: []byte("def main(a:\n")},
		APIHost: "https://whirl.test",
	})
}

func TestClusterFailures(t *testing.T) {
	f := clusterFactory(t, "e2e-failures", nil)
	t.Run("image missing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := f.Create(ctx, container.Spec{Kind: whiskBlackbox, Image: "localhost/no-such-image:1", MemoryMB: 128})
		if err == nil || errors.Is(err, container.ErrTimeout) || !strings.Contains(err.Error(), "ErrImageNeverPull") {
			t.Fatalf("create with a missing image: err = %v, want ErrImageNeverPull at once", err)
		}
	})
	t.Run("out of memory", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := f.Create(ctx, container.Spec{Kind: "python:3", MemoryMB: 128})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Destroy(context.Background())
		if _, err := c.Init(ctx, container.InitRequest{Name: "/guest/hog", Code: []byte(hog), Env: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
		_, err = runProbe(t, c, `{"mb": 400}`)
		if !errors.Is(err, container.ErrMemory) {
			t.Fatalf("an action over its 128 MB: err = %v, want ErrMemory", err)
		}
	})
}

const whiskBlackbox = "blackbox"

const hog = `def main(a):
    b = []
    for i in range(a["mb"]):
        b.append(bytearray(1 << 20))
    return {"n": len(b)}
`
