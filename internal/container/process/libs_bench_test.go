package process_test

import (
	"testing"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
)

// The cost of the runtime libraries on a cold start (docs/benchmarks.md,
// "Runtime libraries"): a no-op with and without the Node.js bundle bound
// and on NODE_PATH, and an action that imports the bundled client
// (require('openwhisk'), import requests) beside the no-op.

var (
	requireOW      = container.InitRequest{Code: []byte("const ow = require('openwhisk');\nfunction main(a) { return a }\n")}
	importRequests = container.InitRequest{Code: []byte("import requests\ndef main(a):\n    return a\n")}
)

func bundleFactory(b *testing.B, libDir string) *process.Factory {
	requireBwrap(b)
	f, err := process.New(process.Options{WorkDir: workDir(b), Sandbox: process.SandboxBwrap, Network: true, RuntimeLibDir: libDir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close(b.Context()) })
	return f
}

func BenchmarkColdNodeBwrapNoBundle(b *testing.B) {
	benchColdOn(b, bundleFactory(b, b.TempDir()), "nodejs:20", noopJS, false)
}
func BenchmarkColdNodeBwrapBundle(b *testing.B) {
	benchColdOn(b, bundleFactory(b, ""), "nodejs:20", noopJS, false)
}
func BenchmarkColdNodeBwrapRequireOpenwhisk(b *testing.B) {
	benchColdOn(b, bundleFactory(b, ""), "nodejs:20", requireOW, false)
}
func BenchmarkColdPythonBwrapImportRequests(b *testing.B) {
	benchColdOn(b, bundleFactory(b, ""), "python:3", importRequests, false)
}
func BenchmarkPrewarmedPythonBwrapImportRequests(b *testing.B) {
	benchColdOn(b, bundleFactory(b, ""), "python:3", importRequests, true)
}
