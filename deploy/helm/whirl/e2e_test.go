//go:build e2e_kubernetes

package chart_test

// The chart with the real helm against the real cluster of make
// e2e-kubernetes: lint, a value matrix rendered and validated by the API
// server, then an install whose controllers and invokers run as pods and
// run an action through the NodePort, an upgrade changing apiHost that
// rolls the pods, and an uninstall that leaves no action pod behind.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/e2ekube"
)

func helm(t *testing.T, c *e2ekube.Cluster, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(c.Helm, append(args, "--kubeconfig", c.Kubeconfig)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestHelmLint(t *testing.T) {
	c := e2ekube.Get(t)
	out, err := exec.Command(c.Helm, "lint", ".", "--set", "apiHost=https://whirl.test").CombinedOutput()
	if err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
}

// Each row is installed as a server-side dry run: helm renders with its
// own engine and the API server validates every object (names, labels,
// namespaces).
func TestHelmValueMatrix(t *testing.T) {
	c := e2ekube.Get(t)
	rows := []struct {
		name    string
		release string
		set     []string
		want    string // in the rendered manifest
		wantErr string
	}{
		{"numeric tag", "tags", []string{"image.tag=2"}, "image: \"whirlfaas/whirl:2\"", ""},
		{"quoted 1.10", "tags", []string{"image.tag=1.10"}, "whirlfaas/whirl:1.10", ""},
		{"long release name", strings.Repeat("l", 53), nil, "-invoker", ""},
		{"another action namespace", "other", []string{"invoker.actionNamespace=e2e-other-actions"}, "kind: Namespace", ""},
		{"no invokers", "none", []string{"invoker.replicas=0"}, "", "invoker.replicas must be at least 1"},
		{"NodePort 31001", "np", []string{"controller.service.type=NodePort", "controller.service.nodePort=31001"}, "nodePort: 31001", ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			args := []string{"install", r.release, ".", "--namespace", "e2e-matrix", "--create-namespace", "--dry-run=server",
				"--set", "apiHost=https://whirl.test"}
			for _, s := range r.set {
				if strings.HasPrefix(s, "image.tag=1.10") {
					args = append(args, "--set-string", s)
					continue
				}
				args = append(args, "--set", s)
			}
			out, err := helm(t, c, args...)
			if r.wantErr != "" {
				if err == nil || !strings.Contains(out, r.wantErr) {
					t.Fatalf("want a refusal %q, got %v\n%s", r.wantErr, err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, r.want) || strings.Contains(out, "%!") {
				t.Fatalf("manifest lacks %q (or has a formatting error):\n%s", r.want, out)
			}
		})
	}
}

const release = "field-guide-whirl-release-with-a-long-name" // 42 characters

func TestHelmInstallUpgradeUninstall(t *testing.T) {
	c := e2ekube.Get(t)
	const ns = "whirl"
	c.Namespace(t, ns)
	if err := c.Do(http.MethodPost, "/api/v1/namespaces/"+ns+"/secrets", map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "whirl-postgres"},
		"data": map[string]any{"dsn": base64.StdEncoding.EncodeToString([]byte(c.Store))},
	}, nil); err != nil {
		t.Fatal(err)
	}
	apiHost := "http://" + c.NodeIP + ":31001"
	args := []string{"install", release, ".", "--namespace", ns, "--wait", "--timeout", "4m",
		"--set", "apiHost=" + apiHost, "--set", "image.repository=localhost/whirl", "--set", "image.tag=2",
		"--set", "image.pullPolicy=Never", "--set", "nats.url=" + c.Bus,
		"--set", "controller.replicas=1", "--set", "invoker.replicas=1",
		"--set", "controller.service.type=NodePort", "--set", "controller.service.nodePort=31001",
		"--set", "invoker.runtimeImage=localhost/whirl:e2e",
		// Which role generates the guest key first (and so whether a
		// controller prints it) is a race: use OpenWhisk's well-known key.
		"--set", "auth.useWellKnownKeys=true"}
	t0 := time.Now()
	if out, err := helm(t, c, args...); err != nil {
		t.Fatalf("helm install: %v\n%s\n%s", err, out, podReport(c, ns))
	}
	t.Logf("helm install --wait: %s", time.Since(t0).Round(time.Millisecond))
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			helm(t, c, "uninstall", release, "--namespace", ns, "--wait")
		}
	})

	wsk := &client{base: apiHost, key: auth.GuestKey}
	// Ready pods are not yet a NodePort: kube-proxy writes its rules when
	// the Service's endpoints reach it.
	e2ekube.Eventually(t, time.Minute, "the controllers through NodePort 31001", func() error {
		return wsk.do(http.MethodGet, "/api/v1/namespaces/_/actions", nil, nil)
	})
	// The field guide's first steps through the NodePort: create an
	// action, invoke it blocking and async, read the activation.
	wsk.must(t, http.MethodPut, "/api/v1/namespaces/_/actions/hello?overwrite=true",
		map[string]any{"exec": map[string]any{"kind": "python:3", "code": "def main(a):\n    print('hi', a.get('name'))\n    return {'greeting': 'Hello ' + a.get('name', 'stranger')}\n"}}, nil)
	var res struct {
		ActivationID string `json:"activationId"`
		Response     struct {
			Result map[string]any `json:"result"`
		} `json:"response"`
	}
	t1 := time.Now()
	wsk.must(t, http.MethodPost, "/api/v1/namespaces/_/actions/hello?blocking=true", map[string]any{"name": "Whirl"}, &res)
	t.Logf("first invoke (cold pod): %s", time.Since(t1).Round(time.Millisecond))
	if res.Response.Result["greeting"] != "Hello Whirl" {
		t.Fatalf("blocking invoke: %+v", res)
	}
	t2 := time.Now()
	wsk.must(t, http.MethodPost, "/api/v1/namespaces/_/actions/hello?blocking=true&result=true", map[string]any{"name": "again"}, nil)
	t.Logf("warm invoke through the Service: %s", time.Since(t2).Round(time.Millisecond))
	var async struct {
		ActivationID string `json:"activationId"`
	}
	wsk.must(t, http.MethodPost, "/api/v1/namespaces/_/actions/hello", map[string]any{"name": "async"}, &async)
	e2ekube.Eventually(t, time.Minute, "async activation record", func() error {
		var a struct {
			Logs []string `json:"logs"`
		}
		if err := wsk.do(http.MethodGet, "/api/v1/namespaces/_/activations/"+async.ActivationID, nil, &a); err != nil {
			return err
		}
		if !strings.Contains(strings.Join(a.Logs, "\n"), "hi async") {
			return fmt.Errorf("logs %q", a.Logs)
		}
		return nil
	})
	actionPods, err := c.Pods(ns, "whirl.dev/invoker")
	if err != nil || len(actionPods) == 0 {
		t.Fatalf("no action pod in %s after invokes: %v", ns, err)
	}

	// helm upgrade changing apiHost rolls the pods.
	before := podUIDs(t, c, ns, "app.kubernetes.io/instance="+release)
	if out, err := helm(t, c, "upgrade", release, ".", "--namespace", ns, "--reuse-values", "--wait", "--timeout", "4m",
		"--set", "apiHost=http://whirl.example:31001"); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	e2ekube.Eventually(t, 2*time.Minute, "pods replaced after the apiHost change", func() error {
		after := podUIDs(t, c, ns, "app.kubernetes.io/instance="+release)
		for uid := range after {
			if before[uid] {
				return fmt.Errorf("pod %s was not replaced", uid)
			}
		}
		if len(after) == 0 {
			return fmt.Errorf("no pods")
		}
		return nil
	})

	// helm uninstall leaves no action pod behind.
	if out, err := helm(t, c, "uninstall", release, "--namespace", ns, "--wait", "--timeout", "2m"); err != nil {
		t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	uninstalled = true
	e2ekube.Eventually(t, 2*time.Minute, "no action pod after helm uninstall", func() error {
		pods, err := c.Pods(ns, "whirl.dev/invoker")
		if err != nil {
			return err
		}
		if len(pods) > 0 {
			return fmt.Errorf("%d action pods left, e.g. %s", len(pods), pods[0].Metadata.Name)
		}
		return nil
	})
}

func podUIDs(t *testing.T, c *e2ekube.Cluster, ns, sel string) map[string]bool {
	t.Helper()
	pods, err := c.Pods(ns, sel)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods {
		if p.Metadata.DeletionTimestamp == "" && p.Ready() {
			out[p.Metadata.UID] = true
		}
	}
	return out
}

// podReport is the pods of ns and the last lines of their logs, for a
// failure's message.
func podReport(c *e2ekube.Cluster, ns string) string {
	pods, err := c.Pods(ns, "")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "pod %s: %s ready=%v\n", p.Metadata.Name, p.Status.Phase, p.Ready())
		l, _ := c.Text("/api/v1/namespaces/" + ns + "/pods/" + p.Metadata.Name + "/log?tailLines=15")
		b.WriteString(l)
	}
	return b.String()
}

// client is a minimal OpenWhisk REST client.
type client struct{ base, key string }

func (w *client) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		return err
	}
	u, p, _ := strings.Cut(w.key, ":")
	req.SetBasicAuth(u, p)
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 2 * time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (w *client) must(t *testing.T, method, path string, body, out any) {
	t.Helper()
	if err := w.do(method, path, body, out); err != nil {
		t.Fatal(err)
	}
}
