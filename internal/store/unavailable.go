package store

import (
	"context"
	"errors"
)

// ErrUnavailable: the store cannot write now — its disk is full, its
// server refuses writes or cannot be reached — and nothing was changed.
// The condition is expected to pass (space freed, server back); callers
// answer 503 and may retry. Backends return it wrapped with the reason
// (ErrNoSpace, or Unavailable(reason)); compare with errors.Is.
var ErrUnavailable = errors.New("store: unavailable")

// ErrNoSpace is the ErrUnavailable of a full disk: SQLite's SQLITE_FULL,
// PostgreSQL's disk_full (SQLSTATE 53100). errors.Is(ErrNoSpace,
// ErrUnavailable) holds.
var ErrNoSpace = Unavailable("no space left on device")

// Unavailable returns an error that matches ErrUnavailable and reads
// "store: " + reason.
func Unavailable(reason string) error { return &unavailableError{reason: reason} }

type unavailableError struct{ reason string }

func (e *unavailableError) Error() string        { return "store: " + e.reason }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// HealthReporter is implemented by stores that know whether they can
// write. Health returns nil while writes succeed and, after a write failed
// for a reason matching ErrUnavailable, that error until a write succeeds
// again. /healthz reports it.
type HealthReporter interface {
	Health(ctx context.Context) error
}
