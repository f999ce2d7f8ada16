package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	if p := pct(d, 50); p != 51*time.Microsecond {
		t.Errorf("p50 = %v", p)
	}
	if p := pct(d, 99); p != 100*time.Microsecond {
		t.Errorf("p99 = %v", p)
	}
	if d[0] != 100*time.Microsecond {
		t.Error("pct sorted its input in place")
	}
	if pct(nil, 50) != 0 {
		t.Error("pct of nothing")
	}
}

func TestReportPrint(t *testing.T) {
	r := &Report{Date: "2026-11-25T00:00:00Z", Machine: "2 cpu, test",
		Floor: []Figure{plain("net/http keep-alive round trip p50", 29.1, "µs")},
		Whirl: []Figure{target("idle RSS", 21.9, "MB", "≤ 30 MB", true), target("async accepts/s (c=64)", 7705, "/s", "≥ 20,000/s", false)}}
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	for _, want := range []string{"FLOOR", "net/http keep-alive round trip p50", "29.1 µs", "idle RSS", "21.9 MB", "yes", "7705 /s", "no"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestOptionsWants(t *testing.T) {
	o := Options{}
	if !o.wants("async") {
		t.Error("no groups named means every group")
	}
	o.Only = []string{"floor", "warm"}
	if !o.wants("warm") || o.wants("async") {
		t.Error("named groups only")
	}
}
