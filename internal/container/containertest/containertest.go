// Package containertest is the conformance suite every container.Factory
// passes: init and run, warm reuse, a timeout, a crash, a result too large,
// logs up to the sentinel and their limit, destroy, and concurrent runs
// where the kind allows them. Tests of factories import it; nothing else
// does.
//
// Who judges what: a factory returns the result line as the action wrote
// it (RunResult.Body), even when it is larger than OpenWhisk's 1 MB result
// limit or not JSON; the invoker validates it and writes the activation
// record. A factory only reports why a run ended without a result
// (container.ErrTimeout, ErrExited, ErrMemory) and developer errors at init
// (*container.InitError).
package containertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/whisk"
)

// Action is an action's code as the invoker passes it to Init.
type Action struct {
	Code   []byte
	Binary bool
	Main   string
}

// Sources are the actions the suite runs for one kind.
//
// Probe must behave by its parameters: {"sleep": ms} waits that long
// before answering; {"crash": true} exits the process with status 3;
// {"big": n} returns {"s": "<n times x>"}; {"log": n} prints n lines
// "line <i>" on stdout first. Otherwise it prints "hello stdout" on stdout
// and "hello stderr" on stderr and returns {"params": <its parameters>,
// "activation": $__OW_ACTIVATION_ID, "api_host": $__OW_API_HOST}.
//
// Broken fails to initialise (a syntax or compile error).
type Sources struct {
	Kind   string
	Probe  Action
	Broken Action
	// Concurrent is set when the kind runs several activations at once on
	// one container (limits.concurrency > 1).
	Concurrent bool
	// APIHost is the __OW_API_HOST the factory exports, "" to skip the check.
	APIHost string
	// NoLogLimit skips the per-run log limit case, for factories whose
	// protocol cannot carry RunRequest.LogLimit (HTTP /run).
	NoLogLimit bool
	// InitTimeout bounds init (a Go build takes seconds); 0 means 30 s.
	InitTimeout time.Duration
}

// Run runs the suite against f for one kind.
func Run(t *testing.T, f container.Factory, src Sources) {
	t.Helper()
	t.Run("InitRun", func(t *testing.T) { testInitRun(t, f, src) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, f, src) })
	t.Run("Crash", func(t *testing.T) { testCrash(t, f, src) })
	t.Run("BigResult", func(t *testing.T) { testBig(t, f, src) })
	if !src.NoLogLimit {
		t.Run("LogLimit", func(t *testing.T) { testLogLimit(t, f, src) })
	}
	t.Run("InitError", func(t *testing.T) { testInitError(t, f, src) })
	t.Run("Destroy", func(t *testing.T) { testDestroy(t, f, src) })
	if src.Concurrent {
		t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, f, src) })
	}
}

// Start creates and initialises a container with the probe action.
func Start(t testing.TB, f container.Factory, src Sources, concurrency int) container.Container {
	t.Helper()
	ctx := context.Background()
	c, err := f.Create(ctx, container.Spec{Kind: src.Kind, MemoryMB: 256, Name: "probe"})
	if err != nil {
		t.Fatalf("create %s: %v", src.Kind, err)
	}
	t.Cleanup(func() { c.Destroy(context.Background()) })
	it := src.InitTimeout
	if it == 0 {
		it = 30 * time.Second
	}
	ictx, cancel := context.WithTimeout(ctx, it)
	defer cancel()
	logs, err := c.Init(ictx, container.InitRequest{
		Name: "/guest/probe", Main: src.Probe.Main, Code: src.Probe.Code, Binary: src.Probe.Binary,
		Env: map[string]string{"__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/probe"}, Concurrency: concurrency,
	})
	if err != nil {
		t.Fatalf("init %s: %v (logs %q)", src.Kind, err, logs)
	}
	return c
}

func run(ctx context.Context, c container.Container, params string, id string, logLimit int) (container.RunResult, error) {
	return c.Run(ctx, container.RunRequest{
		Value:    json.RawMessage(params),
		Env:      map[string]string{"activation_id": id, "namespace": "guest", "action_name": "/guest/probe", "deadline": "0"},
		LogLimit: logLimit,
	})
}

type probeResult struct {
	Params     map[string]any `json:"params"`
	Activation string         `json:"activation"`
	APIHost    string         `json:"api_host"`
}

func testInitRun(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		id := fmt.Sprintf("activation%d", i)
		res, err := run(ctx, c, fmt.Sprintf(`{"n": %d, "s": "héllo\nworld"}`, i), id, 1<<20)
		if err != nil {
			t.Fatalf("run %d: %v (logs %q)", i, err, res.Logs)
		}
		var pr probeResult
		if err := json.Unmarshal(res.Body, &pr); err != nil {
			t.Fatalf("run %d: body %q: %v", i, res.Body, err)
		}
		if pr.Params["n"] != float64(i) || pr.Params["s"] != "héllo\nworld" {
			t.Errorf("run %d: params came back as %v", i, pr.Params)
		}
		if pr.Activation != id {
			t.Errorf("run %d: __OW_ACTIVATION_ID = %q, want %q", i, pr.Activation, id)
		}
		if src.APIHost != "" && pr.APIHost != src.APIHost {
			t.Errorf("run %d: __OW_API_HOST = %q, want %q", i, pr.APIHost, src.APIHost)
		}
		checkLogs(t, res.Logs, []string{"stdout: hello stdout", "stderr: hello stderr"})
		if res.Start.IsZero() || res.Duration <= 0 {
			t.Errorf("run %d: start %v duration %v", i, res.Start, res.Duration)
		}
	}
}

// checkLogs checks that logs are exactly the wanted lines (in any order
// between streams), each in OpenWhisk's format.
func checkLogs(t *testing.T, logs []string, want []string) {
	t.Helper()
	if len(logs) != len(want) {
		t.Fatalf("logs = %q, want lines %q", logs, want)
	}
	got := map[string]bool{}
	for _, l := range logs {
		if len(l) < 31 || l[30] != ' ' {
			t.Fatalf("log line %q is not in OpenWhisk's format", l)
		}
		ts := strings.TrimSpace(l[:30])
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("log line %q: timestamp: %v", l, err)
		}
		got[l[31:]] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("logs %q lack %q", logs, w)
		}
	}
}

func testTimeout(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := run(ctx, c, `{"sleep": 60000}`, "slow", 1<<20)
	if !errors.Is(err, container.ErrTimeout) {
		t.Fatalf("run past its deadline: err = %v, want ErrTimeout", err)
	}
	if err := c.Destroy(context.Background()); err != nil {
		t.Fatalf("destroy after timeout: %v", err)
	}
	// The factory still serves fresh containers.
	c2 := Start(t, f, src, 1)
	if _, err := run(context.Background(), c2, `{}`, "after", 1<<20); err != nil {
		t.Fatalf("run on a fresh container after a timeout: %v", err)
	}
}

func testCrash(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := run(ctx, c, `{"crash": true}`, "crash", 1<<20)
	if !errors.Is(err, container.ErrExited) {
		t.Fatalf("run that exits: err = %v, want ErrExited", err)
	}
	if _, err := run(ctx, c, `{}`, "again", 1<<20); err == nil {
		t.Fatal("run on a crashed container succeeded")
	}
}

func testBig(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 1536 << 10
	res, err := run(ctx, c, fmt.Sprintf(`{"big": %d}`, n), "big", 1<<20)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var out struct{ S string }
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("big body (%d bytes) is not intact JSON: %v", len(res.Body), err)
	}
	if len(out.S) != n {
		t.Fatalf("big result has %d bytes of payload, want %d", len(out.S), n)
	}
	// The container stays usable.
	if _, err := run(ctx, c, `{}`, "after", 1<<20); err != nil {
		t.Fatalf("run after a big result: %v", err)
	}
}

func testLogLimit(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const limit = 100
	res, err := run(ctx, c, `{"log": 1000}`, "chatty", limit)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(res.Logs) == 0 || len(res.Logs) > limit {
		t.Fatalf("logs: %d lines, want 1..%d", len(res.Logs), limit)
	}
	last := res.Logs[len(res.Logs)-1]
	if !strings.HasSuffix(last, fmt.Sprintf(whisk.MsgLogsTruncated, limit)) {
		t.Errorf("last log line %q is not the truncation message", last)
	}
	// Lines of one stream keep their order; two pipes have none between
	// them, so the stderr line may come first.
	first := ""
	for _, l := range res.Logs {
		if strings.Contains(l, " stdout: ") {
			first = l
			break
		}
	}
	if !strings.Contains(first, "stdout: line 0") {
		t.Errorf("first stdout log line %q, want line 0 (logs %q)", first, res.Logs[:min(len(res.Logs), 3)])
	}
	// The next run's logs are its own.
	res, err = run(ctx, c, `{}`, "quiet", 1<<20)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkLogs(t, res.Logs, []string{"stdout: hello stdout", "stderr: hello stderr"})
}

func testInitError(t *testing.T, f container.Factory, src Sources) {
	if src.Broken.Code == nil {
		t.Skip("no broken source for this kind")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := f.Create(ctx, container.Spec{Kind: src.Kind, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	_, err = c.Init(ctx, container.InitRequest{Code: src.Broken.Code, Binary: src.Broken.Binary, Main: src.Broken.Main})
	var ie *container.InitError
	if !errors.As(err, &ie) || ie.Message == "" {
		t.Fatalf("init of broken code: err = %v, want *container.InitError", err)
	}
}

func testDestroy(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 1)
	ctx := context.Background()
	if err := c.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	if _, err := run(ctx, c, `{}`, "dead", 1<<20); err == nil {
		t.Fatal("run after destroy succeeded")
	}
}

func testConcurrent(t *testing.T, f container.Factory, src Sources) {
	c := Start(t, f, src, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Four slow runs in flight on one container, each with its own result.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := run(ctx, c, fmt.Sprintf(`{"n": %d, "sleep": 300}`, i), fmt.Sprintf("c%d", i), 1<<20)
			if err != nil {
				errs[i] = err
				return
			}
			var pr probeResult
			if err := json.Unmarshal(res.Body, &pr); err != nil || pr.Params["n"] != float64(i) {
				errs[i] = fmt.Errorf("run %d got %s", i, res.Body)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
