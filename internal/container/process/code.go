package process

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// MaxCodeBytes bounds what an action's zip may unpack to (OpenWhisk's
// code size limit).
const MaxCodeBytes = 48 << 20

// prepared says how to load an action's code.
type prepared struct {
	dir    string   // the code's directory (the launcher chdirs there)
	file   string   // the entry file (python, nodejs)
	path   []string // extra import paths (python site-packages)
	source bool     // nodejs: a single source file
	argv   []string // go, blackbox: the process to start
	native bool     // argv is the action's own executable (no sentinels)
}

func initErr(format string, args ...any) error {
	return &container.InitError{Message: fmt.Sprintf(format, args...)}
}

// isZip reports whether b starts like a zip archive.
func isZip(b []byte) bool {
	return len(b) >= 4 && (bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06")))
}

// prepare writes the action's code into the container's directory.
func (c *Container) prepare(ctx context.Context, req container.InitRequest) (*prepared, error) {
	code := filepath.Join(c.dir, "code")
	if err := os.Mkdir(code, 0o755); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	zipped := req.Binary && isZip(req.Code)
	if req.Binary && !zipped && c.family != runtimes.FamilyBlackbox && c.family != runtimes.FamilyGo {
		return nil, initErr("The action's binary code is not a zip file.")
	}
	if zipped {
		if err := unzip(req.Code, code, MaxCodeBytes); err != nil {
			return nil, err
		}
	}
	switch c.family {
	case runtimes.FamilyPython:
		return c.preparePython(code, zipped, req)
	case runtimes.FamilyNodejs:
		return c.prepareNode(code, zipped, req)
	case runtimes.FamilyGo:
		return c.prepareGo(ctx, code, zipped, req)
	default:
		return c.prepareNative(code, zipped, req)
	}
}

func (c *Container) preparePython(code string, zipped bool, req container.InitRequest) (*prepared, error) {
	p := &prepared{dir: code, path: []string{code}}
	if !zipped {
		p.file = filepath.Join(code, "main__.py")
		if err := os.WriteFile(p.file, req.Code, 0o644); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		return p, nil
	}
	local := c.f.python.Version
	venv := filepath.Join(code, "virtualenv")
	_, venvErr := os.Stat(venv)
	if _, err := os.Stat(filepath.Join(code, "requirements.txt")); err == nil && venvErr != nil {
		return nil, initErr("The zip file has a requirements.txt but no virtualenv/ folder: Whirl does not install packages at init. "+
			"Build the virtualenv with Python %[1]s and zip it with the code: "+
			"python%[1]s -m venv virtualenv && virtualenv/bin/pip install -r requirements.txt && zip -r action.zip __main__.py virtualenv", local)
	}
	if venvErr == nil {
		libs, _ := filepath.Glob(filepath.Join(venv, "lib", "python*"))
		if len(libs) == 0 {
			return nil, initErr("Invalid virtualenv: the zip file's virtualenv/ has no lib/python%s/site-packages.", local)
		}
		found := ""
		var other []string
		for _, l := range libs {
			v := strings.TrimPrefix(filepath.Base(l), "python")
			if v == local {
				found = l
			} else {
				other = append(other, v)
			}
		}
		if found == "" {
			return nil, initErr("The virtualenv in the zip file was built for Python %s, but this runtime is Python %s: packages compiled for one minor version do not load in another. "+
				"Rebuild the virtualenv with python%s.", strings.Join(other, ", "), local, local)
		}
		p.path = append(p.path, filepath.Join(found, "site-packages"))
	}
	p.file = filepath.Join(code, "__main__.py")
	if _, err := os.Stat(p.file); err != nil {
		return nil, initErr("Zip file does not include __main__.py.")
	}
	return p, nil
}

func (c *Container) prepareNode(code string, zipped bool, req container.InitRequest) (*prepared, error) {
	p := &prepared{dir: code}
	if !zipped {
		p.file, p.source = filepath.Join(code, "index.js"), true
		if err := os.WriteFile(p.file, req.Code, 0o644); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		return p, nil
	}
	entry := "index.js"
	if b, err := os.ReadFile(filepath.Join(code, "package.json")); err == nil {
		var pkg struct {
			Main string `json:"main"`
		}
		if err := json.Unmarshal(b, &pkg); err != nil {
			return nil, initErr("The zip file's package.json is not valid JSON: %v", err)
		}
		if pkg.Main != "" {
			entry = pkg.Main
		}
	}
	p.file = filepath.Join(code, filepath.FromSlash(entry))
	if !within(code, p.file) {
		return nil, initErr("The zip file's package.json main %q is outside the zip.", entry)
	}
	if _, err := os.Stat(p.file); err != nil {
		return nil, initErr("Zip file does not include %s (the entry named by package.json main, or index.js).", entry)
	}
	return p, nil
}

func (c *Container) prepareGo(ctx context.Context, code string, zipped bool, req container.InitRequest) (*prepared, error) {
	if (req.Binary && !zipped) || zipped && isExecutable(filepath.Join(code, "exec")) {
		return c.prepareNative(code, zipped, req)
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%v\x00", runtimes.GoVersion(), mainOr(req.Main), zipped)
	sum.Write(req.Code)
	key := hex.EncodeToString(sum.Sum(nil))[:32]
	bin, err := c.f.goBuild(ctx, key, func(src string) error {
		if zipped {
			if err := unzip(req.Code, src, MaxCodeBytes); err != nil {
				return err
			}
		} else if err := os.WriteFile(filepath.Join(src, "main.go"), req.Code, 0o644); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
			if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module action\n\ngo "+runtimes.GoVersion()+"\n"), 0o644); err != nil {
				return err
			}
		}
		w, err := runtimes.GoMain(req.Main)
		if err != nil {
			return initErr("%v", err)
		}
		return os.WriteFile(filepath.Join(src, "whirl_main__.go"), w, 0o644)
	})
	if err != nil {
		return nil, err
	}
	exe := filepath.Join(code, "exec")
	if err := os.Link(bin, exe); err != nil {
		if err := copyFile(exe, bin, 0o755); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	return &prepared{dir: code, argv: []string{exe}}, nil
}

type buildOnce struct {
	done chan struct{}
	bin  string
	err  error
}

// goBuild compiles an action once per key: concurrent and later builds of
// the same code reuse the binary under WorkDir/gobuild/key.
func (f *Factory) goBuild(ctx context.Context, key string, write func(src string) error) (string, error) {
	out := filepath.Join(f.opts.WorkDir, "gobuild", key)
	bin := filepath.Join(out, "exec")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	f.mu.Lock()
	b, ok := f.builds[key]
	if !ok {
		b = &buildOnce{done: make(chan struct{})}
		f.builds[key] = b
	}
	f.mu.Unlock()
	if ok {
		select {
		case <-b.done:
			return b.bin, b.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	b.bin, b.err = f.compile(ctx, out, bin, write)
	if b.err != nil {
		// A failed build may succeed later (a timeout): forget it.
		f.mu.Lock()
		delete(f.builds, key)
		f.mu.Unlock()
	}
	close(b.done)
	return b.bin, b.err
}

func (f *Factory) compile(ctx context.Context, out, bin string, write func(src string) error) (string, error) {
	tmp, err := os.MkdirTemp(filepath.Join(f.opts.WorkDir, "gobuild"), "src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := write(tmp); err != nil {
		var ie *container.InitError
		if errors.As(err, &ie) {
			return "", err
		}
		return "", fmt.Errorf("init: %w", err)
	}
	cmd := exec.CommandContext(ctx, f.goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(tmp, "exec.out"), ".")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	outb, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.ReplaceAll(strings.TrimSpace(string(outb)), tmp+"/", "")
		return "", initErr("The action failed to compile:\n%s", msg)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, "exec.out"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

func (c *Container) prepareNative(code string, zipped bool, req container.InitRequest) (*prepared, error) {
	exe := filepath.Join(code, "exec")
	if !zipped {
		if err := os.WriteFile(exe, req.Code, 0o755); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	st, err := os.Stat(exe)
	if err != nil || st.IsDir() {
		return nil, initErr("Zip file does not include an executable named exec.")
	}
	if !isExecutable(exe) {
		return nil, initErr("The action's exec is not an executable (an ELF binary or a script starting with #!).")
	}
	os.Chmod(exe, 0o755)
	return &prepared{dir: code, argv: []string{exe}, native: true}, nil
}

// isExecutable reports whether p is an ELF binary or a #! script.
func isExecutable(p string) bool {
	fh, err := os.Open(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	var head [4]byte
	n, _ := io.ReadFull(fh, head[:])
	return n >= 2 && string(head[:2]) == "#!" || n == 4 && string(head[:]) == "\x7fELF"
}

// within reports whether p is dir or inside it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// unzip extracts a zip into dir, refusing entries that escape it (".."
// parts, absolute paths, symlinks pointing outside), and stopping once more
// than max bytes have been written.
func unzip(b []byte, dir string, max int64) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return initErr("The action's code is not a valid zip file: %v", err)
	}
	if len(zr.File) == 0 {
		return initErr("The zip file is empty.")
	}
	var total int64
	files := 0
	for _, zf := range zr.File {
		name := zf.Name
		if strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || filepath.IsAbs(name) || strings.Contains(name, `\`) {
			return initErr("The zip file has an entry with an absolute path: %s", name)
		}
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return initErr("The zip file has an entry outside its folder: %s", name)
			}
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if !within(dir, dst) {
			return initErr("The zip file has an entry outside its folder: %s", name)
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("unzip: %w", err)
			}
			continue
		case mode&fs.ModeSymlink != 0:
			target, err := readAll(zf, 4096)
			if err != nil {
				return initErr("The zip file has an unreadable entry %s: %v", name, err)
			}
			t := string(target)
			if filepath.IsAbs(t) || !within(dir, filepath.Join(filepath.Dir(dst), t)) {
				return initErr("The zip file has a symbolic link pointing outside its folder: %s -> %s", name, t)
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("unzip: %w", err)
			}
			if err := os.Symlink(t, dst); err != nil {
				return initErr("The zip file has a bad entry %s: %v", name, err)
			}
			continue
		case !mode.IsRegular():
			return initErr("The zip file has an entry that is not a file or folder: %s", name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("unzip: %w", err)
		}
		// A symlink extracted earlier must not redirect this file.
		if err := noSymlinkParents(dir, dst); err != nil {
			return err
		}
		perm := os.FileMode(0o644)
		if mode&0o111 != 0 {
			perm = 0o755
		}
		r, err := zf.Open()
		if err != nil {
			return initErr("The zip file has an unreadable entry %s: %v", name, err)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
		if err != nil {
			r.Close()
			return initErr("The zip file has a bad entry %s: %v", name, err)
		}
		n, err := io.Copy(out, io.LimitReader(r, max-total+1))
		r.Close()
		out.Close()
		total += n
		if total > max {
			return initErr("The zip file unpacks to more than the code size limit of %d MB.", max>>20)
		}
		if err != nil {
			return initErr("The zip file has a corrupt entry %s: %v", name, err)
		}
		files++
	}
	if files == 0 {
		return initErr("The zip file is empty.")
	}
	return nil
}

func noSymlinkParents(dir, p string) error {
	for d := filepath.Dir(p); d != dir && within(dir, d); d = filepath.Dir(d) {
		if st, err := os.Lstat(d); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			return initErr("The zip file writes through a symbolic link: %s", p[len(dir)+1:])
		}
	}
	return nil
}

func readAll(zf *zip.File, max int64) ([]byte, error) {
	r, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, max))
}
