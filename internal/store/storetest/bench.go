package storetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// groupCommitStats is what a backend that batches its writes may report;
// *sqlite.Store and *postgres.Store do.
type groupCommitStats interface {
	GroupCommitStats() (batches, records int64, total, longest time.Duration)
}

// BenchmarkActivationPut measures concurrent activation writes: b.N records,
// one per Put, from many goroutines at once (as the invokers' completions
// arrive). It reports records/s, the callers' Put latency (p50 and p99, the
// time a caller waits for its group commit), and, when s reports them, the
// mean records per batch and the mean and longest batch commit time.
func BenchmarkActivationPut(b *testing.B, s store.Store) {
	benchmarkPut(b, s, 64)
}

// BenchmarkActivationPutSerial measures activation writes from one caller:
// each Put is its own commit.
func BenchmarkActivationPutSerial(b *testing.B, s store.Store) {
	benchmarkPut(b, s, 1)
}

// BenchmarkJournalAppend measures concurrent journal appends: b.N entries,
// one per Append, from many goroutines at once (as non-blocking invokes
// are accepted). Each Append returns once its entry is durable, so this
// measures the group commit that callers wait on. It reports what
// BenchmarkActivationPut does.
func BenchmarkJournalAppend(b *testing.B, s store.Store) {
	c := ctx(b)
	j := s.Journal()
	seed := fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff)
	payload := []byte(`{"action":"guest/hello","content":{"name":"bench"}}`)
	benchmarkWrites(b, s, 64, func(n int64) error {
		return j.Append(c, store.JournalEntry{ID: seed + fmt.Sprintf("%024x", n), Payload: payload})
	})
}

func benchmarkPut(b *testing.B, s store.Store, callers int) {
	c := ctx(b)
	as := s.Activations()
	base := time.Now().UnixMilli()
	seed := fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff)
	benchmarkWrites(b, s, callers, func(n int64) error {
		return as.Put(c, Activation("bench", fmt.Sprintf("action%d", n%16), seed+fmt.Sprintf("%024x", n), base+n, ""))
	})
}

// benchmarkWrites calls write(n) for n in 1..b.N from callers goroutines
// and reports the rate, the callers' latency and the group commit's stats.
func benchmarkWrites(b *testing.B, s store.Store, callers int, write func(n int64) error) {
	var next atomic.Int64
	var b0, r0 int64
	var t0 time.Duration
	gs, hasStats := s.(groupCommitStats)
	if hasStats {
		b0, r0, t0, _ = gs.GroupCommitStats()
	}
	lat := make([][]time.Duration, callers)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				t := time.Now()
				if err := write(n); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatalf("write: %v", err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
		b.ReportMetric(ms(all[len(all)/2]), "p50-ms")
		b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	}
	if hasStats {
		b1, r1, t1, longest := gs.GroupCommitStats()
		if nb := b1 - b0; nb > 0 {
			b.ReportMetric(float64(r1-r0)/float64(nb), "records/batch")
			b.ReportMetric(ms((t1-t0)/time.Duration(nb)), "batch-ms")
			b.ReportMetric(ms(longest), "max-batch-ms")
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkActivationList measures the newest-first page that
// `wsk activation list` asks for (limit 30) in a namespace of 10,000
// records.
func BenchmarkActivationList(b *testing.B, s store.Store) {
	c := ctx(b)
	as := s.Activations()
	base := time.Now().UnixMilli()
	for i := 0; i < 10000; i += 500 {
		var batch []*whisk.Activation
		for n := i; n < i+500; n++ {
			batch = append(batch, Activation("list", fmt.Sprintf("action%d", n%16), id(n+1), base+int64(n), ""))
		}
		if err := as.Put(c, batch...); err != nil {
			b.Fatalf("Put: %v", err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := as.List(c, "list", store.ActivationQuery{Limit: 30})
		if err != nil || len(got) != 30 {
			b.Fatalf("List: %d records, %v", len(got), err)
		}
	}
}
