package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// Backoff of the retries of a non-blocking activation's record while the
// store cannot write.
const (
	storeRetryMin = 50 * time.Millisecond
	storeRetryMax = 2 * time.Second
)

// store stores act. A store that cannot write (store.ErrUnavailable: a
// full disk) fails a blocking invocation's record at once, for the caller
// to be told; a non-blocking invocation's record is tried again, with a
// backoff, until the store takes it or ctx ends (then the invocation is
// still journaled, or unacknowledged on a durable bus, and runs again).
// Retrying holds the invocation's slot, so non-blocking work waits while
// the store cannot keep its records.
func (iv *Invoker) store(ctx context.Context, inv *bus.Invocation, act *whisk.Activation) error {
	err := iv.cfg.Activations.Put(ctx, act)
	if err == nil || inv.Blocking || !errors.Is(err, store.ErrUnavailable) {
		return err
	}
	iv.cfg.Logger.Warn("store activation: the store cannot write, retrying", "id", act.ActivationID, "err", err)
	backoff := storeRetryMin
	for {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		if err = iv.cfg.Activations.Put(ctx, act); err == nil || !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		backoff = min(2*backoff, storeRetryMax)
	}
}

// storeUnavailableResult is the result of the record a blocking caller
// receives when the activation ran but its record could not be stored (the
// store cannot write): the controller answers 503 with
// whisk.MsgStoreUnavailable, so the caller knows nothing was kept.
var storeUnavailableResult, _ = json.Marshal(map[string]string{"error": whisk.MsgStoreUnavailable})

// unstored returns the completion of act when its record could not be
// stored: a whisk error with storeUnavailableResult.
func unstored(act *whisk.Activation) *whisk.Activation {
	c := *act
	c.Response = whisk.Response{StatusCode: whisk.StatusWhiskError, Result: storeUnavailableResult}
	return &c
}
