package controller

import (
	"net/http"

	"github.com/whirlfaas/whirl/whisk"
)

// Built-in packages (Config.BuiltinPackages: the alarms feeds and the
// catalog's utils and samples) are part of the binary: app installs them
// at every start. Only their namespace's owner (whisk.system) could write
// them at all, as every write is authed; even that key may not change,
// replace or delete them or their actions, nor add actions to them: the
// change would be silently undone at the next start, and tenants rely on
// what they run being Whirl's own code. Bindings to them, sequences and
// rules over their actions are the way to adapt them.

// builtinPackage reports whether ns/pkg is a built-in package.
func (c *Controller) builtinPackage(ns, pkg string) bool {
	if pkg == "" {
		return false
	}
	for _, p := range c.cfg.BuiltinPackages {
		if p == ns+"/"+pkg {
			return true
		}
	}
	return false
}

// checkNotBuiltin refuses a write to built-in package ns/pkg or to one
// of its actions.
func (c *Controller) checkNotBuiltin(ns, pkg string) error {
	if c.builtinPackage(ns, pkg) {
		return whisk.Errorf(http.StatusForbidden, "The package /%s/%s is built into Whirl: it and its actions cannot be changed or deleted.", ns, pkg)
	}
	return nil
}
