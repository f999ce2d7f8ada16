package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// BenchmarkWarmInvoke measures a blocking invoke of a warm python no-op
// through the REST API on loopback (PERF.md "warm latency").
func BenchmarkWarmInvoke(b *testing.B) {
	s := apptest.Start(b)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		b.Fatal(err)
	}
	code := "def main(args):\n    return args\n"
	if _, err := c.Actions.Put(context.Background(), "noop", &client.Action{Exec: &client.Exec{Kind: "python:3", Code: &code}}, true); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: client.NewTransport(false)}
	u, k, _ := strings.Cut(s.GuestAuth, ":")
	url := s.URL + "/api/v1/namespaces/_/actions/noop?blocking=true&result=true"
	call := func() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"hello":"whirl"}`))
		req.SetBasicAuth(u, k)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for i := 0; i < 200; i++ {
		call()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		call()
	}
}

// BenchmarkWarmInvokeParallel is BenchmarkWarmInvoke with 16 callers
// (PERF.md "sync throughput").
func BenchmarkWarmInvokeParallel(b *testing.B) {
	s := apptest.Start(b)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		b.Fatal(err)
	}
	code := "def main(args):\n    return args\n"
	if _, err := c.Actions.Put(context.Background(), "noop", &client.Action{Exec: &client.Exec{Kind: "python:3", Code: &code}}, true); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: client.NewTransport(false)}
	u, k, _ := strings.Cut(s.GuestAuth, ":")
	url := s.URL + "/api/v1/namespaces/_/actions/noop?blocking=true&result=true"
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"hello":"whirl"}`))
			req.SetBasicAuth(u, k)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkAsyncAccept measures non-blocking invokes with 64 callers:
// each returns once its invocation is journaled (PERF.md "async").
func BenchmarkAsyncAccept(b *testing.B) {
	s := apptest.Start(b)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		b.Fatal(err)
	}
	code := "def main(args):\n    return args\n"
	if _, err := c.Actions.Put(context.Background(), "noop", &client.Action{Exec: &client.Exec{Kind: "python:3", Code: &code}}, true); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: client.NewTransport(false)}
	u, k, _ := strings.Cut(s.GuestAuth, ":")
	url := s.URL + "/api/v1/namespaces/_/actions/noop"
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"hello":"whirl"}`))
			req.SetBasicAuth(u, k)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
