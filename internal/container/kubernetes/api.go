package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// In-cluster location of the service account's credentials (a variable
// for tests).
var saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// APIError is a failed call to the Kubernetes API: the HTTP status and the
// message of the Status object the server answered with.
type APIError struct {
	Op      string
	Status  int
	Reason  string
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("kubernetes: %s: %d %s: %s", e.Op, e.Status, e.Reason, msg)
}

func isUnprocessable(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity
}

func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// api is a minimal client of the core/v1 pods API of one namespace.
type api struct {
	base  string // "https://host:port", no trailing slash
	token string
	ns    string
	hc    *http.Client
	creds *rotating // in-cluster: token and CA re-read when they change
}

// inCluster builds the API settings from the service account mounted in
// the pod and KUBERNETES_SERVICE_HOST/PORT.
func inCluster() (base, token, ns string, hc *http.Client, err error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return "", "", "", nil, errors.New("kubernetes: not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no API URL configured")
	}
	creds := &rotating{tokenFile: saDir + "/token", caFile: saDir + "/ca.crt"}
	if _, err := creds.current(); err != nil {
		return "", "", "", nil, err
	}
	if b, err := os.ReadFile(saDir + "/namespace"); err == nil {
		ns = strings.TrimSpace(string(b))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = creds.tlsConfig()
	inClusterCreds = creds
	return "https://" + net.JoinHostPort(host, port), "", ns, &http.Client{Transport: tr}, nil
}

// inClusterCreds hands the credentials inCluster read to New.
var inClusterCreds *rotating

func (a *api) podsPath() string { return "/api/v1/namespaces/" + url.PathEscape(a.ns) + "/pods" }

// do sends one request; out, when not nil, receives the decoded JSON answer.
func (a *api) do(ctx context.Context, op, method, path string, body, out any) error {
	resp, err := a.send(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("kubernetes: %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("kubernetes: %s: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var st struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &st)
		if st.Message == "" {
			st.Message = strings.TrimSpace(string(b))
		}
		return &APIError{Op: op, Status: resp.StatusCode, Reason: st.Reason, Message: st.Message}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("kubernetes: %s: decoding the answer: %w", op, err)
		}
	}
	return nil
}

func (a *api) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	tok := a.token
	if a.creds != nil {
		c, err := a.creds.current()
		if err != nil {
			return nil, err
		}
		tok = c.token
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return a.hc.Do(req)
}

func (a *api) createPod(ctx context.Context, p *Pod) (*Pod, error) {
	var out Pod
	if err := a.do(ctx, "create pod "+p.Metadata.Name, http.MethodPost, a.podsPath(), p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (a *api) getPod(ctx context.Context, name string) (*Pod, error) {
	var out Pod
	if err := a.do(ctx, "get pod "+name, http.MethodGet, a.podsPath()+"/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// deletePod deletes a pod at once (grace period 0). A pod already gone is
// not an error.
func (a *api) deletePod(ctx context.Context, name string) error {
	body := map[string]any{"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
	err := a.do(ctx, "delete pod "+name, http.MethodDelete, a.podsPath()+"/"+url.PathEscape(name)+"?gracePeriodSeconds=0", body, nil)
	if isNotFound(err) {
		return nil
	}
	return err
}

func (a *api) listPods(ctx context.Context, selector string) ([]Pod, error) {
	var out struct {
		Items []Pod `json:"items"`
	}
	if err := a.do(ctx, "list pods", http.MethodGet, a.podsPath()+"?labelSelector="+url.QueryEscape(selector), nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// followLogs opens the pod's log, followed, with timestamps. stream is ""
// (stdout and stderr merged, as the API serves them by default), "Stdout"
// or "Stderr" (Kubernetes' split log streams).
func (a *api) followLogs(ctx context.Context, name, stream string) (io.ReadCloser, error) {
	q := "?follow=true&timestamps=true&container=" + containerName
	if stream != "" {
		q += "&stream=" + stream
	}
	resp, err := a.send(ctx, http.MethodGet, a.podsPath()+"/"+url.PathEscape(name)+"/log"+q, nil)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: logs of %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &APIError{Op: "logs of " + name, Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	return resp.Body, nil
}
