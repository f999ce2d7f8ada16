// Command ociimage writes a container image as a docker-save tarball
// (what `ctr images import` loads) from files of this machine, without
// Docker or a registry: the e2e-kubernetes harness builds Whirl's images
// with it. Named "pause" (argv[0]), it is instead a pod sandbox's pause
// process: it waits for SIGTERM or SIGINT and exits 0.
//
//	ociimage -o whirl.tar -tag localhost/whirl:e2e -tag localhost/whirl:2 \
//	  -add /tmp/whirl:/usr/local/bin/whirl -link /lib:usr/lib \
//	  -entrypoint whirl,proxy -env PATH=/usr/local/bin:/usr/bin:/bin
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if filepath.Base(os.Args[0]) == "pause" {
		pause()
		return
	}
	var tags, adds, links, envs, dirs list
	out := flag.String("o", "image.tar", "output tarball")
	entry := flag.String("entrypoint", "", "entrypoint, comma-separated")
	workdir := flag.String("workdir", "/", "working directory")
	user := flag.String("user", "", "user (uid) of the entrypoint")
	flag.Var(&tags, "tag", "image reference (repeatable)")
	flag.Var(&adds, "add", "host path:image path; a directory is copied whole (repeatable)")
	flag.Var(&links, "link", "image path:symlink target (repeatable)")
	flag.Var(&envs, "env", "K=V (repeatable)")
	flag.Var(&dirs, "dir", "image path:mode of an empty directory, e.g. /tmp:1777 (repeatable)")
	flag.Parse()
	if len(tags) == 0 {
		log.Fatal("ociimage: at least one -tag")
	}
	layer, err := buildLayer(adds, links, dirs)
	if err != nil {
		log.Fatalf("ociimage: %v", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		log.Fatalf("ociimage: layer: %v", err)
	}
	cfg := v1.Config{Env: envs, WorkingDir: *workdir, User: *user}
	if *entry != "" {
		cfg.Entrypoint = strings.Split(*entry, ",")
	}
	img, err = mutate.Config(img, cfg)
	if err != nil {
		log.Fatalf("ociimage: config: %v", err)
	}
	img, err = mutate.ConfigFile(img, withPlatform(img))
	if err != nil {
		log.Fatalf("ociimage: platform: %v", err)
	}
	refs := map[name.Reference]v1.Image{}
	for _, t := range tags {
		ref, err := name.NewTag(t)
		if err != nil {
			log.Fatalf("ociimage: tag %q: %v", t, err)
		}
		refs[ref] = img
	}
	if err := tarball.MultiRefWriteToFile(*out, refs); err != nil {
		log.Fatalf("ociimage: writing %s: %v", *out, err)
	}
}

// withPlatform returns img's config file with this machine's OS and
// architecture, which containerd matches.
func withPlatform(img v1.Image) *v1.ConfigFile {
	cf, err := img.ConfigFile()
	if err != nil {
		log.Fatalf("ociimage: config file: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goarch()
	return cf
}

// buildLayer writes one uncompressed tar layer.
func buildLayer(adds, links, dirs []string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	mkdirs := func(p string) error {
		var parts []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			parts = append(parts, d)
		}
		sort.Strings(parts)
		for _, d := range parts {
			if seen[d] {
				continue
			}
			seen[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range dirs {
		p, mode, _ := strings.Cut(d, ":")
		var m int64 = 0o755
		if mode != "" {
			fmt.Sscanf(mode, "%o", &m)
		}
		if err := mkdirs(p); err != nil {
			return nil, err
		}
		seen[p] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: m}); err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		p, target, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("-link %q: want path:target", l)
		}
		if err := mkdirs(p); err != nil {
			return nil, err
		}
		seen[p] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(p, "/"), Linkname: target, Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok {
			dst = src
		}
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			ip := path.Join(dst, filepath.ToSlash(rel))
			if seen[ip] {
				return nil
			}
			if err := mkdirs(ip); err != nil {
				return err
			}
			seen[ip] = true
			return addFile(tw, p, strings.TrimPrefix(ip, "/"))
		})
		if err != nil {
			return nil, fmt.Errorf("-add %s: %w", a, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// addFile writes host path p as name: a directory, a symlink (kept as
// one) or a regular file (symlinks given on the command line are followed
// by WalkDir's root only).
func addFile(tw *tar.Writer, p, name string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: int64(fi.Mode().Perm())})
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: t, Mode: 0o777})
	case fi.Mode().IsRegular():
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: fi.Size(), Mode: int64(fi.Mode().Perm())}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}
	return nil
}

// pause waits for SIGTERM or SIGINT: a pod sandbox's process.
func pause() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
