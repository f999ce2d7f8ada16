package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/store"
)

// descendants returns the live (not zombie) processes below this one
// whose command line contains substr.
func descendants(substr string) []int {
	self := os.Getpid()
	parent := map[int]int{}
	match := map[int]bool{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		cmd, _ := os.ReadFile(d + "/cmdline")
		match[pid] = strings.Contains(string(cmd), substr)
	}
	var out []int
	for pid, ok := range match {
		if !ok {
			continue
		}
		for p, n := parent[pid], 0; p > 1 && n < 64; p, n = parent[p], n+1 {
			if p == self {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// TestCleanShutdown: Close while a blocking call is in flight lets it
// finish with its result, lets a running asynchronous one record itself,
// stops the containers and closes the store.
func TestCleanShutdown(t *testing.T) {
	cfg := testConfig(t)
	s := apptest.StartConfig(t, cfg)
	putPy(t, s, "nap", pySleep, nil)

	async := api(t, s, "POST", "actions/nap", map[string]any{"sleep": 1})
	mustStatus(t, async, 202)
	asyncID := async.obj(t)["activationId"].(string)

	done := make(chan reply, 1)
	go func() {
		r, err := rawPost(s.URL+"/api/v1/namespaces/_/actions/nap?blocking=true&result=true", s.GuestAuth, strings.NewReader(`{"sleep":1.5}`))
		if err != nil {
			t.Errorf("blocking call: %v", err)
		}
		done <- r
	}()
	// In flight counts from when the invoker takes an activation; its
	// python process may still be starting then.
	eventually(t, 30*time.Second, "two activations in flight in python processes", func() bool {
		return metric(t, s, "whirl_activations_in_flight") == 2 && len(descendants("python")) >= 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.App.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := <-done
	mustStatus(t, r, 200)
	if r.obj(t)["slept"] != 1.5 {
		t.Fatalf("result %s", r.body)
	}
	if left := descendants("python"); len(left) != 0 {
		t.Fatalf("python processes left after Close: %v", left)
	}
	if _, err := s.App.Store.Entities().Get(context.Background(), store.Actions, "guest", "nap"); err == nil {
		t.Fatal("store still open after Close")
	}
	// The asynchronous one recorded itself before the store closed.
	cfg.Listen = "127.0.0.1:0"
	s2 := apptest.StartConfig(t, cfg)
	rec := api(t, s2, "GET", "activations/"+asyncID, nil)
	mustStatus(t, rec, 200)
	if rec.obj(t)["response"].(map[string]any)["success"] != true {
		t.Fatalf("async record %s", rec.body)
	}
}

// metric returns the value of the sample of GET /metrics whose name and
// labels are exactly series, or -1.
func metric(t testing.TB, s *apptest.Server, series string) float64 {
	t.Helper()
	r := call(t, "GET", s.URL+"/metrics", "", nil)
	mustStatus(t, r, 200)
	for _, line := range strings.Split(string(r.body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if ok && name == series {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}
