package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "whirl.db")) },
		storetest.WithReopen(func(t *testing.T) func() store.Store {
			// A directory that does not exist yet: Open creates it.
			path := filepath.Join(t.TempDir(), "data", "sub", "whirl.db")
			return func() store.Store { return open(t, path) }
		}))
}

func BenchmarkActivationPut(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkActivationPut(b, s)
}

func BenchmarkActivationPutSerial(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkActivationPutSerial(b, s)
}

func BenchmarkJournalAppend(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkJournalAppend(b, s)
}

func BenchmarkActivationList(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "whirl.db"))
	defer s.Close()
	storetest.BenchmarkActivationList(b, s)
}

// TestCommittedWritesSurviveKill runs a child process (this test binary)
// that writes, reports that its writes returned, and is then killed with
// SIGKILL: everything that returned must be there when the database is
// opened again.
func TestCommittedWritesSurviveKill(t *testing.T) {
	if path := os.Getenv("WHIRL_SQLITE_CHILD"); path != "" {
		childWrite(path)
		return
	}
	path := filepath.Join(t.TempDir(), "whirl.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCommittedWritesSurviveKill$")
	cmd.Env = append(os.Environ(), "WHIRL_SQLITE_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // held open: the child waits on it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "committed\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %v", cmd.ProcessState)
	}

	s := open(t, path)
	defer s.Close()
	ctx := context.Background()
	n, err := s.Activations().Count(ctx, "guest", store.ActivationQuery{})
	if err != nil || n != 200 {
		t.Fatalf("Count after kill = %d, %v; want 200", n, err)
	}
	p, err := s.Journal().Pending(ctx)
	if err != nil || len(p) != 1 || p[0].ID != "journal-only" {
		t.Fatalf("Pending after kill = %+v, %v; want the one entry", p, err)
	}
	if _, err := s.Entities().Get(ctx, store.Actions, "guest", "hello"); err != nil {
		t.Fatalf("Get entity after kill: %v", err)
	}
}

// childWrite is the child's part: write, say so, then wait to be killed.
func childWrite(path string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fail := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	_, err = s.Entities().Put(ctx, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{}`)}, 0)
	fail(err)
	fail(s.Journal().Append(ctx, store.JournalEntry{ID: "journal-only", Payload: []byte("x")}))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				fail(s.Activations().Put(ctx, storetest.Activation("guest", "hello", fmt.Sprintf("%032x", w*25+i+1), int64(i), "")))
			}
		}()
	}
	wg.Wait()
	fail(s.Flush(ctx)) // records are write-behind: durable once flushed
	fmt.Println("committed")
	// Killed here, without Close; stdin is a pipe the parent never writes.
	io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}
