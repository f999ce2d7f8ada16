package process

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/whirlfaas/whirl/internal/runtimes"
)

// Runtime libraries (runtimes.Bundle): what OpenWhisk's images bundle,
// importable by every action of the family after its own code.
//
// Python actions run on Debian's interpreter (runtimes.FindPython), whose
// dist-packages the sandbox sees through its read-only view of the
// system; the launcher appends them to sys.path at start, after which the
// action's code and virtualenv/ are put first at init.
//
// Node.js resolves a bare require() through the node_modules directories
// from the requiring file up to /, then NODE_PATH. The sandbox's
// environment is Whirl's own (baseEnv: no NODE_PATH) and its view of
// Whirl's folders is the container's code and the launchers, so a module
// outside the action's code was never found. The Node.js bundle's
// node_modules (in runtimes.LibDir, possibly under a home directory the
// sandbox's uid cannot traverse) is therefore bound read-only at
// <launchers>/node_modules and named by NODE_PATH: it comes after every
// node_modules of the action's own.

// nodeLibMount is the mount point of the Node.js bundle in the launchers'
// directory.
const nodeLibMount = "node_modules"

// setupLibs records where the runtime libraries are and makes the Node.js
// bundle's mount point.
func (f *Factory) setupLibs() error {
	libDir := f.opts.RuntimeLibDir
	if libDir == "" {
		libDir = runtimes.LibDir()
	}
	abs, err := filepath.Abs(libDir)
	if err != nil {
		return err
	}
	f.libDir, f.nodeLib = abs, runtimes.NodeModules(abs)
	if f.bwrap != "" && os.Getuid() == 0 {
		// bubblewrap opens a bind's source as the sandbox's uid.
		if d := closedAncestor(f.nodeLib); d != "" {
			f.nodeLibErr = fmt.Errorf("the runtime library directory %s is not reachable by the sandbox's uid %d: %s is not searchable by others (chmod o+x, or set %s)", abs, nobody, d, runtimes.EnvLibDir)
		}
	}
	return os.MkdirAll(filepath.Join(f.launcher, nodeLibMount), 0o755)
}

// nodeLibPresent reports whether the Node.js bundle is installed. It is
// checked at each start, so that one installed while Whirl runs is used
// by the next container.
func (f *Factory) nodeLibPresent() bool {
	if f.nodeLibErr != nil {
		return false
	}
	st, err := os.Stat(f.nodeLib)
	return err == nil && st.IsDir()
}

// nodePath returns NODE_PATH for a nodejs process: the bundle as the
// process sees it, or "" when it is not installed.
func (f *Factory) nodePath() string {
	if !f.nodeLibPresent() {
		return ""
	}
	if f.bwrap != "" {
		return filepath.Join(f.launcher, nodeLibMount)
	}
	return f.nodeLib
}

// libBinds returns the bubblewrap arguments that show the runtime
// libraries to a sandboxed process.
func (f *Factory) libBinds() []string {
	if !f.nodeLibPresent() {
		return nil
	}
	return []string{"--ro-bind", f.nodeLib, filepath.Join(f.launcher, nodeLibMount)}
}

// Bundles returns the status of the runtime libraries of every family this
// factory runs that has a bundle.
func (f *Factory) Bundles() []runtimes.Status {
	var st []runtimes.Status
	if f.pyErr == nil {
		st = append(st, runtimes.CheckPython(f.python))
	}
	if f.node != "" {
		s := runtimes.CheckNode(f.node, f.libDir)
		if f.nodeLibErr != nil {
			s.Present, s.Missing = nil, runtimes.Bundle(runtimes.FamilyNodejs)
			s.Problem = f.nodeLibErr.Error()
		}
		st = append(st, s)
	}
	return st
}
