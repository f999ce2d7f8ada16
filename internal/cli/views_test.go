package cli

import (
	"regexp"
	"testing"
)

// TestJSONViews pins the JSON every get, list --json and blocking invoke
// prints, beyond the tutorial: entities with and without parameters, a
// sequence, a zip, an empty package and a binding, a trigger, a rule, a
// failed activation and its fields. The client decodes the server's
// answers into the whisk types; this transcript shows that what wsk users
// see did not change with them.
func TestJSONViews(t *testing.T) {
	s := newSession(t)
	py := s.file("hello.py", pySource)
	zipped := s.file("app.zip", zipOf(t, map[string]string{"__main__.py": pySource}))
	s.run("action", "create", "hello", py, "-p", "name", "Default")
	s.run("action", "create", "bare", py)
	s.run("action", "create", "seq", "--sequence", "hello,bare")
	s.run("action", "create", "pyzip", zipped, "--kind", "python:3")
	s.run("action", "get", "bare")
	s.run("action", "get", "seq")
	s.run("action", "get", "pyzip", "exec", "--url")
	s.run("action", "get", "bare", "parameters")
	s.run("action", "get", "seq", "limits")
	s.run("action", "list", "--json")

	s.run("package", "create", "empty")
	s.run("package", "create", "utils", "-p", "place", "Paris", "-a", "description", "tools")
	s.run("action", "create", "utils/hi", py)
	s.run("package", "bind", "utils", "mine", "-p", "name", "Bound")
	s.run("package", "get", "empty")
	s.run("package", "get", "mine")
	s.run("package", "list", "--json")

	s.run("trigger", "create", "events", "-p", "user", "alice")
	s.run("trigger", "create", "quiet")
	s.run("rule", "create", "greet", "events", "hello")
	s.run("trigger", "get", "events")
	s.run("trigger", "get", "quiet")
	s.run("trigger", "list", "--json")
	s.run("rule", "get", "greet")
	s.run("rule", "list", "--json")

	_, errOut, _ := s.run("action", "invoke", "bare", "--blocking", "-p", "fail", "1")
	id := invokedID(t, errOut)
	s.run("activation", "get", id)
	s.run("activation", "get", id, "response")
	s.run("activation", "get", id, "nothing")
	s.run("activation", "result", id)
	s.run("activation", "get", id, "--summary")
	s.run("activation", "list", "bare", "--json")
	s.run("activation", "list", "bare", "--full")
	// Annotation values that vary from run to run.
	times := regexp.MustCompile(`("key": "(waitTime|initTime)",\n\s+"value": )\d+`)
	text := times.ReplaceAllString(s.log.String(), "${1}<N>")
	s.log.Reset()
	s.log.WriteString(text)
	s.golden("views")
}
