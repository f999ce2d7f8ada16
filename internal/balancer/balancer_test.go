package balancer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/whisk"
)

// downBus refuses every publish.
type downBus struct{ bus.Bus }

func (downBus) Publish(context.Context, string, *bus.Invocation) error {
	return errors.New("bus closed")
}

// memJournal keeps entries in memory.
type memJournal struct{ entries []store.JournalEntry }

func (j *memJournal) Append(_ context.Context, e ...store.JournalEntry) error {
	j.entries = append(j.entries, e...)
	return nil
}
func (j *memJournal) Done(context.Context, ...string) error { return nil }
func (j *memJournal) Pending(context.Context) ([]store.JournalEntry, error) {
	return j.entries, nil
}

// TestPublishJournaledButUndelivered: an asynchronous invocation the bus
// refuses stays journaled, is accepted, and releases what done holds.
func TestPublishJournaledButUndelivered(t *testing.T) {
	j := &memJournal{}
	lb := New("c0", downBus{}, j, []string{"i0"})
	calls := 0
	inv := &bus.Invocation{ActivationID: whisk.NewActivationID(), Received: time.Now()}
	ch, err := lb.Publish(context.Background(), inv, false, func(*whisk.Activation) { calls++ })
	if err != nil || ch != nil {
		t.Fatalf("publish: %v %v", ch, err)
	}
	if len(j.entries) != 1 || j.entries[0].ID != inv.ActivationID {
		t.Fatalf("journal %v", j.entries)
	}
	if calls != 1 {
		t.Fatalf("done called %d times", calls)
	}
	if n := lb.Pending(); n != 0 {
		t.Fatalf("%d waiters left", n)
	}
	// A blocking one fails and leaves nothing behind either.
	inv2 := &bus.Invocation{ActivationID: whisk.NewActivationID(), Blocking: true, Received: time.Now()}
	if _, err := lb.Publish(context.Background(), inv2, true, func(*whisk.Activation) { calls++ }); err == nil {
		t.Fatal("blocking publish on a down bus succeeded")
	}
	if n := lb.Pending(); n != 0 || len(j.entries) != 1 {
		t.Fatalf("%d waiters, %d journal entries", n, len(j.entries))
	}
}
