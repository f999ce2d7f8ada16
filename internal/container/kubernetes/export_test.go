package kubernetes

import (
	"context"
	"time"
)

// SetServiceAccountDir points the in-cluster credentials at dir for a
// test and returns a function restoring the default.
func SetServiceAccountDir(dir string) func() {
	old := saDir
	saDir = dir
	return func() { saDir = old }
}

// SetRecheck sets how often credential files are looked at and returns a
// function restoring it.
func SetRecheck(d time.Duration) func() {
	old := recheck
	recheck = d
	return func() { recheck = old }
}

// Cleanup deletes the pods of the factory's invoker (what New does).
func (f *Factory) Cleanup(ctx context.Context) error {
	_, err := f.cleanup(ctx)
	return err
}
