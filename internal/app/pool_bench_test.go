package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// poolServer is a Whirl for the pool's end-to-end tests and benchmarks.
type poolServer struct {
	*apptest.Server
	c  *client.Client
	hc *http.Client
}

func startPool(t testing.TB, opts ...func(*config.Config)) *poolServer {
	t.Helper()
	s := apptest.Start(t, opts...)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		t.Fatal(err)
	}
	return &poolServer{Server: s, c: c, hc: &http.Client{Transport: client.NewTransport(false)}}
}

// noStemCells configures a runtimes manifest without stem cells.
func noStemCells(t testing.TB) func(*config.Config) { return stemCellsFor(t, "") }

// stemCellsFor configures a runtimes manifest where only family has stem
// cells (one of 256 MB), so that the prewarm gauge counts that family's.
func stemCellsFor(t testing.TB, family string) func(*config.Config) {
	stem := map[string]string{}
	if family != "" {
		stem[family] = `, "stemCells": [{"initialCount": 1, "memory": "256 MB"}]`
	}
	p := filepath.Join(t.TempDir(), "runtimes.json")
	m := `{"runtimes": {
  "python": [{"kind": "python:${PYTHON}", "default": true, "image": {"name": "action-python"}` + stem["python"] + `}],
  "nodejs": [{"kind": "nodejs:20", "default": true, "image": {"name": "action-nodejs"}` + stem["nodejs"] + `}]
}}`
	if err := os.WriteFile(p, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) { c.RuntimesFile = p }
}

func (s *poolServer) put(t testing.TB, name, kind, code string, memory int) {
	t.Helper()
	a := &client.ActionPut{Exec: &client.Exec{Kind: kind, Code: &code}}
	if memory > 0 {
		a.Limits = &client.LimitsPut{Memory: &memory}
	}
	if _, err := s.c.Actions.Put(context.Background(), name, a, true); err != nil {
		t.Fatal(err)
	}
}

// invoke invokes name blocking and returns the activation record.
func (s *poolServer) invoke(t testing.TB, name string) map[string]any {
	t.Helper()
	u, k, _ := strings.Cut(s.GuestAuth, ":")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/namespaces/_/actions/"+name+"?blocking=true", strings.NewReader(`{"hello":"whirl"}`))
	req.SetBasicAuth(u, k)
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke %s: %d %s", name, resp.StatusCode, b)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// metric returns the sum of the samples of a metric family whose labels
// include want.
func (s *poolServer) metric(t testing.TB, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := s.App.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// waitStemCells waits until at least n stem cells are ready.
func (s *poolServer) waitStemCells(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.metric(t, "whirl_containers", map[string]string{"state": "prewarm"}) < float64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("no %d stem cells after 20s", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func annotation(rec map[string]any, key string) (any, bool) {
	anns, _ := rec["annotations"].([]any)
	for _, a := range anns {
		kv, _ := a.(map[string]any)
		if kv["key"] == key {
			return kv["value"], true
		}
	}
	return nil, false
}

// TestFirstInvokeIsPrewarmed checks that the default manifest's stem cells
// are of the kind and memory the invoker asks for: the first invoke of a
// python:3 action with default limits takes a stem cell.
func TestFirstInvokeIsPrewarmed(t *testing.T) {
	s := startPool(t)
	s.put(t, "first", "python:3", "def main(args):\n    return args\n", 0)
	// Every kind's initial stem cells (the gauge does not tell kinds apart).
	initial := 0
	for _, scs := range runtimes.Default().StemCells() {
		for _, sc := range scs {
			initial += sc.InitialCount
		}
	}
	s.waitStemCells(t, initial)
	rec := s.invoke(t, "first")
	if _, ok := annotation(rec, "initTime"); !ok {
		t.Fatalf("no initTime annotation on the first invoke: %v", rec["annotations"])
	}
	if n := s.metric(t, "whirl_activations_total", map[string]string{"action": "first", "start": "prewarm"}); n != 1 {
		t.Fatalf("prewarm starts of first = %v, want 1 (cold: %v)", n, s.metric(t, "whirl_activations_total", map[string]string{"action": "first", "start": "cold"}))
	}
	// The second invoke is warm: no init.
	rec = s.invoke(t, "first")
	if v, ok := annotation(rec, "initTime"); ok {
		t.Fatalf("a warm invoke has initTime %v", v)
	}
}

func p50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

func reportP50(b *testing.B, d []time.Duration) {
	b.ReportMetric(float64(p50(d).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[len(d)*9/10].Microseconds())/1000, "p90-ms")
}

// benchColdStart invokes a new action each iteration: every invoke is a
// cold start (or, with stem cells, a prewarmed one).
func benchColdStart(b *testing.B, kind, code string, prewarmed bool) {
	family, _, _ := strings.Cut(kind, ":")
	// Room for every iteration's container to stay warm: no eviction on
	// the measured path (run with -benchtime of at most 200x).
	opts := []func(*config.Config){func(c *config.Config) { c.ContainerPool.UserMemory = 65536 }}
	if prewarmed {
		opts = append(opts, stemCellsFor(b, family))
	} else {
		opts = append(opts, noStemCells(b))
	}
	s := startPool(b, opts...)
	want := "cold"
	if prewarmed {
		want = "prewarm"
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		name := "a" + strconv.Itoa(i)
		s.put(b, name, kind, code, 0)
		if prewarmed {
			s.waitStemCells(b, 1)
		}
		b.StartTimer()
		t0 := time.Now()
		s.invoke(b, name)
		lat = append(lat, time.Since(t0))
	}
	if n := s.metric(b, "whirl_activations_total", map[string]string{"start": want}); int(n) != len(lat) {
		b.Fatalf("%v %s starts for %d invokes", n, want, len(lat))
	}
	reportP50(b, lat)
}

const pyNoop = "def main(args):\n    return args\n"
const jsNoop = "function main(args) { return args }\n"

// BenchmarkColdStartPython: create + init + run through the REST API, no
// stem cell (PERF.md "cold start, no prewarm").
func BenchmarkColdStartPython(b *testing.B) { benchColdStart(b, "python:3", pyNoop, false) }

// BenchmarkPrewarmStartPython: a stem cell is waiting; init + run.
func BenchmarkPrewarmStartPython(b *testing.B) { benchColdStart(b, "python:3", pyNoop, true) }

// BenchmarkColdStartNode and BenchmarkPrewarmStartNode: the same for nodejs.
func BenchmarkColdStartNode(b *testing.B)    { benchColdStart(b, "nodejs:20", jsNoop, false) }
func BenchmarkPrewarmStartNode(b *testing.B) { benchColdStart(b, "nodejs:20", jsNoop, true) }

// BenchmarkColdRotation invokes 40 distinct python actions round-robin,
// blocking, with room for 4 warm containers (1024 MB, 256 MB each, no stem
// cells): nearly every invoke evicts one container and starts another
// (PERF.md "cold rotation").
func BenchmarkColdRotation(b *testing.B) {
	s := startPool(b, noStemCells(b), func(c *config.Config) { c.ContainerPool.UserMemory = 1024 })
	const actions = 40
	for i := range actions {
		s.put(b, fmt.Sprintf("r%d", i), "python:3", pyNoop, 256)
	}
	var lat []time.Duration
	i := 0
	start := time.Now()
	for b.Loop() {
		t0 := time.Now()
		s.invoke(b, fmt.Sprintf("r%d", i%actions))
		lat = append(lat, time.Since(t0))
		i++
	}
	b.ReportMetric(float64(len(lat))/time.Since(start).Seconds(), "invokes/s")
	reportP50(b, lat)
	cold := s.metric(b, "whirl_activations_total", map[string]string{"start": "cold"})
	b.ReportMetric(cold/float64(len(lat)), "cold-fraction")
}

// BenchmarkWarmDensity keeps 100 python actions warm (128 MB each, 16 GB
// of user memory) and reports the summed RSS of every process Whirl
// started for them (sandbox processes included), read from /proc (PERF.md
// "warm density").
func BenchmarkWarmDensity(b *testing.B) {
	s := startPool(b, noStemCells(b), func(c *config.Config) { c.ContainerPool.UserMemory = 16384 })
	const actions = 100
	for i := range actions {
		s.put(b, fmt.Sprintf("d%d", i), "python:3", pyNoop, 128)
	}
	for b.Loop() {
		for i := range actions {
			s.invoke(b, fmt.Sprintf("d%d", i))
		}
	}
	rss, procs := descendantsRSS(b, os.Getpid())
	if warm := s.metric(b, "whirl_containers", map[string]string{"state": "warm"}); warm < actions {
		b.Fatalf("%v warm containers, want %d", warm, actions)
	}
	b.ReportMetric(float64(rss)/(1<<20), "MB-RSS/100")
	b.ReportMetric(float64(rss)/(1<<20)/actions, "MB-RSS/container")
	b.ReportMetric(float64(procs), "processes")
}

// descendantsRSS sums the resident set of every descendant of pid.
func descendantsRSS(t testing.TB, pid int) (int64, int) {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	rss := map[int]int64{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				parent[p], _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss[p] = kb << 10
			}
		}
	}
	var sum int64
	n := 0
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				sum += rss[p]
				n++
				break
			}
		}
	}
	return sum, n
}

// benchWarmSandbox is a blocking invoke of a warm python no-op, c=1, with
// the given sandbox (PERF.md "warm latency", sandbox versus none).
func benchWarmSandbox(b *testing.B, sandbox string) {
	s := startPool(b, func(c *config.Config) { c.Sandbox = sandbox })
	s.put(b, "w", "python:3", pyNoop, 0)
	for range 200 {
		s.invoke(b, "w")
	}
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		s.invoke(b, "w")
		lat = append(lat, time.Since(t0))
	}
	reportP50(b, lat)
}

func BenchmarkWarmInvokeUnsandboxed(b *testing.B) { benchWarmSandbox(b, "none") }
func BenchmarkWarmInvokeBwrap(b *testing.B) {
	if _, err := os.Stat("/usr/bin/bwrap"); err != nil {
		b.Skip("bubblewrap is not installed")
	}
	benchWarmSandbox(b, "bwrap")
}
