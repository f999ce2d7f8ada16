package store

import (
	"context"
	"time"
)

// Pruner is implemented by stores that delete old activation records
// (retention). Both backends implement it; internal/app runs it in the
// background with RunPruner.
//
// PruneActivations deletes committed activation records (their logs and
// results are part of the record and go with it) whose start is before
// opts.Before, and, when opts.MaxPerNamespace is positive, the oldest
// records of every namespace beyond its newest MaxPerNamespace. It deletes
// in transactions of at most opts.Batch records and waits opts.Pause
// between them, so that the write path never waits long for it. It never
// touches the journal: a record retires its journal entry in the
// transaction that stores it, so a record the pruner can see has no entry
// left, and an accepted invocation whose record is not yet stored is not
// a row the pruner can delete. It is safe to run beside every other
// method and from several processes at once (deleting is idempotent); it
// returns what it did before ctx ended or an error stopped it.
type Pruner interface {
	PruneActivations(ctx context.Context, opts PruneOptions) (PruneResult, error)
}

// PruneOptions say what PruneActivations deletes and how gently.
type PruneOptions struct {
	// Before: records that started before it are deleted; zero keeps
	// every record by age.
	Before time.Time
	// MaxPerNamespace, when positive, keeps only the newest that many
	// records of each namespace.
	MaxPerNamespace int
	// Batch is the most records one transaction deletes (0: 500).
	Batch int
	// Pause is the wait between two batches (0: 5 ms), which lets the
	// writer in.
	Pause time.Duration
}

// PruneResult is what one PruneActivations run did.
type PruneResult struct {
	// Records and Bytes count the deleted records and their documents.
	Records int64
	Bytes   int64
	// Batches is how many delete transactions ran.
	Batches int
	// Reclaimed is the space given back to the file system (SQLite's
	// incremental vacuum); 0 where the database reclaims on its own
	// (PostgreSQL's autovacuum makes the space reusable in place).
	Reclaimed int64
}

// Defaults of PruneOptions.
const (
	DefaultPruneBatch = 200
	DefaultPrunePause = 5 * time.Millisecond
)

// Normalized returns o with its zero Batch and Pause defaulted.
func (o PruneOptions) Normalized() PruneOptions {
	if o.Batch <= 0 {
		o.Batch = DefaultPruneBatch
	}
	if o.Pause <= 0 {
		o.Pause = DefaultPrunePause
	}
	return o
}

// Retention is the policy RunPruner applies.
type Retention struct {
	// Age: records older than it are deleted; 0 keeps them by age.
	Age time.Duration
	// MaxPerNamespace, when positive, bounds the records of a namespace.
	MaxPerNamespace int
	// Every is the time between two runs (0: a minute).
	Every time.Duration
	// Batch and Pause are PruneOptions'.
	Batch int
	Pause time.Duration
}

// Enabled reports whether r prunes anything.
func (r Retention) Enabled() bool { return r.Age > 0 || r.MaxPerNamespace > 0 }

// RunPruner runs p with r at once and then every r.Every until ctx ends,
// calling report with each run's outcome (also a failed or interrupted
// one, with what it did). It returns when ctx ends.
func RunPruner(ctx context.Context, p Pruner, r Retention, report func(PruneResult, time.Duration, error)) {
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		opts := PruneOptions{MaxPerNamespace: r.MaxPerNamespace, Batch: r.Batch, Pause: r.Pause}
		if r.Age > 0 {
			opts.Before = time.Now().Add(-r.Age)
		}
		began := time.Now()
		res, err := p.PruneActivations(ctx, opts)
		if ctx.Err() != nil && err != nil {
			err = nil // interrupted by shutdown, not failed
		}
		report(res, time.Since(began), err)
		t.Reset(every)
	}
}

// NamespaceLister is implemented by stores that can name every namespace
// they hold anything of (entities, subjects or activation records), in
// order; Export of all namespaces needs it.
type NamespaceLister interface {
	Namespaces(ctx context.Context) ([]string, error)
}

// PruneBackend is the SQL of one store's pruning, run through its driver:
// Prune is the one algorithm both backends share.
type PruneBackend interface {
	// ActivationNamespaces lists the namespaces that own records.
	ActivationNamespaces(ctx context.Context) ([]string, error)
	// DeleteOlder deletes at most limit records of ns that started before
	// beforeMs, and returns how many and their documents' bytes.
	DeleteOlder(ctx context.Context, ns string, beforeMs int64, limit int) (n, bytes int64, err error)
	// NewestBeyond returns the position (start, then write order) of the
	// newest record of ns past its newest keep; ok is false when ns has no
	// more than keep.
	NewestBeyond(ctx context.Context, ns string, keep int) (start, seq int64, ok bool, err error)
	// DeleteThrough deletes at most limit records of ns at or before the
	// position (start, seq), and returns how many and their bytes.
	DeleteThrough(ctx context.Context, ns string, start, seq int64, limit int) (n, bytes int64, err error)
}

// Prune is PruneActivations over b: namespace by namespace, the records
// older than opts.Before, then those beyond the newest MaxPerNamespace, in
// batches of opts.Batch with opts.Pause between them.
func Prune(ctx context.Context, b PruneBackend, opts PruneOptions) (PruneResult, error) {
	opts = opts.Normalized()
	var res PruneResult
	nss, err := b.ActivationNamespaces(ctx)
	if err != nil {
		return res, err
	}
	for _, ns := range nss {
		if !opts.Before.IsZero() {
			before := opts.Before.UnixMilli()
			if err := pruneBatches(ctx, &res, opts, func(limit int) (int64, int64, error) {
				return b.DeleteOlder(ctx, ns, before, limit)
			}); err != nil {
				return res, err
			}
		}
		if opts.MaxPerNamespace > 0 {
			start, seq, ok, err := b.NewestBeyond(ctx, ns, opts.MaxPerNamespace)
			if err != nil {
				return res, err
			}
			if !ok {
				continue
			}
			if err := pruneBatches(ctx, &res, opts, func(limit int) (int64, int64, error) {
				return b.DeleteThrough(ctx, ns, start, seq, limit)
			}); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// pruneBatches runs del until a batch deletes fewer than opts.Batch
// records, opts.Pause apart.
func pruneBatches(ctx context.Context, res *PruneResult, opts PruneOptions, del func(limit int) (n, bytes int64, err error)) error {
	for {
		n, bytes, err := del(opts.Batch)
		res.Records += n
		res.Bytes += bytes
		res.Batches++
		if err != nil {
			return err
		}
		if n < int64(opts.Batch) {
			return nil
		}
		if err := Pause(ctx, opts.Pause); err != nil {
			return err
		}
	}
}

// Pause waits d, or returns ctx's error when it ends first.
func Pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
