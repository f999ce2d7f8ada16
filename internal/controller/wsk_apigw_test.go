package controller_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAPIDeleteFailuresAreApplicationErrors checks that a failed deleteApi
// answers as OpenWhisk's route management does: status 502 with
// {"error": "API deletion failure: …"} and no "code". wsk reads a 502
// without a code as an application error and prints "Unable to delete
// API: API deletion failure: API 'x' does not exist."; any other status
// without a code makes it print "The connection failed, or timed out".
func TestAPIDeleteFailuresAreApplicationErrors(t *testing.T) {
	s, c := webServer(t)
	putPython(t, c, "books", echoAction, map[string]any{"web-export": true}, nil)
	if _, err := createAPI(t, c, "/club", "/books", "get", "books", "json"); err != nil {
		t.Fatal(err)
	}
	del := func(q url.Values) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodDelete,
			s.URL+"/api/v1/web/whisk.system/apimgmt/deleteApi.http?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		u, k, _ := strings.Cut(s.GuestAuth, ":")
		req.SetBasicAuth(u, k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		return resp.StatusCode, m
	}
	for _, tc := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"basepath": {"Book Club"}}, "API deletion failure: API 'Book Club' does not exist."},
		{url.Values{"basepath": {"/club"}, "relpath": {"/nope"}}, "API deletion failure: path /nope does not exist in the API"},
		{url.Values{"basepath": {"/club"}, "relpath": {"/books"}, "operation": {"POST"}}, "API deletion failure: path /books with operation post does not exist in the API"},
	} {
		st, m := del(tc.q)
		if st != http.StatusBadGateway || m["error"] != tc.want {
			t.Errorf("delete %v: %d %v, want 502 %q", tc.q, st, m, tc.want)
		}
		if _, ok := m["code"]; ok {
			t.Errorf("delete %v: body has a code: %v", tc.q, m)
		}
	}
	// The API is still whole, and deleting it works.
	if st, _ := del(url.Values{"basepath": {"/club"}, "relpath": {"/books"}, "operation": {"get"}}); st != http.StatusOK {
		t.Fatalf("delete operation: %d", st)
	}
	if st, m := del(url.Values{"basepath": {"/club"}}); st != http.StatusBadGateway || m["error"] != "API deletion failure: API '/club' does not exist." {
		t.Errorf("delete after the last operation went: %d %v", st, m)
	}
}
