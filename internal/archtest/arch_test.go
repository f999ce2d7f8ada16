package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/whirlfaas/whirl"

type pkg struct {
	Dir        string
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	GoFiles    []string
}

// packages lists the module's packages with their direct, non-test imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// ours returns the module's packages p imports, relative to the module.
func ours(p pkg) []string {
	var out []string
	for _, imp := range p.Imports {
		if imp == module || strings.HasPrefix(imp, module+"/") {
			out = append(out, rel(imp))
		}
	}
	return out
}

func stdlib(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

// allowed maps a package to the only packages of ours it may import
// (prefix match on whole path segments). Packages not listed are checked
// by the other rules only.
var allowed = map[string][]string{
	"whisk":                            {},
	"client":                           {"whisk"},
	"internal/store":                   {"whisk"},
	"internal/bus":                     {"whisk"},
	"internal/container":               {},
	"internal/store/groupcommit":       {},
	"internal/store/sqlite":            {"internal/store", "internal/store/groupcommit", "whisk"},
	"internal/store/postgres":          {"internal/store", "internal/store/groupcommit", "whisk"},
	"internal/store/storetest":         {"internal/store", "whisk"},
	"internal/bus/local":               {"internal/bus"},
	"internal/bus/nats":                {"internal/bus"},
	"internal/bus/bustest":             {"internal/bus", "whisk"},
	"internal/container/process":       {"internal/container", "whisk", "internal/runtimes"},
	"internal/container/containertest": {"internal/container", "whisk"},
	"internal/runtimes":                {"whisk"},
	"internal/config":                  {"whisk"},
	"internal/auth":                    {"internal/store", "whisk"},
	"internal/throttle":                {"whisk"},
	"internal/metrics":                 {},
	"internal/console":                 {"internal/auth", "internal/metrics", "whisk"},
	"internal/balancer":                {"internal/bus", "internal/store", "whisk"},
	"internal/containerpool":           {"internal/container", "whisk"},
	"internal/invoker":                 {"internal/bus", "internal/container", "internal/containerpool", "internal/store", "whisk"},
	"internal/controller":              {"internal/auth", "internal/balancer", "internal/bus", "internal/store", "whisk"},
	"internal/feeds":                   {"internal/store", "whisk"},
	"internal/catalog":                 {"internal/store", "whisk"},
	"internal/proxy":                   {"internal/container", "whisk", "internal/runtimes"},
	"internal/container/kubernetes":    {"internal/container", "internal/proxy", "internal/runtimes", "whisk"},
}

// implementations may be imported only by the composition root (and tests).
var implementations = []string{"internal/store/sqlite", "internal/store/postgres", "internal/bus/local", "internal/bus/nats", "internal/container/process", "internal/container/kubernetes"}

var compositionRoots = map[string]bool{"internal/app": true}

func TestImportDirection(t *testing.T) {
	for _, p := range packages(t) {
		name := rel(p.ImportPath)
		imps := ours(p)
		if allow, ok := allowed[name]; ok {
			for _, imp := range imps {
				okImp := false
				for _, a := range allow {
					if imp == a {
						okImp = true
					}
				}
				if !okImp {
					t.Errorf("%s imports %s; it may import only %v of Whirl's packages", name, imp, allow)
				}
			}
		}
		for _, imp := range imps {
			for _, impl := range implementations {
				if imp == impl && !compositionRoots[name] {
					t.Errorf("%s imports the implementation %s; only internal/app may", name, imp)
				}
			}
			if imp == "internal/store/groupcommit" && !strings.HasPrefix(name, "internal/store/") {
				t.Errorf("%s imports internal/store/groupcommit; only the store backends may", name)
			}
			if imp == "internal/app" && name != "internal/cli" && name != "internal/app/apptest" {
				t.Errorf("%s imports internal/app; only internal/cli (and tests) may", name)
			}
			if name == "internal/controller" && (strings.HasPrefix(imp, "internal/invoker") || strings.HasPrefix(imp, "internal/container")) {
				t.Errorf("the controller imports %s: it must never depend on the invoker side", imp)
			}
		}
	}
}

// TestClientIsStdlibOnly keeps the public client's dependencies to the
// standard library and the vocabulary, whisk: nothing else of Whirl's.
func TestClientIsStdlibOnly(t *testing.T) {
	for _, p := range packages(t) {
		if rel(p.ImportPath) != "client" {
			continue
		}
		for _, imp := range p.Imports {
			if !stdlib(imp) && imp != module+"/whisk" {
				t.Errorf("client imports %s: the public client must need only the standard library and whisk", imp)
			}
		}
		return
	}
	t.Fatal("package client not found")
}

// TestClientDefinesNoWireType keeps the wire types in one place: the
// client may name whisk's types through aliases (type Action =
// whisk.Action) but declares no type of its own that whisk has (but Error,
// a response the client received, not an answer the server writes), and no
// struct with a JSON-tagged field unless it is on the list of client-only
// shapes (the API gateway's and the stats document, which the server does
// not build from whisk).
func TestClientDefinesNoWireType(t *testing.T) {
	clientOnly := map[string]bool{"Info": true, "Stats": true, "NamespaceStats": true,
		"APIAction": true, "APIParameter": true, "APIDoc": true, "API": true, "APIListEntry": true}
	whiskTypes := map[string]bool{}
	for _, ts := range typeSpecs(t, "whisk") {
		whiskTypes[ts.Name.Name] = true
	}
	for _, ts := range typeSpecs(t, "client") {
		if ts.Assign.IsValid() {
			continue // an alias, not a definition
		}
		if whiskTypes[ts.Name.Name] && ts.Name.Name != "Error" {
			t.Errorf("client defines %s, which whisk defines: use an alias (type %[1]s = whisk.%[1]s)", ts.Name.Name)
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok || clientOnly[ts.Name.Name] {
			continue
		}
		for _, f := range st.Fields.List {
			if f.Tag != nil && strings.Contains(f.Tag.Value, `json:"`) {
				t.Errorf("client defines the wire type %s: put it in whisk, or list it here as client-only", ts.Name.Name)
				break
			}
		}
	}
}

// typeSpecs returns the type declarations of the non-test files of the
// module's folder dir.
func typeSpecs(t *testing.T, dir string) []*ast.TypeSpec {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var specs []*ast.TypeSpec
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					specs = append(specs, s.(*ast.TypeSpec))
				}
			}
		}
	}
	return specs
}

func TestWhiskIsStdlibOnly(t *testing.T) {
	for _, p := range packages(t) {
		if rel(p.ImportPath) != "whisk" {
			continue
		}
		for _, imp := range p.Imports {
			if !stdlib(imp) {
				t.Errorf("whisk imports %s: the vocabulary imports the standard library only", imp)
			}
		}
		return
	}
	t.Fatal("package whisk not found")
}

func TestPackageDocs(t *testing.T) {
	for _, p := range packages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package comment saying what it owns", p.ImportPath)
		}
	}
}

// TestControllerWiredExplicitly: the controller has no init functions and
// no package-level variables of function type (hooks one file sets for
// another). Its parts are methods wired by New, so "go to definition"
// lands on code, never on a variable that may be nil.
func TestControllerWiredExplicitly(t *testing.T) {
	for _, p := range packages(t) {
		if rel(p.ImportPath) != "internal/controller" {
			continue
		}
		fset := token.NewFileSet()
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.Name == "init" {
						t.Errorf("%s: func init wires the controller implicitly", fset.Position(d.Pos()))
					}
				case *ast.GenDecl:
					if d.Tok != token.VAR {
						continue
					}
					for _, s := range d.Specs {
						vs := s.(*ast.ValueSpec)
						if isFuncType(vs.Type) {
							t.Errorf("%s: package-level function variable %s", fset.Position(vs.Pos()), vs.Names[0].Name)
						}
						for _, v := range vs.Values {
							if _, ok := v.(*ast.FuncLit); ok {
								t.Errorf("%s: package-level function variable %s", fset.Position(vs.Pos()), vs.Names[0].Name)
							}
						}
					}
				}
			}
		}
		return
	}
	t.Fatal("package internal/controller not found")
}

// isFuncType reports whether a declared type is a function, or a slice or
// map of functions.
func isFuncType(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.FuncType:
		return true
	case *ast.ArrayType:
		return isFuncType(e.Elt)
	case *ast.MapType:
		return isFuncType(e.Value)
	}
	return false
}
