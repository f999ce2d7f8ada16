// Package readpy_test runs the tutorial's last step on Whirl: a Python web
// action packaged as a zip with a virtualenv/ holding the Redis client,
// exposed as a REST API with `api create /readpy post read-py`, called
// with an HTTP POST, reading a key set in the Redis at 127.0.0.1:6379.
//
// `make test` installs redis-server and python3-redis where missing
// (scripts/deps.sh); the test fails, rather than skips, without them.
package readpy_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/client"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/whisk"
)

// redisAddr is where the example expects Redis.
const redisAddr = "127.0.0.1:6379"

// distPackages is where Debian's python3-redis installs the client and the
// packages it imports.
const distPackages = "/usr/lib/python3/dist-packages"

// vendored are the libraries the zip's virtualenv carries: the redis client
// and packaging, which it imports.
var vendored = []string{"redis", "packaging"}

// pythonVersion returns the major.minor of the python3 that runs actions.
func pythonVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// buildZip packages __main__.py with virtualenv/lib/pythonX.Y/site-packages
// holding the vendored libraries, as `zip -r read-py.zip virtualenv
// __main__.py` does in the tutorial.
func buildZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	main, err := os.ReadFile("__main__.py")
	if err != nil {
		t.Fatal(err)
	}
	w, err := zw.Create("__main__.py")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(main)
	site := "virtualenv/lib/python" + pythonVersion(t) + "/site-packages/"
	for _, lib := range vendored {
		root := filepath.Join(distPackages, lib)
		if _, err := os.Stat(root); err != nil {
			t.Fatalf("%s is missing: run `make deps` (it installs python3-redis): %v", root, err)
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "__pycache__" {
					return filepath.SkipDir
				}
				return nil
			}
			rel, err := filepath.Rel(distPackages, p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			w, err := zw.Create(site + filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// redisCommand sends one command in RESP and returns the first line of the
// reply.
func redisCommand(t *testing.T, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", redisAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("redis at %s: %v (run `make deps`, which starts one)", redisAddr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(line, "\r\n")
}

func TestReadPy(t *testing.T) {
	key := "whirl-readpy-" + whisk.NewActivationID()[:12]
	value := "xuz006-" + whisk.NewActivationID()[:8]
	if got := redisCommand(t, "SET", key, value); got != "+OK" {
		t.Fatalf("SET: %s", got)
	}
	t.Cleanup(func() { redisCommand(t, "DEL", key) })

	s := apptest.Start(t)
	c, err := client.New(client.Config{APIHost: s.URL, Auth: s.GuestAuth})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// wsk action create read-py --kind python:3 read-py.zip --web true
	code := base64.StdEncoding.EncodeToString(buildZip(t))
	a := &client.ActionPut{
		Exec:        &client.Exec{Kind: "python:3", Code: &code, Binary: true},
		Annotations: client.KeyValues{}.Set("web-export", true).Set("raw-http", false).Set("final", true),
	}
	if _, err := c.Actions.Put(ctx, "read-py", a, false); err != nil {
		t.Fatal(err)
	}

	// wsk api create /readpy post read-py (base path "/", response type json)
	api, err := c.APIs.Create(ctx, &client.APIDoc{
		Namespace: "_", GatewayBasePath: "/", GatewayPath: "/readpy", GatewayMethod: "POST", ID: "API:_:/",
		Action: &client.APIAction{Name: "read-py", Namespace: "guest", BackendMethod: "POST",
			BackendURL: s.URL + "/api/v1/web/guest/default/read-py.http", AuthKey: s.GuestAuth},
	}, client.APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uuid, _, _ := strings.Cut(s.GuestAuth, ":")
	url := strings.TrimSuffix(api.GwAPIURL, "/") + "/readpy"
	if want := s.URL + "/api/" + uuid + "/readpy"; url != want {
		t.Fatalf("the CLI would print %s, want %s", url, want)
	}

	// curl -H "Content-Type: application/json" -X POST -d '{"key":"…"}' http://HOST/api/<uuid>/readpy
	body, _ := json.Marshal(map[string]string{"key": key})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	var out struct {
		Result *string  `json:"result"`
		T      *float64 `json:"t"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if out.Result == nil || *out.Result != value || out.T == nil {
		t.Fatalf("answer %s, want result %q and t", b, value)
	}

	// wsk -i action invoke read-py --param key … --result
	inv, err := c.Actions.Invoke(ctx, "read-py", map[string]string{"key": key}, client.InvokeOptions{Blocking: true, Result: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(inv.Body), value) {
		t.Errorf("invoke: %s", inv.Body)
	}

	// A key that is not there reads as null.
	resp2, err := http.Post(url, "application/json", strings.NewReader(`{"key":"`+key+`-missing"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b, _ = io.ReadAll(resp2.Body)
	if resp2.StatusCode != http.StatusOK || !strings.Contains(string(b), `"result":null`) {
		t.Errorf("missing key: %d %s", resp2.StatusCode, b)
	}
}
