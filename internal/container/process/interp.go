package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// setupInterpreters finds the interpreters kinds run on (see
// runtimes.Interpreters), keeping those the sandbox's uid can reach, and
// writes the php and ruby launchers next to launcher.py.
func (f *Factory) setupInterpreters() error {
	for _, in := range runtimes.Interpreters() {
		if f.bwrap != "" && os.Getuid() == 0 && closedAncestor(in.Path) != "" {
			continue
		}
		if in.Family == runtimes.FamilyJava {
			if _, err := os.Stat(runtimes.GsonJar); err != nil {
				continue
			}
		}
		f.interps = append(f.interps, in)
	}
	for name, body := range map[string][]byte{"launcher.php": runtimes.PHPLauncher(), "launcher.rb": runtimes.RubyLauncher()} {
		if err := os.WriteFile(filepath.Join(f.launcher, name), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Interpreters returns the local interpreters this factory runs kinds on
// (python, nodejs, go, java, php and ruby ones found on the machine and
// reachable from the sandbox).
func (f *Factory) Interpreters() []runtimes.Interpreter {
	return append([]runtimes.Interpreter(nil), f.interps...)
}

// Interpreter returns the interpreter a kind runs on here: its exact
// version when the machine has it, else the nearest of its family (see
// runtimes.Pick). A kind without a version (or only a major one) of python
// and nodejs runs on the default interpreter, as before kinds were
// versioned. A kind with none answers a *runtimes.MissingError, whose
// message names what to install.
func (f *Factory) Interpreter(kind string) (runtimes.Interpreter, error) {
	family, version, _ := strings.Cut(kind, ":")
	if family == runtimes.FamilyPython {
		if f.pyErr != nil {
			return runtimes.Interpreter{}, &runtimes.MissingError{Kind: kind}
		}
		if version == "" || version == "default" || !strings.Contains(version, ".") && strings.HasPrefix(f.python.Version, version+".") {
			return runtimes.Interpreter{Family: family, Version: f.python.Version, Path: f.python.Path}, nil
		}
		if version == f.python.Version {
			return runtimes.Interpreter{Family: family, Version: f.python.Version, Path: f.python.Path}, nil
		}
	}
	in, err := runtimes.Pick(f.interps, kind)
	if err != nil {
		return in, err
	}
	if family == runtimes.FamilyGo && f.goCmd != "" {
		in.Path = f.goCmd
	}
	return in, nil
}

// substituteNote is the log line a container whose kind runs on another
// version says so with, "" when the kind runs on its own version.
func substituteNote(kind string, in runtimes.Interpreter) string {
	_, version, _ := strings.Cut(kind, ":")
	if version == "" || version == "default" || version == in.Version || !strings.Contains(version, ".") && strings.HasPrefix(in.Version, version+".") {
		return ""
	}
	return fmt.Sprintf("whirl: the kind %s runs on %s, the nearest this machine has", kind, in)
}

// launcherArgv returns the command that starts a stem cell of family on
// interpreter in: the interpreter with Whirl's launcher for python,
// nodejs, java, php and ruby; nil for go and blackbox, which start at Init.
func (f *Factory) launcherArgv(ctx context.Context, spec container.Spec, in runtimes.Interpreter) ([]string, error) {
	switch runtimes.FamilyOf(spec.Kind) {
	case runtimes.FamilyPython:
		return append(append([]string{in.Path}, runtimes.PythonFlags...), filepath.Join(f.launcher, "launcher.py")), nil
	case runtimes.FamilyNodejs:
		return []string{in.Path, filepath.Join(f.launcher, "launcher.js")}, nil
	case runtimes.FamilyPHP:
		return append(append([]string{in.Path}, runtimes.PHPFlags...), filepath.Join(f.launcher, "launcher.php")), nil
	case runtimes.FamilyRuby:
		return append(append([]string{in.Path}, runtimes.RubyFlags...), filepath.Join(f.launcher, "launcher.rb")), nil
	case runtimes.FamilyJava:
		dir, err := f.javaLauncher(ctx, in)
		if err != nil {
			return nil, err
		}
		return javaArgv(in, spec.MemoryMB, dir), nil
	}
	return nil, nil
}

// javaArgv is the JVM's command line: the serial collector (one core's
// worth of threads, a small footprint), the heap sized from the
// container's memory rather than the machine's, no perf-data file,
// java.util and java.io opened to the launcher (System.getenv's map, as
// OpenWhisk's runtime does; fd 3), the launcher and Gson on the class path.
func javaArgv(in runtimes.Interpreter, memoryMB int, dir string) []string {
	a := []string{in.Path, "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xshare:auto", "-XX:TieredStopAtLevel=1"}
	if memoryMB > 0 {
		a = append(a, "-XX:MaxRAM="+strconv.Itoa(memoryMB)+"m", "-XX:MaxRAMPercentage=60")
	}
	if v, _ := strconv.Atoi(in.Version); v >= 9 {
		a = append(a, "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED")
	}
	return append(a, "-cp", dir+":"+runtimes.GsonJar, runtimes.JavaLauncherClass)
}

// javaCompileTimeout bounds compiling the java launcher.
const javaCompileTimeout = 2 * time.Minute
