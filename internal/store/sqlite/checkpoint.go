package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"
)

// Checkpoints run off the writer's path. SQLite's automatic checkpoint
// runs inside the commit that crosses its threshold (1000 WAL pages), so
// every caller waiting on that batch (the 202 of an asynchronous invoke)
// waited for the checkpoint as well, tens to hundreds of milliseconds.
// The writer connection therefore has wal_autocheckpoint off, and a
// checkpointer goroutine on a connection of its own copies the WAL back
// into the database (PASSIVE: it never waits for, nor blocks, the writer
// or the readers) shortly after writes. Should the WAL still grow past
// walCapPages (readers pinning old frames, or a checkpointer that cannot
// keep up), the checkpointer runs a RESTART checkpoint, which waits for
// the writer once and lets the next write start the WAL over; the
// writer's journal_size_limit then truncates the file.
const (
	checkpointEvery = 50 * time.Millisecond
	walCapPages     = 16384    // 64 MiB of 4 KiB pages
	walKeepBytes    = 64 << 20 // journal_size_limit: a reset WAL shrinks to this
)

// checkpointer copies the WAL into the database after writes, on its own
// connection.
type checkpointer struct {
	db    *sql.DB
	dirty atomic.Bool // a write committed since the last checkpoint
	runs  atomic.Int64
	stop  chan struct{}
	done  chan struct{}
	logf  func(format string, args ...any)
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
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{}), logf: logf}
	go c.loop()
	return c, nil
}

// wrote tells the checkpointer that a write committed.
func (c *checkpointer) wrote() { c.dirty.Store(true) }

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	failed := false
	for {
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
		if !c.dirty.Swap(false) {
			continue
		}
		if err := c.run(); err != nil {
			c.dirty.Store(true) // try again at the next tick
			if !failed {
				c.logf("sqlite: checkpoint: %v", err)
			}
			failed = true
			continue
		}
		failed = false
	}
}

// run checkpoints what it can without waiting; past walCapPages it waits
// for the writer once so that the WAL starts over.
func (c *checkpointer) run() error {
	ctx := context.Background()
	var busy, log, done int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		return err
	}
	c.runs.Add(1)
	if log > walCapPages {
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
