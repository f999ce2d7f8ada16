package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// Container is one action process. Lock order: runMu before mu.
type Container struct {
	f      *Factory
	id     string
	spec   container.Spec
	family string
	interp runtimes.Interpreter // what runs the kind (interp.go)
	dir    string
	logs   *logCollector

	cmd        *exec.Cmd
	stdin      *os.File
	outPipes   [2]*os.File // our read ends of stdout and stderr
	cg         *cgroup
	net        *netns        // the isolated network namespace, if any
	exited     chan struct{} // closed when the process has been waited for
	exitState  *os.ProcessState
	results    chan []byte   // result lines (one run at a time)
	resultsEOF chan struct{} // closed when fd 3 closed
	readers    sync.WaitGroup
	awaitReady bool          // the launcher writes runtimes.ReadyLine first
	ready      chan struct{} // closed once the ready line came (or none is due)
	sentinels  bool          // the runtime writes log sentinels
	// flushed: the runtime (the python launcher) writes its result only
	// after everything the run wrote to stdout and stderr is in the
	// pipes, so a run's logs are exactly what the pipes held then (see
	// logCollector.mark): no sentinels.
	flushed bool

	runMu       sync.Mutex // serialises runs unless concurrent
	concurrent  bool
	initialized bool

	mu        sync.Mutex
	pending   map[string]chan []byte // concurrent runs by activation id
	destroyed bool

	idle idleState // freezing between calls; its lock is a leaf
}

var _ container.Container = (*Container)(nil)

// ID identifies the container.
func (c *Container) ID() string { return c.id }

// start starts argv as the container's process with its pipes, sandbox and
// limits.
func (c *Container) start(ctx context.Context, argv []string) error {
	f := c.f
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		return err
	}
	var outR, outW [2]*os.File
	for i := range 2 {
		if outR[i], outW[i], err = os.Pipe(); err != nil {
			return err
		}
	}
	c.ready = make(chan struct{})
	if !c.awaitReady {
		close(c.ready)
	}
	closeChild := []*os.File{stdinR, resW, outW[0], outW[1]}
	defer func() {
		for _, fh := range closeChild {
			fh.Close()
		}
	}()
	if f.bwrap != "" {
		argv = f.bwrapArgs(c.dir, argv)
	}
	mem := c.spec.MemoryMB
	if c.cg, err = f.makeCgroup(cgroupPrefix+f.owned(c.id), f.cgLimits(mem)); err != nil {
		return err
	}
	// limit puts the process in its cgroups and limits before it runs.
	limit := func(pid int) error {
		lerr := c.cg.join(pid)
		if lerr == nil && c.cg.pids == "" && f.opts.MaxProcs > 0 {
			// Without a pids cgroup: RLIMIT_NPROC, per uid, as a backstop.
			lerr = prlimit(pid, rlimitNproc, uint64(f.opts.MaxProcs)*4)
		}
		if lerr == nil && c.cg.memory == "" && mem > 0 && c.family == runtimes.FamilyPython {
			// Without a memory cgroup: an address-space limit, for python only
			// (node and go reserve far more address space than they use).
			lerr = prlimit(pid, rlimitAS, uint64(mem+64)<<20)
		}
		return lerr
	}
	newCmd := func(gate bool) *exec.Cmd {
		a := argv
		if gate {
			// The gate holds the process until it is in its cgroups and
			// limits (fd 4 is the gate's pipe).
			a = append([]string{"/bin/sh", "-c", `read _ <&4; exec 4<&- "$@"`, "sh"}, argv...)
		}
		cmd := exec.Command(a[0], a[1:]...)
		cmd.Dir = c.dir
		if f.bwrap != "" {
			cmd.Dir = "/" // bwrap enters c.dir inside the sandbox
		}
		cmd.Env = f.baseEnv(c.spec)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, outW[0], outW[1]
		cmd.ExtraFiles = []*os.File{resW} // fd 3
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if f.bwrap != "" && os.Getuid() == 0 {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
		}
		return cmd
	}
	var cmd *exec.Cmd
	launch := func() (err error) {
		cmd, err = f.startLimited(newCmd, limit)
		return err
	}
	if f.netMode == NetworkIsolated && f.bwrap != "" {
		// The container's own namespace, made once, is where its process
		// is born; bwrap then does not unshare the network.
		if c.net == nil {
			c.net, err = f.newNetns()
		}
		if err == nil {
			err = c.net.enter(launch)
		}
	} else {
		err = launch()
	}
	if err != nil {
		c.cg.remove()
		for _, fh := range []*os.File{stdinW, resR, outR[0], outR[1]} {
			fh.Close()
		}
		return fmt.Errorf("start %s: %w", filepath.Base(argv[len(argv)-1]), err)
	}
	c.cmd = cmd
	c.stdin = stdinW
	c.outPipes = outR
	c.exited = make(chan struct{})
	c.results = make(chan []byte, 1)
	c.resultsEOF = make(chan struct{})
	c.readers.Add(3)
	for i := range 2 {
		go func() {
			defer c.readers.Done()
			c.logs.read(i, outR[i])
		}()
	}
	go func() {
		defer c.readers.Done()
		c.readResults(resR)
	}()
	go func() {
		cmd.Wait()
		c.exitState = cmd.ProcessState
		close(c.exited)
	}()
	return nil
}

// startGated starts cmd (a /bin/sh gate in front of the real command, with
// its gate pipe to add as fd 4), applies limit to its pid and opens the gate.
func startGated(cmd *exec.Cmd, limit func(pid int) error) error {
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer gateW.Close()
	cmd.ExtraFiles = append(cmd.ExtraFiles, gateR)
	err = cmd.Start()
	gateR.Close()
	if err != nil {
		return err
	}
	if err := limit(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	if _, err := gateW.Write([]byte("\n")); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("open the start gate: %w", err)
	}
	return nil
}

// startTraced starts cmd under ptrace, so that it stops right after its
// exec, before it runs an instruction; applies limit to its pid; and
// detaches, letting it run. No extra process is involved (the shell gate
// costs an exec of /bin/sh per start). Ptrace requests must come from the
// tracing thread, hence the locked OS thread.
func startTraced(cmd *exec.Cmd, limit func(pid int) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, syscall.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("wait for exec: %w", err)
		}
		break
	}
	if !ws.Stopped() {
		// It ended before running (and was reaped by Wait4 above).
		cmd.Process.Release()
		return fmt.Errorf("the process ended at exec (%v)", ws)
	}
	if err := limit(pid); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.PtraceDetach(pid)
		cmd.Wait()
		return err
	}
	if err := syscall.PtraceDetach(pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("detach: %w", err)
	}
	return nil
}

// readResults delivers result lines from fd 3 until it closes. A line longer
// than MaxResultBytes is cut to that length.
func (c *Container) readResults(r *os.File) {
	defer r.Close()
	defer close(c.resultsEOF)
	br := bufio.NewReaderSize(r, 64<<10)
	awaiting := c.awaitReady
	max := c.f.opts.MaxResultBytes
	var cur []byte
	for {
		chunk, err := br.ReadSlice('\n')
		full := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		if full {
			chunk = chunk[:len(chunk)-1]
		}
		if len(cur) < max {
			cur = append(cur, chunk[:min(len(chunk), max-len(cur))]...)
		}
		if full {
			if awaiting {
				// The launcher's first line says its interpreter started.
				awaiting = false
				close(c.ready)
				if string(cur) != runtimes.ReadyLine {
					c.deliver(cur)
				}
			} else {
				c.deliver(cur)
			}
			cur = nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (c *Container) deliver(line []byte) {
	c.mu.Lock()
	concurrent := c.concurrent && c.initialized
	if concurrent {
		id, body, _ := bytes.Cut(line, []byte(" "))
		ch := c.pending[string(id)]
		delete(c.pending, string(id))
		c.mu.Unlock()
		if ch != nil {
			ch <- body
		}
		return
	}
	c.mu.Unlock()
	select {
	case c.results <- line:
	default: // an unsolicited line: nobody waits for it
	}
}

// Ready waits until the container's interpreter has started and waits for
// code (python and nodejs write a ready line before reading the init
// message); go and blackbox containers are ready at once, as they start at
// Init. A container that is Ready is a stem cell whose Init pays only for
// loading the code. It fails with an error wrapping container.ErrExited when
// the process died first, and with ctx's error when ctx ends first (the
// container is left running: Destroy it).
func (c *Container) Ready(ctx context.Context) error {
	if c.cmd == nil {
		return nil
	}
	select {
	case <-c.ready:
		return nil
	default:
	}
	select {
	case <-c.ready:
		return nil
	case <-c.resultsEOF:
	case <-c.exited:
	case <-ctx.Done():
		return fmt.Errorf("wait for %s to start: %w", c.spec.Kind, ctx.Err())
	}
	select {
	case <-c.ready:
		return nil
	default:
	}
	return fmt.Errorf("wait for %s to start: %w", c.spec.Kind, container.ErrExited)
}

// Init loads the action's code. Python and nodejs receive it through their
// launcher; go compiles it (or reuses a cached build) and starts it;
// blackbox starts the executable.
func (c *Container) Init(ctx context.Context, req container.InitRequest) ([]string, error) {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	err := c.busy()
	defer c.done()
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	c.mu.Lock()
	if c.destroyed {
		c.mu.Unlock()
		return nil, fmt.Errorf("init: %w", container.ErrExited)
	}
	if c.initialized {
		c.mu.Unlock()
		return nil, &container.InitError{Message: "Cannot initialize the action more than once."}
	}
	c.mu.Unlock()
	if len(req.Code) == 0 {
		return nil, &container.InitError{Message: "Missing main/no code to execute."}
	}
	prep, err := c.prepare(ctx, req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.kill()
			return nil, fmt.Errorf("init: %w", container.ErrTimeout)
		}
		return nil, err
	}
	concurrent := req.Concurrency > 1 && c.family == runtimes.FamilyNodejs
	if prep.argv != nil {
		// go and blackbox: the process starts now and runs its loop.
		if err := c.start(ctx, prep.argv); err != nil {
			return nil, &container.InitError{Message: fmt.Sprintf("The action failed to start: %v", err)}
		}
		c.sentinels = c.family == runtimes.FamilyGo && !prep.native
		c.mu.Lock()
		c.initialized = true
		c.mu.Unlock()
		return nil, nil
	}
	c.flushed = c.family == runtimes.FamilyPython
	c.sentinels = !c.flushed
	msg := map[string]any{"file": prep.file, "main": mainOr(req.Main), "env": req.Env, "dir": prep.dir}
	if len(prep.path) > 0 {
		msg["path"] = prep.path
	}
	if prep.source {
		msg["source"] = true
	}
	if concurrent {
		msg["concurrent"] = true
	}
	line, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	c.logs.begin(idleLogLimit)
	body, logs, err := c.exchange(ctx, line, true)
	if err != nil {
		return logs, fmt.Errorf("init: %w", err)
	}
	var ack struct {
		OK    bool            `json:"ok"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &ack) != nil || !ack.OK {
		msg := string(body)
		var s string
		if json.Unmarshal(ack.Error, &s) == nil {
			msg = s
		} else if len(ack.Error) > 0 {
			msg = string(ack.Error)
		}
		return logs, &container.InitError{Message: msg}
	}
	c.mu.Lock()
	c.initialized, c.concurrent = true, concurrent
	c.mu.Unlock()
	return logs, nil
}

func mainOr(m string) string {
	if m == "" {
		return "main"
	}
	return m
}

// exchange writes one line to the process and waits for its result line
// and, when the runtime writes them, its log sentinels.
func (c *Container) exchange(ctx context.Context, line []byte, withLogs bool) ([]byte, []string, error) {
	if c.cmd == nil {
		return nil, nil, container.ErrExited
	}
	if dl, ok := ctx.Deadline(); ok {
		c.stdin.SetWriteDeadline(dl)
	} else {
		c.stdin.SetWriteDeadline(time.Time{})
	}
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		return nil, c.failLogs(), c.failure(ctx)
	}
	var body []byte
	select {
	case body = <-c.results:
	case <-c.resultsEOF:
		// A launcher that writes its result (an init error, say) and exits
		// closes its result channel right after: the result may be waiting.
		if body = c.resultNow(); body == nil {
			return nil, c.failLogs(), c.failure(ctx)
		}
	case <-c.exited:
		// The process is gone, but its last result may still be in the
		// pipe: wait (briefly: a child may hold fd 3 open) for the reader
		// to reach the end of it.
		t := time.NewTimer(time.Second)
		select {
		case body = <-c.results:
		case <-c.resultsEOF:
			body = c.resultNow()
		case <-t.C:
		}
		t.Stop()
		if body == nil {
			return nil, c.failLogs(), c.failure(ctx)
		}
	case <-ctx.Done():
		return nil, c.failLogs(), c.failure(ctx)
	}
	if !withLogs {
		return body, nil, nil
	}
	if c.flushed {
		return c.drainLogs(ctx, body)
	}
	if !c.sentinels {
		c.logs.quiesce(c.outPipes, 100*time.Millisecond)
		return body, c.logs.take(true), nil
	}
	for {
		changed, done, _ := c.logs.state()
		if done {
			return body, c.logs.take(false), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return body, c.failLogs(), c.failure(ctx)
		case <-c.exited:
			return body, c.failLogs(), nil
		}
	}
}

// resultNow returns a result line already delivered, or nil.
func (c *Container) resultNow() []byte {
	select {
	case body := <-c.results:
		return body
	default:
		return nil
	}
}

// drainLogs returns body with the run's logs once the log readers have
// handled every byte the pipes held when the result came (the runtime
// wrote its output before its result, flushed).
func (c *Container) drainLogs(ctx context.Context, body []byte) ([]byte, []string, error) {
	m := c.logs.mark(c.outPipes)
	for {
		changed, ok := c.logs.reached(m)
		if ok {
			return body, c.logs.take(true), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return body, c.failLogs(), c.failure(ctx)
		case <-c.exited:
			return body, c.failLogs(), nil
		}
	}
}

// failure classifies why a run ended without a result and stops the
// process.
func (c *Container) failure(ctx context.Context) error {
	if ctx.Err() != nil {
		c.kill()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return container.ErrTimeout
		}
		return ctx.Err()
	}
	// The process is dying or dead: wait for it to be reaped to learn why.
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
	}
	c.kill()
	if c.cg.oomKilled() {
		return container.ErrMemory
	}
	if st := c.exitState; st != nil && st.ExitCode() == runtimes.ExitMemory {
		return container.ErrMemory
	}
	return container.ErrExited
}

// failLogs returns what the process wrote before it failed: it waits
// briefly for the pipes to drain.
func (c *Container) failLogs() []string {
	select {
	case <-c.exited:
		done := make(chan struct{})
		go func() { c.readers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	default:
		c.logs.quiesce(c.outPipes, 50*time.Millisecond)
	}
	return c.logs.take(true)
}

// Run runs one activation. The container's processes run from the start
// of Run to FreezeAfter past the end of the last run in flight; then they
// are frozen until the next Run (or Destroy).
func (c *Container) Run(ctx context.Context, req container.RunRequest) (container.RunResult, error) {
	if err := c.busy(); err != nil {
		c.done()
		return container.RunResult{}, fmt.Errorf("run: %w", err)
	}
	defer c.done()
	c.mu.Lock()
	concurrent, ok := c.concurrent, c.initialized && !c.destroyed
	c.mu.Unlock()
	if !ok {
		return container.RunResult{}, fmt.Errorf("run: container not initialised: %w", container.ErrExited)
	}
	value := req.Value
	if len(bytes.TrimSpace(value)) == 0 {
		value = json.RawMessage("{}")
	}
	line, err := runLine(value, req.Env)
	if err != nil {
		return container.RunResult{}, fmt.Errorf("run: parameters: %w", err)
	}
	if concurrent {
		return c.runConcurrent(ctx, req, line)
	}
	c.runMu.Lock()
	defer c.runMu.Unlock()
	start := time.Now()
	c.logs.begin(req.LogLimit)
	body, logs, err := c.exchange(ctx, line, true)
	res := container.RunResult{Body: body, Logs: logs, Start: start, Duration: time.Since(start)}
	if err != nil {
		return res, fmt.Errorf("run: %w", err)
	}
	return res, nil
}

// runConcurrent runs one of several activations in flight on a nodejs
// process. Logs cannot be attributed to one activation and are not kept.
func (c *Container) runConcurrent(ctx context.Context, req container.RunRequest, line []byte) (container.RunResult, error) {
	id := req.Env["activation_id"]
	if id == "" {
		id = newID()
		var m map[string]any
		json.Unmarshal(line, &m)
		m["activation_id"] = id
		line, _ = json.Marshal(m)
	}
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	start := time.Now()
	c.runMu.Lock() // one writer at a time on stdin
	if dl, ok := ctx.Deadline(); ok {
		c.stdin.SetWriteDeadline(dl)
	}
	_, err := c.stdin.Write(append(line, '\n'))
	c.runMu.Unlock()
	res := container.RunResult{Start: start}
	if err != nil {
		return res, fmt.Errorf("run: %w", c.failure(ctx))
	}
	select {
	case body := <-ch:
		res.Body, res.Duration = body, time.Since(start)
		// Drop the output of concurrent runs.
		c.logs.take(false)
		return res, nil
	case <-c.resultsEOF:
	case <-c.exited:
	case <-ctx.Done():
	}
	res.Duration = time.Since(start)
	return res, fmt.Errorf("run: %w", c.failure(ctx))
}

// kill stops the process and everything it started.
func (c *Container) kill() {
	c.stopFreezing()
	if c.cmd != nil && c.cmd.Process != nil {
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		c.cmd.Process.Kill()
	}
	c.cg.killAll()
}

// Destroy stops the container and removes its directory and cgroups.
func (c *Container) Destroy(ctx context.Context) error {
	c.mu.Lock()
	if c.destroyed {
		c.mu.Unlock()
		return nil
	}
	c.destroyed = true
	c.mu.Unlock()
	c.kill()
	if c.cmd != nil {
		c.stdin.Close()
		select {
		case <-c.exited:
		case <-ctx.Done():
		}
		done := make(chan struct{})
		go func() { c.readers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			// A grandchild that escaped the process group still holds a
			// pipe: close our ends.
			for _, p := range c.outPipes {
				p.Close()
			}
		}
	}
	c.cg.remove()
	c.net.close()
	c.f.forget(c.id)
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("destroy %s: %w", c.id, err)
	}
	return nil
}

// copyFile copies src to dst with mode.
func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
