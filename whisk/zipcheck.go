package whisk

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// MaxCodeBytes bounds what an action's zip may unpack to (OpenWhisk's code
// size limit).
const MaxCodeBytes = 48 << 20

// maxLinkHops bounds how many symbolic links resolving one name may follow
// (as Linux's MAXSYMLINKS).
const maxLinkHops = 40

// ZipEntry is one entry of a zip that CheckZip accepted: its cleaned,
// slash-separated name relative to the zip's folder.
type ZipEntry struct {
	File   *zip.File
	Name   string // cleaned; never absolute, never with a ".." part
	Dir    bool
	Link   string // the symbolic link's target when the entry is one
	IsLink bool
}

// IsZip reports whether b starts like a zip archive.
func IsZip(b []byte) bool {
	return len(b) >= 4 && (bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06")))
}

// CheckCode validates an exec's code as the controller stores it: binary
// code must be base64, and binary code that is a zip must pass CheckZip.
// It returns a 400 *Error.
func (e *Exec) CheckCode() error {
	if e.Code == nil || !e.Binary {
		return nil
	}
	b, err := e.CodeBytes()
	if err != nil {
		return err
	}
	if !IsZip(b) {
		return nil
	}
	if _, err := CheckZip(b); err != nil {
		return BadRequest(MsgMalformed + err.Error())
	}
	return nil
}

// CheckZip reads a zip's structure and returns its entries, or an error
// (its message is for the action's owner) when extracting it into an empty
// folder could put or point anything outside that folder:
//   - a name that is absolute, has a "..", a backslash or a NUL;
//   - a name that appears twice, or passes through a symbolic link of the
//     zip (writing through a link);
//   - a symbolic link whose target, resolved part by part and following
//     the zip's other links as the kernel would, leaves the folder at any
//     step (a chain such as s -> ../.., esc -> s/../.. is caught), is
//     absolute, or loops;
//   - an entry that is neither a file, a folder nor a link;
//   - declared sizes over MaxCodeBytes, or no file at all.
//
// The sizes a zip declares can lie: extraction must still stop at
// MaxCodeBytes. CheckZip reads only link targets, not file contents.
func CheckZip(b []byte) ([]ZipEntry, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("The action's code is not a valid zip file: %v", err)
	}
	var (
		entries []ZipEntry
		links   = map[string]string{}
		seen    = map[string]bool{}
		total   uint64
		files   int
	)
	for _, zf := range zr.File {
		e, err := zipEntry(zf)
		if err != nil {
			return nil, err
		}
		if e.Name == "." {
			continue
		}
		if !e.Dir && seen[e.Name] {
			return nil, fmt.Errorf("The zip file has the entry %s twice.", e.Name)
		}
		seen[e.Name] = true
		if e.IsLink {
			links[e.Name] = e.Link
		} else if !e.Dir {
			files++
			total += zf.UncompressedSize64
			if total > MaxCodeBytes {
				return nil, ErrZipTooBig
			}
		}
		entries = append(entries, e)
	}
	if files == 0 {
		return nil, errors.New("The zip file is empty.")
	}
	for _, e := range entries {
		for d := path.Dir(e.Name); d != "."; d = path.Dir(d) {
			if _, ok := links[d]; ok {
				return nil, fmt.Errorf("The zip file writes through a symbolic link: %s (%s is a link)", e.Name, d)
			}
		}
		if e.IsLink {
			hops := 0
			if _, err := resolveLink(links, parts(path.Dir(e.Name)), e.Link, &hops); err != nil {
				return nil, fmt.Errorf("The zip file has a symbolic link pointing outside its folder: %s -> %s (%v)", e.Name, e.Link, err)
			}
		}
	}
	return entries, nil
}

// ErrZipTooBig says a zip unpacks to more than MaxCodeBytes: CheckZip
// returns it for declared sizes, extractors for the bytes they wrote.
var ErrZipTooBig = fmt.Errorf("The zip file unpacks to more than the code size limit of %d MB.", MaxCodeBytes>>20)

// zipEntry checks one entry's name and kind.
func zipEntry(zf *zip.File) (ZipEntry, error) {
	name := zf.Name
	if strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || len(name) > 1 && name[1] == ':' {
		return ZipEntry{}, fmt.Errorf("The zip file has an entry with an absolute path: %s", name)
	}
	if strings.ContainsRune(name, 0) {
		return ZipEntry{}, fmt.Errorf("The zip file has an entry with a NUL in its name: %q", name)
	}
	for _, p := range strings.Split(name, "/") {
		if p == ".." {
			return ZipEntry{}, fmt.Errorf("The zip file has an entry outside its folder: %s", name)
		}
	}
	e := ZipEntry{File: zf, Name: path.Clean(name)}
	mode := zf.Mode()
	switch {
	case mode.IsDir():
		e.Dir = true
	case mode&fs.ModeSymlink != 0:
		target, err := readEntry(zf, 4096)
		if err != nil {
			return e, fmt.Errorf("The zip file has an unreadable entry %s: %v", name, err)
		}
		e.IsLink, e.Link = true, string(target)
		if e.Link == "" || path.IsAbs(e.Link) || strings.ContainsRune(e.Link, 0) {
			return e, fmt.Errorf("The zip file has a symbolic link pointing outside its folder: %s -> %s (an absolute or empty target)", name, e.Link)
		}
	case !mode.IsRegular():
		return e, fmt.Errorf("The zip file has an entry that is not a file or folder: %s", name)
	}
	return e, nil
}

// parts splits a cleaned relative path into its parts ("." has none).
func parts(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// resolveLink resolves target relative to the folder dir (parts from the
// zip's root) the way the kernel does, following the zip's links, and
// fails as soon as a step leaves the root.
func resolveLink(links map[string]string, dir []string, target string, hops *int) ([]string, error) {
	if path.IsAbs(target) {
		return nil, errors.New("an absolute target")
	}
	cur := append([]string(nil), dir...)
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, errors.New("it leaves the folder")
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, p)
		t, ok := links[strings.Join(cur, "/")]
		if !ok {
			continue
		}
		if *hops++; *hops > maxLinkHops {
			return nil, errors.New("too many levels of symbolic links")
		}
		next, err := resolveLink(links, cur[:len(cur)-1], t, hops)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func readEntry(zf *zip.File, max int64) ([]byte, error) {
	r, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, max))
}
