package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
)

// serveDirEnv makes the test binary a standalone server on the data
// directory it names (see TestMain): the child of the kill -9 test.
const serveDirEnv = "WHIRL_TEST_SERVE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(serveDirEnv); dir != "" {
		serveChild(dir)
		return
	}
	os.Exit(m.Run())
}

// serveChild runs a Whirl on dir and prints "URL <url>" once it listens.
// It runs until killed.
func serveChild(dir string) {
	cfg := testConfig(&testing.T{})
	cfg.DataDir = dir
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.Listen = ln.Addr().String()
	if err := cfg.Resolve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("URL http://%s\n", ln.Addr())
	if err := a.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// TestEntitiesSurviveRestart: actions and records written before a clean
// restart are there after it.
func TestEntitiesSurviveRestart(t *testing.T) {
	cfg := testConfig(t)
	s := apptest.StartConfig(t, cfg)
	putPy(t, s, "hello", pyHello, nil)
	putPy(t, s, "hello", pyHello, map[string]any{"timeout": 1000}) // 0.0.2
	r := api(t, s, "POST", "actions/hello?blocking=true", nil)
	mustStatus(t, r, 200)
	id := r.header.Get("X-Openwhisk-Activation-Id")
	before := api(t, s, "GET", "actions/hello", nil).body

	s2 := restart(t, s, cfg)
	r = api(t, s2, "GET", "actions/hello", nil)
	mustStatus(t, r, 200)
	if string(r.body) != string(before) {
		t.Fatalf("action changed across restart:\n%s\n%s", before, r.body)
	}
	mustStatus(t, api(t, s2, "GET", "activations/"+id, nil), 200)
	mustStatus(t, api(t, s2, "POST", "actions/hello?blocking=true", nil), 200)
	if n := count(t, s2, "activations"); n != 2 {
		t.Fatalf("%d activations", n)
	}
}

// child is a re-exec'd standalone server.
type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd}
	t.Cleanup(func() { c.kill() })
	lines := bufio.NewScanner(out)
	got := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "URL "); ok {
				got <- u
			}
		}
		close(got)
	}()
	select {
	case u, ok := <-got:
		if !ok {
			t.Fatal("child exited before listening")
		}
		c.url = u
	case <-time.After(30 * time.Second):
		t.Fatal("child did not start")
	}
	go io.Copy(io.Discard, out)
	return c
}

// kill sends SIGKILL to the child's process group (its action processes
// too) and reaps it.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// TestAcceptedSurviveKill: every non-blocking invocation accepted (202)
// before a kill -9 gets its record after restart, exactly once per id.
func TestAcceptedSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("re-execs a server")
	}
	dir := t.TempDir()
	c := startChild(t, dir)
	s := &apptest.Server{URL: c.url, GuestAuth: auth.GuestKey}
	putPy(t, s, "nap", pySleep, nil)

	var mu sync.Mutex
	var accepted []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, ok := tryInvoke(s, map[string]any{"sleep": 0.05})
				if !ok {
					return // the server is gone
				}
				if r != "" {
					mu.Lock()
					accepted = append(accepted, r)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a good number are accepted and some have run: the rest
	// are queued or running.
	eventually(t, 60*time.Second, "accepted invocations", func() bool {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		return n >= 100 && count(t, s, "activations") >= 10
	})
	c.kill()
	close(stop)
	wg.Wait()
	mu.Lock()
	ids := append([]string(nil), accepted...)
	mu.Unlock()
	t.Logf("%d accepted before kill -9", len(ids))

	c2 := startChild(t, dir)
	s2 := &apptest.Server{URL: c2.url, GuestAuth: auth.GuestKey}
	missing := func() []string {
		var out []string
		for _, id := range ids {
			if r := api(t, s2, "GET", "activations/"+id, nil); r.status != 200 {
				out = append(out, id)
			}
		}
		return out
	}
	deadline := time.Now().Add(2 * time.Minute)
	first := true
	for m := missing(); len(m) > 0; m = missing() {
		if first {
			t.Logf("%d without a record just after restart", len(m))
			first = false
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted invocations have no record, e.g. %s", len(m), len(ids), m[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Records dedupe by id: listing shows each accepted id once.
	r := api(t, s2, "GET", "activations?limit=0&name=nap", nil)
	mustStatus(t, r, 200)
	seen := map[string]int{}
	for _, row := range r.json(t).([]any) {
		seen[row.(map[string]any)["activationId"].(string)]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
}

// tryInvoke fires a non-blocking invoke of nap; it returns the accepted
// id ("" when refused) and false when the server is unreachable.
func tryInvoke(s *apptest.Server, params map[string]any) (string, bool) {
	req := strings.NewReader(fmt.Sprintf(`{"sleep":%v}`, params["sleep"]))
	r, err := rawPost(s.URL+"/api/v1/namespaces/_/actions/nap", s.GuestAuth, req)
	if err != nil {
		return "", false
	}
	if r.status != 202 {
		return "", true
	}
	id := r.header.Get("X-Openwhisk-Activation-Id")
	return id, true
}
