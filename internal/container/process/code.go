package process

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/runtimes"
	"github.com/whirlfaas/whirl/whisk"
)

// MaxCodeBytes bounds what an action's zip may unpack to (OpenWhisk's
// code size limit).
const MaxCodeBytes = whisk.MaxCodeBytes

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

// prepare writes the action's code into the container's directory. Every
// later look at the code from outside the sandbox (package.json, the entry
// file, exec) goes through an os.Root on that directory, so that a link in
// the code cannot make Whirl read or change a file elsewhere.
func (c *Container) prepare(ctx context.Context, req container.InitRequest) (*prepared, error) {
	code := filepath.Join(c.dir, "code")
	if err := os.Mkdir(code, 0o755); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	zipped := req.Binary && whisk.IsZip(req.Code)
	if req.Binary && !zipped && c.family != runtimes.FamilyBlackbox && c.family != runtimes.FamilyGo {
		return nil, initErr("The action's binary code is not a zip file.")
	}
	if zipped && c.family != runtimes.FamilyJava { // a jar stays whole
		if err := unzip(req.Code, code, MaxCodeBytes); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(code)
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	defer root.Close()
	switch c.family {
	case runtimes.FamilyPython:
		return c.preparePython(root, zipped, req)
	case runtimes.FamilyNodejs:
		return c.prepareNode(root, zipped, req)
	case runtimes.FamilyGo:
		return c.prepareGo(ctx, root, zipped, req)
	case runtimes.FamilyJava:
		return c.prepareJava(root, zipped, req)
	case runtimes.FamilyPHP:
		return c.preparePHP(root, zipped, req)
	case runtimes.FamilyRuby:
		return c.prepareRuby(root, zipped, req)
	default:
		return c.prepareNative(root, zipped, req)
	}
}

func (c *Container) preparePython(root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	code := root.Name()
	p := &prepared{dir: code, path: []string{code}}
	if !zipped {
		p.file = filepath.Join(code, "main__.py")
		if err := root.WriteFile("main__.py", req.Code, 0o644); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		return p, nil
	}
	local := c.interp.Version
	if local == "" {
		local = c.f.python.Version
	}
	_, venvErr := root.Stat("virtualenv")
	if _, err := root.Stat("requirements.txt"); err == nil && venvErr != nil {
		return nil, initErr("The zip file has a requirements.txt but no virtualenv/ folder: Whirl does not install packages at init. "+
			"Build the virtualenv with Python %[1]s and zip it with the code: "+
			"python%[1]s -m venv virtualenv && virtualenv/bin/pip install -r requirements.txt && zip -r action.zip __main__.py virtualenv", local)
	}
	if venvErr == nil {
		libs, _ := fs.Glob(root.FS(), "virtualenv/lib/python*")
		if len(libs) == 0 {
			return nil, initErr("Invalid virtualenv: the zip file's virtualenv/ has no lib/python%s/site-packages.", local)
		}
		found := ""
		var other []string
		for _, l := range libs {
			v := strings.TrimPrefix(path.Base(l), "python")
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
		p.path = append(p.path, filepath.Join(code, filepath.FromSlash(found), "site-packages"))
	}
	p.file = filepath.Join(code, "__main__.py")
	if _, err := root.Stat("__main__.py"); err != nil {
		return nil, initErr("Zip file does not include __main__.py.")
	}
	return p, nil
}

func (c *Container) prepareNode(root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	code := root.Name()
	p := &prepared{dir: code}
	if !zipped {
		p.file, p.source = filepath.Join(code, "index.js"), true
		if err := root.WriteFile("index.js", req.Code, 0o644); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		return p, nil
	}
	entry := "index.js"
	if b, err := root.ReadFile("package.json"); err == nil {
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
	if _, err := root.Stat(strings.TrimPrefix(p.file[len(code):], "/")); err != nil {
		return nil, initErr("Zip file does not include %s (the entry named by package.json main, or index.js).", entry)
	}
	return p, nil
}

func (c *Container) prepareGo(ctx context.Context, root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	if (req.Binary && !zipped) || zipped && isExecutable(root, "exec") {
		return c.prepareNative(root, zipped, req)
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%s\x00%v\x00", runtimes.GoVersion(), mainOr(req.Main), zipped)
	sum.Write(req.Code)
	key := hex.EncodeToString(sum.Sum(nil))[:32]
	bin, err := c.f.goBuild(ctx, key, namespaceOf(req.Name), func(src *os.Root) error {
		if zipped {
			if err := unzip(req.Code, src.Name(), MaxCodeBytes); err != nil {
				return err
			}
		} else if err := src.WriteFile("main.go", req.Code, 0o644); err != nil {
			return err
		}
		if _, err := src.Stat("go.mod"); err != nil {
			if err := src.WriteFile("go.mod", []byte("module action\n\ngo "+runtimes.GoVersion()+"\n"), 0o644); err != nil {
				return err
			}
		}
		w, err := runtimes.GoMain(req.Main)
		if err != nil {
			return initErr("%v", err)
		}
		return src.WriteFile("whirl_main__.go", w, 0o644)
	})
	if err != nil {
		return nil, err
	}
	exe := filepath.Join(root.Name(), "exec")
	if err := os.Link(bin, exe); err != nil {
		if err := copyFile(exe, bin, 0o755); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	return &prepared{dir: root.Name(), argv: []string{exe}}, nil
}

func (c *Container) prepareNative(root *os.Root, zipped bool, req container.InitRequest) (*prepared, error) {
	exe := filepath.Join(root.Name(), "exec")
	if !zipped {
		if err := root.WriteFile("exec", req.Code, 0o755); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
	}
	st, err := root.Stat("exec")
	if err != nil || st.IsDir() {
		return nil, initErr("Zip file does not include an executable named exec.")
	}
	if !isExecutable(root, "exec") {
		return nil, initErr("The action's exec is not an executable (an ELF binary or a script starting with #!).")
	}
	if err := root.Chmod("exec", 0o755); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	return &prepared{dir: root.Name(), argv: []string{exe}, native: true}, nil
}

// isExecutable reports whether name in root is an ELF binary or a #!
// script.
func isExecutable(root *os.Root, name string) bool {
	fh, err := root.Open(name)
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
