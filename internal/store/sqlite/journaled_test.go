package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// TestRecordsRetireOnlyJournaledEntries: the record of an invocation
// with no journal entry (a blocking one) commits without a journal
// DELETE; one with an entry, appended now or found at Open, retires it.
func TestRecordsRetireOnlyJournaledEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "whirl.db")
	s := open(t, path)
	rec := func(id string) *whisk.Activation {
		return &whisk.Activation{Namespace: "guest", Name: "a", ActivationID: id, Start: 1, End: 2}
	}
	put := func(s interface {
		Activations() store.Activations
		Flush(context.Context) error
	}, id string) {
		t.Helper()
		if err := s.Activations().Put(ctx, rec(id)); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	put(s, aid(1)) // blocking: no entry
	if n := s.JournalDeletes(); n != 0 {
		t.Fatalf("a record without a journal entry ran %d journal deletes", n)
	}
	if err := s.Journal().Append(ctx, store.JournalEntry{ID: aid(2), Payload: []byte("{}")},
		store.JournalEntry{ID: aid(3), Payload: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	put(s, aid(2))
	if n := s.JournalDeletes(); n != 1 {
		t.Fatalf("journal deletes = %d, want 1", n)
	}
	put(s, aid(2)) // again: its entry is gone already
	if n := s.JournalDeletes(); n != 1 {
		t.Fatalf("journal deletes = %d after a second put, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// aid(3)'s entry survives the restart and is known at Open.
	s = open(t, path)
	defer s.Close()
	if p, err := s.Journal().Pending(ctx); err != nil || len(p) != 1 || p[0].ID != aid(3) {
		t.Fatalf("Pending = %v, %v; want aid(3)", p, err)
	}
	put(s, aid(3))
	if p, err := s.Journal().Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("Pending after the record = %v, %v; want none", p, err)
	}
	if n := s.JournalDeletes(); n != 1 {
		t.Fatalf("journal deletes = %d, want 1", n)
	}
}
