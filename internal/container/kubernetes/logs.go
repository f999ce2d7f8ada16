package kubernetes

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// logs collects a pod's log lines between activation sentinels. The pod
// log API serves lines as "<RFC 3339 timestamp> <text>"; with merged
// streams every line is reported as stdout (the API does not say which
// stream a line came from) and each activation ends with two sentinels.
type logs struct {
	mu        sync.Mutex
	want      int   // sentinels per activation and stream followed
	sentinels []int // per stream followed
	eof       int   // streams ended
	streams   int
	lines     []string
	bytes     int
	limit     int
	truncated bool
	failed    string // why a stream could not be read, or ""
	changed   chan struct{}
}

func newLogs(streams int) *logs {
	want := 2 // both stdout and stderr end with the sentinel, merged
	if streams == 2 {
		want = 1
	}
	return &logs{want: want, streams: streams, sentinels: make([]int, streams), limit: 10 << 20, changed: make(chan struct{})}
}

func (l *logs) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// begin sets the byte limit of the activation about to run.
func (l *logs) begin(limit int) {
	l.mu.Lock()
	l.limit = limit
	l.mu.Unlock()
}

// read adds the lines of followed stream i (named "stdout" or "stderr")
// until it ends.
func (l *logs) read(i int, stream string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	first := true
	for sc.Scan() {
		ts, text, ok := strings.Cut(sc.Text(), " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			at, text = time.Now(), sc.Text()
		}
		if first && isBanner(text) {
			// whirl proxy's start-up line is not an activation's log.
			first = false
			continue
		}
		first = false
		l.add(i, stream, text, at)
	}
	l.mu.Lock()
	l.eof++
	l.notifyLocked()
	l.mu.Unlock()
}

// isBanner reports whether text is the line `whirl proxy` prints when it
// starts listening, before any action runs.
func isBanner(text string) bool {
	return strings.HasPrefix(text, "whirl proxy (") && strings.Contains(text, ") listening on ")
}

// fail records that stream i cannot be read: every activation's logs then
// say so (in place of silently empty logs), and the stream counts as ended.
func (l *logs) fail(i int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = fmt.Sprintf("whirl: the action's logs could not be read from the pod: %v", err)
	l.eof++
	l.notifyLocked()
}

func (l *logs) add(i int, stream, text string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.HasSuffix(text, whisk.MsgActivationLogsSentinel) {
		if rest := strings.TrimSuffix(text, whisk.MsgActivationLogsSentinel); rest != "" {
			l.addLocked(stream, rest, at)
		}
		l.sentinels[i]++
		l.notifyLocked()
		return
	}
	l.addLocked(stream, text, at)
}

func (l *logs) addLocked(stream, text string, at time.Time) {
	n := len(text) + 1
	if l.bytes+n > l.limit {
		l.truncated = true
		return
	}
	l.bytes += n
	l.lines = append(l.lines, fmt.Sprintf("%-30s %s: %s", at.UTC().Format(time.RFC3339Nano), stream, text))
}

// take waits until the activation's sentinels arrived (or every stream
// ended, or wait passed) and returns its lines, consuming the sentinels.
func (l *logs) take(wait time.Duration) []string {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if l.doneLocked() {
			break
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
			continue
		case <-timer.C:
		}
		l.mu.Lock()
		break
	}
	defer l.mu.Unlock()
	out := l.lines
	if l.failed != "" {
		out = append(out, fmt.Sprintf("%-30s %s: %s", time.Now().UTC().Format(time.RFC3339Nano), "stderr", l.failed))
	}
	if l.truncated && l.limit > 0 {
		out = append(out, fmt.Sprintf("%-30s %s: %s", time.Now().UTC().Format(time.RFC3339Nano), "stderr", fmt.Sprintf(whisk.MsgLogsTruncated, l.limit)))
	}
	l.lines, l.bytes, l.truncated, l.limit = nil, 0, false, 10<<20
	for i := range l.sentinels {
		l.sentinels[i] = max(0, l.sentinels[i]-l.want)
	}
	return out
}

// doneLocked reports whether every stream delivered the activation's
// sentinels, or every stream ended.
func (l *logs) doneLocked() bool {
	if l.eof >= l.streams {
		return true
	}
	for _, n := range l.sentinels {
		if n < l.want {
			return false
		}
	}
	return true
}
