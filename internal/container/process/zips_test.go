package process_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// initRun creates a container of kind, initialises it with req and runs it
// once with params; it returns the result body.
func initRun(t *testing.T, f *process.Factory, kind string, req container.InitRequest, params string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy(context.Background()) })
	if logs, err := c.Init(ctx, req); err != nil {
		t.Fatalf("init: %v (logs %q)", err, logs)
	}
	res, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(params), LogLimit: 1 << 20})
	if err != nil {
		t.Fatalf("run: %v (logs %q)", err, res.Logs)
	}
	return string(res.Body)
}

func requireNode(t *testing.T, f *process.Factory) {
	for _, k := range f.Kinds() {
		if k == runtimes.FamilyNodejs {
			return
		}
	}
	t.Skip("node is not installed")
}

func TestNodeZips(t *testing.T) {
	// A dependency under node_modules, required by the entry file.
	dep := entry{name: "node_modules/greet/index.js", body: "module.exports = n => 'hello ' + n;\n"}
	depPkg := entry{name: "node_modules/greet/package.json", body: `{"name":"greet","main":"index.js"}`}
	for _, sandbox := range sandboxes(t) {
		t.Run(sandbox, func(t *testing.T) {
			f := newFactory(t, sandbox)
			requireNode(t, f)
			cases := []struct {
				name string
				zip  []byte
				main string
			}{
				{"package.json main", makeZip(t,
					entry{name: "package.json", body: `{"name":"act","main":"lib/act.js"}`},
					entry{name: "lib/act.js", body: "const g = require('greet');\nexports.main = a => ({msg: g(a.name), file: __filename.endsWith('lib/act.js')});\n"},
					dep, depPkg), "main"},
				{"index.js", makeZip(t,
					entry{name: "index.js", body: "const g = require('greet');\nexports.main = a => ({msg: g(a.name), file: __filename.endsWith('index.js')});\n"},
					dep, depPkg), "main"},
				{"package.json without main, other entry point", makeZip(t,
					entry{name: "package.json", body: `{"name":"act"}`},
					entry{name: "index.js", body: "const g = require('greet');\nexports.hi = async a => ({msg: g(a.name), file: true});\n"},
					dep, depPkg), "hi"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					body := initRun(t, f, "nodejs:20", container.InitRequest{Code: tc.zip, Binary: true, Main: tc.main}, `{"name":"zip"}`)
					var got struct {
						Msg  string `json:"msg"`
						File bool   `json:"file"`
					}
					if err := json.Unmarshal([]byte(body), &got); err != nil || got.Msg != "hello zip" || !got.File {
						t.Fatalf("result %s", body)
					}
				})
			}
		})
	}
}

const goModMain = `package main

import "example.com/act/greet"

func Main(a map[string]interface{}) map[string]interface{} {
	name, _ := a["name"].(string)
	return map[string]interface{}{"msg": greet.Hello(name)}
}
`

func TestGoZipWithGoMod(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	if !slicesContains(f.Kinds(), runtimes.FamilyGo) {
		t.Skip("go is not installed")
	}
	z := makeZip(t,
		entry{name: "go.mod", body: "module example.com/act\n\ngo 1.21\n"},
		entry{name: "main.go", body: goModMain},
		entry{name: "greet/greet.go", body: "package greet\n\nfunc Hello(n string) string { return \"hello \" + n }\n"},
	)
	body := initRun(t, f, "go:"+runtimes.GoVersion(), container.InitRequest{Code: z, Binary: true}, `{"name":"mod"}`)
	if body != `{"msg":"hello mod"}` {
		t.Fatalf("result %s", body)
	}
}

// TestGoBuildCached checks that a second container of the same Go code does
// not compile again: a factory on the same work directory whose go command
// always fails still initialises it, from the cached build; other code
// fails to compile there.
func TestGoBuildCached(t *testing.T) {
	dir := workDir(t)
	f1, err := process.New(process.Options{WorkDir: dir, Sandbox: process.SandboxNone})
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close(context.Background())
	if !slicesContains(f1.Kinds(), runtimes.FamilyGo) {
		t.Skip("go is not installed")
	}
	kind := "go:" + runtimes.GoVersion()
	code := container.InitRequest{Code: []byte(goProbe)}
	if body := initRun(t, f1, kind, code, `{"x":1}`); !strings.Contains(body, `"x":1`) {
		t.Fatalf("first container: %s", body)
	}
	f2, err := process.New(process.Options{WorkDir: dir, Sandbox: process.SandboxNone, Go: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close(context.Background())
	if body := initRun(t, f2, kind, code, `{"x":2}`); !strings.Contains(body, `"x":2`) {
		t.Fatalf("second container: %s", body)
	}
	c, err := f2.Create(t.Context(), container.Spec{Kind: kind, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy(context.Background())
	other := container.InitRequest{Code: []byte(strings.Replace(goProbe, `"hello stdout"`, `"changed"`, 1))}
	if _, err := c.Init(t.Context(), other); err == nil {
		t.Fatal("uncached code initialised with a go command that always fails: the build was not compiled there")
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
