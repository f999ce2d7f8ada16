// Package bench is `whirl bench`: it starts a standalone Whirl as a child
// process, measures it through the public REST API with a keep-alive
// client, and measures the machine's floor in the same run (PERF.md), so
// that every figure can be read as a ratio to what the hardware gives.
//
// Only internal/cli imports it.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/client"
)

// Options choose what to run and for how long.
type Options struct {
	Binary     string        // the whirl binary to start; os.Executable() when empty
	Samples    int           // latency samples (10,000 in PERF.md)
	Duration   time.Duration // each throughput run (30 s in PERF.md)
	Warmup     time.Duration
	Only       []string // figure groups: floor, startup, warm, sync, async; all when empty
	Python     string   // python3 used for the floor; resolved when empty
	KeepServer bool
	Log        io.Writer // progress; may be nil
}

// Figure is one measured value.
type Figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// Report is a whole run.
type Report struct {
	Date    string   `json:"date"`
	Machine string   `json:"machine"`
	Floor   []Figure `json:"floor"`
	Whirl   []Figure `json:"whirl"`
}

func (o *Options) wants(group string) bool {
	if len(o.Only) == 0 {
		return true
	}
	for _, g := range o.Only {
		if g == group {
			return true
		}
	}
	return false
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Run measures the floor and Whirl and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Samples == 0 {
		o.Samples = 10000
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Binary = exe
	}
	if o.Python == "" {
		py, err := realPython()
		if err != nil {
			return nil, err
		}
		o.Python = py
	}
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine()}
	if o.wants("floor") {
		o.logf("floor ...")
		f, err := floor(ctx, &o)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		rep.Floor = f
	}
	if !(o.wants("startup") || o.wants("warm") || o.wants("sync") || o.wants("async")) {
		return rep, nil
	}
	srv, err := startServer(ctx, o.Binary)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	rep.Whirl = append(rep.Whirl,
		target("start-up (until GET /api/v1 answers)", ms(srv.startup), "ms", "≤ 300 ms", ms(srv.startup) <= 300),
	)
	time.Sleep(500 * time.Millisecond) // let the server settle before reading its idle RSS
	if rss, err := rssMB(srv.cmd.Process.Pid); err == nil {
		rep.Whirl = append(rep.Whirl, target("idle RSS", rss, "MB", "≤ 30 MB", rss <= 30))
	}
	c, err := client.New(client.Config{APIHost: srv.url, Auth: srv.auth})
	if err != nil {
		return nil, err
	}
	code := "def main(args):\n    return args\n"
	if _, err := c.Actions.Put(ctx, "bench-noop", &client.ActionPut{Exec: &client.Exec{Kind: "python:3", Code: &code}}, true); err != nil {
		return nil, fmt.Errorf("create action: %w", err)
	}
	url := srv.url + "/api/v1/namespaces/_/actions/bench-noop"
	if o.wants("warm") {
		o.logf("warm latency (c=1, %d samples) ...", o.Samples)
		lat, err := latencies(ctx, url+"?blocking=true&result=true", srv.auth, o.Samples, o.Warmup)
		if err != nil {
			return nil, err
		}
		p50, p99 := pct(lat, 50), pct(lat, 99)
		rep.Whirl = append(rep.Whirl,
			target("warm blocking invoke p50 (c=1)", us(p50), "µs", "≤ 250 µs", p50 <= 250*time.Microsecond),
			target("warm blocking invoke p99 (c=1)", us(p99), "µs", "≤ 2000 µs", p99 <= 2*time.Millisecond))
	}
	if o.wants("sync") {
		for _, conc := range []int{16, 64} {
			o.logf("sync throughput c=%d for %s ...", conc, o.Duration)
			n, errs, err := throughput(ctx, url+"?blocking=true&result=true", srv.auth, conc, o.Duration, http.StatusOK)
			if err != nil {
				return nil, err
			}
			rate := float64(n) / o.Duration.Seconds()
			f := target(fmt.Sprintf("sync invocations/s (c=%d)", conc), rate, "/s", "≥ 8,000/s, 0 errors", rate >= 8000 && errs == 0)
			f.Note = fmt.Sprintf("%d errors", errs)
			rep.Whirl = append(rep.Whirl, f)
		}
	}
	if o.wants("async") {
		o.logf("async accept and drain (c=64, %s) ...", o.Duration)
		before, err := completed(ctx, srv.url, srv.auth)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		n, errs, err := throughput(ctx, url, srv.auth, 64, o.Duration, http.StatusAccepted)
		if err != nil {
			return nil, err
		}
		accept := float64(n) / time.Since(start).Seconds()
		af := target("async accepts/s (c=64)", accept, "/s", "≥ 20,000/s", accept >= 20000 && errs == 0)
		af.Note = fmt.Sprintf("%d accepted, %d errors", n, errs)
		rep.Whirl = append(rep.Whirl, af)
		// Drain: time until every accepted invocation has its record.
		deadline := time.Now().Add(10 * time.Minute)
		for {
			done, err := completed(ctx, srv.url, srv.auth)
			if err != nil {
				return nil, err
			}
			if done-before >= int64(n) || time.Now().After(deadline) {
				drain := float64(done-before) / time.Since(start).Seconds()
				df := target("async drain: completed records/s", drain, "/s", "≥ 8,000/s, nothing lost", drain >= 8000 && done-before >= int64(n))
				df.Note = fmt.Sprintf("%d of %d completed", done-before, n)
				rep.Whirl = append(rep.Whirl, df)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return rep, nil
}

func target(name string, v float64, unit, tgt string, met bool) Figure {
	return Figure{Name: name, Value: v, Unit: unit, Target: tgt, Met: &met}
}

func plain(name string, v float64, unit string) Figure {
	return Figure{Name: name, Value: v, Unit: unit}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// server is a `whirl up` child.
type server struct {
	cmd     *exec.Cmd
	url     string
	auth    string
	dir     string
	startup time.Duration
}

func startServer(ctx context.Context, bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "whirl-bench-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin, "up", "--listen", addr, "--data-dir", dir, "--log-level", "warn",
		"--set", "limits.actionsInvokesPerminute=100000000",
		"--set", "limits.actionsInvokesConcurrent=100000000")
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr, dir: dir, auth: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"}
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(s.url + "/api/v1")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			s.stop()
			return nil, errors.New("whirl up did not answer within 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	s.startup = time.Since(start)
	return s, nil
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	os.RemoveAll(s.dir)
}

func newHTTPClient() *http.Client {
	return &http.Client{Transport: client.NewTransport(false), Timeout: 2 * time.Minute}
}

func post(hc *http.Client, url, auth string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

var payload = []byte(`{"hello":"whirl"}`)

// latencies measures n sequential calls after a warm-up.
func latencies(ctx context.Context, url, auth string, n int, warmup time.Duration) ([]time.Duration, error) {
	hc := newHTTPClient()
	end := time.Now().Add(warmup)
	for time.Now().Before(end) {
		if code, err := post(hc, url, auth, payload); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("warm-up: status %d: %v", code, err)
		}
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t := time.Now()
		code, err := post(hc, url, auth, payload)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("invoke: status %d: %v", code, err)
		}
		out = append(out, time.Since(t))
	}
	return out, nil
}

// throughput runs conc workers for d and counts calls answered with want.
func throughput(ctx context.Context, url, auth string, conc int, d time.Duration, want int) (int64, int64, error) {
	hc := newHTTPClient()
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				code, err := post(hc, url, auth, payload)
				if err == nil && code == want {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return ok.Load(), bad.Load(), ctx.Err()
}

// completed reads the server's total of completed activations.
func completed(ctx context.Context, base, auth string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/namespaces/_/stats", nil)
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		TotalCompleted int64 `json:"totalCompleted"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("stats: %w", err)
	}
	return st.TotalCompleted, nil
}

func rssMB(pid int) (float64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t")
	}
	return fmt.Sprintf("%d cpu, %s", n, model)
}

func realPython() (string, error) {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("python3: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
