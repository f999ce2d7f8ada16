package process_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/container"
	"github.com/whirlfaas/whirl/internal/container/containertest"
	"github.com/whirlfaas/whirl/internal/container/process"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

const phpProbe = `<?php
function main(array $a) : array {
    if (isset($a['sleep'])) usleep($a['sleep'] * 1000);
    if (!empty($a['crash'])) exit(3);
    if (isset($a['big'])) return ['s' => str_repeat('x', $a['big'])];
    for ($i = 0; $i < ($a['log'] ?? 0); $i++) echo "line $i\n";
    echo "hello stdout\n";
    fwrite(STDERR, "hello stderr\n");
    return ['params' => $a, 'activation' => getenv('__OW_ACTIVATION_ID') ?: '', 'api_host' => getenv('__OW_API_HOST') ?: ''];
}
`

const rubyProbe = `def main(a)
  sleep(a["sleep"] / 1000.0) if a["sleep"]
  exit!(3) if a["crash"]
  return { "s" => "x" * a["big"] } if a["big"]
  (a["log"] || 0).times { |i| puts "line #{i}" }
  puts "hello stdout"
  STDERR.puts "hello stderr"
  { "params" => a, "activation" => ENV["__OW_ACTIVATION_ID"].to_s, "api_host" => ENV["__OW_API_HOST"].to_s }
end
`

const javaProbe = `import com.google.gson.JsonObject;

public class Probe {
    public static JsonObject main(JsonObject a) throws Exception {
        if (a.has("sleep")) Thread.sleep(a.get("sleep").getAsLong());
        if (a.has("crash")) System.exit(3);
        JsonObject r = new JsonObject();
        if (a.has("big")) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < a.get("big").getAsInt(); i++) s.append('x');
            r.addProperty("s", s.toString());
            return r;
        }
        int n = a.has("log") ? a.get("log").getAsInt() : 0;
        for (int i = 0; i < n; i++) System.out.println("line " + i);
        System.out.println("hello stdout");
        System.err.println("hello stderr");
        r.add("params", a);
        r.addProperty("activation", String.valueOf(System.getenv("__OW_ACTIVATION_ID")));
        String host = System.getenv("__OW_API_HOST");
        r.addProperty("api_host", host == null ? "" : host);
        return r;
    }

    public static JsonObject hello(JsonObject a) {
        JsonObject r = new JsonObject();
        r.addProperty("greeting", "Hello " + (a.has("name") ? a.get("name").getAsString() : "stranger"));
        return r;
    }
}
`

// javaJar compiles the java probe against Debian's Gson into a jar, as a
// user does before `wsk action create x.jar --main Probe`.
func javaJar(t testing.TB) []byte {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("no JDK (javac): make deps installs default-jdk-headless")
	}
	if _, err := os.Stat(runtimes.GsonJar); err != nil {
		t.Skip("no Gson: make deps installs libgoogle-gson-java")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "Probe.java")
	os.WriteFile(src, []byte(javaProbe), 0o644)
	if out, err := exec.Command(javac, "--release", "8", "-nowarn", "-cp", runtimes.GsonJar, "-d", dir, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v: %s", err, out)
	}
	class, err := os.ReadFile(filepath.Join(dir, "Probe.class"))
	if err != nil {
		t.Fatal(err)
	}
	return zipOf(t, map[string]string{"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n", "Probe.class": string(class)})
}

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, body := range files {
		fw, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(body))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// requireInterpreter skips when the machine has no interpreter of family
// (make deps installs them all).
func requireInterpreter(t testing.TB, f *process.Factory, family string) {
	t.Helper()
	for _, k := range f.Kinds() {
		if k == family {
			return
		}
	}
	t.Skipf("no %s interpreter: make deps installs it", family)
}

func jvmScriptSources(t testing.TB) []containertest.Sources {
	jar := javaJar(t)
	return []containertest.Sources{
		{Kind: "java:8", Probe: containertest.Action{Code: jar, Binary: true, Main: "Probe"}, Broken: containertest.Action{Code: jar, Binary: true, Main: "NoSuchClass"}, InitTimeout: 2 * time.Minute},
		{Kind: "php:8.1", Probe: containertest.Action{Code: []byte(phpProbe)}, Broken: containertest.Action{Code: []byte("<?php\nfunction main(array $a) : array { return $a\n")}},
		{Kind: "ruby:2.5", Probe: containertest.Action{Code: []byte(rubyProbe)}, Broken: containertest.Action{Code: []byte("def main(a)\n  a\n")}},
	}
}

// TestConformanceJavaPHPRuby runs the container conformance suite on the
// java, php and ruby launchers, plain and sandboxed.
func TestConformanceJavaPHPRuby(t *testing.T) {
	srcs := jvmScriptSources(t)
	for _, sb := range []string{process.SandboxNone, process.SandboxBwrap} {
		t.Run(sb, func(t *testing.T) {
			if sb == process.SandboxBwrap {
				requireBwrap(t)
			}
			f := newFactory(t, sb)
			for _, src := range srcs {
				src.APIHost = "http://whirl.test"
				t.Run(src.Kind, func(t *testing.T) {
					requireInterpreter(t, f, runtimes.FamilyOf(src.Kind))
					containertest.Run(t, f, src)
				})
			}
		})
	}
}

// kindRun creates a container of kind, inits it with code and runs it
// once with params.
func kindRun(t *testing.T, f *process.Factory, kind string, act containertest.Action, params string) (container.RunResult, []string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := f.Create(ctx, container.Spec{Kind: kind, MemoryMB: 256})
	if err != nil {
		return container.RunResult{}, nil, err
	}
	defer c.Destroy(context.Background())
	logs, err := c.Init(ctx, container.InitRequest{Name: "/guest/x", Main: act.Main, Code: act.Code, Binary: act.Binary})
	if err != nil {
		return container.RunResult{}, logs, err
	}
	res, err := c.Run(ctx, container.RunRequest{Value: []byte(params), Env: map[string]string{"activation_id": "a1"}})
	return res, append(logs, res.Logs...), err
}

// TestJavaConventions: main "Class#method" picks the method, as in
// OpenWhisk; a jar without main and code that is not a jar are refused
// with what to do.
func TestJavaConventions(t *testing.T) {
	jar := javaJar(t)
	f := newFactory(t, process.SandboxAuto)
	requireInterpreter(t, f, runtimes.FamilyJava)
	res, _, err := kindRun(t, f, "java:8", containertest.Action{Code: jar, Binary: true, Main: "Probe#hello"}, `{"name":"Ada"}`)
	if err != nil || string(res.Body) != `{"greeting":"Hello Ada"}` {
		t.Fatalf("Probe#hello = %s, %v", res.Body, err)
	}
	_, _, err = kindRun(t, f, "java:8", containertest.Action{Code: jar, Binary: true}, `{}`)
	var ie *container.InitError
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, "--main CLASS") {
		t.Errorf("no main: err = %v", err)
	}
	_, _, err = kindRun(t, f, "java:8", containertest.Action{Code: []byte(javaProbe), Main: "Probe"}, `{}`)
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, "need a jar file") {
		t.Errorf("source code: err = %v", err)
	}
}

// TestScriptZips: php and ruby zips are laid out as OpenWhisk's runtimes
// want them (index.php, main.rb at the root); a zip without its entry
// file is an init error naming it.
func TestScriptZips(t *testing.T) {
	f := newFactory(t, process.SandboxAuto)
	for _, tc := range []struct{ kind, entry, code, helper, helperCode string }{
		{"php:8.2", "index.php", "<?php\nrequire 'lib.php';\nfunction main(array $a) : array { return ['v' => twice($a['n'])]; }\n", "lib.php", "<?php\nfunction twice($n) { return 2 * $n; }\n"},
		{"ruby:2.5", "main.rb", "require 'lib'\ndef main(a)\n  { 'v' => twice(a['n']) }\nend\n", "lib.rb", "def twice(n)\n  2 * n\nend\n"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			requireInterpreter(t, f, runtimes.FamilyOf(tc.kind))
			z := zipOf(t, map[string]string{tc.entry: tc.code, tc.helper: tc.helperCode})
			res, logs, err := kindRun(t, f, tc.kind, containertest.Action{Code: z, Binary: true}, `{"n":21}`)
			if err != nil || string(res.Body) != `{"v":42}` {
				t.Fatalf("zip = %s, %v (logs %q)", res.Body, err, logs)
			}
			_, _, err = kindRun(t, f, tc.kind, containertest.Action{Code: zipOf(t, map[string]string{tc.helper: tc.helperCode}), Binary: true}, `{}`)
			var ie *container.InitError
			if !errors.As(err, &ie) || !strings.Contains(ie.Message, tc.entry) {
				t.Errorf("zip without %s: err = %v", tc.entry, err)
			}
		})
	}
}

// TestNearestInterpreter: a kind whose version the machine lacks runs on
// the nearest of its family and its logs say so; a kind the machine has
// no interpreter for fails at create with an init error naming what to
// install.
func TestNearestInterpreter(t *testing.T) {
	f := newFactory(t, process.SandboxAuto)
	requireInterpreter(t, f, runtimes.FamilyNodejs)
	res, logs, err := kindRun(t, f, "nodejs:16", containertest.Action{Code: []byte("function main(a) { return {v: process.version} }")}, `{}`)
	if err != nil || !strings.Contains(string(res.Body), `"v":"v`) {
		t.Fatalf("nodejs:16 = %s, %v", res.Body, err)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "the kind nodejs:16 runs on nodejs") {
		t.Errorf("logs of nodejs:16 = %q, want the substitution note", logs)
	}
	_, logs, err = kindRun(t, f, "nodejs:default", containertest.Action{Code: []byte("function main(a) { return {} }")}, `{}`)
	if err != nil || strings.Contains(strings.Join(logs, "\n"), "runs on") {
		t.Errorf("nodejs:default: logs %q, err %v; want no note", logs, err)
	}
	for kind, want := range map[string]string{
		"swift:5.3":  "no local runtime for the kind 'swift:5.3'",
		"dotnet:3.1": "OpenWhisk's image on Kubernetes",
	} {
		_, err := f.Create(context.Background(), container.Spec{Kind: kind, MemoryMB: 128})
		var ie *container.InitError
		if !errors.Is(err, container.ErrUnsupportedKind) || !errors.As(err, &ie) || !strings.Contains(ie.Message, want) {
			t.Errorf("Create(%s) = %v, want an init error containing %q", kind, err, want)
		}
	}
}

// TestVirtualenvOfAnotherMinor: a python:3.X zip whose virtualenv was built
// for a minor version the machine lacks runs nowhere it could load, and
// keeps the clear message (built for 3.X, this runtime is the local one).
func TestVirtualenvOfAnotherMinor(t *testing.T) {
	f := newFactory(t, process.SandboxNone)
	requireInterpreter(t, f, runtimes.FamilyPython)
	var missing string
	for _, v := range []string{"3.9", "3.10", "3.12", "3.13"} {
		if in, err := f.Interpreter("python:" + v); err == nil && in.Version != v {
			missing = v
			break
		}
	}
	if missing == "" {
		t.Skip("this machine has every python 3.9-3.13")
	}
	z := zipOf(t, map[string]string{"__main__.py": "def main(a):\n    return a\n", "virtualenv/lib/python" + missing + "/site-packages/x.py": ""})
	_, _, err := kindRun(t, f, "python:"+missing, containertest.Action{Code: z, Binary: true}, `{}`)
	var ie *container.InitError
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, "was built for Python "+missing+", but this runtime is Python 3.") {
		t.Fatalf("err = %v", err)
	}
}
