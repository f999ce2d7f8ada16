package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// echoPy is a persistent python worker: one JSON line in, one JSON line out.
const echoPy = `import sys, json
for line in sys.stdin:
    sys.stdout.write(json.dumps(json.loads(line)) + "\n")
    sys.stdout.flush()
`

// floor measures what the machine gives before Whirl adds anything
// (PERF.md "The floor").
func floor(ctx context.Context, o *Options) ([]Figure, error) {
	var out []Figure
	// 1. A Go net/http keep-alive round trip on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"ok":true}`))
	})}
	go hs.Serve(ln)
	lat, err := latencies(ctx, "http://"+ln.Addr().String()+"/", "u:k", o.Samples, o.Warmup/4)
	hs.Close()
	if err != nil {
		return nil, err
	}
	out = append(out, plain("net/http keep-alive round trip p50", us(pct(lat, 50)), "µs"))

	// 2. A JSON round trip to a persistent python3 over pipes.
	w, err := startWorker(o.Python)
	if err != nil {
		return nil, err
	}
	var rt []time.Duration
	for i := 0; i < o.Samples; i++ {
		t := time.Now()
		if _, err := w.call(payload); err != nil {
			return nil, err
		}
		rt = append(rt, time.Since(t))
	}
	w.close()
	out = append(out, plain("python3 JSON round trip over pipes p50", us(pct(rt, 50)), "µs"))

	// 3. Spawning python3 until its first JSON reply.
	var sp []time.Duration
	for i := 0; i < 20; i++ {
		t := time.Now()
		w, err := startWorker(o.Python)
		if err != nil {
			return nil, err
		}
		if _, err := w.call(payload); err != nil {
			return nil, err
		}
		sp = append(sp, time.Since(t))
		w.close()
	}
	out = append(out, plain("spawn python3 to first JSON reply p50", ms(pct(sp, 50)), "ms"))

	// 4. The minimal Go HTTP → warm python worker → response loop.
	workers := make(chan *worker, runtime.NumCPU())
	for i := 0; i < cap(workers); i++ {
		w, err := startWorker(o.Python)
		if err != nil {
			return nil, err
		}
		defer w.close()
		workers <- w
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w := <-workers
		res, err := w.call(body)
		workers <- w
		if err != nil {
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
		rw.Write(res)
	})}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/"
	lat, err = latencies(ctx, url, "u:k", o.Samples, o.Warmup/4)
	if err != nil {
		return nil, err
	}
	out = append(out, plain("Go HTTP → warm python worker loop p50 (c=1)", us(pct(lat, 50)), "µs"))
	d := o.Duration / 3
	if d < time.Second {
		d = time.Second
	}
	n, _, err := throughput(ctx, url, "u:k", 16, d, http.StatusOK)
	if err != nil {
		return nil, err
	}
	out = append(out, plain("Go HTTP → warm python worker loop (c=16)", float64(n)/d.Seconds(), "/s"))
	return out, nil
}

type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	mu  sync.Mutex
}

func startWorker(python string) (*worker, error) {
	cmd := exec.Command(python, "-u", "-c", echoPy)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", python, err)
	}
	return &worker{cmd: cmd, in: in, out: bufio.NewReader(outp)}, nil
}

func (w *worker) call(line []byte) ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.in.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	return w.out.ReadBytes('\n')
}

func (w *worker) close() {
	w.in.Close()
	w.cmd.Process.Kill()
	w.cmd.Wait()
}
