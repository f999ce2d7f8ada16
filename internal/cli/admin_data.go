package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/whirlfaas/whirl/internal/app"
	srvconfig "github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
)

// newAdminDataCmds are `whirl admin backup|restore|export|import|prune`:
// the data of a store over time (docs/operations.md). dir returns the
// expanded --data-dir; dsn is --store; open opens the store they name.
func newAdminDataCmds(e *env, dir func() (string, error), dsn *string, open func(context.Context) (store.Store, error)) []*cobra.Command {
	standalone := func(what string) (string, error) {
		if *dsn != "" {
			return "", fmt.Errorf("%s works on the embedded store (--data-dir); back up PostgreSQL with pg_dump (docs/operations.md)", what)
		}
		return dir()
	}
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of a standalone Whirl's store to FILE, also while it runs",
		Example: `  whirl admin backup /backups/whirl-$(date +%F).db
  whirl admin backup whirl.db --data-dir /var/lib/whirl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := standalone("backup")
			if err != nil {
				return err
			}
			began := time.Now()
			if err := app.Backup(cmd.Context(), d, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "ok: backed up %s to %s in %s\n", d, args[0], time.Since(began).Round(time.Millisecond))
			return nil
		},
	}
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Make the backup FILE the store of --data-dir (refused while a Whirl runs on it)",
		Long: `Make the backup FILE the store of the data directory. The backup is checked
first; a data directory a running 'whirl up' holds is refused; the store
replaced is kept beside it as whirl.db.before-restore-<time>.`,
		Example: `  whirl admin restore /backups/whirl-2025-01-31.db --data-dir ~/.whirl`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := standalone("restore")
			if err != nil {
				return err
			}
			kept, err := app.Restore(cmd.Context(), d, args[0])
			if err != nil {
				return err
			}
			if kept != "" {
				fmt.Fprintf(e.stdout, "ok: the previous store is kept as %s\n", kept)
			}
			fmt.Fprintf(e.stdout, "ok: restored %s into %s\n", args[0], d)
			return nil
		},
	}

	var namespaces []string
	var activations bool
	var output string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write namespaces' entities and keys (hashed) in Whirl's export format",
		Long: `Write the entities of the given namespaces (default: all) — actions with their
code, packages and bindings, triggers with their alarm schedules, rules,
APIs, namespace limits — and their keys (as stored: hashed) in Whirl's
versioned export format (JSON Lines, docs/operations.md), for 'whirl admin
import' into any store.`,
		Example: `  whirl admin export -o whirl.export
  whirl admin export --namespace guest --activations -o guest.export
  whirl admin export --store postgres://whirl@db/whirl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), open, func(st store.Store) error {
				w, done, err := outputFile(e, output)
				if err != nil {
					return err
				}
				stats, err := store.Export(cmd.Context(), st, w, store.ExportOptions{Namespaces: namespaces, Activations: activations})
				if err := done(err); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "ok: exported %d entities, %d keys, %d activations\n", stats.Entities, stats.Subjects, stats.Activations)
				return nil
			})
		},
	}
	export.Flags().StringSliceVar(&namespaces, "namespace", nil, "namespaces to export (repeat or comma-separate; default all)")
	export.Flags().BoolVar(&activations, "activations", false, "include the activation records")
	export.Flags().StringVarP(&output, "output", "o", "-", "file to write (- for standard output)")

	var dryRun, verbose bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Load an export into the store (idempotent; --dry-run says what would change)",
		Long: `Load an export (whirl admin export) into the store of --data-dir or --store.
Entities and keys already stored as exported are left alone, different
ones replaced, missing ones created; running it again changes nothing.
Import into a scale-out Whirl before its controllers start, or restart
them after: they cache entities.`,
		Example: `  whirl admin import whirl.export --store postgres://whirl@db/whirl --dry-run
  whirl admin import whirl.export --store postgres://whirl@db/whirl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = e.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			return withStore(cmd.Context(), open, func(st store.Store) error {
				rep, err := store.Import(cmd.Context(), st, r, dryRun)
				for _, c := range rep.Changes {
					if verbose || dryRun && c.Op != store.ImportUnchanged {
						fmt.Fprintf(e.stdout, "%-9s %s\n", c.Op, c.What)
					}
				}
				if err != nil {
					return err
				}
				if dryRun {
					fmt.Fprintf(e.stdout, "dry run: would %s\n", rep.Summary())
					return nil
				}
				fmt.Fprintf(e.stdout, "ok: imported: %s\n", rep.Summary())
				return nil
			})
		},
	}
	imp.Flags().BoolVar(&dryRun, "dry-run", false, "write nothing; list what would be created or updated")
	imp.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every record, unchanged ones too")

	cfg := srvconfig.Default()
	var maxPer int
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete activation records past retention now (a running Whirl does it every minute)",
		Example: `  whirl admin prune --retention 24h
  whirl admin prune --retention 0 --max-per-namespace 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := store.Retention{Age: cfg.Activations.Retention, MaxPerNamespace: maxPer}
			if !r.Enabled() {
				return errors.New("nothing to prune: set --retention or --max-per-namespace")
			}
			return withStore(cmd.Context(), open, func(st store.Store) error {
				res, err := app.Prune(cmd.Context(), st, r)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "ok: pruned %d activation records (%d bytes; %d bytes given back to the file system)\n", res.Records, res.Bytes, res.Reclaimed)
				return nil
			})
		},
	}
	prune.Flags().DurationVar(&cfg.Activations.Retention, "retention", srvconfig.DefaultRetention, "delete records that started longer ago than this (0: none by age)")
	prune.Flags().IntVar(&maxPer, "max-per-namespace", 0, "keep only the newest this many records of each namespace")
	return []*cobra.Command{backup, restore, export, imp, prune}
}

// outputFile returns where to write: standard output for "-", else a file
// written beside its final name and renamed into place by done, so that
// a failed export leaves no partial file.
func outputFile(e *env, name string) (io.Writer, func(error) error, error) {
	if name == "-" || name == "" {
		return e.stdout, func(err error) error { return err }, nil
	}
	if strings.HasSuffix(name, "/") {
		return nil, nil, fmt.Errorf("-o %s: a file name, not a directory", name)
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".whirl-export-*")
	if err != nil {
		return nil, nil, err
	}
	return f, func(err error) error {
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), name)
		}
		if err != nil {
			os.Remove(f.Name())
		}
		return err
	}, nil
}
