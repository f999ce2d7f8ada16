package cli

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestUp runs `whirl up` as a user does: it prints where it is and the
// guest key, answers the API, and shuts down cleanly when told to.
func TestUp(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }, ctx: ctx}
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"whirl", "up", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn"}, e)
	}()
	hostRE := regexp.MustCompile(`apihost: (http://127\.0\.0\.1:\d+)`)
	var host string
	deadline := time.Now().Add(30 * time.Second)
	for host == "" {
		if m := hostRE.FindStringSubmatch(out.String()); m != nil {
			host = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %q %q", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "auth (guest): 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:") {
		t.Fatalf("the banner does not give the guest key: %s", out.String())
	}
	resp, err := http.Get(host + "/api/v1")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d: %s", code, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("up did not shut down")
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Fatalf("no shutdown message: %s", out.String())
	}
	if _, err := http.Get(host + "/api/v1"); err == nil {
		t.Fatal("the API still answers after shutdown")
	}
}

// TestUpMetricsListen: with metricsListen, `whirl up` serves /metrics on
// that listener (and says where), not on the API's, and closes both.
func TestUpMetricsListen(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }, ctx: ctx}
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"whirl", "up", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn",
			"--set", "metricsListen=127.0.0.1:0", "--set", "http.idleTimeout=1m"}, e)
	}()
	re := regexp.MustCompile(`(?s)apihost: (http://127\.0\.0\.1:\d+).*metrics: (http://127\.0\.0\.1:\d+/metrics)`)
	var m []string
	deadline := time.Now().Add(30 * time.Second)
	for m == nil {
		m = re.FindStringSubmatch(out.String())
		if m == nil && time.Now().After(deadline) {
			t.Fatalf("no banner with the metrics listener: %q %q", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for url, want := range map[string]int{m[2]: http.StatusOK, m[1] + "/metrics": http.StatusNotFound} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", url, resp.StatusCode, want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("up exited %d: %s", code, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("up did not shut down")
	}
	if _, err := http.Get(m[2]); err == nil {
		t.Fatal("the metrics listener still answers after shutdown")
	}
}
