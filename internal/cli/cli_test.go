package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// syncBuffer is a bytes.Buffer safe for a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// session runs CLI commands against one server with one properties file.
type session struct {
	t       *testing.T
	dir     string
	vars    map[string]string
	log     strings.Builder
	replace []string // extra old,new pairs for normalisation
}

func newSession(t *testing.T) *session {
	t.Helper()
	url, auth := startServer(t)
	dir := t.TempDir()
	props := filepath.Join(dir, "wskprops")
	if err := os.WriteFile(props, []byte("APIHOST="+url+"\nAUTH="+auth+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &session{t: t, dir: dir, vars: map[string]string{"WSK_CONFIG_FILE": props, "HOME": dir}, replace: []string{url, "http://HOST", auth, "AUTH"}}
}

// run runs one command line (args split on spaces unless passed as a
// slice) and records it in the transcript.
func (s *session) run(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(k string) string { return s.vars[k] }}
	code = run(append([]string{"whirl"}, args...), e)
	fmt.Fprintf(&s.log, "$ whirl %s\n%s", strings.Join(args, " "), out.String())
	if errb.Len() > 0 {
		fmt.Fprintf(&s.log, "[stderr]\n%s", errb.String())
	}
	fmt.Fprintf(&s.log, "[exit %d]\n\n", code)
	return out.String(), errb.String(), code
}

// file writes a file in the session directory and returns its path.
func (s *session) file(name, content string) string {
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return p
}

var normalisers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b[0-9a-f]{32}\b`), "<ID>"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+Z)?`), "<TIME>"},
	{regexp.MustCompile(`"(start|end|duration|updated|waitTime|initTime)": \d+`), `"$1": <N>`},
	{regexp.MustCompile(`(<ID>\s+\S+\s+(cold|warm)\s+)\S+(\s+)`), "${1}<DUR>${3}"},
	{regexp.MustCompile(`\(code [^)]*\)`), "(code <TID>)"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
}

// normalise hides what changes from run to run: ids, times, durations,
// transaction ids, ports, temporary paths.
func (s *session) normalise(text string) string {
	text = strings.ReplaceAll(text, s.dir, "TMP")
	for i := 0; i+1 < len(s.replace); i += 2 {
		text = strings.ReplaceAll(text, s.replace[i], s.replace[i+1])
	}
	for _, n := range normalisers {
		text = n.re.ReplaceAllString(text, n.with)
	}
	return text
}

// golden compares the session's transcript with testdata/name.golden.
func (s *session) golden(name string) {
	s.t.Helper()
	got := s.normalise(s.log.String())
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		s.t.Errorf("transcript differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func (s *session) expectCode(code, want int, what string) {
	s.t.Helper()
	if code != want {
		s.t.Errorf("%s: exit code %d, want %d\n%s", what, code, want, s.log.String())
	}
}

const pySource = "def main(args):\n    name = args.get('name', 'stranger')\n    print('hello', name)\n    return {'greeting': 'Hello ' + name}\n"

func TestTutorial(t *testing.T) {
	s := newSession(t)
	py := s.file("pyfunc.py", pySource)
	params := s.file("some.json", `{"name": "Ada", "place": "London"}`)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fw, _ := zw.Create("__main__.py")
	fw.Write([]byte(pySource))
	zw.Close()
	zipPath := s.file("app.zip", buf.String())

	_, _, code := s.run("action", "create", "pyfunc", py)
	s.expectCode(code, 0, "create")
	out, _, code := s.run("-i", "action", "invoke", "pyfunc", "-p", "name", "Grace")
	s.expectCode(code, 0, "invoke")
	if !strings.HasPrefix(out, "ok: invoked /_/pyfunc with id ") {
		t.Errorf("non-blocking invoke printed %q", out)
	}
	id := strings.TrimSpace(strings.TrimPrefix(out, "ok: invoked /_/pyfunc with id "))
	out, _, code = s.run("action", "invoke", "pyfunc", "--result", "-P", params)
	s.expectCode(code, 0, "invoke --result")
	if !strings.Contains(out, `"name": "Ada"`) {
		t.Errorf("invoke --result printed %q", out)
	}
	s.run("action", "invoke", "pyfunc", "--blocking", "-p", "name", "Alan")
	out, _, _ = s.run("activation", "list")
	if !strings.Contains(out, "python:default cold") || !strings.Contains(out, "warm") {
		t.Errorf("activation list lacks kind or cold/warm:\n%s", out)
	}
	s.run("activation", "result", id)
	s.run("activation", "logs", id)
	s.run("activation", "logs", "--last", "--strip")
	s.run("activation", "get", "--last", "response")
	s.run("action", "update", "pyfunc", "--web", "true")
	out, _, _ = s.run("action", "get", "pyfunc", "annotations")
	if !strings.Contains(out, `"key": "web-export",`+"\n"+`        "value": true`) {
		t.Errorf("web-export not set:\n%s", out)
	}
	s.run("action", "update", "pyfunc", "--web", "raw")
	s.run("action", "get", "pyfunc", "--url")
	_, _, code = s.run("action", "create", "pyzip", zipPath, "--kind", "python:3")
	s.expectCode(code, 0, "create zip")
	s.run("action", "list")
	s.run("action", "delete", "pyzip")
	s.golden("tutorial")
}

func TestPoll(t *testing.T) {
	old := pollInterval
	pollInterval = 10 * time.Millisecond
	t.Cleanup(func() { pollInterval = old })
	s := newSession(t)
	s.run("action", "create", "hello", s.file("hello.py", pySource))
	s.run("action", "invoke", "hello")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan int)
	go func() {
		e := &env{stdout: out, stderr: out, stdin: strings.NewReader(""), getenv: func(k string) string { return s.vars[k] }, ctx: ctx}
		done <- run([]string{"whirl", "activation", "poll"}, e)
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "Polling for activation logs") })
	invoked, _, _ := s.run("action", "invoke", "hello")
	id := strings.TrimSpace(invoked[strings.LastIndex(invoked, " ")+1:])
	waitFor(t, func() bool { return strings.Contains(out.String(), "Activation: 'hello' ("+id+")") })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("poll exit code %d", code)
	}
	if strings.Count(out.String(), "Activation: ") != 1 {
		t.Errorf("poll reported old activations:\n%s", out.String())
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBadInput(t *testing.T) {
	s := newSession(t)
	py := s.file("hello.py", pySource)
	s.file("bad.zip", "this is not a zip")
	s.file("bad.json", "{not json")
	s.run("action", "create", "hello", py)
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"action", "create", "x"}, 1},
		{[]string{"action", "invoke"}, 1},
		{[]string{"action", "create", "x", filepath.Join(s.dir, "missing.py")}, 1},
		{[]string{"action", "create", "x", filepath.Join(s.dir, "bad.zip"), "--kind", "python:3"}, 1},
		{[]string{"action", "create", "x", filepath.Join(s.dir, "bad.zip")}, 1},
		{[]string{"action", "invoke", "hello", "-P", filepath.Join(s.dir, "bad.json")}, 1},
		{[]string{"action", "create", "hello", py}, 153},
		{[]string{"action", "get", "nope"}, 148},
		{[]string{"action", "invoke", "hello", "-r", "-p", "fail", "1"}, 246},
		{[]string{"--auth", "nobody:wrong", "action", "list"}, 145},
		{[]string{"--apihost", "http://127.0.0.1:1", "action", "list"}, 3},
		{[]string{"action", "update", "hello", "--web", "maybe"}, 1},
	}
	for _, c := range cases {
		_, stderr, code := s.run(c.args...)
		s.expectCode(code, c.code, strings.Join(c.args, " "))
		if c.code != 246 && (!strings.HasPrefix(stderr, "error: ") || strings.Count(stderr, "\n") != 1) {
			t.Errorf("%v: stderr %q is not one error line", c.args, stderr)
		}
	}
	// Nothing half-created.
	out, _, _ := s.run("action", "list")
	if strings.Contains(out, "/x ") {
		t.Errorf("a failed create left an action behind:\n%s", out)
	}
	s.golden("bad_input")
}

func TestProperties(t *testing.T) {
	s := newSession(t)
	s.vars["WSK_CONFIG_FILE"] = filepath.Join(s.dir, "props2")
	s.run("property", "set", "--apihost", "127.0.0.1:1", "--auth", "a:b", "--namespace", "guest")
	s.run("property", "get", "--apihost", "-o", "raw")
	s.run("property", "get", "--auth")
	b, err := os.ReadFile(s.vars["WSK_CONFIG_FILE"])
	if err != nil || string(b) != "AUTH=a:b\nAPIHOST=127.0.0.1:1\nNAMESPACE=guest\n" {
		t.Errorf("wskprops = %q, %v", b, err)
	}
	s.vars["__OW_APIHOST"] = "http://example.test"
	s.run("property", "get", "--apihost")
	s.run("property", "unset", "--namespace")
	s.run("property", "get", "--namespace")
	s.golden("properties")
}

func TestTriggerFeedFailureRemovesTrigger(t *testing.T) {
	s := newSession(t)
	_, stderr, code := s.run("trigger", "create", "ticks", "--feed", "/whisk.system/alarms/alarm", "-p", "cron", "* * * * *")
	if code == 0 || !strings.HasPrefix(stderr, "error: Unable to create trigger 'ticks'") {
		t.Errorf("feed create: code %d, stderr %q", code, stderr)
	}
	out, _, _ := s.run("trigger", "list")
	if strings.Contains(out, "ticks") {
		t.Errorf("trigger left behind after a failed feed:\n%s", out)
	}
	s.run("trigger", "create", "events", "-p", "user", "alice")
	s.run("trigger", "get", "events", "parameters")
	s.golden("trigger")
}

func TestWskName(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"/usr/local/bin/wsk", "--help"}, &env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	if code != 0 || !strings.Contains(out.String(), "wsk [command]") || !strings.Contains(out.String(), "action") {
		t.Errorf("wsk --help (%d):\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"whirl", "completion", "bash"}, &env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}); code != 0 || !strings.Contains(out.String(), "bash completion") {
		t.Errorf("completion bash (%d): %.200s", code, out.String())
	}
}

func TestSplitPairArgs(t *testing.T) {
	got := preprocessArgs([]string{"-i", "action", "invoke", "a", "-p", "k", "v w", "-r"})
	want := []string{"-i", "action", "invoke", "a", "-p", "k\x1fv w", "-r"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	if got := preprocessArgs([]string{"up", "-p", "3233", "x"}); strings.Join(got, "|") != "up|-p|3233|x" {
		t.Errorf("server command args changed: %q", got)
	}
}
