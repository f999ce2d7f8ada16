package app_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// owClient returns openwhisk-client-go configured for s as guest.
func owClient(t testing.TB, s *apptest.Server) *whisk.Client {
	t.Helper()
	c, err := whisk.NewClient(&http.Client{Timeout: 2 * time.Minute}, &whisk.Config{Host: s.URL, AuthToken: s.GuestAuth})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// owStatus returns the HTTP status an openwhisk-client-go error carries
// (its exit code is status-256).
func owStatus(err error) int {
	var we *whisk.WskError
	if errors.As(err, &we) {
		return we.ExitCode + 256
	}
	return 0
}

func strp(s string) *string { return &s }

// TestCompatActions drives the action routes through openwhisk-client-go.
func TestCompatActions(t *testing.T) {
	s := apptest.Start(t)
	c := owClient(t, s)

	nss, _, err := c.Namespaces.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(nss) != 1 || nss[0].Name != "guest" {
		t.Fatalf("namespaces = %+v", nss)
	}
	// The client clears its namespace to list namespaces (wsk builds a
	// client per command); put it back.
	c.Config.Namespace = "_"

	act := &whisk.Action{
		Name:        "hello",
		Exec:        &whisk.Exec{Kind: "python:3", Code: strp(pyHello)},
		Parameters:  whisk.KeyValueArr{{Key: "name", Value: "param"}},
		Annotations: whisk.KeyValueArr{{Key: "description", Value: "says hello"}},
	}
	got, resp, err := c.Actions.Insert(act, false)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || got.Version != "0.0.1" || got.Namespace != "guest" || got.Name != "hello" {
		t.Fatalf("create: %d %+v", resp.StatusCode, got)
	}
	if got.Annotations.GetValue("exec") != "python:3.11" && got.Annotations.GetValue("exec") != got.Exec.Kind {
		t.Errorf("exec annotation %v, kind %s", got.Annotations.GetValue("exec"), got.Exec.Kind)
	}
	if v := got.Annotations.GetValue("provide-api-key"); v != false {
		t.Errorf("provide-api-key = %v", v)
	}
	if got.Limits == nil || got.Limits.Timeout == nil || *got.Limits.Timeout != 60000 || *got.Limits.Memory != 256 {
		t.Errorf("limits %+v", got.Limits)
	}

	// Create again without overwrite: 409.
	_, _, err = c.Actions.Insert(act, false)
	if owStatus(err) != 409 || !strings.Contains(err.Error(), "resource already exists") {
		t.Fatalf("second create: %v (status %d)", err, owStatus(err))
	}
	// Update: version bump, parameters replaced.
	act.Parameters = whisk.KeyValueArr{{Key: "name", Value: "updated"}}
	got, _, err = c.Actions.Insert(act, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "0.0.2" || got.Parameters.GetValue("name") != "updated" {
		t.Fatalf("update: %+v", got)
	}

	// Get with and without code.
	full, _, err := c.Actions.Get("hello", true)
	if err != nil {
		t.Fatal(err)
	}
	if full.Exec.Code == nil || *full.Exec.Code != pyHello {
		t.Fatalf("code %v", full.Exec.Code)
	}
	nocode, _, err := c.Actions.Get("hello", false)
	if err != nil {
		t.Fatal(err)
	}
	if nocode.Exec.Code != nil || nocode.Exec.Kind == "" {
		t.Fatalf("code=false: %+v", nocode.Exec)
	}
	golden(t, "action_get", api(t, s, "GET", "actions/hello", nil).body)
	golden(t, "action_get_nocode", api(t, s, "GET", "actions/hello?code=false", nil).body)

	// List with limit and skip; count through raw HTTP.
	for _, n := range []string{"a1", "a2", "a3"} {
		putPy(t, s, n, pyHello, nil)
	}
	all, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("list: %d actions", len(all))
	}
	for _, a := range all {
		if a.Exec != nil && a.Exec.Code != nil {
			t.Errorf("list row %s carries code", a.Name)
		}
	}
	page, _, err := c.Actions.List("", &whisk.ActionListOptions{Limit: 2, Skip: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Name != all[1].Name || page[1].Name != all[2].Name {
		t.Fatalf("page %v of %v", names(page), names(all))
	}
	cnt := api(t, s, "GET", "actions?count=true", nil)
	mustStatus(t, cnt, 200)
	if n := cnt.obj(t)["actions"]; n != 4.0 {
		t.Fatalf("count = %v", n)
	}
	golden(t, "action_list", api(t, s, "GET", "actions?limit=1&skip=0", nil).body)

	// Delete answers the entity; then 404.
	resp, err = c.Actions.Delete("a3")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v", err)
	}
	_, _, err = c.Actions.Get("a3", false)
	if owStatus(err) != 404 {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := c.Actions.Delete("a3"); owStatus(err) != 404 {
		t.Fatalf("delete twice: %v", err)
	}
}

func names(as []whisk.Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

// TestCompatInvoke checks blocking, result-only and non-blocking invokes
// and the status mapping of CONTRACT §8 with real python actions.
func TestCompatInvoke(t *testing.T) {
	s := apptest.Start(t)
	c := owClient(t, s)
	putPy(t, s, "hello", pyHello, nil)

	// Blocking, result only.
	res, resp, err := c.Actions.Invoke("hello", map[string]any{"name": "Ada"}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := res.(map[string]any); m["greeting"] != "Hello Ada" {
		t.Fatalf("result %v", res)
	}
	if id := resp.Header.Get("X-Openwhisk-Activation-Id"); len(id) != 32 {
		t.Fatalf("activation id header %q", id)
	}

	// Blocking, full record: the client parses it.
	res, resp, err = c.Actions.Invoke("hello", map[string]any{"name": "Bob"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	m := res.(map[string]any)
	if m["activationId"] != resp.Header.Get("X-Openwhisk-Activation-Id") {
		t.Fatalf("id %v vs header %s", m["activationId"], resp.Header.Get("X-Openwhisk-Activation-Id"))
	}
	r := api(t, s, "POST", "actions/hello?blocking=true", map[string]any{"name": "Cy"})
	mustStatus(t, r, 200)
	golden(t, "invoke_blocking", r.body)

	// Non-blocking: 202 {"activationId"}.
	res, resp, err = c.Actions.Invoke("hello", nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 202 {
		t.Fatalf("non-blocking status %d", resp.StatusCode)
	}
	m = res.(map[string]any)
	if id, _ := m["activationId"].(string); len(id) != 32 || len(m) != 1 || id != resp.Header.Get("X-Openwhisk-Activation-Id") {
		t.Fatalf("non-blocking body %v", m)
	}

	// Array results come back bare.
	putPy(t, s, "array", pyArray, nil)
	r = api(t, s, "POST", "actions/array?blocking=true", nil)
	mustStatus(t, r, 200)
	if string(r.body) != "[1,2,3]" && string(r.body) != "[1, 2, 3]" {
		t.Fatalf("array result %s", r.body)
	}
}

// TestCompatInvokeStatuses maps each outcome to its HTTP status, status
// string and message.
func TestCompatInvokeStatuses(t *testing.T) {
	s := apptest.Start(t)
	c := owClient(t, s)
	cases := []struct {
		name, code string
		limits     map[string]any
		http       int
		status     string
		errSub     string
		timeout    bool
	}{
		{"ok", pyHello, nil, 200, "success", "", false},
		{"apperr", pyAppError, nil, 502, "application error", "bad input", false},
		{"raise", pyRaise, nil, 502, "application error", "boom", false},
		{"slow", pySleep, map[string]any{"timeout": 300}, 502, "action developer error", "The action exceeded its time limits of 300 milliseconds.", true},
		{"exit", pyExit, nil, 502, "action developer error", "The action did not produce a valid response and exited unexpectedly.", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			putPy(t, s, tc.name, tc.code, tc.limits)
			r := api(t, s, "POST", "actions/"+tc.name+"?blocking=true", nil)
			mustStatus(t, r, tc.http)
			id := r.header.Get("X-Openwhisk-Activation-Id")
			if len(id) != 32 {
				t.Fatalf("no activation id header")
			}
			body := r.obj(t)
			resp := body["response"].(map[string]any)
			if resp["status"] != tc.status || resp["success"] != (tc.status == "success") {
				t.Fatalf("response %v", resp)
			}
			if tc.errSub != "" {
				e, _ := resp["result"].(map[string]any)["error"].(string)
				if !strings.Contains(e, tc.errSub) {
					t.Fatalf("error %q does not contain %q", e, tc.errSub)
				}
			}
			// result=true answers only the result, same status.
			rr := api(t, s, "POST", "actions/"+tc.name+"?blocking=true&result=true", nil)
			mustStatus(t, rr, tc.http)
			if tc.errSub != "" {
				if e, _ := rr.obj(t)["error"].(string); !strings.Contains(e, tc.errSub) {
					t.Fatalf("result=true body %s", rr.body)
				}
			}
			// The client parses the stored record.
			a, _, err := c.Activations.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Response.Status != tc.status || a.Response.Success != (tc.status == "success") || a.ActivationID != id {
				t.Fatalf("client parsed %+v", a.Response)
			}
			if got := a.Annotations.GetValue("timeout"); got != tc.timeout {
				t.Errorf("timeout annotation %v", got)
			}
			for _, k := range []string{"path", "kind", "limits", "waitTime"} {
				if a.Annotations.GetValue(k) == nil {
					t.Errorf("annotation %s missing: %v", k, a.Annotations)
				}
			}
			// Through the client, a 502 is an error carrying the message.
			_, _, err = c.Actions.Invoke(tc.name, nil, true, true)
			if tc.http == 200 && err != nil {
				t.Fatal(err)
			}
			if tc.http != 200 && (err == nil || !strings.Contains(err.Error(), tc.errSub)) {
				t.Fatalf("client error %v", err)
			}
		})
	}
}

// TestCompatInvokeWaitRunsOut: a blocking invoke whose wait (the timeout
// parameter) runs out answers 202 with the id, and the record appears
// later.
func TestCompatInvokeWaitRunsOut(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "sleep", pySleep, nil)
	r := api(t, s, "POST", "actions/sleep?blocking=true&timeout=100", map[string]any{"sleep": 1})
	mustStatus(t, r, 202)
	id, _ := r.obj(t)["activationId"].(string)
	if len(id) != 32 || r.header.Get("X-Openwhisk-Activation-Id") != id {
		t.Fatalf("202 body %s header %s", r.body, r.header.Get("X-Openwhisk-Activation-Id"))
	}
	c := owClient(t, s)
	_, _, err := c.Actions.Invoke("sleep", map[string]any{"sleep": 0.5}, true, true)
	// The client sees 202 as an error only when asked to; a 60 s default
	// wait covers 0.5 s.
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "record of "+id, func() bool {
		return api(t, s, "GET", "activations/"+id, nil).status == 200
	})
	res := api(t, s, "GET", "activations/"+id+"/result", nil)
	mustStatus(t, res, 200)
	if res.obj(t)["success"] != true {
		t.Fatalf("result %s", res.body)
	}
}

// TestCompatActivations drives list (limit/skip/since/upto/name/docs/
// count), get, result and logs.
func TestCompatActivations(t *testing.T) {
	s := apptest.Start(t)
	c := owClient(t, s)
	putPy(t, s, "hello", pyHello, nil)
	putPy(t, s, "other", pyAppError, nil)

	var ids []string // in invocation order
	for i := 0; i < 4; i++ {
		name := "hello"
		if i == 2 {
			name = "other"
		}
		r := api(t, s, "POST", "actions/"+name+"?blocking=true", map[string]any{"name": fmt.Sprint(i)})
		if r.status != 200 && r.status != 502 {
			t.Fatalf("invoke: %d %s", r.status, r.body)
		}
		id := r.header.Get("X-Openwhisk-Activation-Id")
		ids = append(ids, id)
		// Read-your-writes: visible to get and list the moment the
		// blocking invoke returned.
		mustStatus(t, api(t, s, "GET", "activations/"+id, nil), 200)
		list, _, err := c.Activations.List(&whisk.ActivationListOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ActivationID != id {
			t.Fatalf("newest is not the one just run: %+v", list)
		}
	}

	list, _, err := c.Activations.List(&whisk.ActivationListOptions{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Fatalf("list has %d", len(list))
	}
	for i, a := range list {
		if a.ActivationID != ids[len(ids)-1-i] {
			t.Fatalf("order: got %s at %d, want %s", a.ActivationID, i, ids[len(ids)-1-i])
		}
		if i > 0 && a.Start > list[i-1].Start {
			t.Fatalf("not newest first by start")
		}
		if a.Annotations.GetValue("path") == nil {
			t.Errorf("row without annotations: %+v", a)
		}
	}
	if list[1].StatusCode != 1 {
		t.Errorf("summary statusCode of the failed one = %d", list[1].StatusCode)
	}
	page, _, err := c.Activations.List(&whisk.ActivationListOptions{Limit: 2, Skip: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ActivationID != ids[2] || page[1].ActivationID != ids[1] {
		t.Fatalf("limit/skip page wrong")
	}
	byName, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: "other", Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(byName) != 1 || byName[0].ActivationID != ids[2] {
		t.Fatalf("name filter: %+v", byName)
	}
	// since/upto are inclusive bounds on start.
	since, _, err := c.Activations.List(&whisk.ActivationListOptions{Since: list[1].Start, Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range since {
		if a.Start < list[1].Start {
			t.Fatalf("since: start %d < %d", a.Start, list[1].Start)
		}
	}
	if len(since) < 2 {
		t.Fatalf("since: %d rows", len(since))
	}
	upto, _, err := c.Activations.List(&whisk.ActivationListOptions{Upto: list[2].Start, Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range upto {
		if a.Start > list[2].Start {
			t.Fatalf("upto: start %d > %d", a.Start, list[2].Start)
		}
	}
	if len(upto) < 2 {
		t.Fatalf("upto: %d rows", len(upto))
	}
	docs, _, err := c.Activations.List(&whisk.ActivationListOptions{Docs: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Response.Status != "success" || len(docs[0].Logs) == 0 {
		t.Fatalf("docs=true row: %+v", docs)
	}
	cnt, _, err := c.Activations.Count(&whisk.ActivationCountOptions{Count: true})
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Activations != 4 {
		t.Fatalf("count %d", cnt.Activations)
	}
	cnt, _, err = c.Activations.Count(&whisk.ActivationCountOptions{Count: true, Name: "hello"})
	if err != nil || cnt.Activations != 3 {
		t.Fatalf("count by name %v %v", cnt, err)
	}

	// get, result, logs.
	a, _, err := c.Activations.Get(ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "hello" || a.Namespace != "guest" || a.Response.Status != "success" || a.Duration < 0 || a.End < a.Start {
		t.Fatalf("get %+v", a)
	}
	res, _, err := c.Activations.Result(ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.Status != "success" || res.Result.(map[string]any)["greeting"] != "Hello 3" {
		t.Fatalf("result %+v", res)
	}
	logs, _, err := c.Activations.Logs(ids[3])
	if err != nil {
		t.Fatal(err)
	}
	if len(logs.Logs) != 1 || !strings.HasSuffix(logs.Logs[0], "stdout: hello 3") {
		t.Fatalf("logs %q", logs.Logs)
	}
	golden(t, "activation_get", api(t, s, "GET", "activations/"+ids[3], nil).body)
	golden(t, "activation_failed", api(t, s, "GET", "activations/"+ids[2], nil).body)
	golden(t, "activation_result", api(t, s, "GET", "activations/"+ids[3]+"/result", nil).body)
	golden(t, "activation_logs", api(t, s, "GET", "activations/"+ids[3]+"/logs", nil).body)
	golden(t, "activation_list", api(t, s, "GET", "activations?limit=2", nil).body)

	// Unknown id: 404; malformed: 400.
	if _, _, err := c.Activations.Get(strings.Repeat("0", 32)); owStatus(err) != 404 {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestReadYourWritesAsync: every accepted non-blocking invocation shows up
// in list once complete.
func TestReadYourWritesAsync(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "hello", pyHello, nil)
	accepted := map[string]bool{}
	for i := 0; i < 20; i++ {
		r := api(t, s, "POST", "actions/hello", map[string]any{"name": i})
		mustStatus(t, r, 202)
		accepted[r.obj(t)["activationId"].(string)] = true
	}
	eventually(t, 60*time.Second, "all records", func() bool {
		r := api(t, s, "GET", "activations?count=true", nil)
		return r.status == 200 && r.obj(t)["activations"] == float64(len(accepted))
	})
	r := api(t, s, "GET", "activations?limit=200", nil)
	mustStatus(t, r, 200)
	rows := r.json(t).([]any)
	seen := map[string]bool{}
	for _, row := range rows {
		seen[row.(map[string]any)["activationId"].(string)] = true
	}
	for id := range accepted {
		if !seen[id] {
			t.Errorf("accepted %s missing from list", id)
		}
	}
}
