package storetest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Disk is a small file system of its own (a tmpfs) that a test can fill
// to the last byte and free again, to see what a store does when its disk
// is full.
type Disk struct {
	// Dir is the mounted directory; put the data under it.
	Dir    string
	filler string
}

// SmallDisk mounts a tmpfs of size bytes on a fresh directory and
// unmounts it in t.Cleanup. It skips t, saying why, when the process may
// not mount (not root, or no mount namespace rights).
func SmallDisk(t testing.TB, size int) *Disk {
	t.Helper()
	dir := t.TempDir()
	opts := "size=" + strconv.Itoa(size) + ",mode=0755"
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("a full disk needs a tmpfs mount, which needs root: %v", err)
		}
		t.Skipf("cannot mount a tmpfs for a full disk: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return &Disk{Dir: dir, filler: filepath.Join(dir, "filler")}
}

// Fill writes a filler file until the file system has no block left.
func (d *Disk) Fill(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(d.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("filler: %v", err)
	}
	defer f.Close()
	for _, n := range []int{64 << 10, 4 << 10, 512, 1} {
		buf := make([]byte, n)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filler: %v", err)
				}
				break
			}
		}
	}
}

// Free removes the filler: the space it held is free again.
func (d *Disk) Free(t testing.TB) {
	t.Helper()
	if err := os.Remove(d.filler); err != nil {
		t.Fatalf("remove filler: %v", err)
	}
}
