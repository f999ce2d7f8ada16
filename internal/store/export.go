package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// The export format (`whirl admin export`, `whirl admin import`) is JSON
// Lines: a header line (ExportHeader), then one ExportRecord per line. It
// carries a store's entities of every collection (actions with their
// code, packages and bindings, triggers, rules, APIs, the alarms feeds'
// schedules, namespace limits), its subjects with their keys hashed as
// stored, and optionally activation records. It is independent of the
// backend: an export of SQLite imports into PostgreSQL and back.
// docs/operations.md documents it.
const (
	ExportFormat  = "whirl-export"
	ExportVersion = 1
)

// ExportHeader is the first line of an export.
type ExportHeader struct {
	Format  string    `json:"format"`  // ExportFormat
	Version int       `json:"version"` // ExportVersion when written
	Created time.Time `json:"created"`
	// Namespaces are those exported; empty means every namespace.
	Namespaces  []string `json:"namespaces,omitempty"`
	Activations bool     `json:"activations"`
}

// ExportRecord is one line after the header: exactly one field is set.
type ExportRecord struct {
	Entity     *ExportedEntity  `json:"entity,omitempty"`
	Subject    *ExportedSubject `json:"subject,omitempty"`
	Activation json.RawMessage  `json:"activation,omitempty"` // the record's JSON
}

// ExportedEntity is an Entity without its revision (an import makes its
// own). Doc is the entity's JSON; DocBase64 carries a document that is
// not JSON (none of Whirl's collections writes one).
type ExportedEntity struct {
	Collection string          `json:"collection"`
	Namespace  string          `json:"namespace"`
	Key        string          `json:"key"`
	Updated    time.Time       `json:"updated"`
	Doc        json.RawMessage `json:"doc,omitempty"`
	DocBase64  []byte          `json:"docBase64,omitempty"`
}

// ExportedSubject is a Subject: the key's hash as stored, never the key.
type ExportedSubject struct {
	UUID      string    `json:"uuid"`
	KeyHash   string    `json:"keyHash"`
	Namespace string    `json:"namespace"`
	Created   time.Time `json:"created"`
}

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Namespaces to export; empty means all (the store must implement
	// NamespaceLister). A namespace brings its entities and subjects, its
	// triggers' alarm schedules and its limits (both kept in
	// whisk.system).
	Namespaces []string
	// Activations adds the activation records of those namespaces.
	Activations bool
}

// ExportStats counts what Export wrote.
type ExportStats struct {
	Entities, Subjects, Activations int
}

// exportCollections are the entity collections, in the order exported.
var exportCollections = []string{Packages, Actions, Triggers, Rules, APIs, Feeds, Limits}

// Export writes st's entities, subjects and (with opts.Activations)
// activation records of opts.Namespaces to w in the export format.
func Export(ctx context.Context, st Store, w io.Writer, opts ExportOptions) (ExportStats, error) {
	var stats ExportStats
	nss := opts.Namespaces
	all := len(nss) == 0
	if all {
		nl, ok := st.(NamespaceLister)
		if !ok {
			return stats, errors.New("export: this store cannot list its namespaces: name them")
		}
		var err error
		if nss, err = nl.Namespaces(ctx); err != nil {
			return stats, fmt.Errorf("export: list namespaces: %w", err)
		}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	hdr := ExportHeader{Format: ExportFormat, Version: ExportVersion, Created: time.Now().UTC(), Activations: opts.Activations}
	if !all {
		hdr.Namespaces = nss
	}
	if err := enc.Encode(hdr); err != nil {
		return stats, err
	}
	seen := map[[3]string]bool{}
	entity := func(e Entity) error {
		k := [3]string{e.Collection, e.Namespace, e.Key}
		if seen[k] {
			return nil
		}
		seen[k] = true
		x := &ExportedEntity{Collection: e.Collection, Namespace: e.Namespace, Key: e.Key, Updated: e.Updated.UTC()}
		if json.Valid(e.Doc) {
			x.Doc = e.Doc
		} else {
			x.DocBase64 = e.Doc
		}
		stats.Entities++
		return enc.Encode(ExportRecord{Entity: x})
	}
	list := func(coll, ns, prefix string) error {
		es, err := st.Entities().List(ctx, coll, ns, ListOptions{Prefix: prefix})
		if err != nil {
			return fmt.Errorf("export: list %s of %s: %w", coll, ns, err)
		}
		for _, e := range es {
			if err := entity(e); err != nil {
				return err
			}
		}
		return nil
	}
	for _, ns := range nss {
		for _, coll := range exportCollections {
			if err := list(coll, ns, ""); err != nil {
				return stats, err
			}
		}
		if ns != LimitsNamespace {
			// What whisk.system keeps on ns's behalf: its triggers'
			// schedules (keyed ns/trigger) and its limits (keyed ns).
			if err := list(Feeds, LimitsNamespace, ns+"/"); err != nil {
				return stats, err
			}
			e, err := st.Entities().Get(ctx, Limits, LimitsNamespace, ns)
			if err == nil {
				err = entity(e)
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				return stats, fmt.Errorf("export: limits of %s: %w", ns, err)
			}
		}
		subs, err := st.Auth().Subjects(ctx, ns)
		if err != nil {
			return stats, fmt.Errorf("export: subjects of %s: %w", ns, err)
		}
		for _, s := range subs {
			stats.Subjects++
			if err := enc.Encode(ExportRecord{Subject: &ExportedSubject{UUID: s.UUID, KeyHash: s.KeyHash, Namespace: s.Namespace, Created: s.Created.UTC()}}); err != nil {
				return stats, err
			}
		}
		if opts.Activations {
			n, err := exportActivations(ctx, st, ns, enc)
			stats.Activations += n
			if err != nil {
				return stats, err
			}
		}
	}
	return stats, bw.Flush()
}

// exportActivations writes the records of ns, oldest last, page by page.
func exportActivations(ctx context.Context, st Store, ns string, enc *json.Encoder) (int, error) {
	const page = 1000
	n := 0
	for skip := 0; ; skip += page {
		acts, err := st.Activations().List(ctx, ns, ActivationQuery{Limit: page, Skip: skip})
		if err != nil {
			return n, fmt.Errorf("export: activations of %s: %w", ns, err)
		}
		for _, a := range acts {
			doc, err := json.Marshal(a)
			if err != nil {
				return n, fmt.Errorf("export: activation %s: %w", a.ActivationID, err)
			}
			if err := enc.Encode(ExportRecord{Activation: doc}); err != nil {
				return n, err
			}
			n++
		}
		if len(acts) < page {
			return n, nil
		}
	}
}

// Import outcomes of one record.
const (
	ImportCreate    = "create"
	ImportUpdate    = "update"
	ImportUnchanged = "unchanged"
)

// ImportChange is what Import did (or, dry, would do) with one record:
// Op is ImportCreate, ImportUpdate or ImportUnchanged; What names the
// record ("actions guest/hello", "subject guest/<uuid>", "activation
// guest/<id>").
type ImportChange struct {
	Op, What string
}

// ImportReport lists the changes of an Import and counts them by Op.
type ImportReport struct {
	Changes []ImportChange
	Counts  map[string]int
}

func (r *ImportReport) add(op, what string) {
	r.Changes = append(r.Changes, ImportChange{op, what})
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[op]++
}

// Import loads an export from r into st. It is idempotent: an entity or
// subject already stored as exported is left alone, one that differs is
// replaced, a missing one created; an activation record already stored is
// left alone. With dryRun it writes nothing and reports what it would do.
// It refuses an export of another format or a newer version before
// writing anything of it; a failure midway leaves what was written (run
// it again: it is idempotent).
func Import(ctx context.Context, st Store, r io.Reader, dryRun bool) (ImportReport, error) {
	var rep ImportReport
	dec := json.NewDecoder(bufio.NewReader(r))
	var hdr ExportHeader
	if err := dec.Decode(&hdr); err != nil {
		return rep, fmt.Errorf("import: read header: %w", err)
	}
	if hdr.Format != ExportFormat {
		return rep, fmt.Errorf("import: not a whirl export (format %q, want %q)", hdr.Format, ExportFormat)
	}
	if hdr.Version < 1 || hdr.Version > ExportVersion {
		return rep, fmt.Errorf("import: export version %d: this whirl reads versions 1 to %d (use a newer whirl)", hdr.Version, ExportVersion)
	}
	for line := 2; ; line++ {
		var rec ExportRecord
		err := dec.Decode(&rec)
		if err == io.EOF {
			return rep, nil
		}
		if err != nil {
			return rep, fmt.Errorf("import: record %d: %w", line, err)
		}
		switch {
		case rec.Entity != nil:
			err = importEntity(ctx, st, rec.Entity, dryRun, &rep)
		case rec.Subject != nil:
			err = importSubject(ctx, st, rec.Subject, dryRun, &rep)
		case rec.Activation != nil:
			err = importActivation(ctx, st, rec.Activation, dryRun, &rep)
		default:
			err = errors.New("empty record")
		}
		if err != nil {
			return rep, fmt.Errorf("import: record %d: %w", line, err)
		}
	}
}

func knownCollection(c string) bool { return slices.Contains(exportCollections, c) }

func importEntity(ctx context.Context, st Store, x *ExportedEntity, dryRun bool, rep *ImportReport) error {
	if !knownCollection(x.Collection) || x.Namespace == "" || x.Key == "" {
		return fmt.Errorf("entity %s %s/%s: unknown collection or empty name", x.Collection, x.Namespace, x.Key)
	}
	doc := []byte(x.Doc)
	if doc == nil {
		doc = x.DocBase64
	}
	what := x.Collection + " " + x.Namespace + "/" + x.Key
	old, err := st.Entities().Get(ctx, x.Collection, x.Namespace, x.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		rep.add(ImportCreate, what)
		if dryRun {
			return nil
		}
		_, err = st.Entities().Put(ctx, Entity{Collection: x.Collection, Namespace: x.Namespace, Key: x.Key, Doc: doc, Updated: x.Updated}, 0)
		return err
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case sameJSON(old.Doc, doc):
		rep.add(ImportUnchanged, what)
		return nil
	}
	rep.add(ImportUpdate, what)
	if dryRun {
		return nil
	}
	_, err = st.Entities().Put(ctx, Entity{Collection: x.Collection, Namespace: x.Namespace, Key: x.Key, Doc: doc, Updated: x.Updated}, old.Rev)
	return err
}

// sameJSON reports whether two documents are equal up to insignificant
// white space (the export compacts them).
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func importSubject(ctx context.Context, st Store, x *ExportedSubject, dryRun bool, rep *ImportReport) error {
	if x.UUID == "" || x.KeyHash == "" || x.Namespace == "" {
		return errors.New("subject without uuid, key hash or namespace")
	}
	what := "subject " + x.Namespace + "/" + x.UUID
	old, err := st.Auth().Subject(ctx, x.UUID)
	op := ImportUpdate
	switch {
	case errors.Is(err, ErrNotFound):
		op = ImportCreate
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case old.KeyHash == x.KeyHash && old.Namespace == x.Namespace:
		op = ImportUnchanged
	}
	rep.add(op, what)
	if dryRun || op == ImportUnchanged {
		return nil
	}
	return st.Auth().PutSubject(ctx, Subject{UUID: x.UUID, KeyHash: x.KeyHash, Namespace: x.Namespace, Created: x.Created})
}

func importActivation(ctx context.Context, st Store, doc json.RawMessage, dryRun bool, rep *ImportReport) error {
	a, err := DecodeActivation(doc)
	if err != nil {
		return err
	}
	if a.ActivationID == "" {
		return errors.New("activation without an id")
	}
	owner, _ := ActivationKeys(a)
	what := "activation " + owner + "/" + a.ActivationID
	_, err = st.Activations().Get(ctx, owner, a.ActivationID)
	switch {
	case err == nil:
		rep.add(ImportUnchanged, what)
		return nil
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("%s: %w", what, err)
	}
	rep.add(ImportCreate, what)
	if dryRun {
		return nil
	}
	return st.Activations().Put(ctx, []*whisk.Activation{a}...)
}

// Summary is a one-line account of rep, as the CLI prints it.
func (r ImportReport) Summary() string {
	var parts []string
	for _, op := range []string{ImportCreate, ImportUpdate, ImportUnchanged} {
		parts = append(parts, fmt.Sprintf("%d %s", r.Counts[op], op))
	}
	return strings.Join(parts, ", ")
}
