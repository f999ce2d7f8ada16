package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/postgres"
)

// startPruner runs the store's activation pruner in the background with
// the configured retention (activations.*), reporting every run in the
// metrics and, when it deleted something or failed, in the log. It does
// nothing when retention is off or the store cannot prune. Close stops it
// (a run in progress ends after its current batch).
func (a *App) startPruner(st store.Store) {
	c := a.Config.Activations
	r := store.Retention{Age: c.Retention, MaxPerNamespace: c.MaxPerNamespace, Every: c.PruneInterval}
	p, ok := st.(store.Pruner)
	if !ok || !r.Enabled() {
		return
	}
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		store.RunPruner(a.ctx, p, r, func(res store.PruneResult, took time.Duration, err error) {
			a.Metrics.Pruned(res.Records, res.Bytes, res.Reclaimed, took, err)
			switch {
			case err != nil:
				a.logger.Warn("activation retention: pruning failed; it runs again", "err", err, "deleted", res.Records)
			case res.Records > 0:
				a.logger.Info("activation retention: pruned records", "deleted", res.Records, "bytes", res.Bytes,
					"reclaimed", res.Reclaimed, "batches", res.Batches, "took", took.Round(time.Millisecond))
			}
		})
	}()
}

// OpenStoreAt opens the store `whirl admin` works on: the PostgreSQL of
// dsn when it is set, else the embedded store of dataDir.
func OpenStoreAt(ctx context.Context, dataDir, dsn string) (store.Store, error) {
	if dsn == "" {
		return OpenStore(ctx, dataDir)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

// errNoPruner is returned by Prune for a store without retention.
var errNoPruner = errors.New("this store does not prune activation records")

// Prune runs one pass of retention on st now (`whirl admin prune`).
func Prune(ctx context.Context, st store.Store, r store.Retention) (store.PruneResult, error) {
	p, ok := st.(store.Pruner)
	if !ok {
		return store.PruneResult{}, errNoPruner
	}
	opts := store.PruneOptions{MaxPerNamespace: r.MaxPerNamespace}
	if r.Age > 0 {
		opts.Before = time.Now().Add(-r.Age)
	}
	return p.PruneActivations(ctx, opts)
}
