package process

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// idleLogLimit bounds the bytes kept from output written outside a run
// (between activations), which the next run's logs include.
const idleLogLimit = 1 << 20

// logCollector gathers the lines of a container's stdout and stderr for the
// activation in progress. It keeps at most limit bytes of text and drops the
// rest while still draining the pipes, so a flood never grows memory.
type logCollector struct {
	mu        sync.Mutex
	lines     []string
	bytes     int
	limit     int
	truncated bool
	sentinels [2]int  // per stream, sentinels seen and not yet consumed
	eof       [2]bool // per stream, the pipe closed
	changed   chan struct{}
	busy      [2]atomic.Bool
}

func newLogCollector() *logCollector {
	return &logCollector{limit: idleLogLimit, changed: make(chan struct{})}
}

var streamNames = [2]string{"stdout", "stderr"}

// notifyLocked wakes everyone waiting for a change.
func (l *logCollector) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// begin starts collecting for a run that keeps at most limit bytes. Lines
// written since the last take are kept (within the limit).
func (l *logCollector) begin(limit int) {
	l.mu.Lock()
	l.limit = limit
	if l.bytes > limit {
		l.truncated = true
		l.lines, l.bytes = keepWithin(l.lines, limit)
	}
	l.mu.Unlock()
}

func keepWithin(lines []string, limit int) ([]string, int) {
	n := 0
	for i, s := range lines {
		if n+len(s) > limit {
			return lines[:i], n
		}
		n += len(s)
	}
	return lines, n
}

func (l *logCollector) add(stream int, text []byte, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if string(text) == whisk.MsgActivationLogsSentinel {
		l.sentinels[stream]++
		l.notifyLocked()
		return
	}
	n := len(text) + 1
	if l.bytes+n > l.limit {
		l.truncated = true
		return
	}
	l.bytes += n
	l.lines = append(l.lines, fmt.Sprintf("%-30s %s: %s", at.UTC().Format(time.RFC3339Nano), streamNames[stream], text))
}

// waitCh returns a channel closed at the next change, and whether both
// streams have delivered a sentinel (or closed).
func (l *logCollector) state() (<-chan struct{}, bool, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	done := true
	for i := range 2 {
		if l.sentinels[i] == 0 && !l.eof[i] {
			done = false
		}
	}
	return l.changed, done, l.eof[0] && l.eof[1]
}

// take returns the lines of the run and resets for the next one, consuming
// one sentinel per stream. The truncation message is the last line when
// output was dropped and limit > 0.
func (l *logCollector) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	if l.truncated && l.limit > 0 {
		out = append(out, fmt.Sprintf("%-30s %s: %s", time.Now().UTC().Format(time.RFC3339Nano), "stderr", fmt.Sprintf(whisk.MsgLogsTruncated, l.limit)))
	}
	l.lines, l.bytes, l.truncated, l.limit = nil, 0, false, idleLogLimit
	for i := range 2 {
		if l.sentinels[i] > 0 {
			l.sentinels[i]--
		}
	}
	return out
}

// read drains one stream until EOF, cutting it into lines. A line longer
// than maxLine is cut; the remainder is dropped. The sentinel counts also at
// the end of a line (after output that did not end with a newline).
func (l *logCollector) read(stream int, r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	const maxLine = 16 << 20
	var cur, tail []byte
	sentinel := []byte(whisk.MsgActivationLogsSentinel)
	for {
		chunk, err := br.ReadSlice('\n')
		l.busy[stream].Store(true)
		now := time.Now()
		end := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		if end {
			chunk = chunk[:len(chunk)-1]
		}
		if len(cur) < maxLine {
			cur = append(cur, chunk[:min(len(chunk), maxLine-len(cur))]...)
		}
		tail = append(tail, chunk...)
		if len(tail) > 2*len(sentinel) {
			tail = append(tail[:0], tail[len(tail)-len(sentinel):]...)
		}
		if end || (err != nil && err != bufio.ErrBufferFull && len(cur) > 0) {
			if bytes.HasSuffix(tail, sentinel) {
				if text := bytes.TrimSuffix(cur, sentinel); len(text) > 0 {
					l.add(stream, text, now)
				}
				l.add(stream, sentinel, now)
			} else {
				l.add(stream, cur, now)
			}
			cur, tail = cur[:0], tail[:0]
			if cap(cur) > 1<<20 {
				cur = nil
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			l.mu.Lock()
			l.eof[stream] = true
			l.notifyLocked()
			l.mu.Unlock()
			l.busy[stream].Store(false)
			return
		}
		l.busy[stream].Store(false)
	}
}

// quiesce waits until both pipes hold no unread bytes and both readers have
// handled what they read, for runtimes that write no sentinel. It gives up
// after limit.
func (l *logCollector) quiesce(pipes [2]*os.File, limit time.Duration) {
	var fds [2]int
	for i, p := range pipes {
		fds[i] = -1
		if p == nil {
			continue
		}
		if rc, err := p.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { fds[i] = int(fd) })
		}
	}
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		idle := true
		for i, fd := range fds {
			if fd < 0 {
				continue
			}
			if fionread(uintptr(fd)) > 0 || l.busy[i].Load() {
				idle = false
			}
		}
		if idle {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}
