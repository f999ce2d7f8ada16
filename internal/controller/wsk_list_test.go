package controller_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// names lists path (relative to /api/v1/namespaces/) and returns the
// names in the order the server gave them; actions in packages read as
// pkg/name.
func (a api) names(path string) []string {
	a.t.Helper()
	st, b := a.do("GET", path, nil)
	if st != 200 {
		a.t.Fatalf("GET %s: %d %s", path, st, b)
	}
	var rows []struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		a.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if _, pkg, ok := strings.Cut(r.Namespace, "/"); ok {
			out = append(out, pkg+"/"+r.Name)
			continue
		}
		out = append(out, r.Name)
	}
	return out
}

// TestListsNewestFirst checks that entity lists come most recently updated
// first, as OpenWhisk's do: `wsk action list` shows the action just created
// or updated at the top (wsk sorts by name only with --name-sort).
func TestListsNewestFirst(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	want := func(path string, names ...string) {
		t.Helper()
		if got := g.names(path); !slices.Equal(got, names) {
			t.Fatalf("GET %s: %v, want %v", path, got, names)
		}
	}

	for _, n := range []string{"a", "b", "c"} {
		g.must(200, "PUT", "_/actions/"+n, pyAction())
	}
	g.must(200, "PUT", "_/actions/a?overwrite=true", pyAction("x", 1))
	want("_/actions", "a", "c", "b")
	want("_/actions?limit=2", "a", "c")
	want("_/actions?limit=2&skip=1", "c", "b")

	// Actions in packages are listed with the namespace's actions, by time.
	g.must(200, "PUT", "_/packages/p", map[string]any{})
	g.must(200, "PUT", "_/actions/p/x", pyAction())
	g.must(200, "PUT", "_/actions/p/y", pyAction())
	g.must(200, "PUT", "_/actions/b?overwrite=true", pyAction("x", 2))
	want("_/actions", "b", "p/y", "p/x", "a", "c")
	want("_/actions/p/", "p/y", "p/x")
	g.must(200, "PUT", "_/packages/o", map[string]any{})
	want("_/packages", "o", "p")

	for _, n := range []string{"t1", "t2", "t3"} {
		g.must(200, "PUT", "_/triggers/"+n, map[string]any{})
	}
	g.must(200, "PUT", "_/triggers/t1?overwrite=true", map[string]any{"parameters": kv("k", 1)})
	want("_/triggers", "t1", "t3", "t2")

	g.must(200, "PUT", "_/rules/r1", rulePut("t2", "a"))
	g.must(200, "PUT", "_/rules/r2", rulePut("t3", "a"))
	want("_/rules", "r2", "r1")
}
