package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/store"
)

// flush makes write-behind records durable, where the backend has them.
func flush(t *testing.T, s store.Store) {
	t.Helper()
	if f, ok := s.(store.Flusher); ok {
		must(t, "Flush", f.Flush(ctx(t)))
	}
}

// testPrune: retention deletes records by age and beyond a namespace's
// newest n, in batches, never a journal entry, and idempotently.
func testPrune(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	p, ok := s.(store.Pruner)
	if !ok {
		t.Fatal("the store does not implement store.Pruner: every backend prunes activation records")
	}
	c := ctx(t)
	now := time.Now().UnixMilli()
	old := now - 2*time.Hour.Milliseconds()
	// An accepted invocation whose record was stored (its entry retired
	// with the record) and one whose record does not exist yet.
	must(t, "Append", s.Journal().Append(c, store.JournalEntry{ID: id(1), Payload: []byte("a")}, store.JournalEntry{ID: "waiting", Payload: []byte("b")}))
	n := 0
	put := func(ns string, start int64) string {
		n++
		must(t, "Put", s.Activations().Put(c, Activation(ns, "hello", id(n), start, "")))
		return id(n)
	}
	var oldIDs []string
	for range 10 {
		oldIDs = append(oldIDs, put("guest", old))
	}
	for i := range 5 {
		put("guest", now+int64(i))
	}
	for range 3 {
		oldIDs = append(oldIDs, put("alice", old-1))
	}
	for i := range 20 {
		put("alice", now+int64(i/2)) // pairs start in the same millisecond
	}
	flush(t, s)
	count := func(ns string) int {
		t.Helper()
		n, err := s.Activations().Count(c, ns, store.ActivationQuery{})
		must(t, "Count", err)
		return n
	}

	res, err := p.PruneActivations(c, store.PruneOptions{Before: time.UnixMilli(now - time.Hour.Milliseconds()), Batch: 3, Pause: time.Millisecond})
	must(t, "PruneActivations", err)
	if res.Records != 13 || res.Bytes <= 0 || res.Batches < 5 {
		t.Fatalf("prune by age: %+v, want 13 records in at least 5 batches of 3", res)
	}
	if g, a := count("guest"), count("alice"); g != 5 || a != 20 {
		t.Fatalf("after prune by age: guest %d, alice %d records; want 5 and 20", g, a)
	}
	for _, i := range oldIDs {
		if _, err := s.Activations().Get(c, "guest", i); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("old record %s: %v, want ErrNotFound", i, err)
		}
	}
	pend, err := s.Journal().Pending(c)
	must(t, "Pending", err)
	sameStrings(t, "journal after prune", journalIDs(pend), []string{"waiting"})

	before, err := s.Activations().List(c, "alice", store.ActivationQuery{})
	must(t, "List", err)
	res, err = p.PruneActivations(c, store.PruneOptions{MaxPerNamespace: 7, Batch: 4, Pause: time.Millisecond})
	must(t, "PruneActivations", err)
	if res.Records != 13 {
		t.Fatalf("prune beyond 7 per namespace: %+v, want the 13 oldest of alice", res)
	}
	after, err := s.Activations().List(c, "alice", store.ActivationQuery{})
	must(t, "List", err)
	sameStrings(t, "alice after prune to 7", ids(after), ids(before[:7]))
	if g := count("guest"); g != 5 {
		t.Fatalf("guest has %d records after prune to 7, want its 5", g)
	}

	res, err = p.PruneActivations(c, store.PruneOptions{Before: time.UnixMilli(now - time.Hour.Milliseconds()), MaxPerNamespace: 7})
	must(t, "PruneActivations", err)
	if res.Records != 0 {
		t.Fatalf("a second prune deleted %+v", res)
	}
	if nl, ok := s.(store.NamespaceLister); ok {
		nss, err := nl.Namespaces(c)
		must(t, "Namespaces", err)
		if !slices.Contains(nss, "alice") || !slices.Contains(nss, "guest") || !slices.IsSorted(nss) {
			t.Fatalf("Namespaces = %q", nss)
		}
	}
}

// testExportImport: an export of one namespace loads into an empty store
// with everything the namespace owns (also what whisk.system keeps for
// it), again without change, and a dry run writes nothing.
func testExportImport(t *testing.T, open func(*testing.T) store.Store) {
	src, dst := open(t), open(t)
	c := ctx(t)
	ents := []store.Entity{
		{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"exec":{"kind":"nodejs:20","code":"function main(){}"}}`)},
		{Collection: store.Actions, Namespace: "guest", Key: "pkg/inner", Doc: []byte(`{"exec":{"kind":"python:3","code":"UEsDBA==","binary":true}}`)},
		{Collection: store.Packages, Namespace: "guest", Key: "pkg", Doc: []byte(`{"publish":false}`)},
		{Collection: store.Packages, Namespace: "guest", Key: "bound", Doc: []byte(`{"binding":{"namespace":"whisk.system","name":"utils"}}`)},
		{Collection: store.Triggers, Namespace: "guest", Key: "tick", Doc: []byte(`{"annotations":[{"key":"feed","value":"/whisk.system/alarms/alarm"}]}`)},
		{Collection: store.Rules, Namespace: "guest", Key: "r", Doc: []byte(`{"trigger":"/guest/tick","action":"/guest/hello"}`)},
		{Collection: store.APIs, Namespace: "guest", Key: "/v1", Doc: []byte(`{"basePath":"/v1"}`)},
		{Collection: store.Feeds, Namespace: store.LimitsNamespace, Key: "guest/tick", Doc: []byte(`{"cron":"* * * * *"}`)},
		{Collection: store.Limits, Namespace: store.LimitsNamespace, Key: "guest", Doc: []byte(`{"invocationsPerMinute":600}`)},
		{Collection: store.Actions, Namespace: "bob", Key: "other", Doc: []byte(`{}`)},
		{Collection: store.Feeds, Namespace: store.LimitsNamespace, Key: "bob/tick", Doc: []byte(`{}`)},
	}
	for _, e := range ents {
		_, err := src.Entities().Put(c, e, 0)
		must(t, "Put", err)
	}
	must(t, "PutSubject", src.Auth().PutSubject(c, store.Subject{UUID: "u-guest", KeyHash: "h1", Namespace: "guest"}))
	must(t, "PutSubject", src.Auth().PutSubject(c, store.Subject{UUID: "u-bob", KeyHash: "h2", Namespace: "bob"}))
	must(t, "Put", src.Activations().Put(c, Activation("guest", "hello", id(1), 1000, ""), Activation("bob", "other", id(2), 1000, "")))

	var out bytes.Buffer
	stats, err := store.Export(c, src, &out, store.ExportOptions{Namespaces: []string{"guest"}, Activations: true})
	must(t, "Export", err)
	if stats.Entities != 9 || stats.Subjects != 1 || stats.Activations != 1 {
		t.Fatalf("Export of guest: %+v, want 9 entities, 1 subject, 1 activation", stats)
	}
	dump := out.Bytes()

	rep, err := store.Import(c, dst, bytes.NewReader(dump), true)
	must(t, "Import dry", err)
	if rep.Counts[store.ImportCreate] != 11 {
		t.Fatalf("dry run: %s, want 11 create", rep.Summary())
	}
	if n, _ := dst.Entities().Count(c, store.Actions, "guest", ""); n != 0 {
		t.Fatalf("a dry run wrote %d actions", n)
	}
	rep, err = store.Import(c, dst, bytes.NewReader(dump), false)
	must(t, "Import", err)
	if rep.Counts[store.ImportCreate] != 11 {
		t.Fatalf("import: %s, want 11 create", rep.Summary())
	}
	for _, e := range ents[:9] {
		got, err := dst.Entities().Get(c, e.Collection, e.Namespace, e.Key)
		must(t, "Get "+e.Collection+" "+e.Key, err)
		if !bytes.Equal(got.Doc, e.Doc) {
			t.Fatalf("%s %s: %s, want %s", e.Collection, e.Key, got.Doc, e.Doc)
		}
	}
	for _, e := range ents[9:] {
		if _, err := dst.Entities().Get(c, e.Collection, e.Namespace, e.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("bob's %s %s was imported with guest's export: %v", e.Collection, e.Key, err)
		}
	}
	sub, err := dst.Auth().Subject(c, "u-guest")
	must(t, "Subject", err)
	if sub.KeyHash != "h1" || sub.Namespace != "guest" {
		t.Fatalf("subject: %+v", sub)
	}
	if _, err := dst.Activations().Get(c, "guest", id(1)); err != nil {
		t.Fatalf("imported activation: %v", err)
	}

	// Idempotent; a changed entity is replaced, a dry run says so only.
	rep, err = store.Import(c, dst, bytes.NewReader(dump), false)
	must(t, "Import again", err)
	if rep.Counts[store.ImportUnchanged] != 11 || len(rep.Changes) != 11 {
		t.Fatalf("import again: %s, want 11 unchanged", rep.Summary())
	}
	cur, err := dst.Entities().Get(c, store.Actions, "guest", "hello")
	must(t, "Get", err)
	_, err = dst.Entities().Put(c, store.Entity{Collection: store.Actions, Namespace: "guest", Key: "hello", Doc: []byte(`{"changed":true}`)}, cur.Rev)
	must(t, "Put", err)
	rep, err = store.Import(c, dst, bytes.NewReader(dump), true)
	must(t, "Import dry", err)
	if rep.Counts[store.ImportUpdate] != 1 || !slices.Contains(rep.Changes, store.ImportChange{Op: store.ImportUpdate, What: "actions guest/hello"}) {
		t.Fatalf("dry run after a change: %+v", rep.Changes)
	}
	if got, _ := dst.Entities().Get(c, store.Actions, "guest", "hello"); string(got.Doc) != `{"changed":true}` {
		t.Fatalf("a dry run wrote: %s", got.Doc)
	}

	if _, err := store.Import(c, dst, bytes.NewReader([]byte(`{"format":"whirl-export","version":99}`+"\n")), false); err == nil {
		t.Fatal("an export of a newer version was imported")
	}
	if _, ok := src.(store.NamespaceLister); ok {
		out.Reset()
		stats, err := store.Export(c, src, &out, store.ExportOptions{})
		must(t, "Export all", err)
		if stats.Entities != len(ents) || stats.Subjects != 2 || stats.Activations != 0 {
			t.Fatalf("Export of all: %+v, want %d entities and 2 subjects", stats, len(ents))
		}
	}
}
