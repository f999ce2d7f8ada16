package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/bench/cputest"
)

// benchServer starts a Whirl with a python no-op action and returns a
// function that invokes it once with query and checks the status.
func benchServer(b *testing.B, query string, want int) func() error {
	s := apptest.Start(b)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		b.Fatal(err)
	}
	code := "def main(args):\n    return args\n"
	if _, err := c.Actions.Put(context.Background(), "noop", &client.ActionPut{Exec: &client.Exec{Kind: "python:3", Code: &code}}, true); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: client.NewTransport(false)}
	u, k, _ := strings.Cut(s.GuestAuth, ":")
	url := s.URL + "/api/v1/namespaces/_/actions/noop" + query
	return func() error {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"hello":"whirl"}`))
		req.SetBasicAuth(u, k)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return &statusError{resp.StatusCode}
		}
		return nil
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return http.StatusText(e.status) }

// BenchmarkWarmInvoke measures a blocking invoke of a warm python no-op
// through the REST API on loopback (PERF.md "warm latency").
func BenchmarkWarmInvoke(b *testing.B) {
	call := benchServer(b, "?blocking=true&result=true", http.StatusOK)
	for i := 0; i < 200; i++ {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputest.Start()
	for i := 0; i < b.N; i++ {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

func parallel(b *testing.B, callers int, call func() error) {
	b.SetParallelism(callers)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputest.Start()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.Report(b)
}

// BenchmarkWarmInvokeParallel is BenchmarkWarmInvoke with 16 callers
// (PERF.md "sync throughput").
func BenchmarkWarmInvokeParallel(b *testing.B) {
	parallel(b, 8, benchServer(b, "?blocking=true&result=true", http.StatusOK))
}

// BenchmarkAsyncAccept measures non-blocking invokes with 64 callers:
// each returns once its invocation is journaled (PERF.md "async").
func BenchmarkAsyncAccept(b *testing.B) {
	parallel(b, 32, benchServer(b, "", http.StatusAccepted))
}
