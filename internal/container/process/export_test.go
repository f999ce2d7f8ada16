package process

import (
	"fmt"

	"github.com/whirlfaas/whirl/internal/container"
)

// CgroupDir returns the directory of container c's cgroup of controller
// ctl ("memory", "pids", "cpu" or "freezer"), or "" when it has none.
func CgroupDir(c container.Container, ctl string) string {
	cg := c.(*Container).cg
	if cg == nil {
		return ""
	}
	return map[string]string{ctlMemory: cg.memory, ctlPids: cg.pids, ctlCPU: cg.cpu, ctlFreezer: cg.freezer}[ctl]
}

// CgroupParent returns where f makes cgroups of controller ctl, or "".
func (f *Factory) CgroupParent(ctl string) string {
	return map[string]string{ctlMemory: f.cg.memory, ctlPids: f.cg.pids, ctlCPU: f.cg.cpu, ctlFreezer: f.cg.freezer}[ctl]
}

// CgroupV2 reports whether f uses the unified hierarchy.
func (f *Factory) CgroupV2() bool { return f.cg.v2 }

// OwnerTag returns how folders and cgroups made by process pid are tagged.
func OwnerTag(pid int) (string, error) {
	start, err := procStart(pid)
	if err != nil {
		return "", fmt.Errorf("owner tag: %w", err)
	}
	return owner{pid: pid, start: start}.String(), nil
}

// Freeze freezes container c's cgroup, directly.
func Freeze(c container.Container) error { return c.(*Container).cg.freeze() }

// Thaw thaws container c's cgroup, directly.
func Thaw(c container.Container) error { return c.(*Container).cg.thaw() }

// BusyDone marks one call in flight on c and its end, as Run does.
func BusyDone(c container.Container) error {
	cc := c.(*Container)
	err := cc.busy()
	cc.done()
	return err
}
