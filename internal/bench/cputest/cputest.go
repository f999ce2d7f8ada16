// Package cputest measures, for benchmarks, the CPU time a benchmark
// process and its descendants (action containers) spend per op: on a
// shared machine these move much less with the load than wall times do.
// Only tests import it.
package cputest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Meter is the CPU time spent so far by this process (the server and an
// in-process client) and by its live descendants.
type Meter struct{ self, kids time.Duration }

// Start reads the CPU time spent so far.
func Start() Meter { return Meter{selfCPU(), kidsCPU()} }

// Report adds whirl-cpu-µs/op and action-cpu-µs/op to b's results.
func (m Meter) Report(b *testing.B) {
	if b.N == 0 {
		return
	}
	n := float64(b.N)
	b.ReportMetric(float64((selfCPU()-m.self).Microseconds())/n, "whirl-cpu-µs/op")
	b.ReportMetric(float64((kidsCPU()-m.kids).Microseconds())/n, "action-cpu-µs/op")
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// kidsCPU sums the CPU time of the live descendants of this process.
func kidsCPU() time.Duration {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	ticks := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces), from field 3.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		parent[pid], ticks[pid] = ppid, ut+st
	}
	self := os.Getpid()
	var sum int64
	for pid, t := range ticks {
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == self {
				sum += t
				break
			}
		}
	}
	return time.Duration(sum) * (time.Second / 100) // USER_HZ
}
