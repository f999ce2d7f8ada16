package app

import (
	"context"
	"encoding/json"

	"github.com/whirlfaas/whirl/internal/catalog"
	"github.com/whirlfaas/whirl/internal/feeds"
	"github.com/whirlfaas/whirl/internal/store"
)

// builtins hands each built-in action to its provider: the catalog's
// utils and samples to the catalog, the rest (the alarms feeds) to feeds.
type builtins struct {
	feeds   *feeds.Service
	catalog *catalog.Catalog
}

// RunBuiltin runs built-in action name.
func (b builtins) RunBuiltin(ctx context.Context, name string, env map[string]string, params json.RawMessage) (json.RawMessage, []string, bool, error) {
	if b.catalog.Has(name) {
		return b.catalog.RunBuiltin(ctx, name, env, params)
	}
	return b.feeds.RunBuiltin(ctx, name, env, params)
}

// TriggerDeleted ends the alarms schedule of a deleted trigger.
func (b builtins) TriggerDeleted(ctx context.Context, namespace, name string) error {
	return b.feeds.TriggerDeleted(ctx, namespace, name)
}

// builtinPackages are the packages installed at every start, which the
// controller keeps read-only.
func builtinPackages() []string {
	out := []string{feeds.Namespace + "/" + feeds.Package}
	for _, p := range catalog.Packages {
		out = append(out, catalog.Namespace+"/"+p)
	}
	return out
}

// installCatalog writes /whisk.system/utils and /whisk.system/samples.
// samples/curl is a nodejs action of the default nodejs kind, left out
// when this installation has none.
func (a *App) installCatalog(ctx context.Context, ents store.Entities) (*catalog.Catalog, error) {
	node, err := a.resolveKind("nodejs:default")
	if err != nil {
		node = ""
	}
	c := catalog.New(catalog.Config{Entities: ents, NodeKind: node})
	if err := c.Install(ctx); err != nil {
		return nil, err
	}
	return c, nil
}
