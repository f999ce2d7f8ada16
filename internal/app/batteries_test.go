package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/runtimes"
)

// requireBundles skips unless the python and Node.js runtime libraries are
// installed (`make deps` installs them).
func requireBundles(t *testing.T) {
	t.Helper()
	p, err := runtimes.FindPython()
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if s := runtimes.CheckPython(p); !s.Complete() {
		t.Skipf("the python runtime libraries are not installed (%s; make deps)", s.Install)
	}
	if s := runtimes.CheckNode("node", runtimes.LibDir()); !s.Complete() {
		t.Skipf("the Node.js runtime libraries are not installed (%s; make deps)", s.Install)
	}
	if _, err := os.Stat("/usr/bin/node"); err != nil {
		t.Skip("node is not installed")
	}
}

// nestedJS is ServerlessBench's nested chain: each link calls the next
// through the openwhisk client (which reads __OW_API_HOST and
// __OW_API_KEY), the last one calls the python action "leaf".
const nestedJS = `const openwhisk = require('openwhisk');
async function main(params) {
  const ow = openwhisk();
  const n = params.n || 0;
  const next = n > 0 ? {name: 'nested', params: {n: n - 1}} : {name: 'leaf', params: {}};
  const res = await ow.actions.invoke({name: next.name, params: next.params, blocking: true, result: true});
  return {depth: (res.depth || 0) + 1, leaf: res.leaf || res.from};
}
`

// TestNestedChainThroughOpenwhiskClient runs ServerlessBench's nested
// chain and the field guide's pyfunc.py through a real Whirl: a nodejs
// action composes others with require('openwhisk'), a python action posts
// with requests.
func TestNestedChainThroughOpenwhiskClient(t *testing.T) {
	requireBundles(t)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	defer echo.Close()
	s := apptest.Start(t, func(c *config.Config) { c.ActionNetwork = "host" }) // actions reach loopback
	pyfunc := strings.Replace(`import requests
import json
def main(params):
    url = 'URL'
    headers = {'Content-Type': 'application/json'}
    data = json.dumps(params)
    response = requests.post(url, data=data, headers=headers)
    return response.json()
`, "URL", echo.URL, 1)
	putPy(t, s, "pyfunc", pyfunc, nil)
	r := api(t, s, "POST", "actions/pyfunc?blocking=true&result=true", map[string]any{"from": "pyfunc"})
	mustStatus(t, r, 200)
	if got := r.obj(t); got["from"] != "pyfunc" {
		t.Fatalf("pyfunc result %s", r.body)
	}

	putPy(t, s, "leaf", pyfunc, nil)
	mustStatus(t, api(t, s, "PUT", "actions/nested?overwrite=true", map[string]any{
		"exec": map[string]any{"kind": "nodejs:default", "code": nestedJS},
		// As in OpenWhisk, a new action gets __OW_API_KEY only when asked
		// (wsk action create -a provide-api-key true).
		"annotations": []map[string]any{{"key": "provide-api-key", "value": true}},
	}), 200)
	r = api(t, s, "POST", "actions/nested?blocking=true&result=true", map[string]any{"n": 2})
	mustStatus(t, r, 200)
	var got struct {
		Depth int    `json:"depth"`
		Leaf  string `json:"leaf"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || got.Depth != 3 {
		t.Fatalf("nested chain result %s", r.body)
	}
}
