package process_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
)

// TestPythonLogsWithoutSentinels: the python launcher writes no log
// sentinels; a run's logs are what the pipes held when its result came.
// Nothing the run wrote is lost or left to the next run: print (flushed
// by the launcher), a line without a newline, os.write straight to fd 1
// and 2, a subprocess's output, and more than a pipe's 64 KiB buffer.
func TestPythonLogsWithoutSentinels(t *testing.T) {
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			// No Go build cache to warm: python only.
			f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: sb, Network: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close(context.Background()) })
			code := `import os, subprocess, sys
def main(a):
    n = a["n"]
    print("print", n)
    sys.stderr.write("stderr %d\n" % n)
    os.write(1, b"fd1 %d\n" % n)
    os.write(2, b"fd2 %d\n" % n)
    if n % 5 == 0:
        subprocess.run(["/bin/echo", "child %d" % n])
    if n % 7 == 0:
        for i in range(1500):
            print("bulk", n, i, "." * 60)
    sys.stdout.write("tail %d" % n)
    return {"n": n}
`
			c, err := initPython(t, f, container.InitRequest{Code: []byte(code)}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= 15; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				res, err := c.Run(ctx, container.RunRequest{Value: []byte(fmt.Sprintf(`{"n":%d}`, n)), LogLimit: 10 << 20})
				cancel()
				if err != nil || string(res.Body) != fmt.Sprintf(`{"n": %d}`, n) {
					t.Fatalf("run %d = %s, %v", n, res.Body, err)
				}
				want := []string{fmt.Sprintf("stdout: print %d", n), fmt.Sprintf("stderr: stderr %d", n),
					fmt.Sprintf("stdout: fd1 %d", n), fmt.Sprintf("stderr: fd2 %d", n), fmt.Sprintf("stdout: tail %d", n)}
				if n%5 == 0 {
					want = append(want, fmt.Sprintf("stdout: child %d", n))
				}
				bulk := 0
				for _, l := range res.Logs {
					if strings.Contains(l, "XXX_THE_END") {
						t.Fatalf("run %d: a sentinel in the logs: %q", n, l)
					}
					if strings.Contains(l, "stdout: bulk ") {
						if !strings.Contains(l, fmt.Sprintf("stdout: bulk %d ", n)) {
							t.Fatalf("run %d: another run's line: %q", n, l)
						}
						bulk++
						continue
					}
					if !strings.HasSuffix(l, fmt.Sprintf(" %d", n)) {
						t.Fatalf("run %d: another run's line: %q (logs %q)", n, l, res.Logs)
					}
				}
				for _, w := range want {
					if !containsSuffix(res.Logs, w) {
						t.Fatalf("run %d: no line %q in %q", n, w, res.Logs)
					}
				}
				if wantBulk := map[bool]int{true: 1500}[n%7 == 0]; bulk != wantBulk {
					t.Fatalf("run %d: %d bulk lines, want %d", n, bulk, wantBulk)
				}
			}
		})
	}
}

func containsSuffix(lines []string, s string) bool {
	for _, l := range lines {
		if strings.HasSuffix(l, s) {
			return true
		}
	}
	return false
}
