package runtimes_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/runtimes"
	"github.com/whirlfaas/whirl/whisk"
)

func TestResolveDefault(t *testing.T) {
	m := runtimes.Default()
	py := m.DefaultKind("python")
	if !strings.HasPrefix(py, "python:3.") {
		t.Fatalf("default python kind = %q", py)
	}
	cases := map[string]string{
		"python:3": py, "python:default": py, "python": py, py: py,
		"nodejs": "nodejs:20", "nodejs:default": "nodejs:20", "nodejs:20": "nodejs:20",
		"go": "go:" + runtimes.GoVersion(), "go:default": "go:" + runtimes.GoVersion(),
		"blackbox": "blackbox",
	}
	for in, want := range cases {
		k, err := m.Resolve(in)
		if err != nil || k.Kind != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", in, k.Kind, err, want)
		}
	}
	k, _ := m.Resolve("nodejs")
	if len(k.StemCells) != 1 || k.StemCells[0].MemoryMB != 256 || k.StemCells[0].Reactive == nil || k.StemCells[0].Reactive.TTL != 2*time.Minute {
		t.Errorf("nodejs stem cells = %+v", k.StemCells)
	}
}

func TestResolveUnknown(t *testing.T) {
	_, err := runtimes.Default().Resolve("cobol:85")
	var we *whisk.Error
	if !errors.As(err, &we) || we.Status != 400 || !strings.Contains(we.Message, "The specified runtime 'cobol:85' is not supported by this platform. Valid values are: ") || !strings.Contains(we.Message, "nodejs:20") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadDeprecated(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runtimes.json")
	os.WriteFile(p, []byte(`{"runtimes":{"nodejs":[
		{"kind":"nodejs:18","default":false,"image":{"name":"n18"},"deprecated":true},
		{"kind":"nodejs:22","default":true,"image":{"name":"n22"},"stemCells":[{"initialCount":2,"memory":"1 GB"}]}]}}`), 0o644)
	m, err := runtimes.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Resolve("nodejs:18"); err == nil || !strings.Contains(err.Error(), "The 'nodejs:18' runtime is no longer supported.") {
		t.Errorf("deprecated kind: err = %v", err)
	}
	k, err := m.Resolve("nodejs")
	if err != nil || k.Kind != "nodejs:22" || k.StemCells[0].MemoryMB != 1024 || k.StemCells[0].InitialCount != 2 {
		t.Errorf("Resolve(nodejs) = %+v, %v", k, err)
	}
	if _, err := m.Resolve("python:3"); err == nil {
		t.Error("python resolved in a manifest without python")
	}
}

func TestLoadRejects(t *testing.T) {
	for _, body := range []string{
		`{"runtimes":{"python":[{"kind":"python:3.9"}]}}`,
		`{"runtimes":{"python":[{"kind":"node:1","default":true}]}}`,
		`{"runtimes":{"python":[{"kind":"python:3.9","default":true,"stemCells":[{"initialCount":1,"memory":"lots"}]}]}}`,
	} {
		if _, err := runtimes.Parse([]byte(body)); err == nil {
			t.Errorf("Parse(%s) succeeded", body)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"2 minutes": 2 * time.Minute, "30 seconds": 30 * time.Second, "1 hour": time.Hour, "90s": 90 * time.Second} {
		if d, err := runtimes.ParseDuration(in); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, d, err)
		}
	}
}

func TestGoMain(t *testing.T) {
	b, err := runtimes.GoMain("hello")
	if err != nil || !strings.Contains(string(b), "return Hello(value)") {
		t.Fatalf("GoMain = %s, %v", b, err)
	}
	if _, err := runtimes.GoMain("no-pe"); err == nil {
		t.Error("GoMain accepted a bad identifier")
	}
}
