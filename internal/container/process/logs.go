package process

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"syscall"
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
	part      [2]partLine // per stream, the line being read
	consumed  [2]int64    // per stream, bytes read from the pipe and handled
}

// partLine is a line read so far: its text up to maxLine bytes, and its
// last bytes (to find a sentinel at the end of a longer line).
type partLine struct{ cur, tail []byte }

// maxLine bounds a log line; the rest of a longer line is dropped.
const maxLine = 16 << 20

var sentinelBytes = []byte(whisk.MsgActivationLogsSentinel)

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

// add keeps a line of Whirl's own (a note on the interpreter a kind runs
// on) as if stream had written it.
func (l *logCollector) add(stream int, text []byte, at time.Time) {
	l.mu.Lock()
	l.addLocked(stream, text, at)
	l.mu.Unlock()
}

func (l *logCollector) addLocked(stream int, text []byte, at time.Time) {
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
// output was dropped and limit > 0. With partial, a line not yet ended
// (output without a final newline) is the run's last line of its stream.
func (l *logCollector) take(partial bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if partial {
		now := time.Now()
		for i := range 2 {
			if len(l.part[i].cur) > 0 {
				l.endLineLocked(i, now)
			}
		}
	}
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

// read drains one stream until EOF (or until the pipe is closed), cutting
// it into lines. A line longer than maxLine is cut; the remainder is
// dropped. The sentinel counts also at the end of a line (after output
// that did not end with a newline).
//
// Each read from the pipe is made, and what it read handled, under l.mu
// with the pipe non-blocking: whoever holds l.mu sees every byte either
// still in the pipe (FIONREAD) or handled (consumed), which is what makes
// drained exact.
func (l *logCollector) read(stream int, f *os.File) {
	buf := make([]byte, 64<<10)
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Read(func(fd uintptr) bool {
			for {
				l.mu.Lock()
				n, err := syscall.Read(int(fd), buf)
				switch {
				case n > 0:
					l.feedLocked(stream, buf[:n], time.Now())
					l.consumed[stream] += int64(n)
					l.notifyLocked()
					l.mu.Unlock()
				case err == syscall.EINTR:
					l.mu.Unlock()
				case err == syscall.EAGAIN:
					l.mu.Unlock()
					return false // wait until readable
				default: // EOF or a failure
					l.mu.Unlock()
					return true
				}
			}
		})
	}
	l.mu.Lock()
	if len(l.part[stream].cur) > 0 {
		l.endLineLocked(stream, time.Now())
	}
	l.eof[stream] = true
	l.notifyLocked()
	l.mu.Unlock()
}

// feedLocked adds data read from stream, ending a line at each newline.
func (l *logCollector) feedLocked(stream int, data []byte, at time.Time) {
	p := &l.part[stream]
	for len(data) > 0 {
		chunk, end := data, false
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			chunk, data, end = data[:i], data[i+1:], true
		} else {
			data = nil
		}
		if len(p.cur) < maxLine {
			p.cur = append(p.cur, chunk[:min(len(chunk), maxLine-len(p.cur))]...)
		}
		p.tail = append(p.tail, chunk...)
		if len(p.tail) > 2*len(sentinelBytes) {
			p.tail = append(p.tail[:0], p.tail[len(p.tail)-len(sentinelBytes):]...)
		}
		if end {
			l.endLineLocked(stream, at)
		}
	}
}

// endLineLocked ends stream's line being read: a log line, or a sentinel
// (after the text before it, if any).
func (l *logCollector) endLineLocked(stream int, at time.Time) {
	p := &l.part[stream]
	if bytes.HasSuffix(p.tail, sentinelBytes) {
		if text := bytes.TrimSuffix(p.cur, sentinelBytes); len(text) > 0 {
			l.addLocked(stream, text, at)
		}
		l.addLocked(stream, sentinelBytes, at)
	} else {
		l.addLocked(stream, p.cur, at)
	}
	p.cur, p.tail = p.cur[:0], p.tail[:0]
	if cap(p.cur) > 1<<20 {
		p.cur = nil
	}
}

// mark returns, per stream, the bytes the readers will have handled once
// they have read everything in the pipes now: what they handled so far
// plus what the pipes hold (FIONREAD).
func (l *logCollector) mark(pipes [2]*os.File) [2]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.consumed
	for i, p := range pipes {
		if p == nil || l.eof[i] {
			continue
		}
		if rc, err := p.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { m[i] += int64(fionread(fd)) })
		}
	}
	return m
}

// reached returns a channel closed at the next change, and whether the
// readers have handled the bytes of m (or their pipes closed).
func (l *logCollector) reached(m [2]int64) (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range 2 {
		if l.consumed[i] < m[i] && !l.eof[i] {
			return l.changed, false
		}
	}
	return l.changed, true
}

// quiesce waits until the readers have handled every byte the pipes held
// when it was called, giving up after limit: after a result, the output
// written before it (runtimes that write no sentinel, and failures).
func (l *logCollector) quiesce(pipes [2]*os.File, limit time.Duration) {
	m := l.mark(pipes)
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		changed, ok := l.reached(m)
		if ok {
			return
		}
		select {
		case <-changed:
		case <-t.C:
			return
		}
	}
}
