package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
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
	t         *testing.T
	url, auth string
	dir       string
	vars      map[string]string
	log       strings.Builder
	replace   []string // extra old,new pairs for normalisation
}

func newSession(t *testing.T) *session {
	t.Helper()
	return newSessionOn(t, startServer)
}

// newSessionOn is newSession on the server that start starts.
func newSessionOn(t *testing.T, start func(testing.TB) (url, auth string)) *session {
	t.Helper()
	url, auth := start(t)
	dir := t.TempDir()
	props := filepath.Join(dir, "wskprops")
	if err := os.WriteFile(props, []byte("APIHOST="+url+"\nAUTH="+auth+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &session{t: t, url: url, auth: auth, dir: dir, vars: map[string]string{"WSK_CONFIG_FILE": props, "HOME": dir}, replace: []string{url, "http://HOST", auth, "AUTH"}}
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
	{regexp.MustCompile(`<TIME> +(stdout|stderr):`), "<TIME> $1:"},
	{regexp.MustCompile(`<TIME> [+-]\d{4} [A-Za-z0-9+-]+`), "<TIME> <ZONE>"},
	{regexp.MustCompile(`(<ID> +\S+ +(cold|warm) +)\S+ +`), "${1}<DUR>      "},
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

// pySource greets; with a "fail" parameter it returns an application
// error.
const pySource = `def main(args):
    name = args.get('name', 'stranger')
    print('hello', name)
    if 'fail' in args:
        return {'error': 'it failed'}
    return {'greeting': 'Hello ' + name, 'place': args.get('place', 'nowhere')}
`

// client returns an API client for the session's server, for checks the
// transcript does not show.
func (s *session) client() *client.Client {
	s.t.Helper()
	c, err := client.New(client.Config{APIHost: s.url, Auth: s.auth})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// waitActivation waits until activation id has its record (a non-blocking
// invoke returns before the action has run) and returns it.
func (s *session) waitActivation(id string) *client.Activation {
	s.t.Helper()
	c := s.client()
	var a *client.Activation
	waitFor(s.t, func() bool {
		var err error
		a, err = c.Activations.Get(context.Background(), id)
		return err == nil
	})
	return a
}

// invokedID returns the id in "ok: invoked /_/NAME with id ID".
func invokedID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ok: invoked /\S+ with id ([0-9a-f]{32})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no activation id in %q", out)
	}
	return m[1]
}

// zipOf returns a zip archive holding files (name → content).
func zipOf(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		fw, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestTutorial runs the tutorial the project started from against a real
// server, with whirl in place of wsk.
func TestTutorial(t *testing.T) {
	s := newSession(t)
	ctx := context.Background()
	py := s.file("pyfunc.py", pySource)
	params := s.file("some.json", `{"name": "Ada", "place": "London"}`)
	zipPath := s.file("app.zip", zipOf(t, map[string]string{"__main__.py": pySource}))

	_, _, code := s.run("action", "create", "pyfunc", py)
	s.expectCode(code, 0, "create")
	out, _, code := s.run("-i", "action", "invoke", "pyfunc", "-p", "name", "Grace")
	s.expectCode(code, 0, "invoke")
	if !strings.HasPrefix(out, "ok: invoked /_/pyfunc with id ") {
		t.Errorf("non-blocking invoke printed %q", out)
	}
	id := invokedID(t, out)
	// A user reads the id before the next command; by then the action has
	// run. The test waits for the record so that the transcript is stable.
	if a := s.waitActivation(id); !a.Response.Success() {
		t.Errorf("non-blocking invoke: %+v", a)
	}

	nextMilli(t)
	out, _, code = s.run("action", "invoke", "pyfunc", "--result", "-P", params)
	s.expectCode(code, 0, "invoke --result")
	if !strings.Contains(out, `"greeting": "Hello Ada"`) || !strings.Contains(out, `"place": "London"`) {
		t.Errorf("invoke --result -P printed %q", out)
	}
	nextMilli(t)
	out, _, code = s.run("action", "invoke", "pyfunc", "--blocking", "-p", "name", "Alan")
	s.expectCode(code, 0, "invoke --blocking")
	lastID := invokedID(t, out)
	if !strings.Contains(out, `"greeting": "Hello Alan"`) || !strings.Contains(out, `"activationId": "`+lastID+`"`) {
		t.Errorf("blocking invoke printed %q", out)
	}

	out, _, _ = s.run("activation", "list")
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 4 || !strings.HasPrefix(rows[0], "Datetime ") {
		t.Fatalf("activation list: want a header and 3 rows:\n%s", out)
	}
	if !regexp.MustCompile(lastID + ` python:3\.11 +warm +\S+ +success +guest/pyfunc:0\.0\.1$`).MatchString(rows[1]) {
		t.Errorf("newest row %q: want the blocking invoke, python:3.11, warm", rows[1])
	}
	if !regexp.MustCompile(id + ` python:3\.11 +cold +\S+ +success +guest/pyfunc:0\.0\.1$`).MatchString(rows[3]) {
		t.Errorf("oldest row %q: want the first invoke, python:3.11, cold", rows[3])
	}

	out, _, code = s.run("activation", "result", id)
	s.expectCode(code, 0, "activation result")
	if !strings.Contains(out, `"greeting": "Hello Grace"`) {
		t.Errorf("activation result printed %q", out)
	}
	out, _, code = s.run("activation", "logs", id)
	s.expectCode(code, 0, "activation logs")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+Z\s+stdout: hello Grace\n$`).MatchString(out) {
		t.Errorf("activation logs printed %q", out)
	}
	out, _, _ = s.run("activation", "logs", "--last", "--strip")
	if out != "hello Alan\n" {
		t.Errorf("activation logs --last --strip printed %q", out)
	}
	s.run("activation", "get", "--last", "response")

	_, _, code = s.run("action", "update", "pyfunc", "--web", "true")
	s.expectCode(code, 0, "update --web true")
	s.run("action", "get", "pyfunc", "annotations")
	checkAnnotations(t, s.client(), "pyfunc", map[string]any{"web-export": true, "raw-http": false, "final": true})
	if got := webGet(t, s.url+"/api/v1/web/guest/default/pyfunc.json?name=Web"); !strings.Contains(got, `"greeting":"Hello Web"`) {
		t.Errorf("web action answered %q", got)
	}
	_, _, code = s.run("action", "update", "pyfunc", "--web", "raw")
	s.expectCode(code, 0, "update --web raw")
	checkAnnotations(t, s.client(), "pyfunc", map[string]any{"web-export": true, "raw-http": true, "final": true})
	// A raw web action gets the query string unparsed, in __ow_query.
	if got := webGet(t, s.url+"/api/v1/web/guest/default/pyfunc.json?name=Web"); !strings.Contains(got, `"greeting":"Hello stranger"`) {
		t.Errorf("raw web action answered %q", got)
	}
	out, _, _ = s.run("action", "get", "pyfunc", "--url")
	if !strings.HasSuffix(out, "/api/v1/web/guest/default/pyfunc\n") {
		t.Errorf("action get --url printed %q", out)
	}

	_, _, code = s.run("action", "create", "pyzip", zipPath, "--kind", "python:3")
	s.expectCode(code, 0, "create zip")
	out, _, code = s.run("action", "invoke", "pyzip", "--result", "-p", "name", "Zip")
	s.expectCode(code, 0, "invoke zip")
	if !strings.Contains(out, `"greeting": "Hello Zip"`) {
		t.Errorf("zip action printed %q", out)
	}
	if a, err := s.client().Actions.Get(ctx, "pyzip", false); err != nil || !a.Exec.Binary {
		t.Errorf("zip action is not binary: %+v, %v", a, err)
	}
	s.run("action", "list")
	s.run("action", "delete", "pyzip")
	s.golden("tutorial")
}

// webGet returns the body of a 200 answer to GET url.
func webGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d %s %v", url, resp.StatusCode, b, err)
	}
	return string(b)
}

// checkAnnotations fails t unless action name has the annotations want.
func checkAnnotations(t *testing.T, c *client.Client, name string, want map[string]any) {
	t.Helper()
	a, err := c.Actions.Get(context.Background(), name, false)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		got, _ := a.Annotations.Get(k)
		if string(got) != fmt.Sprint(v) {
			t.Errorf("%s: annotation %s = %v, want %v", name, k, got, v)
		}
	}
}

// TestPoll checks that activation poll reports an activation that starts
// after it, within its (shortened) polling interval, and not older ones.
func TestPoll(t *testing.T) {
	s := newSession(t)
	s.run("action", "create", "hello", s.file("hello.py", pySource))
	s.run("action", "create", "slow", s.file("slow.py", "import time\ndef main(args):\n    time.sleep(1)\n    print('slept')\n    return {}\n"))
	out, _, _ := s.run("action", "invoke", "hello")
	s.waitActivation(invokedID(t, out))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polled := &syncBuffer{}
	done := make(chan int)
	go func() {
		e := &env{stdout: polled, stderr: polled, stdin: strings.NewReader(""), getenv: func(k string) string { return s.vars[k] },
			ctx: ctx, pollInterval: 20 * time.Millisecond}
		done <- run([]string{"whirl", "activation", "poll"}, e)
	}()
	waitFor(t, func() bool { return strings.Contains(polled.String(), "Polling for activation logs") })
	invoked, _, _ := s.run("action", "invoke", "hello", "-p", "name", "Poll")
	id := invokedID(t, invoked)
	waitFor(t, func() bool { return strings.Contains(polled.String(), "Activation: 'hello' ("+id+")") })

	// A slow activation that starts before a quick one and ends after it
	// is reported too, though its record appears after the quick one's.
	invoked, _, _ = s.run("action", "invoke", "slow")
	slowID := invokedID(t, invoked)
	nextMilli(t)
	invoked, _, _ = s.run("action", "invoke", "hello", "--blocking", "-p", "name", "Quick")
	quickID := invokedID(t, invoked)
	waitFor(t, func() bool { return strings.Contains(polled.String(), "Activation: 'hello' ("+quickID+")") })
	if strings.Contains(polled.String(), slowID) {
		t.Fatal("the slow activation ended before the quick one; the test proves nothing")
	}
	waitFor(t, func() bool { return strings.Contains(polled.String(), "Activation: 'slow' ("+slowID+")") })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("poll exit code %d", code)
	}
	got := polled.String()
	if strings.Count(got, "Activation: ") != 3 || !strings.Contains(got, "stdout: hello Poll") || !strings.Contains(got, "stdout: slept") {
		t.Errorf("poll should report each new activation once, with its logs:\n%s", got)
	}
}

// nextMilli waits until the clock has moved to a later millisecond.
// Activations are ordered by their start in milliseconds and warm runs take
// less than one, so a test that reads "the newest" (--last, the first row)
// starts the next invoke in a later millisecond.
func nextMilli(t *testing.T) {
	t.Helper()
	now := time.Now().UnixMilli()
	waitFor(t, func() bool { return time.Now().UnixMilli() > now })
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

// feedSource is a feed action: it logs each lifecycle event and fails when
// asked to.
const feedSource = `def main(args):
    print(args['lifecycleEvent'], args['triggerName'], args.get('cron', ''))
    if 'fail' in args:
        return {'error': 'the feed refused'}
    return {}
`

// TestTriggers runs the trigger and rule commands against a real server: a
// feed's lifecycle (CREATE, READ, DELETE, and a failed CREATE that leaves
// no trigger behind), parameters, a rule and a fire.
func TestTriggers(t *testing.T) {
	s := newSession(t)
	c := s.client()
	ctx := context.Background()
	s.run("action", "create", "feed", s.file("feed.py", feedSource))
	s.run("action", "create", "hello", s.file("hello.py", pySource))

	_, stderr, code := s.run("trigger", "create", "ticks", "--feed", "feed", "-p", "fail", "1")
	if code == 0 || !strings.HasPrefix(stderr, "error: Unable to create trigger 'ticks'") {
		t.Errorf("failed feed create: code %d, stderr %q", code, stderr)
	}
	out, _, _ := s.run("trigger", "list")
	if strings.Contains(out, "ticks") {
		t.Errorf("trigger left behind after a failed feed:\n%s", out)
	}
	_, _, code = s.run("trigger", "create", "ticks", "--feed", "feed", "-p", "cron", "*/5 * * * *")
	s.expectCode(code, 0, "feed create")
	s.run("trigger", "get", "ticks", "annotations")
	_, _, code = s.run("trigger", "delete", "ticks")
	s.expectCode(code, 0, "feed delete")
	var events []string
	acts, err := c.Activations.ListFull(ctx, client.ActivationListOptions{Name: "feed"})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(acts) - 1; i >= 0; i-- {
		for _, l := range acts[i].Logs {
			events = append(events, stripLog(l))
		}
	}
	want := []string{"CREATE /_/ticks ", "CREATE /_/ticks */5 * * * *", "READ /_/ticks ", "DELETE /_/ticks "}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Errorf("feed lifecycle events %q, want %q", events, want)
	}

	s.run("trigger", "create", "events", "-p", "user", "alice")
	s.run("trigger", "get", "events", "parameters")
	s.run("trigger", "fire", "events")
	_, _, code = s.run("rule", "create", "greet", "events", "hello")
	s.expectCode(code, 0, "rule create")
	s.run("rule", "get", "greet", "status")
	out, _, code = s.run("trigger", "fire", "events", "-p", "name", "Fired")
	s.expectCode(code, 0, "trigger fire")
	fired := invokedFire(t, out)
	var hello []client.Activation
	waitFor(t, func() bool {
		hello, err = c.Activations.ListFull(ctx, client.ActivationListOptions{Name: "hello"})
		return err == nil && len(hello) == 1
	})
	if hello[0].Cause != fired || !strings.Contains(string(hello[0].Response.Result), "Hello Fired") {
		t.Errorf("rule's activation: cause %q (fire %s), result %s", hello[0].Cause, fired, hello[0].Response.Result)
	}
	s.run("rule", "disable", "greet")
	s.run("rule", "list")
	s.run("trigger", "list")
	s.run("rule", "delete", "greet")
	s.run("trigger", "delete", "events")
	s.golden("trigger")
}

// invokedFire returns the id in "ok: triggered /_/NAME with id ID".
func invokedFire(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ok: triggered /\S+ with id ([0-9a-f]{32})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no activation id in %q", out)
	}
	return m[1]
}

// runAs runs one command line under program name prog (args[0]) in the
// session's environment and returns stdout, stderr and the exit code.
func (s *session) runAs(prog string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(k string) string { return s.vars[k] }}
	code = run(append([]string{prog}, args...), e)
	return out.String(), errb.String(), code
}

// TestWskName checks that under the name wsk the binary is wsk: its help,
// examples and hints say wsk, Whirl's own commands are not offered, and
// the tutorial's commands work against a real server.
func TestWskName(t *testing.T) {
	s := newSession(t)
	out, _, code := s.runAs("/usr/local/bin/wsk", "--help")
	if code != 0 || !strings.Contains(out, "wsk [command]") || !strings.Contains(out, "  action ") || strings.Contains(out, "whirl") {
		t.Errorf("wsk --help (%d):\n%s", code, out)
	}
	for _, server := range []string{"  up ", "  admin ", "  bench "} {
		if strings.Contains(out, server) {
			t.Errorf("wsk --help offers the server command %q:\n%s", server, out)
		}
	}
	out, _, _ = s.runAs("wsk", "action", "invoke", "--help")
	if !strings.Contains(out, "wsk action invoke hello --result") || strings.Contains(out, "whirl") {
		t.Errorf("wsk action invoke --help:\n%s", out)
	}
	out, _, _ = s.runAs("wsk", "activation", "--help")
	if strings.Contains(out, "stats") {
		t.Errorf("wsk offers whirl's activation stats:\n%s", out)
	}

	py := s.file("hello.py", pySource)
	if out, _, code = s.runAs("wsk", "-i", "action", "create", "hello", py); code != 0 || out != "ok: created action hello\n" {
		t.Errorf("wsk action create (%d): %q", code, out)
	}
	if out, _, code = s.runAs("wsk", "-i", "action", "invoke", "hello", "--result", "-p", "name", "wsk"); code != 0 || !strings.Contains(out, `"greeting": "Hello wsk"`) {
		t.Errorf("wsk action invoke --result (%d): %q", code, out)
	}
	out, _, _ = s.runAs("wsk", "-i", "activation", "list")
	if !regexp.MustCompile(`(?m)^\S+ \S+ [0-9a-f]{32} python:3\.11 cold .* success guest/hello:0\.0\.1$`).MatchString(out) {
		t.Errorf("wsk activation list:\n%s", out)
	}
	_, stderr, code := s.runAs("wsk", "--auth", "nobody:wrong", "action", "list")
	if code != 145 || !strings.Contains(stderr, "Check the key with 'wsk property get --auth'.") {
		t.Errorf("wsk with a wrong key (%d): %q", code, stderr)
	}
	_, stderr, code = s.runAs("wsk", "action", "invoke")
	if code != 1 || !strings.Contains(stderr, "Run 'wsk action invoke --help' for usage.") {
		t.Errorf("wsk action invoke without a name (%d): %q", code, stderr)
	}
	out, _, code = s.runAs("wsk", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") || !strings.Contains(out, "__start_wsk") {
		t.Errorf("wsk completion bash (%d): %.200s", code, out)
	}
	out, _, code = s.runAs("whirl", "activation", "--help")
	if code != 0 || !strings.Contains(out, "stats") {
		t.Errorf("whirl activation --help lacks stats (%d):\n%s", code, out)
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

// startServer starts a real standalone Whirl for the CLI tests and returns
// its URL and the guest key.
func startServer(t testing.TB) (url, auth string) {
	s := apptest.Start(t)
	return s.URL, s.GuestAuth
}

// TestStats checks whirl activation stats after non-blocking invokes: the
// window's async completions appear (once their second has ended) in the
// JSON and in the table.
func TestStats(t *testing.T) {
	s := newSession(t)
	s.run("action", "create", "hello", s.file("hello.py", pySource))
	const n = 3
	for range n {
		if _, _, code := s.run("action", "invoke", "hello"); code != 0 {
			t.Fatalf("invoke: exit %d", code)
		}
	}
	var st client.Stats
	waitFor(t, func() bool {
		out, _, code := s.run("activation", "stats", "--json")
		if code != 0 {
			t.Fatalf("stats --json: exit %d\n%s", code, s.log.String())
		}
		st = client.Stats{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("stats --json printed %q: %v", out, err)
		}
		return st.AsyncCompleted >= n
	})
	if st.AsyncCompleted != n || st.Completed != n || st.TotalAsyncCompleted != n || st.Window < 1 ||
		st.AsyncPerSecond != float64(n)/st.Window || st.Namespaces["guest"].AsyncCompleted != n {
		t.Errorf("stats after %d async invokes: %+v", n, st)
	}
	out, _, code := s.run("activation", "stats")
	s.expectCode(code, 0, "stats")
	for _, re := range []string{
		`(?m)^Last \d+s +Completed +Per second +Since start$`,
		`(?m)^all +3 +\d+\.\d\d +3$`,
		`(?m)^async +3 +\d+\.\d\d +3$`,
		`(?m)^In flight: \d+, queued: \d+$`,
		`(?m)^guest +3 +\d+\.\d\d +3 +\d+\.\d\d +3 +3$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stats table lacks %s:\n%s", re, out)
		}
	}
}

// TestEntities runs the action, sequence, package and namespace commands
// beyond the tutorial against a real server.
func TestEntities(t *testing.T) {
	s := newSession(t)
	py := s.file("hello.py", pySource)
	s.run("namespace", "list")
	_, _, code := s.run("action", "create", "hello", py, "-t", "3000", "-m", "128", "-a", "description", "greets", "-p", "name", "Default")
	s.expectCode(code, 0, "create with limits")
	s.run("action", "get", "hello")
	a, err := s.client().Actions.Get(context.Background(), "hello", false)
	if err != nil || a.Limits.Timeout != 3000 || a.Limits.Memory != 128 {
		t.Errorf("limits not applied: %+v, %v", a, err)
	}
	_, _, code = s.run("action", "create", "seq", "--sequence", "hello,hello")
	s.expectCode(code, 0, "create --sequence")
	out, _, _ := s.run("action", "invoke", "seq", "-r")
	if !strings.Contains(out, `"greeting": "Hello Default"`) {
		t.Errorf("sequence printed %q", out)
	}
	s.run("package", "create", "utils", "-p", "place", "Paris")
	s.run("package", "bind", "utils", "mine", "-p", "name", "Bound")
	_, _, code = s.run("action", "create", "utils/hi", py)
	s.expectCode(code, 0, "create in package")
	s.run("action", "list", "utils")
	out, _, _ = s.run("action", "invoke", "mine/hi", "-r")
	if !strings.Contains(out, `"greeting": "Hello Bound"`) || !strings.Contains(out, `"place": "Paris"`) {
		t.Errorf("invoke through a binding printed %q", out)
	}
	s.run("package", "get", "utils")
	s.run("package", "list")
	saved := filepath.Join(s.dir, "saved.py")
	_, _, code = s.run("action", "get", "hello", "--save-as", saved)
	s.expectCode(code, 0, "get --save-as")
	if b, err := os.ReadFile(saved); err != nil || string(b) != pySource {
		t.Errorf("saved code %q, %v", b, err)
	}
	_, _, code = s.run("package", "delete", "mine")
	s.expectCode(code, 0, "delete binding")
	s.run("action", "delete", "seq")
	s.run("activation", "get", "--last", "--summary")
	s.run("trigger", "create", "events")
	s.run("rule", "create", "greet", "events", "hello")
	out, _, code = s.run("list")
	s.expectCode(code, 0, "list")
	for _, want := range []string{"Entities in namespace: guest", "/guest/utils ", "/guest/hello ", "/guest/utils/hi ", "/guest/events", "/guest/greet "} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	_, _, code = s.run("namespace", "get")
	s.expectCode(code, 0, "namespace get")
	s.golden("entities")
}
