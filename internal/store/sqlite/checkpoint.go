package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Checkpoints run off the writer's path. SQLite's automatic checkpoint
// runs inside the commit that crosses its threshold (1000 WAL pages), so
// every caller waiting on that batch (the 202 of an asynchronous invoke)
// waited for the checkpoint as well, tens to hundreds of milliseconds.
// The writer connection therefore has wal_autocheckpoint off, and a
// checkpointer goroutine on a connection of its own copies the WAL back
// into the database once it has grown past walCheckpointBytes (about
// SQLite's own threshold): PASSIVE, so it never waits for, nor blocks, the
// writer or the readers. Should the WAL still grow past walCapBytes
// (readers pinning old frames, or a checkpointer that cannot keep up), it
// runs a RESTART checkpoint, which waits for the writer once so that the
// next write starts the WAL over. The WAL's size is its file's:
// journal_size_limit 0 makes the writer truncate the file whenever the
// WAL starts over, so the file holds only the frames since.
const (
	checkpointEvery    = 50 * time.Millisecond
	walCheckpointBytes = 4 << 20  // ~1000 pages of 4 KiB
	walCapBytes        = 64 << 20 // past this, RESTART
)

// checkpointer copies the WAL into the database after writes, on its own
// connection.
type checkpointer struct {
	db   *sql.DB
	wal  string        // the WAL file's path
	kick chan struct{} // buffered(1): a write committed
	runs atomic.Int64
	stop chan struct{}
	done chan struct{}
	logf func(format string, args ...any)
}

// newCheckpointer opens the checkpointer's connection to path and starts
// it.
func newCheckpointer(path string, logf func(string, ...any)) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	c := &checkpointer{db: db, wal: path + "-wal", kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), logf: logf}
	go c.loop()
	return c, nil
}

// wrote tells the checkpointer that a write committed: only writes grow
// the WAL.
func (c *checkpointer) wrote() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// loop looks at the WAL checkpointEvery after a write (writes meanwhile
// are looked at together; an idle store costs nothing) and checkpoints it
// once past walCheckpointBytes.
func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTimer(0)
	<-t.C
	failed := false
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		t.Reset(checkpointEvery)
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
		fi, err := os.Stat(c.wal)
		if err != nil || fi.Size() < walCheckpointBytes {
			continue
		}
		if err := c.run(fi.Size()); err != nil {
			c.wrote() // try again after the next interval
			if !failed {
				c.logf("sqlite: checkpoint: %v", err)
			}
			failed = true
			continue
		}
		failed = false
	}
}

// run checkpoints what it can without waiting; with the WAL past
// walCapBytes it waits for the writer once so that the WAL starts over.
func (c *checkpointer) run(walSize int64) error {
	ctx := context.Background()
	var busy, log, done int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		return err
	}
	c.runs.Add(1)
	if walSize > walCapBytes {
		if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &log, &done); err != nil {
			return err
		}
	}
	return nil
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
