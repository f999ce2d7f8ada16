package metrics

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func wantLine(t *testing.T, body, line string) {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("no line %q in /metrics", line)
}

func TestPrometheusExport(t *testing.T) {
	m := New()
	m.ActivationCompleted("guest", "hello", "success", StartWarm, 300*time.Microsecond)
	m.ActivationCompleted("guest", "hello", "success", StartWarm, 2*time.Millisecond)
	m.ActivationCompleted("guest", "hello", "developer_error", StartCold, 70*time.Second)
	m.AsyncActivationCompleted("guest", "pkg/a", "success", StartPrewarm, time.Second)
	m.Accepted("guest", true)
	m.Accepted("guest", false)
	m.Accepted("guest", false)
	m.InFlight(1)
	m.InFlight(1)
	m.InFlight(-1)
	m.Queued(5)
	m.Queued(-2)
	if err := m.RegisterContainers(func() map[string]int { return map[string]int{"warm": 4, "busy": 1} }); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	wantLine(t, body, `whirl_activations_total{action="hello",namespace="guest",start="warm",status="success"} 2`)
	wantLine(t, body, `whirl_activations_total{action="hello",namespace="guest",start="cold",status="developer_error"} 1`)
	wantLine(t, body, `whirl_activations_total{action="pkg/a",namespace="guest",start="prewarm",status="success"} 1`)
	wantLine(t, body, `whirl_async_activations_completed_total{namespace="guest"} 1`)
	wantLine(t, body, `whirl_activation_duration_seconds_bucket{action="hello",namespace="guest",start="warm",le="0.0005"} 1`)
	wantLine(t, body, `whirl_activation_duration_seconds_bucket{action="hello",namespace="guest",start="warm",le="0.0025"} 2`)
	wantLine(t, body, `whirl_activation_duration_seconds_bucket{action="hello",namespace="guest",start="cold",le="60"} 0`)
	wantLine(t, body, `whirl_activation_duration_seconds_count{action="hello",namespace="guest",start="cold"} 1`)
	wantLine(t, body, `whirl_invocations_accepted_total{blocking="true",namespace="guest"} 1`)
	wantLine(t, body, `whirl_invocations_accepted_total{blocking="false",namespace="guest"} 2`)
	wantLine(t, body, `whirl_activations_in_flight 1`)
	wantLine(t, body, `whirl_activations_queued 3`)
	wantLine(t, body, `whirl_containers{state="warm"} 4`)
	wantLine(t, body, `whirl_containers{state="busy"} 1`)
	if !strings.Contains(body, "go_goroutines") {
		t.Error("Go runtime metrics missing")
	}
}

func TestOwnRegistry(t *testing.T) {
	// Two instances in one process must not collide.
	a, b := New(), New()
	a.ActivationCompleted("x", "y", "success", StartWarm, time.Millisecond)
	if strings.Contains(scrape(t, b), `whirl_activations_total{`) {
		t.Fatal("metrics leaked between instances")
	}
}

func TestRate(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := New(WithClock(c.Now))
	c.Add(200 * time.Second) // the process has lived long enough for any window

	// 10 completions per second for 60 seconds, 4 of them async, in two
	// namespaces; then a partial current second that must not count.
	for s := 0; s < 60; s++ {
		for i := 0; i < 6; i++ {
			m.ActivationCompleted("guest", "a", "success", StartWarm, time.Millisecond)
		}
		for i := 0; i < 4; i++ {
			m.AsyncActivationCompleted("other", "b", "success", StartWarm, time.Millisecond)
		}
		c.Add(time.Second)
	}
	for i := 0; i < 100; i++ {
		m.ActivationCompleted("guest", "a", "success", StartWarm, time.Millisecond)
	}
	m.Queued(7)
	st := m.Rate(time.Minute)
	if st.Window != 60 || st.Completed != 600 || st.PerSecond != 10 || st.AsyncCompleted != 240 || st.AsyncPerSecond != 4 {
		t.Fatalf("Rate(1m) = %+v", st)
	}
	if st.TotalCompleted != 700 || st.TotalAsyncCompleted != 240 || st.Queued != 7 {
		t.Fatalf("totals %+v", st)
	}
	if g := st.Namespaces["guest"]; g.Completed != 360 || g.PerSecond != 6 || g.AsyncCompleted != 0 || g.TotalCompleted != 460 {
		t.Fatalf("guest %+v", g)
	}
	if o := st.Namespaces["other"]; o.Completed != 240 || o.AsyncPerSecond != 4 {
		t.Fatalf("other %+v", o)
	}
	// A shorter window sees only its seconds.
	if st := m.Rate(10 * time.Second); st.Completed != 100 || st.Window != 10 {
		t.Fatalf("Rate(10s) = %+v", st)
	}
	// Two idle minutes later the window is empty: old slots are not reused
	// as if they were recent.
	c.Add(2*time.Minute + time.Second)
	if st := m.Rate(time.Minute); st.Completed != 0 || st.AsyncCompleted != 0 || st.TotalCompleted != 700 {
		t.Fatalf("after idle: %+v", st)
	}
	// Exactly ringSize seconds later, slots that alias the same index
	// hold a different second and are not counted.
	c2 := &clock{t: time.Unix(1_700_000_000, 0)}
	m2 := New(WithClock(c2.Now))
	c2.Add(10 * time.Second)
	m2.ActivationCompleted("g", "a", "success", StartWarm, 0)
	c2.Add((ringSize + 1) * time.Second) // now-1 shares the slot of the old second
	if st := m2.Rate(MaxWindow); st.Completed != 0 {
		t.Fatalf("aliased slot counted: %+v", st)
	}
}

func TestRateYoungProcess(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := New(WithClock(c.Now))
	for s := 0; s < 5; s++ {
		m.ActivationCompleted("g", "a", "success", StartWarm, 0)
		m.ActivationCompleted("g", "a", "success", StartWarm, 0)
		c.Add(time.Second)
	}
	st := m.Rate(time.Minute)
	if st.Window != 5 || st.PerSecond != 2 {
		t.Fatalf("young process: %+v", st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"window":5`, `"perSecond":2`, `"asyncPerSecond":0`, `"namespaces":{"g":{`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON %s lacks %s", b, k)
		}
	}
}

func TestConcurrentRecording(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := New(WithClock(c.Now))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				m.AsyncActivationCompleted("ns", "a", "success", StartWarm, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	c.Add(time.Second)
	if st := m.Rate(time.Second); st.Completed != 8000 || st.AsyncCompleted != 8000 {
		t.Fatalf("lost updates: %+v", st)
	}
}

func BenchmarkActivationCompleted(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ActivationCompleted("guest", "hello", "success", StartWarm, 500*time.Microsecond)
		}
	})
}

func BenchmarkAsyncActivationCompleted(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.AsyncActivationCompleted("guest", "hello", "success", StartWarm, 500*time.Microsecond)
	}
}
