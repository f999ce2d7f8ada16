package nats_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/bus/bustest"
	"github.com/whirlfaas/whirl/internal/bus/nats"
)

// natsServer returns the nats-server binary (scripts/deps.sh installs it):
// on the PATH, or Debian's /usr/sbin/nats-server.
func natsServer(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"nats-server", "/usr/sbin/nats-server"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Fatal("nats-server is needed (scripts/deps.sh installs it)")
	return ""
}

// startAuthServer starts a nats-server of its own, with JetStream and the
// authorization block given (NATS configuration syntax), on a random
// loopback port, and returns its URL (without credentials). It waits for
// the server's "ready" line and kills it when the test ends.
func startAuthServer(t *testing.T, authorization string) string {
	t.Helper()
	bin := natsServer(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	cfg := fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q }\nauthorization {\n%s\n}\n", filepath.Join(dir, "js"), authorization)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
		cmd.Wait()
	})
	listening := regexp.MustCompile(`Listening for client connections on (127\.0\.0\.1:\d+)`)
	url := ""
	lines := bufio.NewScanner(stderr)
	var log []string
	for lines.Scan() {
		log = append(log, lines.Text())
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			url = "nats://" + m[1]
		}
		if strings.Contains(lines.Text(), "Server is ready") {
			break
		}
	}
	if url == "" {
		t.Fatalf("nats-server did not start:\n%s", strings.Join(log, "\n"))
	}
	go func() { // keep draining, so the server never blocks on its log
		for lines.Scan() {
		}
	}()
	return url
}

// openAuth opens a bus with a fresh prefix, failing the test on error.
func openAuth(t *testing.T, url string, opts ...nats.Option) *nats.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := nats.New(ctx, url, append([]nats.Option{nats.WithPrefix(uniquePrefix())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// refused opens a bus that the server must refuse, and returns the error.
func refused(t *testing.T, url string, opts ...nats.Option) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := nats.New(ctx, url, opts...)
	if err == nil {
		b.Close()
		t.Fatalf("New(%s) connected; want the server to refuse it", nats.Redact(url))
	}
	if !errors.Is(err, nats.ErrCredentials) {
		t.Fatalf("New(%s): %v; want ErrCredentials", nats.Redact(url), err)
	}
	return err
}

// roundTrip publishes an invocation that a subscriber on the same bus
// completes, and waits for the completion.
func roundTrip(t *testing.T, b *nats.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan string, 1)
	if err := b.Completions(ctx, "controller0", func(_ context.Context, c *bus.Completion) { done <- c.ActivationID }); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "invoker0", func(hctx context.Context, i *bus.Invocation) {
		if err := b.Complete(hctx, &bus.Completion{ActivationID: i.ActivationID, Controller: i.Controller}); err != nil {
			t.Errorf("Complete: %v", err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "invoker0", &bus.Invocation{ActivationID: "auth1", Controller: "controller0"}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-done:
		if id != "auth1" {
			t.Fatalf("completion of %s, want auth1", id)
		}
	case <-ctx.Done():
		t.Fatal("no completion within 30s")
	}
}

// writeFile writes a credentials file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTokenAuth runs a server that requires a token: without one, or with
// a wrong one, the connection is refused with ErrCredentials and an error
// that names no secret; with the token in the URL the bus passes the
// conformance suite, and with it in a file (WithCredentialsFile) a round
// trip works.
func TestTokenAuth(t *testing.T) {
	const token = "s3cr3t-t0ken"
	url := startAuthServer(t, "token: "+token)
	hostport := strings.TrimPrefix(url, "nats://")

	err := refused(t, url)
	if msg := err.Error(); !strings.Contains(strings.ToLower(msg), "authorization violation") || !strings.Contains(msg, "credentials presented: none") || !strings.Contains(msg, "busCredentials") {
		t.Errorf("refusal without credentials: %q", msg)
	}
	err = refused(t, "nats://wrong-secret@"+hostport)
	if msg := err.Error(); strings.Contains(msg, "wrong-secret") || !strings.Contains(msg, "nats://REDACTED@"+hostport) {
		t.Errorf("refusal of a wrong token shows it, or not the redacted URL: %q", msg)
	}
	err = refused(t, url, nats.WithCredentialsFile(writeFile(t, "token", "wrong-secret\n")))
	if msg := err.Error(); strings.Contains(msg, "wrong-secret") || !strings.Contains(msg, "the token in ") {
		t.Errorf("refusal of a wrong token file: %q", msg)
	}

	withURL := "nats://" + token + "@" + hostport
	t.Run("Conformance", func(t *testing.T) {
		bustest.Run(t, func(t *testing.T) bus.Bus { return openAuth(t, withURL) }, bustest.Durable(), bustest.AtLeastOnce())
	})
	roundTrip(t, openAuth(t, url, nats.WithCredentialsFile(writeFile(t, "token", "\n  "+token+"  \n"))))
}

// TestUserPasswordAuth runs a server with a user and password: they work
// in the URL; a wrong password is refused and not shown.
func TestUserPasswordAuth(t *testing.T) {
	url := startAuthServer(t, `users: [ { user: whirl, password: "pa55-w0rd" } ]`)
	hostport := strings.TrimPrefix(url, "nats://")
	err := refused(t, "nats://whirl:not-it@"+hostport)
	if msg := err.Error(); strings.Contains(msg, "not-it") || strings.Contains(msg, "whirl:") || !strings.Contains(msg, "the user information in the URL") {
		t.Errorf("refusal of a wrong password: %q", msg)
	}
	roundTrip(t, openAuth(t, "nats://whirl:pa55-w0rd@"+hostport))
}

// TestNkeyAuth runs a server that knows one user nkey: its seed file
// connects, another seed is refused.
func TestNkeyAuth(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	url := startAuthServer(t, fmt.Sprintf("users: [ { nkey: %s } ]", pub))

	err = refused(t, url, nats.WithCredentialsFile(writeFile(t, "other.nk", string(otherSeed)+"\n")))
	if msg := err.Error(); strings.Contains(msg, string(otherSeed)) || !strings.Contains(msg, "the nkey seed in ") {
		t.Errorf("refusal of another nkey: %q", msg)
	}
	roundTrip(t, openAuth(t, url, nats.WithCredentialsFile(writeFile(t, "user.nk", string(seed)+"\n"))))
}

// TestCredentialsFileErrors: a missing or empty credentials file fails
// New before it connects.
func TestCredentialsFileErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := nats.New(ctx, "nats://127.0.0.1:1", nats.WithCredentialsFile(filepath.Join(t.TempDir(), "none"))); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := nats.New(ctx, "nats://127.0.0.1:1", nats.WithCredentialsFile(writeFile(t, "empty", "\n \n"))); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                      "nats://127.0.0.1:4222",
		"nats://tok@h:4222":                          "nats://REDACTED@h:4222",
		"nats://u:p@ss@h:4222,tls://u:p@h2:4222":     "nats://REDACTED@h:4222,tls://REDACTED@h2:4222",
		"u:p@h:4222":                                 "REDACTED@h:4222",
		"nats://h1:4222, nats://user:secret@h2:4222": "nats://h1:4222, nats://REDACTED@h2:4222",
	} {
		if got := nats.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
