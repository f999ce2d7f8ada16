package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/throttle"
	"github.com/whirlfaas/whirl/whisk"
)

// limitsReload is how often a controller rereads the per-namespace limits,
// which `whirl admin limits` writes from another process.
const limitsReload = 10 * time.Second

// nsLimits applies the per-namespace overrides of the store to a throttle.
type nsLimits struct {
	st       store.Entities
	th       *throttle.Throttle
	defaults throttle.Limits
	cfg      *config.Config
}

// reload reads every override and installs them.
func (l *nsLimits) reload(ctx context.Context) error {
	ents, err := l.st.List(ctx, store.Limits, store.LimitsNamespace, store.ListOptions{})
	if err != nil {
		return fmt.Errorf("load namespace limits: %w", err)
	}
	m := make(map[string]throttle.Limits, len(ents))
	for _, e := range ents {
		var o whisk.NamespaceLimits
		if err := json.Unmarshal(e.Doc, &o); err != nil {
			return fmt.Errorf("namespace limits of %s: %w", e.Key, err)
		}
		m[e.Key] = apply(l.defaults, o)
	}
	l.th.SetOverrides(m)
	return nil
}

// run rereads the overrides every limitsReload until ctx ends.
func (l *nsLimits) run(ctx context.Context, logf func(msg string, args ...any)) {
	t := time.NewTicker(limitsReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.reload(ctx); err != nil && ctx.Err() == nil {
				logf("namespace limits", "err", err)
			}
		}
	}
}

// json returns GET /namespaces/{ns}/limits: the system limits with the
// namespace's throttles in force.
func (l *nsLimits) json(ns string) map[string]any {
	body := l.cfg.LimitsJSON()
	in := l.th.LimitsFor(ns)
	body["invocationsPerMinute"] = in.InvokesPerMinute
	body["concurrentInvocations"] = in.ConcurrentInvokes
	body["firesPerMinute"] = in.FiresPerMinute
	body["maxActionInstances"] = in.ConcurrentInvokes
	return body
}

func apply(d throttle.Limits, o whisk.NamespaceLimits) throttle.Limits {
	if o.InvocationsPerMinute != nil {
		d.InvokesPerMinute = *o.InvocationsPerMinute
	}
	if o.ConcurrentInvocations != nil {
		d.ConcurrentInvokes = *o.ConcurrentInvocations
	}
	if o.FiresPerMinute != nil {
		d.FiresPerMinute = *o.FiresPerMinute
	}
	return d
}

// ReloadLimits rereads the per-namespace limits now rather than at the
// next periodic reload.
func (a *App) ReloadLimits(ctx context.Context) error {
	if a.limits == nil {
		return nil
	}
	return a.limits.reload(ctx)
}

// SetNamespaceLimits stores the throttle overrides of namespace ns; a
// running Whirl applies them within limitsReload.
func SetNamespaceLimits(ctx context.Context, st store.Store, ns string, o whisk.NamespaceLimits) error {
	doc, err := json.Marshal(o)
	if err != nil {
		return err
	}
	es := st.Entities()
	e := store.Entity{Collection: store.Limits, Namespace: store.LimitsNamespace, Key: ns, Doc: doc}
	for {
		old, err := es.Get(ctx, store.Limits, store.LimitsNamespace, ns)
		var rev int64
		switch {
		case err == nil:
			rev = old.Rev
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		// A concurrent writer took the revision: read again and retry.
		if _, err = es.Put(ctx, e, rev); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// NamespaceLimits returns the stored overrides of ns (store.ErrNotFound
// when it has none).
func NamespaceLimits(ctx context.Context, st store.Store, ns string) (whisk.NamespaceLimits, error) {
	var o whisk.NamespaceLimits
	e, err := st.Entities().Get(ctx, store.Limits, store.LimitsNamespace, ns)
	if err != nil {
		return o, err
	}
	err = json.Unmarshal(e.Doc, &o)
	return o, err
}

// DeleteNamespaceLimits removes the overrides of ns.
func DeleteNamespaceLimits(ctx context.Context, st store.Store, ns string) error {
	return st.Entities().Delete(ctx, store.Limits, store.LimitsNamespace, ns, 0)
}
