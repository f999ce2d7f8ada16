package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/whirlfaas/whirl/whisk"
)

// unzip extracts a zip into dir, which must be empty. The zip's structure
// is checked first (whisk.CheckZip: no absolute or ".." names, no writes
// through links, every link resolving inside dir); then every entry is
// written through an os.Root on dir, so that no path, whatever links it
// meets, is resolved outside dir. Writing stops once more than max bytes
// were written.
func unzip(b []byte, dir string, max int64) error {
	entries, err := whisk.CheckZip(b)
	if err != nil {
		return initErr("%v", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unzip: %w", err)
	}
	defer root.Close()
	var total int64
	for _, e := range entries {
		if e.Dir {
			if err := root.MkdirAll(e.Name, 0o755); err != nil {
				return initErr("The zip file has a bad entry %s: %v", e.Name, err)
			}
			continue
		}
		if d := path.Dir(e.Name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return initErr("The zip file has a bad entry %s: %v", e.Name, err)
			}
		}
		if e.IsLink {
			if err := root.Symlink(e.Link, e.Name); err != nil {
				return initErr("The zip file has a bad entry %s: %v", e.Name, err)
			}
			continue
		}
		n, err := extractFile(root, e, max-total)
		total += n
		if total > max {
			return initErr("%v", whisk.ErrZipTooBig)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// extractFile writes one file entry through root, at most left+1 bytes.
func extractFile(root *os.Root, e whisk.ZipEntry, left int64) (int64, error) {
	perm := os.FileMode(0o644)
	if e.File.Mode()&0o111 != 0 {
		perm = 0o755
	}
	r, err := e.File.Open()
	if err != nil {
		return 0, initErr("The zip file has an unreadable entry %s: %v", e.Name, err)
	}
	defer r.Close()
	out, err := root.OpenFile(e.Name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return 0, initErr("The zip file has a bad entry %s: %v", e.Name, err)
	}
	n, err := io.Copy(out, io.LimitReader(r, left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, initErr("The zip file has a corrupt entry %s: %v", e.Name, err)
	}
	return n, nil
}
