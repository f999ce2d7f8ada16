package whisk

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"io/fs"
	"net/http"
	"strings"
	"testing"
)

type zent struct {
	name, body string
	mode       fs.FileMode
}

func mkzip(t *testing.T, es ...zent) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func link(name, target string) zent { return zent{name, target, fs.ModeSymlink | 0o777} }

func TestCheckZip(t *testing.T) {
	main := zent{name: "main.go", body: "package main"}
	bad := []struct {
		name    string
		zip     []byte
		mention string
	}{
		// The reproduction of issue 9: each link's text stays inside, the
		// chain does not.
		{"symlink chain", mkzip(t, main, link("a/b/c/d/s", "../../../.."), link("esc", "a/b/c/d/s/../../../../.."), link("go.mod", "esc/etc/passwd")), "esc"},
		{"dot-dot entry", mkzip(t, main, zent{name: "../evil", body: "x"}), "outside"},
		{"dot-dot inside a name", mkzip(t, main, zent{name: "a/../../evil", body: "x"}), "outside"},
		{"absolute entry", mkzip(t, main, zent{name: "/etc/evil", body: "x"}), "absolute"},
		{"backslash entry", mkzip(t, main, zent{name: `..\evil`, body: "x"}), "absolute"},
		{"absolute link", mkzip(t, main, link("l", "/etc/passwd")), "symbolic link"},
		{"relative link out", mkzip(t, main, link("l", "../etc")), "symbolic link"},
		{"link through a link directory", mkzip(t, main, link("d", "a/b"), link("e", "d/../../..")), "symbolic link"},
		{"write through a link", mkzip(t, main, zent{name: "sub/x", body: "x"}, link("d", "sub"), zent{name: "d/f", body: "x"}), "through a symbolic link"},
		{"link loop", mkzip(t, main, link("x", "y/z"), link("y", "x")), "symbolic link"},
		{"twice", mkzip(t, main, zent{name: "main.go", body: "x"}), "twice"},
		{"empty", mkzip(t), "empty"},
		{"too big", mkzip(t, zent{name: "zeros", body: strings.Repeat("\x00", MaxCodeBytes+1)}), "48 MB"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckZip(tc.zip)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.mention)
			}
		})
	}
	good := mkzip(t, main, zent{name: "lib/", mode: fs.ModeDir | 0o755}, zent{name: "lib/x.go", body: "x"},
		link("l", "lib/x.go"), link("lib/up", "../main.go"), link("a/b/c", "../../lib"), link("via", "a/b/c/x.go"))
	es, err := CheckZip(good)
	if err != nil {
		t.Fatalf("links that stay inside: %v", err)
	}
	if len(es) != 7 {
		t.Errorf("%d entries, want 7", len(es))
	}
}

func TestCheckCode(t *testing.T) {
	chain := mkzip(t, zent{name: "main.go", body: "package main"}, link("a/b/c/d/s", "../../../.."), link("esc", "a/b/c/d/s/../../../../.."), link("go.mod", "esc/etc/passwd"))
	code := base64.StdEncoding.EncodeToString(chain)
	err := (&Exec{Kind: "go:1.26", Code: &code, Binary: true}).CheckCode()
	var we *Error
	if e, ok := err.(*Error); ok {
		we = e
	}
	if we == nil || we.Status != http.StatusBadRequest || !strings.Contains(we.Message, "symbolic link") {
		t.Fatalf("CheckCode = %v, want a 400 about the symbolic link", err)
	}
	exe := base64.StdEncoding.EncodeToString([]byte("\x7fELF not a zip"))
	if err := (&Exec{Kind: "blackbox", Code: &exe, Binary: true}).CheckCode(); err != nil {
		t.Errorf("binary code that is not a zip: %v", err)
	}
}
