package controller_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// secretCode is alice's action: it answers with the secret parameter it
// was given, so any cell that runs it for another tenant shows the leak.
const secretCode = "def main(args):\n    return {'secret': args.get('secret', 'none'), 'who': 'alice'}\n"

func secretAction(ann ...any) map[string]any {
	return map[string]any{
		"exec":        map[string]any{"kind": "python:3", "code": secretCode},
		"parameters":  kv("secret", "s3cret"),
		"annotations": kv(ann...),
	}
}

// tenants makes namespaces alice and bob; alice has, of every kind, a
// private entity and a shared one:
//
//	/alice/priv            root action (private by nature), secret parameter
//	/alice/web             root web action, require-whisk-auth "tok-root"
//	/alice/privpkg/a       action in a private package
//	/alice/pub/a           action in a published package
//	/alice/pub/web         web action in a published package, require-whisk-auth "tok-pub"
//	/alice/pubbind         a PUBLISHED binding to alice's PRIVATE package
//	/alice/t, /alice/r     trigger and rule
//
// and bob has /bob/bpub, a binding to /alice/pub.
func tenants(t *testing.T) (s *apptest.Server, alice, bob api) {
	s = apptest.Start(t)
	guest := newAPI(t, s)
	alice = guest.as(addNamespace(t, s, "alice"))
	bob = guest.as(addNamespace(t, s, "bob"))
	alice.must(http.StatusOK, "PUT", "_/actions/priv", secretAction())
	alice.must(http.StatusOK, "PUT", "_/actions/web", secretAction("web-export", true, "require-whisk-auth", "tok-root"))
	alice.must(http.StatusOK, "PUT", "_/packages/privpkg", map[string]any{"parameters": kv("secret", "pkg-secret")})
	alice.must(http.StatusOK, "PUT", "_/actions/privpkg/a", secretAction())
	alice.must(http.StatusOK, "PUT", "_/packages/pub", map[string]any{"publish": true})
	alice.must(http.StatusOK, "PUT", "_/actions/pub/a", secretAction())
	alice.must(http.StatusOK, "PUT", "_/actions/pub/web", secretAction("web-export", true, "require-whisk-auth", "tok-pub"))
	alice.must(http.StatusOK, "PUT", "_/packages/pubbind", map[string]any{"publish": true, "binding": map[string]any{"namespace": "alice", "name": "privpkg"}})
	alice.must(http.StatusOK, "PUT", "_/triggers/t", map[string]any{})
	alice.must(http.StatusOK, "PUT", "_/rules/r", rulePut("t", "priv"))
	bob.must(http.StatusOK, "PUT", "_/packages/bpub", map[string]any{"binding": map[string]any{"namespace": "alice", "name": "pub"}})
	bob.must(http.StatusOK, "PUT", "_/triggers/bt", map[string]any{})
	return s, alice, bob
}

// outcome is what a cell of the matrix expects.
type outcome int

const (
	allowed outcome = iota // the operation succeeds
	refused                // the same answer as for a name that does not exist
)

// actionNames are the forms a name of an action can take for bob, each
// with whether bob may reach it. Every refused name, existing or not,
// must get the same answer.
var actionNames = []struct {
	name string
	want outcome
}{
	{"/alice/priv", refused},            // another tenant's root action
	{"/alice/nothing", refused},         // ... and a missing one: the same answer
	{"/alice/privpkg/a", refused},       // an action in a private package
	{"/alice/nopkg/a", refused},         // ... and in a missing package
	{"/alice/pubbind/a", refused},       // a published binding does not open a private package
	{"/alice/pub/a", allowed},           // a published package's action
	{"/bob/bpub/a", allowed},            // through bob's own binding to it
	{"bpub/a", allowed},                 // the same, relative to bob's namespace
	{"/_/bpub/a", allowed},              // the same, through "_"
	{"/alice/rules/r", refused},         // names that are not actions at all
	{"/alice/t", refused},               // a trigger's name
	{"/alice/privpkg", refused},         // a package's name
	{"/whisk.system/alarms/x", refused}, // a missing action of a published package is not hidden, but it is not there
}

// restPath turns a name into the path under /api/v1/namespaces/ that
// reaches it through the actions collection.
func restPath(name string) string {
	parts := strings.Split(strings.TrimPrefix(name, "/"), "/")
	if !strings.HasPrefix(name, "/") {
		parts = append([]string{"_"}, parts...)
	}
	return parts[0] + "/actions/" + strings.Join(parts[1:], "/")
}

// canonical strips the transaction id from an error body, so that two
// refusals can be compared.
func canonical(b []byte) string {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return string(b)
	}
	delete(m, "code")
	out, _ := json.Marshal(m)
	return string(out)
}

// TestEntitlementMatrix drives every route that turns a name into an
// action (get, invoke, sequence create, rule create, API create) with
// every form of name bob can write, and checks the outcome per cell: what
// bob may reach works, and everything else answers exactly as a missing
// name does.
func TestEntitlementMatrix(t *testing.T) {
	_, _, bob := tenants(t)
	ops := []struct {
		name string
		do   func(i int, name string) (int, []byte)
		ok   int
	}{
		{"get", func(_ int, name string) (int, []byte) { return bob.do("GET", restPath(name), nil) }, http.StatusOK},
		{"invoke", func(_ int, name string) (int, []byte) {
			return bob.do("POST", restPath(name)+"?blocking=true&result=true", map[string]any{})
		}, http.StatusOK},
		{"sequence create", func(i int, name string) (int, []byte) {
			return bob.do("PUT", fmt.Sprintf("_/actions/seq%d", i), sequence(name))
		}, http.StatusOK},
		{"rule create", func(i int, name string) (int, []byte) {
			return bob.do("PUT", fmt.Sprintf("_/rules/r%d", i), rulePut("bt", name))
		}, http.StatusOK},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			refusal := ""
			for i, n := range actionNames {
				st, b := op.do(i, n.name)
				switch n.want {
				case allowed:
					if st != op.ok {
						t.Errorf("%s %s: %d %s; want %d", op.name, n.name, st, b, op.ok)
					}
				case refused:
					if st < 400 {
						t.Errorf("%s %s: %d %s; want a refusal", op.name, n.name, st, b)
						continue
					}
					if st >= 500 {
						t.Errorf("%s %s: %d %s; want a client error", op.name, n.name, st, b)
					}
					if bytes.Contains(b, []byte("s3cret")) || bytes.Contains(b, []byte("alice'}")) {
						t.Errorf("%s %s: the answer leaks alice's action: %s", op.name, n.name, b)
					}
					// Every refusal of a name in alice's namespace is the
					// same answer (published packages' names aside).
					if strings.HasPrefix(n.name, "/alice/") {
						got := fmt.Sprintf("%d %s", st, canonical(b))
						if refusal == "" {
							refusal = got
						} else if got != refusal {
							t.Errorf("%s %s: %s; another refused name answered %s (the answers tell names apart)", op.name, n.name, got, refusal)
						}
					}
				}
			}
		})
	}
}

// TestEntitlementPackages: bob reads, lists and binds alice's published
// package only; her private package, her published binding to it and a
// package that does not exist all answer the same 403.
func TestEntitlementPackages(t *testing.T) {
	_, _, bob := tenants(t)
	forbidden := "The supplied authentication is not authorized to access 'alice'."
	for _, p := range []string{"privpkg", "nopkg", "pubbind"} {
		if p != "pubbind" {
			bob.fails(http.StatusForbidden, forbidden, "GET", "alice/packages/"+p, nil)
			bob.fails(http.StatusForbidden, forbidden, "PUT", "_/packages/b-"+p, map[string]any{"binding": map[string]any{"namespace": "alice", "name": p}})
		}
		bob.fails(http.StatusForbidden, forbidden, "GET", "alice/actions/"+p+"/", nil)
	}
	bob.must(http.StatusOK, "GET", "alice/packages/pub", nil)
	bob.must(http.StatusOK, "GET", "alice/actions/pub/", nil)
	// Reading a published binding shows the package it binds to: not when
	// that is alice's private package.
	bob.fails(http.StatusForbidden, forbidden, "GET", "alice/packages/pubbind", nil)
	// Nothing else of alice's is bob's to see, existing or not.
	for _, p := range []string{"alice/actions", "alice/actions/priv", "alice/actions/nothing", "alice/triggers/t", "alice/triggers/nothing",
		"alice/rules/r", "alice/rules/nothing", "alice/activations", "alice/limits", "alice"} {
		bob.fails(http.StatusForbidden, forbidden, "GET", p, nil)
	}
	for _, p := range []string{"alice/triggers/t", "alice/triggers/nothing"} {
		bob.fails(http.StatusForbidden, forbidden, "POST", p, map[string]any{})
	}
}

// TestEntitlementAtRunTime: a sequence and a rule made while alice's
// package was published stop reaching it the moment she unpublishes it;
// nothing of hers runs for bob after that.
func TestEntitlementAtRunTime(t *testing.T) {
	_, alice, bob := tenants(t)
	bob.must(http.StatusOK, "PUT", "_/actions/seq", sequence("/alice/pub/a"))
	bob.must(http.StatusOK, "PUT", "_/rules/fwd", rulePut("bt", "/alice/pub/a"))
	if m := bob.must(http.StatusOK, "POST", "_/actions/seq?blocking=true&result=true", map[string]any{}); m["who"] != "alice" {
		t.Fatalf("sequence over a published action: %v", m)
	}
	alice.must(http.StatusOK, "PUT", "_/packages/pub?overwrite=true", map[string]any{"publish": false})

	st, b := bob.do("POST", "_/actions/seq?blocking=true", map[string]any{})
	if st != http.StatusBadGateway || bytes.Contains(b, []byte("alice'}")) || !bytes.Contains(b, []byte("Sequence component does not exist.")) {
		t.Fatalf("sequence after unpublish: %d %s; want 502 'Sequence component does not exist.'", st, b)
	}
	fired := bob.must(http.StatusAccepted, "POST", "_/triggers/bt", map[string]any{})
	act := waitActivation(t, bob, fired["activationId"].(string))
	logs, _ := json.Marshal(act["logs"])
	if !bytes.Contains(logs, []byte(`\"success\":false`)) || bytes.Contains(logs, []byte(`\"success\":true`)) {
		t.Fatalf("rule fired after unpublish: %s", logs)
	}
	// alice's action ran once for bob (in the published sequence) and
	// never again; its records are bob's.
	time.Sleep(200 * time.Millisecond)
	var rows []map[string]any
	_, lb := bob.do("GET", "_/activations?limit=200", nil)
	json.Unmarshal(lb, &rows)
	runs := 0
	for _, r := range rows {
		if r["name"] == "a" {
			runs++
		}
	}
	if runs != 1 {
		t.Fatalf("alice's action ran %d times for bob; want 1 (before the unpublish): %s", runs, lb)
	}
}

// apiCreate sends bob's createApi for action (namespace/name) and returns
// the status and body.
func apiCreate(t *testing.T, s *apptest.Server, key, ns, action, base string) (int, []byte) {
	t.Helper()
	doc := map[string]any{"apidoc": map[string]any{
		"namespace": "_", "gatewayBasePath": base, "gatewayPath": "/x", "gatewayMethod": "GET",
		"action": map[string]any{"name": action, "namespace": ns, "backendMethod": "GET"},
	}}
	b, _ := json.Marshal(doc)
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/web/whisk.system/apimgmt/createApi.http", bytes.NewReader(b))
	u, k, _ := strings.Cut(key, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestEntitlementAPIGateway: bob cannot point an API at alice's private
// web action (the answer is the one for a missing action), and an API
// over her published web action neither shows nor uses her secret.
func TestEntitlementAPIGateway(t *testing.T) {
	s, _, bob := tenants(t)
	st1, b1 := apiCreate(t, s, bob.auth, "alice", "web", "/b1")
	st2, b2 := apiCreate(t, s, bob.auth, "alice", "nothing", "/b2")
	if st1 < 400 || bytes.Contains(b1, []byte("tok-root")) {
		t.Fatalf("bob's API over alice's private web action: %d %s", st1, b1)
	}
	if st1 != st2 || strings.ReplaceAll(string(b1), "web", "X") != strings.ReplaceAll(string(b2), "nothing", "X") {
		t.Fatalf("existing and missing actions answer differently: %d %s / %d %s", st1, b1, st2, b2)
	}
	st, b := apiCreate(t, s, bob.auth, "alice", "pub/web", "/b3")
	if st != http.StatusOK {
		t.Fatalf("bob's API over alice's published web action: %d %s", st, b)
	}
	if bytes.Contains(b, []byte("tok-pub")) {
		t.Fatalf("bob's API shows alice's secret: %s", b)
	}
	var v struct {
		GwAPIURL string `json:"gwApiUrl"`
	}
	json.Unmarshal(b, &v)
	resp, err := http.Get(v.GwAPIURL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(rb, []byte("s3cret")) {
		t.Fatalf("bob's API ran alice's protected action without her token: %d %s", resp.StatusCode, rb)
	}
}
