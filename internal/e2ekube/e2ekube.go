// Package e2ekube is what the tests run by `make e2e-kubernetes` share:
// the cluster the harness (scripts/e2e-kubernetes.sh) brought up, read
// from WHIRL_E2E_* variables, and a small client of its API server.
// Outside that run the tests that use it skip.
package e2ekube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Cluster is the harness' cluster.
type Cluster struct {
	API, Token, Kubeconfig, Helm, NodeIP, Store, Bus, Image string
	HTTP                                                    *http.Client
}

// Get returns the cluster, or skips t outside `make e2e-kubernetes`.
func Get(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{
		API: os.Getenv("WHIRL_E2E_API"), Token: os.Getenv("WHIRL_E2E_TOKEN"),
		Kubeconfig: os.Getenv("WHIRL_E2E_KUBECONFIG"), Helm: os.Getenv("WHIRL_E2E_HELM"),
		NodeIP: os.Getenv("WHIRL_E2E_NODE_IP"), Store: os.Getenv("WHIRL_E2E_STORE"),
		Bus: os.Getenv("WHIRL_E2E_BUS"), Image: os.Getenv("WHIRL_E2E_IMAGE"),
	}
	if c.API == "" {
		t.Skip("no cluster: run by make e2e-kubernetes (scripts/e2e-kubernetes.sh)")
	}
	ca, err := os.ReadFile(os.Getenv("WHIRL_E2E_CA"))
	if err != nil {
		t.Fatalf("cluster CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	tr.Proxy = nil
	c.HTTP = &http.Client{Transport: tr, Timeout: time.Minute}
	return c
}

// Do sends one API request; out, when not nil, gets the JSON answer. A
// status outside 2xx is an error carrying the answer.
func (c *Cluster) Do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.API+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(b)), Op: method + " " + path}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Text returns a GET's body as text (pod logs).
func (c *Cluster) Text(path string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, c.API+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", &StatusError{Code: resp.StatusCode, Body: string(b), Op: "GET " + path}
	}
	return string(b), nil
}

// StatusError is an API answer outside 2xx.
type StatusError struct {
	Op   string
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: %d %s", e.Op, e.Code, e.Body) }

// Namespace creates namespace ns (it may exist) and deletes it when t
// ends.
func (c *Cluster) Namespace(t testing.TB, ns string) {
	t.Helper()
	err := c.Do(http.MethodPost, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, nil)
	if se, ok := err.(*StatusError); err != nil && !(ok && se.Code == http.StatusConflict) {
		t.Fatalf("namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { c.Do(http.MethodDelete, "/api/v1/namespaces/"+ns, nil, nil) })
}

// Pods lists the pods of ns matching selector ("" for all).
func (c *Cluster) Pods(ns, selector string) ([]Pod, error) {
	var out struct{ Items []Pod }
	err := c.Do(http.MethodGet, "/api/v1/namespaces/"+ns+"/pods?labelSelector="+selector, nil, &out)
	return out.Items, err
}

// Pod is the part of a pod the tests read.
type Pod struct {
	Metadata struct {
		Name              string            `json:"name"`
		UID               string            `json:"uid"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp string            `json:"deletionTimestamp"`
		Annotations       map[string]string `json:"annotations"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type, Status string
		} `json:"conditions"`
	} `json:"status"`
}

// Ready reports whether the pod is Ready.
func (p Pod) Ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// Eventually polls cond every 250 ms until it returns nil or d passes,
// then fails t with cond's last error.
func Eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %s: %v", what, d, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
