package runtimes_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/runtimes"
)

// TestOpenWhiskKinds: every kind of OpenWhisk's runtimes.json (and the
// versions manifests pin) is accepted, with its family and OpenWhisk's
// image.
func TestOpenWhiskKinds(t *testing.T) {
	m := runtimes.Default()
	for kind, image := range map[string]string{
		"nodejs:18": "openwhisk/action-nodejs-v18:nightly", "nodejs:16": "", "nodejs:22": "",
		"python:3.10": "", "python:3.12": "", "python:3.9": "",
		"go:1.20": "openwhisk/action-golang-v1.20:nightly", "go:1.17": "",
		"java:8": "openwhisk/java8action:nightly", "php:8.1": "openwhisk/action-php-v8.1:nightly", "php:7.4": "",
		"ruby:2.5": "openwhisk/action-ruby-v2.5:nightly", "dotnet:3.1": "", "dotnet:6.0": "",
		"swift:5.3": "openwhisk/action-swift-v5.3:nightly", "swift:5.4": "", "rust:1.34": "",
	} {
		k, err := m.Resolve(kind)
		if err != nil || k.Kind != kind {
			t.Errorf("Resolve(%s) = %q, %v", kind, k.Kind, err)
			continue
		}
		if image != "" && k.Image.String() != image {
			t.Errorf("%s: image %s, want %s", kind, k.Image, image)
		}
	}
	if k, _ := m.Resolve("java"); k.Kind != "java:8" || !k.RequireMain {
		t.Errorf("java resolves to %+v, want java:8 with requireMain", k)
	}
	if k, _ := m.Resolve("php"); k.Kind != "php:8.1" {
		t.Errorf("php resolves to %q, want OpenWhisk's default php:8.1", k.Kind)
	}
}

// TestTemplateReplacesListedKind: a ${PYTHON} entry takes the place of the
// listed kind of the same version and is the default; the listed default
// yields to it.
func TestTemplateReplacesListedKind(t *testing.T) {
	py, err := runtimes.FindPython()
	if err != nil {
		t.Skip("no python3")
	}
	m, err := runtimes.Parse([]byte(`{"runtimes":{"python":[
		{"kind":"python:3.10","default":true,"image":{"name":"ow310"}},
		{"kind":"python:` + py.Version + `","image":{"name":"listed"}},
		{"kind":"python:${PYTHON}","default":true,"image":{"name":"local","tag":"${PYTHON}"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := m.DefaultKind("python"); d != "python:"+py.Version {
		t.Errorf("default = %s, want python:%s", d, py.Version)
	}
	k, _ := m.Resolve("python:" + py.Version)
	if k.Image.String() != "local:"+py.Version {
		t.Errorf("image = %s, want the template's", k.Image)
	}
	if n := strings.Count(strings.Join(m.Kinds(), " "), "python:"+py.Version); n != 1 {
		t.Errorf("kinds %v list python:%s %d times", m.Kinds(), py.Version, n)
	}
	if _, err := runtimes.Parse([]byte(`{"runtimes":{"php":[{"kind":"php:8.1","default":true},{"kind":"php:8.1"}]}}`)); err == nil {
		t.Error("a kind listed twice was accepted")
	}
}

// TestPick: the exact version wins; else the nearest of the family (same
// major first, newer before older at the same distance); python never
// crosses a major version; no interpreter is a MissingError naming what
// to install.
func TestPick(t *testing.T) {
	list := []runtimes.Interpreter{
		{Family: "python", Version: "3.11", Path: "/usr/bin/python3.11"},
		{Family: "python", Version: "3.13", Path: "/usr/bin/python3.13"},
		{Family: "nodejs", Version: "20", Path: "/usr/bin/node"},
		{Family: "java", Version: "17", Path: "/jvm/17/bin/java"},
		{Family: "java", Version: "25", Path: "/jvm/25/bin/java"},
		{Family: "php", Version: "8.2", Path: "/usr/bin/php8.2"},
		{Family: "ruby", Version: "3.1", Path: "/usr/bin/ruby3.1"},
	}
	for kind, want := range map[string]string{
		"python:3.11": "3.11", "python:3.10": "3.11", "python:3.12": "3.13", "python:3.9": "3.11", "python:3": "3.13",
		"nodejs:16": "20", "nodejs:22": "20", "java:8": "17", "java:21": "25", "java:25": "25",
		"php:8.1": "8.2", "php:7.4": "8.2", "ruby:2.5": "3.1", "ruby": "3.1",
	} {
		in, err := runtimes.Pick(list, kind)
		if err != nil || in.Version != want {
			t.Errorf("Pick(%s) = %s, %v; want version %s", kind, in.Version, err, want)
		}
	}
	for kind, want := range map[string]string{
		"python:2.7": "install python3", "go:1.20": "install a Go toolchain",
		"swift:5.3": "OpenWhisk's image on Kubernetes", "rust:1.34": "no local runtime for the kind 'rust:1.34'",
	} {
		_, err := runtimes.Pick(list, kind)
		var me *runtimes.MissingError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), want) {
			t.Errorf("Pick(%s) err = %v, want a MissingError containing %q", kind, err, want)
		}
	}
}

// TestInterpretersFound: this machine's python3 is among the interpreters
// found (CI installs php-cli, ruby and a JDK as well: make deps).
func TestInterpretersFound(t *testing.T) {
	py, err := runtimes.FindPython()
	if err != nil {
		t.Skip("no python3")
	}
	found := map[string]bool{}
	for _, in := range runtimes.Interpreters() {
		found[in.Family+":"+in.Version] = true
		if in.Path == "" {
			t.Errorf("%+v has no path", in)
		}
	}
	if !found["python:"+py.Version] {
		t.Errorf("interpreters %v lack python %s", runtimes.Interpreters(), py.Version)
	}
}
