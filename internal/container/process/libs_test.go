package process_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// requireBundle skips when the family's bundle is not installed on this
// machine (`make deps` installs it).
func requireBundle(t *testing.T, f *process.Factory, family string) {
	t.Helper()
	for _, s := range f.Bundles() {
		if s.Family == family {
			if !s.Complete() {
				t.Skipf("the %s runtime libraries are not installed (%s; make deps installs them)", family, s.Install)
			}
			return
		}
	}
	t.Skipf("%s is not installed", family)
}

// TestPythonBundleImports imports every package of the python bundle from
// inside an action, sandboxed and not, and checks that each comes from
// Debian's dist-packages.
func TestPythonBundleImports(t *testing.T) {
	var mods []string
	for _, p := range runtimes.Bundle(runtimes.FamilyPython) {
		mods = append(mods, p.Import)
	}
	code := "import importlib\n" +
		"def main(a):\n" +
		"    return {m: importlib.import_module(m).__file__ for m in " + pyList(mods) + "}\n"
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			requireBundle(t, f, runtimes.FamilyPython)
			body := initRun(t, f, "python:3", container.InitRequest{Code: []byte(code)}, `{}`)
			var files map[string]string
			if err := json.Unmarshal([]byte(body), &files); err != nil {
				t.Fatalf("result %s: %v", body, err)
			}
			for _, m := range mods {
				if !strings.Contains(files[m], "/dist-packages/") {
					t.Errorf("%s imported from %q, want Debian's dist-packages", m, files[m])
				}
			}
		})
	}
}

func pyList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pyfunc is the field guide's first action as written, but for the
// address it posts to (the guide's is a machine of its own network).
const pyfunc = `import requests
import json
def main(params):
    url = '%s'
    headers = {'Content-Type': 'application/json'}
    data = json.dumps(params)
    response = requests.post(url, data=data, headers=headers)
    return response.json()
`

// TestFieldGuidePyfunc runs pyfunc.py: requests (bundled) posts the
// parameters to a local HTTP server, whose JSON answer is the result.
func TestFieldGuidePyfunc(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &in) != nil {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"got": in, "agent": r.Header.Get("User-Agent")})
	}))
	defer srv.Close()
	code := strings.Replace(pyfunc, "%s", srv.URL, 1)
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb) // network: host, so that loopback is the test's
			requireBundle(t, f, runtimes.FamilyPython)
			body := initRun(t, f, "python:3", container.InitRequest{Code: []byte(code)}, `{"name":"whirl"}`)
			var got struct {
				Got   map[string]string `json:"got"`
				Agent string            `json:"agent"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Got["name"] != "whirl" || !strings.HasPrefix(got.Agent, "python-requests/") {
				t.Fatalf("result %s", body)
			}
		})
	}
}

// TestPythonOwnVirtualenvWins: an action's virtualenv/ with its own
// requests is imported instead of the bundled one.
func TestPythonOwnVirtualenvWins(t *testing.T) {
	v := mustPython(t).Version
	z := makeZip(t,
		entry{name: "__main__.py", body: "import requests\ndef main(a):\n    return {'version': requests.__version__, 'file': requests.__file__}\n"},
		entry{name: "virtualenv/lib/python" + v + "/site-packages/requests/__init__.py", body: "__version__ = '0.0.own'\n"},
	)
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			requireBundle(t, f, runtimes.FamilyPython)
			body := initRun(t, f, "python:3", container.InitRequest{Code: z, Binary: true}, `{}`)
			var got struct{ Version, File string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Version != "0.0.own" || !strings.Contains(got.File, "/virtualenv/") {
				t.Fatalf("result %s, want the virtualenv's requests", body)
			}
		})
	}
}

// TestNodeBundleRequire: a single-file Node.js action requires the bundled
// openwhisk client, which sees __OW_API_HOST and __OW_API_KEY. Before the
// bundle was put on NODE_PATH (and bound into the sandbox) this failed with
// "Cannot find module 'openwhisk'".
func TestNodeBundleRequire(t *testing.T) {
	code := `const openwhisk = require('openwhisk');
function main() {
  const ow = openwhisk({api_key: 'a:b'});
  return {invoke: typeof ow.actions.invoke, host: process.env.__OW_API_HOST, file: require.resolve('openwhisk')};
}
`
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			requireNode(t, f)
			requireBundle(t, f, runtimes.FamilyNodejs)
			body := initRun(t, f, "nodejs:20", container.InitRequest{Code: []byte(code)}, `{}`)
			var got struct{ Invoke, Host, File string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Invoke != "function" || got.Host != "http://whirl.test" {
				t.Fatalf("result %s", body)
			}
			if !strings.Contains(got.File, "/node_modules/openwhisk/") || strings.Contains(got.File, "/code/") {
				t.Errorf("openwhisk resolved to %s, want the bundle's node_modules", got.File)
			}
		})
	}
}

// TestNodeOwnModuleWins: a zip's own node_modules/openwhisk is required
// instead of the bundled one.
func TestNodeOwnModuleWins(t *testing.T) {
	z := makeZip(t,
		entry{name: "index.js", body: "exports.main = () => ({who: require('openwhisk')()});\n"},
		entry{name: "node_modules/openwhisk/package.json", body: `{"name":"openwhisk","main":"index.js"}`},
		entry{name: "node_modules/openwhisk/index.js", body: "module.exports = () => 'own';\n"},
	)
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f := newFactory(t, sb)
			requireNode(t, f)
			requireBundle(t, f, runtimes.FamilyNodejs)
			if body := initRun(t, f, "nodejs:20", container.InitRequest{Code: z, Binary: true}, `{}`); body != `{"who":"own"}` {
				t.Fatalf("result %s, want the zip's own openwhisk", body)
			}
		})
	}
}

// TestNodeBundleAbsent: without the bundle a require fails as it would
// on any machine, at init, with node's message.
func TestNodeBundleAbsent(t *testing.T) {
	for _, sb := range sandboxes(t) {
		t.Run(sb, func(t *testing.T) {
			f, err := process.New(process.Options{WorkDir: workDir(t), Sandbox: sb, RuntimeLibDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close(t.Context()) })
			requireNode(t, f)
			if !strings.Contains(f.Warning(), "nodejs lacks openwhisk") {
				t.Errorf("warning %q does not say the nodejs bundle is missing", f.Warning())
			}
			err = initErrOf(t, f, "nodejs:20", container.InitRequest{Code: []byte("const ow = require('openwhisk');\nfunction main() { return {} }\n")})
			wantInitError(t, err, "Cannot find module 'openwhisk'")
		})
	}
}
