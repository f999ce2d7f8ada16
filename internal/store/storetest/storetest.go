// Package storetest is the conformance suite that every store.Store
// implementation runs from its tests, and the benchmarks they share.
//
// A backend's test calls Run with a function that opens a fresh, empty
// store, and passes WithReopen when its data outlives Close. Its benchmarks
// call BenchmarkActivationPut and friends with a store of their own.
// Only tests import this package.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Option adjusts the suite.
type Option func(*config)

type config struct {
	reopen func(t *testing.T) func() store.Store
}

// WithReopen tells the suite that the backend keeps its data across Close.
// newLocation is called once per test that needs it and returns an opener
// bound to one fresh location (a file path, a schema); every call of the
// opener opens that same location again. The suite closes what it opens.
func WithReopen(newLocation func(t *testing.T) func() store.Store) Option {
	return func(c *config) { c.reopen = newLocation }
}

// Run runs the conformance suite. open must return a new, empty store each
// call (it may register its own cleanup, such as dropping a schema); the
// suite closes the store when the test ends, so Close must tolerate being
// the last call.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	get := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	t.Run("Entities", func(t *testing.T) { testEntities(t, get) })
	t.Run("Activations", func(t *testing.T) { testActivations(t, get) })
	t.Run("Auth", func(t *testing.T) { testAuth(t, get) })
	t.Run("Journal", func(t *testing.T) { testJournal(t, get) })
	t.Run("JournalDefaults", func(t *testing.T) { testJournalDefaults(t, get) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, get) })
	t.Run("ExportImport", func(t *testing.T) { testExportImport(t, get) })
	t.Run("Reopen", func(t *testing.T) {
		if c.reopen == nil {
			t.Skip("backend does not keep data across Close (no WithReopen)")
		}
		testReopen(t, c.reopen(t))
	})
}

// ctx returns a context that ends with the test.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Activation returns a record of name in namespace ns that started at
// start (epoch ms). When path is set, it goes to the "path" annotation.
// Benchmarks and backend tests may use it.
func Activation(ns, name, id string, start int64, path string) *whisk.Activation {
	a := &whisk.Activation{
		Namespace: ns, Name: name, Version: "0.0.1", Subject: "guest", ActivationID: id,
		Start: start, End: start + 2, Duration: 2,
		Response: whisk.Response{StatusCode: whisk.StatusSuccess, Result: json.RawMessage(`{"hello":"world"}`)},
		Logs:     []string{"2024-01-01T00:00:00.000000000Z stdout: hi"},
	}
	a.Annotations = a.Annotations.Set("kind", "python:3").Set("limits", map[string]int{"timeout": 60000, "memory": 256, "logs": 10})
	if path != "" {
		a.Annotations = a.Annotations.Set("path", path)
	}
	return a
}

// id returns a valid activation id made of n.
func id(n int) string { return fmt.Sprintf("%032x", n) }

func sameActivation(t *testing.T, got, want *whisk.Activation) {
	t.Helper()
	g, err := json.Marshal(got)
	must(t, "marshal", err)
	w, err := json.Marshal(want)
	must(t, "marshal", err)
	if !bytes.Equal(g, w) {
		t.Fatalf("activation:\n got %s\nwant %s", g, w)
	}
}

func ids(acts []*whisk.Activation) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.ActivationID
	}
	return out
}

func keys(es []store.Entity) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func sameStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func testEntities(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("CreateGetUpdate", func(t *testing.T) {
		es := open(t).Entities()
		c := ctx(t)
		_, err := es.Get(c, store.Actions, "guest", "hello")
		wantErr(t, "Get missing", err, store.ErrNotFound)

		rev, err := es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"v":1}`)}, 0)
		must(t, "create", err)
		if rev != 1 {
			t.Fatalf("create rev = %d, want 1", rev)
		}
		e, err := es.Get(c, store.Actions, "guest", "hello")
		must(t, "Get", err)
		if e.Rev != 1 || string(e.Doc) != `{"v":1}` || e.Key != "hello" || e.Namespace != "guest" || e.Collection != store.Actions {
			t.Fatalf("Get = %+v", e)
		}
		if e.Updated.IsZero() {
			t.Fatalf("Get: Updated is zero")
		}

		_, err = es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{}`)}, 0)
		wantErr(t, "create existing", err, store.ErrConflict)

		rev, err = es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"v":2}`)}, 1)
		must(t, "update", err)
		if rev != 2 {
			t.Fatalf("update rev = %d, want 2", rev)
		}
		_, err = es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"v":3}`)}, 1)
		wantErr(t, "update stale", err, store.ErrConflict)
		_, err = es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "nope", Doc: []byte(`{}`)}, 1)
		wantErr(t, "update missing", err, store.ErrNotFound)

		e, err = es.Get(c, store.Actions, "guest", "hello")
		must(t, "Get", err)
		if e.Rev != 2 || string(e.Doc) != `{"v":2}` {
			t.Fatalf("after update Get = rev %d doc %s, want rev 2 doc {\"v\":2}", e.Rev, e.Doc)
		}
		// Another namespace is another world.
		_, err = es.Get(c, store.Actions, "other", "hello")
		wantErr(t, "Get other namespace", err, store.ErrNotFound)
		_, err = es.Put(c, store.Entity{Collection: store.Actions, Namespace: "other", Key: "hello", Doc: []byte(`{}`)}, 0)
		must(t, "create in other namespace", err)
	})

	t.Run("NamesUniqueAcrossCollections", func(t *testing.T) {
		es := open(t).Entities()
		c := ctx(t)
		_, err := es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "x", Doc: []byte(`{}`)}, 0)
		must(t, "create action", err)
		for _, coll := range []string{store.Triggers, store.Rules, store.Packages} {
			_, err = es.Put(c, store.Entity{Collection: coll, Namespace: "guest", Key: "x", Doc: []byte(`{}`)}, 0)
			wantErr(t, "create "+coll+" named like an action", err, store.ErrConflict)
			_, err = es.Get(c, coll, "guest", "x")
			wantErr(t, "Get "+coll, err, store.ErrNotFound)
		}
		// APIs are keyed apart.
		_, err = es.Put(c, store.Entity{Collection: store.APIs, Namespace: "guest", Key: "x", Doc: []byte(`{"api":1}`)}, 0)
		must(t, "create api named like an action", err)
		a, err := es.Get(c, store.APIs, "guest", "x")
		must(t, "Get api", err)
		if string(a.Doc) != `{"api":1}` {
			t.Fatalf("api doc = %s", a.Doc)
		}
		_, err = es.Put(c, store.Entity{Collection: store.APIs, Namespace: "guest", Key: "x", Doc: []byte(`{}`)}, 0)
		wantErr(t, "create existing api", err, store.ErrConflict)

		coll, err := es.Locate(c, "guest", "x")
		must(t, "Locate", err)
		if coll != store.Actions {
			t.Fatalf("Locate = %q, want %q", coll, store.Actions)
		}
		_, err = es.Put(c, store.Entity{Collection: store.Triggers, Namespace: "guest", Key: "t", Doc: []byte(`{}`)}, 0)
		must(t, "create trigger", err)
		coll, err = es.Locate(c, "guest", "t")
		must(t, "Locate", err)
		if coll != store.Triggers {
			t.Fatalf("Locate = %q, want %q", coll, store.Triggers)
		}
		_, err = es.Locate(c, "guest", "none")
		wantErr(t, "Locate missing", err, store.ErrNotFound)
		_, err = es.Locate(c, "other", "x")
		wantErr(t, "Locate other namespace", err, store.ErrNotFound)

		// A delete frees the name for another collection.
		must(t, "delete action", es.Delete(c, store.Actions, "guest", "x", 0))
		_, err = es.Put(c, store.Entity{Collection: store.Rules, Namespace: "guest", Key: "x", Doc: []byte(`{}`)}, 0)
		must(t, "create rule after delete", err)
		_, err = es.Get(c, store.APIs, "guest", "x")
		must(t, "api survives the action's delete", err)
	})

	t.Run("Delete", func(t *testing.T) {
		es := open(t).Entities()
		c := ctx(t)
		wantErr(t, "Delete missing", es.Delete(c, store.Triggers, "guest", "t", 0), store.ErrNotFound)
		wantErr(t, "Delete missing with rev", es.Delete(c, store.Triggers, "guest", "t", 1), store.ErrNotFound)
		_, err := es.Put(c, store.Entity{Collection: store.Triggers, Namespace: "guest", Key: "t", Doc: []byte(`{}`)}, 0)
		must(t, "create", err)
		_, err = es.Put(c, store.Entity{Collection: store.Triggers, Namespace: "guest", Key: "t", Doc: []byte(`{}`)}, 1)
		must(t, "update", err)
		wantErr(t, "Delete stale", es.Delete(c, store.Triggers, "guest", "t", 1), store.ErrConflict)
		wantErr(t, "Delete in wrong collection", es.Delete(c, store.Actions, "guest", "t", 0), store.ErrNotFound)
		must(t, "Delete", es.Delete(c, store.Triggers, "guest", "t", 2))
		_, err = es.Get(c, store.Triggers, "guest", "t")
		wantErr(t, "Get deleted", err, store.ErrNotFound)
		wantErr(t, "Delete again", es.Delete(c, store.Triggers, "guest", "t", 0), store.ErrNotFound)
		// Re-creating starts over at revision 1.
		rev, err := es.Put(c, store.Entity{Collection: store.Triggers, Namespace: "guest", Key: "t", Doc: []byte(`{}`)}, 0)
		must(t, "re-create", err)
		if rev != 1 {
			t.Fatalf("re-create rev = %d, want 1", rev)
		}
		must(t, "Delete any rev", es.Delete(c, store.Triggers, "guest", "t", 0))
	})

	t.Run("ListCount", func(t *testing.T) {
		es := open(t).Entities()
		c := ctx(t)
		for _, k := range []string{"b", "pkg/z", "a", "pkg/a", "c", "pkg2/a"} {
			_, err := es.Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: k, Doc: []byte(`{"k":"` + k + `"}`)}, 0)
			must(t, "create "+k, err)
		}
		_, err := es.Put(c, store.Entity{Collection: store.Packages, Namespace: "guest", Key: "pkg", Doc: []byte(`{}`)}, 0)
		must(t, "create package", err)
		_, err = es.Put(c, store.Entity{Collection: store.Actions, Namespace: "other", Key: "d", Doc: []byte(`{}`)}, 0)
		must(t, "create other", err)

		list := func(o store.ListOptions) []string {
			t.Helper()
			got, err := es.List(c, store.Actions, "guest", o)
			must(t, "List", err)
			for _, e := range got {
				if e.Collection != store.Actions || e.Namespace != "guest" || e.Rev != 1 || string(e.Doc) != `{"k":"`+e.Key+`"}` {
					t.Fatalf("List row = %+v", e)
				}
			}
			return keys(got)
		}
		sameStrings(t, "List all", list(store.ListOptions{}), []string{"a", "b", "c", "pkg/a", "pkg/z", "pkg2/a"})
		sameStrings(t, "List prefix", list(store.ListOptions{Prefix: "pkg/"}), []string{"pkg/a", "pkg/z"})
		sameStrings(t, "List limit", list(store.ListOptions{Limit: 2}), []string{"a", "b"})
		sameStrings(t, "List skip", list(store.ListOptions{Skip: 4}), []string{"pkg/z", "pkg2/a"})
		sameStrings(t, "List limit skip", list(store.ListOptions{Limit: 2, Skip: 1}), []string{"b", "c"})
		sameStrings(t, "List skip past end", list(store.ListOptions{Skip: 10}), nil)
		sameStrings(t, "List prefix skip", list(store.ListOptions{Prefix: "pkg", Skip: 1, Limit: 1}), []string{"pkg/z"})

		count := func(prefix string, want int) {
			t.Helper()
			n, err := es.Count(c, store.Actions, "guest", prefix)
			must(t, "Count", err)
			if n != want {
				t.Fatalf("Count(%q) = %d, want %d", prefix, n, want)
			}
		}
		count("", 6)
		count("pkg/", 2)
		count("pkg", 3)
		count("zzz", 0)
		n, err := es.Count(c, store.Packages, "guest", "")
		must(t, "Count packages", err)
		if n != 1 {
			t.Fatalf("Count packages = %d, want 1", n)
		}
		got, err := es.List(c, store.Rules, "guest", store.ListOptions{})
		must(t, "List empty", err)
		if len(got) != 0 {
			t.Fatalf("List rules = %v, want none", keys(got))
		}
	})
}

func testActivations(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("PutGet", func(t *testing.T) {
		as := open(t).Activations()
		c := ctx(t)
		_, err := as.Get(c, "guest", id(1))
		wantErr(t, "Get missing", err, store.ErrNotFound)
		a := Activation("guest", "hello", id(1), 1000, "guest/hello")
		a.Cause = id(9)
		size := 17
		a.Response.Size = &size
		must(t, "Put", as.Put(c, a))
		got, err := as.Get(c, "guest", id(1))
		must(t, "Get", err)
		sameActivation(t, got, a)

		// An error record round-trips its status code.
		b := Activation("guest", "hello", id(2), 1001, "")
		b.Response = whisk.Response{StatusCode: whisk.StatusDeveloperError, Result: json.RawMessage(`{"error":"boom"}`)}
		b.End, b.Duration = 0, 0
		must(t, "Put", as.Put(c, b))
		got, err = as.Get(c, "guest", id(2))
		must(t, "Get", err)
		if got.Response.StatusCode != whisk.StatusDeveloperError {
			t.Fatalf("status code = %d, want %d", got.Response.StatusCode, whisk.StatusDeveloperError)
		}
		sameActivation(t, got, b)

		_, err = as.Get(c, "other", id(1))
		wantErr(t, "Get in other namespace", err, store.ErrNotFound)
		must(t, "Put nothing", as.Put(c))

		cancelled, cancel := context.WithCancel(c)
		cancel()
		err = as.Put(cancelled, Activation("guest", "hello", id(3), 1002, ""))
		wantErr(t, "Put with a cancelled context", err, context.Canceled)
	})

	t.Run("ReplaceByID", func(t *testing.T) {
		as := open(t).Activations()
		c := ctx(t)
		a := Activation("guest", "hello", id(1), 1000, "")
		must(t, "Put", as.Put(c, a))
		b := Activation("guest", "hello", id(1), 2000, "")
		b.Response.Result = json.RawMessage(`{"second":true}`)
		must(t, "Put again", as.Put(c, b))
		must(t, "Put duplicate in one call", as.Put(c, b, b))
		got, err := as.Get(c, "guest", id(1))
		must(t, "Get", err)
		sameActivation(t, got, b)
		n, err := as.Count(c, "guest", store.ActivationQuery{})
		must(t, "Count", err)
		if n != 1 {
			t.Fatalf("Count = %d, want 1", n)
		}
		list, err := as.List(c, "guest", store.ActivationQuery{Since: 2000})
		must(t, "List", err)
		sameStrings(t, "List since the new start", ids(list), []string{id(1)})
	})

	t.Run("TiesNewestWrittenFirst", func(t *testing.T) {
		// Two runs in the same millisecond: the one written later is the
		// newer, whatever their (random) ids — `activation get --last`
		// must name the run that finished last.
		as := open(t).Activations()
		c := ctx(t)
		first, second := "f"+id(1)[1:], "0"+id(2)[1:]
		must(t, "Put", as.Put(c, Activation("guest", "hello", first, 100, "")))
		must(t, "Put", as.Put(c, Activation("guest", "hello", second, 100, "")))
		got, err := as.List(c, "guest", store.ActivationQuery{Limit: 1})
		must(t, "List", err)
		sameStrings(t, "List newest", ids(got), []string{second})
	})

	t.Run("TiesNewestWrittenFirstCommitted", func(t *testing.T) {
		s := open(t)
		as := s.Activations()
		c := ctx(t)
		first, second := "f"+id(3)[1:], "0"+id(4)[1:]
		must(t, "Put", as.Put(c, Activation("guest", "hello", first, 100, "")))
		must(t, "Put", as.Put(c, Activation("guest", "hello", second, 100, "")))
		if f, ok := s.(store.Flusher); ok {
			must(t, "Flush", f.Flush(c)) // now both come from the database
		}
		got, err := as.List(c, "guest", store.ActivationQuery{Limit: 1})
		must(t, "List", err)
		sameStrings(t, "List newest", ids(got), []string{second})
	})

	t.Run("ListOrderFilters", func(t *testing.T) {
		as := open(t).Activations()
		c := ctx(t)
		// ids 1..8, starts chosen so that 3 and 4 tie (4 first: written later).
		recs := []*whisk.Activation{
			Activation("guest", "hello", id(1), 100, "guest/hello"),
			Activation("guest", "other", id(2), 200, "guest/other"),
			Activation("guest", "hello", id(3), 300, "guest/pkg/hello"),
			Activation("guest", "hello", id(4), 300, "guest/hello"),
			// No path annotation: the path is namespace/name, and a
			// record namespace "guest/pkg" is owned by "guest".
			Activation("guest/pkg", "hello", id(5), 400, ""),
			Activation("guest", "hello", id(6), 500, ""),
			Activation("someone", "hello", id(7), 600, "someone/hello"),
			// A leading slash in the path annotation is not significant.
			Activation("guest", "slashed", id(8), 700, "/guest/slashed"),
		}
		must(t, "Put", as.Put(c, recs[:3]...))
		for _, r := range recs[3:] {
			must(t, "Put", as.Put(c, r))
		}
		list := func(q store.ActivationQuery) []string {
			t.Helper()
			got, err := as.List(c, "guest", q)
			must(t, "List", err)
			n, err := as.Count(c, "guest", q)
			must(t, "Count", err)
			if q.Limit == 0 && q.Skip == 0 && n != len(got) {
				t.Fatalf("Count(%+v) = %d, List has %d", q, n, len(got))
			}
			return ids(got)
		}
		sameStrings(t, "List all", list(store.ActivationQuery{}), []string{id(8), id(6), id(5), id(4), id(3), id(2), id(1)})
		sameStrings(t, "List name", list(store.ActivationQuery{Name: "hello"}), []string{id(6), id(4), id(1)})
		sameStrings(t, "List pkg/name", list(store.ActivationQuery{Name: "pkg/hello"}), []string{id(5), id(3)})
		sameStrings(t, "List slashed", list(store.ActivationQuery{Name: "slashed"}), []string{id(8)})
		sameStrings(t, "List name none", list(store.ActivationQuery{Name: "nope"}), nil)
		sameStrings(t, "List since", list(store.ActivationQuery{Since: 300}), []string{id(8), id(6), id(5), id(4), id(3)})
		sameStrings(t, "List upto", list(store.ActivationQuery{Upto: 300}), []string{id(4), id(3), id(2), id(1)})
		sameStrings(t, "List since upto", list(store.ActivationQuery{Since: 200, Upto: 400}), []string{id(5), id(4), id(3), id(2)})
		sameStrings(t, "List name since upto", list(store.ActivationQuery{Name: "hello", Since: 100, Upto: 300}), []string{id(4), id(1)})
		sameStrings(t, "List limit", list(store.ActivationQuery{Limit: 2}), []string{id(8), id(6)})
		sameStrings(t, "List skip", list(store.ActivationQuery{Skip: 5}), []string{id(2), id(1)})
		sameStrings(t, "List limit skip", list(store.ActivationQuery{Limit: 2, Skip: 2}), []string{id(5), id(4)})
		sameStrings(t, "List skip past end", list(store.ActivationQuery{Skip: 50}), nil)

		n, err := as.Count(c, "guest", store.ActivationQuery{Name: "hello", Limit: 1, Skip: 1})
		must(t, "Count", err)
		if n != 3 {
			t.Fatalf("Count ignores limit and skip: got %d, want 3", n)
		}
		got, err := as.List(c, "someone", store.ActivationQuery{})
		must(t, "List someone", err)
		sameStrings(t, "List someone", ids(got), []string{id(7)})
		got, err = as.List(c, "guest", store.ActivationQuery{Limit: 1})
		must(t, "List", err)
		sameActivation(t, got[0], recs[7])
		// The owner of a record of namespace "guest/pkg" is "guest".
		a, err := as.Get(c, "guest", id(5))
		must(t, "Get guest/pkg record", err)
		sameActivation(t, a, recs[4])
	})

	t.Run("ConcurrentPutsReadYourWrites", func(t *testing.T) {
		as := open(t).Activations()
		c := ctx(t)
		const workers, each = 32, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					n := w*each + i + 1
					var recs []*whisk.Activation
					recs = append(recs, Activation("guest", fmt.Sprintf("a%d", w%4), id(n), int64(n), ""))
					if err := as.Put(c, recs...); err != nil {
						errs <- fmt.Errorf("Put %d: %w", n, err)
						return
					}
					got, err := as.Get(c, "guest", id(n))
					if err != nil {
						errs <- fmt.Errorf("Get %d right after its Put: %w", n, err)
						return
					}
					if got.Start != int64(n) {
						errs <- fmt.Errorf("Get %d: start %d", n, got.Start)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n, err := as.Count(c, "guest", store.ActivationQuery{})
		must(t, "Count", err)
		if n != workers*each {
			t.Fatalf("Count = %d, want %d", n, workers*each)
		}
		n, err = as.Count(c, "guest", store.ActivationQuery{Name: "a1"})
		must(t, "Count a1", err)
		if n != workers*each/4 {
			t.Fatalf("Count a1 = %d, want %d", n, workers*each/4)
		}
		list, err := as.List(c, "guest", store.ActivationQuery{Limit: 3})
		must(t, "List", err)
		sameStrings(t, "List newest", ids(list), []string{id(workers * each), id(workers*each - 1), id(workers*each - 2)})
	})

	t.Run("PutRetiresJournal", func(t *testing.T) {
		s := open(t)
		c := ctx(t)
		now := time.Now()
		must(t, "Append", s.Journal().Append(c,
			store.JournalEntry{ID: id(1), Payload: []byte("one"), Accepted: now},
			store.JournalEntry{ID: id(2), Payload: []byte("two"), Accepted: now.Add(time.Millisecond)},
			store.JournalEntry{ID: id(3), Payload: []byte("three"), Accepted: now.Add(2 * time.Millisecond)}))
		must(t, "Put", s.Activations().Put(c, Activation("guest", "a", id(1), 1, ""), Activation("guest", "a", id(3), 3, "")))
		p, err := s.Journal().Pending(c)
		must(t, "Pending", err)
		sameStrings(t, "Pending after Put", journalIDs(p), []string{id(2)})
	})

	t.Run("RefusesNoID", func(t *testing.T) {
		s := open(t)
		c := ctx(t)
		good := Activation("guest", "a", id(1), 1, "")
		if err := s.Activations().Put(c, good, nil); err == nil {
			t.Error("Put of a nil record succeeded")
		}
		if err := s.Activations().Put(c, good, &whisk.Activation{Namespace: "guest", Name: "a"}); err == nil {
			t.Error("Put of a record without an activation id succeeded")
		}
		_, err := s.Activations().Get(c, "guest", id(1))
		wantErr(t, "Get after a refused Put", err, store.ErrNotFound)
	})
}

func journalIDs(es []store.JournalEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func testAuth(t *testing.T, open func(*testing.T) store.Store) {
	au := open(t).Auth()
	c := ctx(t)
	_, err := au.Subject(c, "u1")
	wantErr(t, "Subject missing", err, store.ErrNotFound)
	created := time.UnixMilli(1700000000123)
	subs := []store.Subject{
		{UUID: "u2", KeyHash: "h2", Namespace: "guest", Created: created},
		{UUID: "u1", KeyHash: "h1", Namespace: "guest", Created: created},
		{UUID: "u3", KeyHash: "h3", Namespace: "other", Created: created},
	}
	for _, s := range subs {
		must(t, "PutSubject", au.PutSubject(c, s))
	}
	got, err := au.Subject(c, "u1")
	must(t, "Subject", err)
	if got.UUID != "u1" || got.KeyHash != "h1" || got.Namespace != "guest" || !got.Created.Equal(created) {
		t.Fatalf("Subject = %+v", got)
	}
	must(t, "PutSubject replace", au.PutSubject(c, store.Subject{UUID: "u1", KeyHash: "h1b", Namespace: "guest", Created: created}))
	got, err = au.Subject(c, "u1")
	must(t, "Subject", err)
	if got.KeyHash != "h1b" {
		t.Fatalf("replaced KeyHash = %q, want h1b", got.KeyHash)
	}
	uuids := func(ss []store.Subject) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.UUID)
		}
		slices.Sort(out)
		return out
	}
	all, err := au.Subjects(c, "")
	must(t, "Subjects", err)
	sameStrings(t, "Subjects all", uuids(all), []string{"u1", "u2", "u3"})
	guest, err := au.Subjects(c, "guest")
	must(t, "Subjects guest", err)
	sameStrings(t, "Subjects guest", uuids(guest), []string{"u1", "u2"})
	none, err := au.Subjects(c, "nobody")
	must(t, "Subjects nobody", err)
	sameStrings(t, "Subjects nobody", uuids(none), nil)
	must(t, "DeleteSubject", au.DeleteSubject(c, "u2"))
	_, err = au.Subject(c, "u2")
	wantErr(t, "Subject deleted", err, store.ErrNotFound)
	wantErr(t, "DeleteSubject again", au.DeleteSubject(c, "u2"), store.ErrNotFound)
}

func testJournal(t *testing.T, open func(*testing.T) store.Store) {
	j := open(t).Journal()
	c := ctx(t)
	p, err := j.Pending(c)
	must(t, "Pending empty", err)
	sameStrings(t, "Pending empty", journalIDs(p), nil)

	base := time.UnixMilli(1700000000000)
	// Appended out of order: Pending sorts by acceptance.
	must(t, "Append", j.Append(c, store.JournalEntry{ID: id(2), Payload: []byte(`{"n":2}`), Accepted: base.Add(2 * time.Second)}))
	must(t, "Append", j.Append(c,
		store.JournalEntry{ID: id(1), Payload: []byte(`{"n":1}`), Accepted: base.Add(time.Second)},
		store.JournalEntry{ID: id(3), Payload: []byte(`{"n":3}`), Accepted: base.Add(3 * time.Second)}))
	// A duplicate id is ignored: the first payload stays.
	must(t, "Append duplicate", j.Append(c, store.JournalEntry{ID: id(1), Payload: []byte(`{"n":"dup"}`), Accepted: base}))
	p, err = j.Pending(c)
	must(t, "Pending", err)
	sameStrings(t, "Pending", journalIDs(p), []string{id(1), id(2), id(3)})
	if string(p[0].Payload) != `{"n":1}` || !p[0].Accepted.Equal(base.Add(time.Second)) {
		t.Fatalf("Pending[0] = %s at %v, want {\"n\":1} at %v", p[0].Payload, p[0].Accepted, base.Add(time.Second))
	}
	must(t, "Done", j.Done(c, id(2), id(99)))
	p, err = j.Pending(c)
	must(t, "Pending", err)
	sameStrings(t, "Pending after Done", journalIDs(p), []string{id(1), id(3)})
	must(t, "Done nothing", j.Done(c))

	// Concurrent appends and dones all land.
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				n := 100 + w*10 + i
				if err := j.Append(c, store.JournalEntry{ID: id(n), Payload: []byte("x"), Accepted: base.Add(time.Duration(n) * time.Second)}); err != nil {
					t.Errorf("Append %d: %v", n, err)
					return
				}
				if i%2 == 0 {
					if err := j.Done(c, id(n)); err != nil {
						t.Errorf("Done %d: %v", n, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	p, err = j.Pending(c)
	must(t, "Pending", err)
	if len(p) != 2+16*5 {
		t.Fatalf("Pending has %d entries, want %d", len(p), 2+16*5)
	}
	for i := 1; i < len(p); i++ {
		if p[i].Accepted.Before(p[i-1].Accepted) {
			t.Fatalf("Pending not oldest first at %d: %v before %v", i, p[i].Accepted, p[i-1].Accepted)
		}
	}
}

func testReopen(t *testing.T, open func() store.Store) {
	c := ctx(t)
	s := open()
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	_, err := s.Entities().Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"v":1}`)}, 0)
	must(t, "create", err)
	_, err = s.Entities().Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"v":2}`)}, 1)
	must(t, "update", err)
	must(t, "PutSubject", s.Auth().PutSubject(c, store.Subject{UUID: "u", KeyHash: "h", Namespace: "guest", Created: time.UnixMilli(5)}))
	must(t, "Append", s.Journal().Append(c, store.JournalEntry{ID: id(1000), Payload: []byte("p"), Accepted: time.UnixMilli(7)}))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				n := w*25 + i + 1
				if err := s.Activations().Put(c, Activation("guest", "hello", id(n), int64(n), "")); err != nil {
					t.Errorf("Put: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	closed = true
	must(t, "Close", s.Close())

	s2 := open()
	t.Cleanup(func() { s2.Close() })
	e, err := s2.Entities().Get(c, store.Actions, "guest", "hello")
	must(t, "Get after reopen", err)
	if e.Rev != 2 || string(e.Doc) != `{"v":2}` {
		t.Fatalf("after reopen: rev %d doc %s", e.Rev, e.Doc)
	}
	_, err = s2.Entities().Put(c, store.Entity{Collection: store.Triggers, Namespace: "guest", Key: "hello", Doc: []byte(`{}`)}, 0)
	wantErr(t, "uniqueness after reopen", err, store.ErrConflict)
	sub, err := s2.Auth().Subject(c, "u")
	must(t, "Subject after reopen", err)
	if sub.KeyHash != "h" || !sub.Created.Equal(time.UnixMilli(5)) {
		t.Fatalf("Subject after reopen = %+v", sub)
	}
	p, err := s2.Journal().Pending(c)
	must(t, "Pending after reopen", err)
	sameStrings(t, "Pending after reopen", journalIDs(p), []string{id(1000)})
	n, err := s2.Activations().Count(c, "guest", store.ActivationQuery{})
	must(t, "Count after reopen", err)
	if n != 200 {
		t.Fatalf("Count after reopen = %d, want 200", n)
	}
	a, err := s2.Activations().Get(c, "guest", id(77))
	must(t, "Get activation after reopen", err)
	sameActivation(t, a, Activation("guest", "hello", id(77), 77, ""))
}

// testJournalDefaults: an entry without an id is refused (and the entries
// of its call with it); a zero Accepted is stored as the time of the
// Append, a nil Payload as empty (the NOT NULL column takes it).
func testJournalDefaults(t *testing.T, open func(*testing.T) store.Store) {
	j := open(t).Journal()
	c := ctx(t)
	if err := j.Append(c, store.JournalEntry{ID: id(1)}, store.JournalEntry{}); err == nil {
		t.Error("Append of an entry without an id succeeded")
	}
	before := time.Now()
	must(t, "Append", j.Append(c, store.JournalEntry{ID: id(2)}))
	after := time.Now()
	p, err := j.Pending(c)
	must(t, "Pending", err)
	sameStrings(t, "Pending", journalIDs(p), []string{id(2)})
	if len(p[0].Payload) != 0 {
		t.Errorf("Payload = %q, want empty", p[0].Payload)
	}
	if p[0].Accepted.Before(before.Truncate(time.Microsecond)) || p[0].Accepted.After(after) {
		t.Errorf("Accepted = %v, want the time of the Append (%v to %v)", p[0].Accepted, before, after)
	}
}
