package runtimes

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"
)

//go:embed launchers/launcher.py launchers/launcher.js launchers/gomain.go.tmpl
//go:embed launchers/launcher.php launchers/launcher.rb launchers/WhirlLauncher.java
var launchers embed.FS

// PythonLauncher returns launcher.py: once started it writes ReadyLine on
// fd 3, then reads the init message as its first stdin line ({"file","main","env","path","dir"}), acknowledges on fd 3,
// then runs one activation per stdin line. It exits with ExitMemory when
// Python runs out of memory.
func PythonLauncher() []byte { return mustRead("launchers/launcher.py") }

// NodeLauncher returns launcher.js, the nodejs counterpart of launcher.py;
// its init message also takes "source" (a single file that may define main
// without exporting it) and "concurrent" (result lines are prefixed by the
// activation id and a space, and no sentinel is written).
func NodeLauncher() []byte { return mustRead("launchers/launcher.js") }

// ReadyLine is the first line a launcher writes on fd 3 (without its
// newline), as soon as its interpreter has started and before it reads the
// init message: a container that wrote it is a started stem cell.
const ReadyLine = `{"ready":true}`

// PythonFlags are the interpreter flags the python launcher runs with:
// isolated (no PYTHON* variables, no user site, no script directory on the
// path), no site module at start (the launcher appends the system's package
// directories itself; .pth files are not processed), no bytecode written.
var PythonFlags = []string{"-I", "-S", "-B"}

// ExitMemory is the exit status a launcher uses when the interpreter ran out
// of memory (an address-space limit rather than a cgroup kill).
const ExitMemory = 86

// GoMain returns the source of the Go action-loop wrapper (a package main
// file) that calls the action's function named main, capitalised as
// OpenWhisk does ("main" → "Main").
func GoMain(main string) ([]byte, error) {
	fn := GoFunc(main)
	for i, r := range fn {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return nil, fmt.Errorf("main %q is not a Go identifier", main)
		}
	}
	t, err := template.New("gomain").Parse(string(mustRead("launchers/gomain.go.tmpl")))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ Main string }{fn}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// GoFunc returns the Go function an action's main names: capitalised, with
// "" meaning "Main".
func GoFunc(main string) string {
	if main == "" {
		main = "main"
	}
	return string(bytes.ToUpper([]byte(main[:1]))) + main[1:]
}

func mustRead(name string) []byte {
	b, err := launchers.ReadFile(name)
	if err != nil {
		panic("runtimes: " + err.Error())
	}
	return b
}
