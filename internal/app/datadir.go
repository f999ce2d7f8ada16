package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whirlfaas/whirl/internal/store/sqlite"
)

// The data directory of a standalone Whirl holds whirl.db (with its -wal
// and -shm while open) and whirl.lock, which `whirl up` holds locked
// (flock) while it runs, with its pid inside. The lock is released by the
// kernel when the process ends, also when it is killed, so it never goes
// stale. `whirl admin restore` takes it too: it refuses a directory a live
// Whirl uses, and no Whirl starts on one being restored.

const (
	dbFile   = "whirl.db"
	lockFile = "whirl.lock"
)

// ErrDataDirInUse is returned when another process holds a data
// directory's lock.
var ErrDataDirInUse = errors.New("the data directory is in use")

// dirLock is a held lock of a data directory.
type dirLock struct{ f *os.File }

// lockDataDir takes dir's lock without waiting, or fails with an error
// matching ErrDataDirInUse that names the holder's pid.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(b))
			if holder == "" {
				holder = "unknown"
			}
			return nil, fmt.Errorf("%w: %s is used by a running whirl (pid %s); stop it first", ErrDataDirInUse, dir, holder)
		}
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	// Best effort: the pid is for the message above, the lock is what
	// counts (a full disk must not stop a start).
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// release unlocks (closing the file releases the flock). Nil-safe.
func (l *dirLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// Backup writes a consistent copy of dataDir's store to file (which must
// not exist), also while a Whirl runs on it (`whirl admin backup`).
func Backup(ctx context.Context, dataDir, file string) error {
	return sqlite.Backup(ctx, filepath.Join(dataDir, dbFile), file)
}

// Restore makes the backup file dataDir's store (`whirl admin restore`).
// It checks the backup first (a Whirl database of a schema this Whirl
// reads, intact), refuses a data directory a running Whirl holds, and
// keeps the store it replaces beside it as whirl.db.before-restore-<time>
// (with its WAL), whose path it returns ("" when there was none). The new
// store is renamed into place, so a crash leaves the old one or the new.
func Restore(ctx context.Context, dataDir, file string) (kept string, err error) {
	if _, err := sqlite.Check(ctx, file); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer lock.release()
	db := filepath.Join(dataDir, dbFile)
	tmp := db + ".restoring"
	if err := copyFile(file, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("restore: %w", err)
	}
	if _, err := os.Stat(db); err == nil {
		kept = db + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(db+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				os.Remove(tmp)
				return "", fmt.Errorf("restore: keep the old store: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return kept, fmt.Errorf("restore: %w", err)
	}
	return kept, syncDir(dataDir)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
