// Package store is the contract for Whirl's persistent state: entities
// (actions, triggers, rules, packages, APIs), activation records, the
// authentication subjects, and the journal of accepted asynchronous
// invocations.
//
// Implementations live in subpackages named after what they wrap
// (store/sqlite, store/postgres) and must pass the conformance suite in
// store/storetest. They share the group commit of store/groupcommit and
// the row encoding of rows.go (EncodeActivation, EncodeJournal). Only
// internal/app and tests import implementations; every other package sees
// these interfaces.
//
// All methods are safe for concurrent use, take a context first, and report
// a missing record with ErrNotFound, a failed precondition (a create of
// an existing key, a stale revision) with ErrConflict, and a write the
// backend cannot make now (its disk is full, its server refuses writes)
// with an error that matches ErrUnavailable (see unavailable.go).
package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/whirlfaas/whirl/whisk"
)

// Errors every implementation returns for the cases they name. Callers
// compare with errors.Is.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a create found the key taken, or an update or delete
	// found a revision other than the one expected.
	ErrConflict = errors.New("store: conflict")
)

// Store is the whole of a backend. Close flushes pending batched writes and
// releases resources; no method may be called after it.
type Store interface {
	Entities() Entities
	Activations() Activations
	Auth() Auth
	Journal() Journal
	Close() error
}

// Collections of entities.
const (
	Actions  = "actions"
	Triggers = "triggers"
	Rules    = "rules"
	Packages = "packages"
	APIs     = "apis" // swagger documents of `wsk api`, keyed by base path
	// Feeds holds the built-in feed providers' schedules (alarms), keyed
	// by the trigger they fire. Like APIs it has its own name scope: a
	// schedule never collides with an entity of the same key.
	Feeds = "feeds"
	// Limits holds per-namespace overrides of the throttles (whirl admin
	// limits), all in namespace LimitsNamespace, keyed by the namespace
	// they apply to. It has its own name scope.
	Limits = "limits"
)

// LimitsNamespace is where the Limits collection keeps every override, so
// that one List reads them all.
const LimitsNamespace = "whisk.system"

// Scope returns the name scope of a collection: actions, triggers, rules
// and packages share one ("", as OpenWhisk's names are unique across
// them in a namespace); every other collection is a scope of its own.
func Scope(collection string) string {
	switch collection {
	case Actions, Triggers, Rules, Packages:
		return ""
	}
	return collection
}

// Entity is one stored entity document. Key is the name within the
// namespace ("hello", or "pkg/hello" for an action in a package). Doc is
// the entity's JSON as the whisk package writes it. Rev starts at 1 and
// grows by one on every successful Put. Updated is stored as given, or as
// the time of the Put when zero.
type Entity struct {
	Collection string
	Namespace  string
	Key        string
	Rev        int64
	Doc        []byte
	Updated    time.Time
}

// ListOptions select a page of entities. Prefix, when set, keeps keys that
// start with it (a package's actions: "pkg/"). Entities are returned in
// order of Key. Limit 0 means no limit.
type ListOptions struct {
	Prefix string
	Limit  int
	Skip   int
}

// Entities stores entity documents with optimistic concurrency.
type Entities interface {
	// Get returns the entity or ErrNotFound.
	Get(ctx context.Context, collection, namespace, key string) (Entity, error)
	// Put writes e. With rev 0 it creates and fails with ErrConflict when
	// the key exists (in any collection: names are unique per namespace
	// across actions, triggers, rules and packages, as OpenWhisk's are,
	// except APIs). Otherwise it replaces the entity whose revision is rev,
	// failing with ErrConflict when the stored revision differs and with
	// ErrNotFound when there is none. It returns the new revision.
	Put(ctx context.Context, e Entity, rev int64) (int64, error)
	// Delete removes the entity whose revision is rev (0: any revision).
	Delete(ctx context.Context, collection, namespace, key string, rev int64) error
	// List returns a page of a collection in a namespace, ordered by key.
	List(ctx context.Context, collection, namespace string, opts ListOptions) ([]Entity, error)
	// Count returns how many entities List would return without paging.
	Count(ctx context.Context, collection, namespace string, prefix string) (int, error)
	// Locate returns the collection (actions, triggers, rules or
	// packages; never APIs) that holds key in namespace, or ErrNotFound. The controller answers "exists but is not in this
	// collection" with it.
	Locate(ctx context.Context, namespace, key string) (string, error)
}

// ActivationQuery selects activation records of one namespace, newest first
// by start (ties broken by activation id, greater first). Name, when set,
// keeps records whose path is namespace/Name (Name may be "pkg/action"; a
// leading '/' is ignored). Since and Upto bound start in epoch
// milliseconds, inclusive; zero means unbounded. Limit 0 means no limit.
//
// The namespace a record belongs to (the one Get, List and Count take) is
// its Namespace field up to any '/': in OpenWhisk a record's namespace is
// the invoking subject's namespace ("guest"), while what ran is named by
// the "path" annotation ("guest/pkg/hello"). A record's path is that
// annotation when it is a JSON string (a leading '/' dropped), else
// Namespace + "/" + Name. So an invoker should set the "path" annotation
// to the fully qualified name of the action without its leading '/'.
type ActivationQuery struct {
	Name  string
	Since int64
	Upto  int64
	Limit int
	Skip  int
}

// Activations stores activation records. A record is visible to Get and List
// as soon as Put returns: read-your-writes.
type Activations interface {
	// Put stores records. They are visible to Get and List as soon as Put
	// returns (read-your-writes). A backend may acknowledge before the
	// records are durable (write-behind, batched with others: sqlite) and
	// then implements Flusher; otherwise they are durable when Put returns
	// (group commit of concurrent calls). Storing an id again replaces the
	// record (at-least-once delivery is deduplicated by id). The
	// transaction that stores a record removes the journal entry of its id,
	// so that a crash leaves either the entry or the record, never neither;
	// Journal.Pending does not report entries whose record is visible.
	// When the store cannot write, a write-behind backend keeps accepted
	// records visible and writes them once it can, never dropping one;
	// what it cannot keep (past its memory bound), and any record a
	// synchronous backend cannot write, fails Put with an error matching
	// ErrUnavailable.
	Put(ctx context.Context, acts ...*whisk.Activation) error
	// Get returns the record of id in namespace, or ErrNotFound.
	Get(ctx context.Context, namespace, id string) (*whisk.Activation, error)
	// List returns records matching q.
	List(ctx context.Context, namespace string, q ActivationQuery) ([]*whisk.Activation, error)
	// Count returns how many records match q, ignoring Limit and Skip.
	Count(ctx context.Context, namespace string, q ActivationQuery) (int, error)
}

// ActivationKeys returns the columns every backend indexes a record by:
// its owner namespace (the record's namespace up to any '/') and the path
// of what ran (the "path" annotation when it is a string, else
// namespace/name; without a leading '/'), which ActivationQuery.Name
// matches.
func ActivationKeys(a *whisk.Activation) (owner, path string) {
	owner, _, _ = strings.Cut(a.Namespace, "/")
	path, ok := a.Annotations.String("path")
	if !ok || path == "" {
		path = a.Namespace + "/" + a.Name
	}
	return owner, strings.TrimPrefix(path, "/")
}

// Flusher is implemented by stores whose Activations.Put acknowledges
// before the records are durable. Flush returns when everything written
// before it is durable, or an error matching ErrUnavailable while records
// wait for a store that cannot write (they are kept and written when it
// can). Close flushes too.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Subject is one authentication key. Only a hash of the key is stored. A
// zero Created is stored as the time of the PutSubject.
type Subject struct {
	UUID      string
	KeyHash   string
	Namespace string
	Created   time.Time
}

// Auth stores subjects and namespaces.
type Auth interface {
	// PutSubject stores s, replacing any subject with the same UUID.
	PutSubject(ctx context.Context, s Subject) error
	// Subject returns the subject of uuid, or ErrNotFound.
	Subject(ctx context.Context, uuid string) (Subject, error)
	// Subjects lists subjects, of one namespace when namespace is set.
	Subjects(ctx context.Context, namespace string) ([]Subject, error)
	// DeleteSubject removes the subject of uuid, or returns ErrNotFound.
	DeleteSubject(ctx context.Context, uuid string) error
}

// Journal records accepted asynchronous invocations until their activation
// record is written, so that none is lost across a crash.
type Journal interface {
	// Append stores entries durably before returning; implementations batch
	// concurrent calls (group commit). An id already present is ignored.
	Append(ctx context.Context, entries ...JournalEntry) error
	// Done removes entries by activation id; unknown ids are ignored.
	Done(ctx context.Context, ids ...string) error
	// Pending returns every entry not yet done, oldest first.
	Pending(ctx context.Context) ([]JournalEntry, error)
}

// JournalEntry is one accepted invocation: its activation id and the
// message that will run it, opaque to the store. A zero Accepted is
// stored as the time of the Append.
type JournalEntry struct {
	ID       string
	Payload  []byte
	Accepted time.Time
}
