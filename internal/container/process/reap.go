package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// owner identifies the Whirl process that made a container's folder and
// cgroups, across PID reuse: its pid and its start time (clock ticks after
// boot, field 22 of /proc/<pid>/stat). Folders and cgroups are named
// "<pid>-<start>-<id>" (cgroups with a "whirl-" prefix), so that start-up
// can tell what a crashed run left from what a live Whirl on the same
// machine is using.
type owner struct {
	pid   int
	start uint64
}

func (o owner) String() string {
	return strconv.Itoa(o.pid) + "-" + strconv.FormatUint(o.start, 10)
}

// self is this process as an owner.
var self = sync.OnceValue(func() owner {
	pid := os.Getpid()
	start, _ := procStart(pid)
	return owner{pid: pid, start: start}
})

// procStart returns the start time of process pid.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis, which is field 2.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether o still runs: a process with its pid and start
// time exists. When /proc cannot tell, it answers true: only what is
// provably dead is reaped.
func (o owner) alive() bool {
	start, err := procStart(o.pid)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	return err != nil || start == o.start
}

// parseOwned reads the owner from a name "<pid>-<start>-<id>"; ok is false
// for a name of another form (made by an older Whirl, or not by Whirl).
func parseOwned(name string) (o owner, ok bool) {
	parts := strings.SplitN(name, "-", 3)
	if len(parts) != 3 || parts[2] == "" {
		return owner{}, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return owner{}, false
	}
	start, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return owner{}, false
	}
	return owner{pid: pid, start: start}, true
}

// deadOwned lists the entries of dir named prefix + "<pid>-<start>-<id>"
// whose owner is dead.
func deadOwned(dir, prefix string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		if o, ok := parseOwned(rest); ok && !o.alive() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// cgroupPrefix starts the name of every container cgroup.
const cgroupPrefix = "whirl-"

// reapLeftovers removes what crashed runs left behind: container folders
// under the work directory and container cgroups under this factory's
// parent cgroups whose owner is dead. Processes still in such cgroups
// (frozen ones included) are thawed and killed first. What a live owner
// made (another Whirl on the machine, or this process), and names without
// an owner, are left alone. It returns what it removed.
func (f *Factory) reapLeftovers() ([]string, error) {
	var dead []string
	for _, parent := range f.cg.parents() {
		dead = append(dead, deadOwned(parent, cgroupPrefix)...)
		if filepath.Base(parent) == actionsCgroupName {
			// Before whirl-actions, containers' cgroups were made beside it.
			dead = append(dead, deadOwned(filepath.Dir(parent), cgroupPrefix)...)
		}
	}
	for _, d := range dead {
		// Either file exists, by hierarchy; writing the other fails.
		_ = setFrozen(d, false, false)
		_ = setFrozen(d, true, false)
	}
	for _, d := range dead {
		killCgroup(d)
	}
	var removed []string
	var errs []error
	for _, d := range dead {
		if err := removeCgroupDir(d); err != nil {
			errs = append(errs, fmt.Errorf("remove leftover cgroup: %w", err))
			continue
		}
		removed = append(removed, d)
	}
	for _, d := range deadOwned(filepath.Join(f.opts.WorkDir, "c"), "") {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove leftover container folder: %w", err))
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

// workDirPrefix starts the name of every directory NewWorkDir makes.
const workDirPrefix = "whirl-containers-"

// NewWorkDir makes a fresh work directory for a Factory under parent
// (os.TempDir() when ""), reachable by the sandbox's uid (mode 0711) and
// named after this process. First it removes, as far as it can, the work
// directories that Whirl processes now dead left under parent — copies of
// tenants' code after a kill -9 — and keeps those of live ones. The caller
// removes the directory it gets when done.
func NewWorkDir(parent string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	for _, d := range deadOwned(parent, workDirPrefix) {
		os.RemoveAll(d)
	}
	dir, err := os.MkdirTemp(parent, workDirPrefix+self().String()+"-")
	if err != nil {
		return "", fmt.Errorf("work dir: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("work dir: %w", err)
	}
	return dir, nil
}
