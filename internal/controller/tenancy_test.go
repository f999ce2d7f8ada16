package controller_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
)

// TestOtherNamespacePackageList: another namespace lists only the published
// packages of a namespace (how `wsk package list /whisk.system` discovers
// the catalogue); its own list shows everything.
func TestOtherNamespacePackageList(t *testing.T) {
	s := apptest.Start(t)
	guest := newAPI(t, s)
	alice := guest.as(addNamespace(t, s, "alice"))
	alice.must(http.StatusOK, "PUT", "_/packages/shared", map[string]any{"publish": true})
	alice.must(http.StatusOK, "PUT", "_/packages/private", map[string]any{})

	names := func(b []byte) map[string]bool {
		var rows []map[string]any
		if err := json.Unmarshal(b, &rows); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		out := map[string]bool{}
		for _, r := range rows {
			out[r["name"].(string)] = true
		}
		return out
	}
	st, b := guest.do("GET", "alice/packages", nil)
	if st != http.StatusOK {
		t.Fatalf("guest lists alice's packages: %d %s", st, b)
	}
	if got := names(b); !got["shared"] || got["private"] {
		t.Fatalf("guest sees %v; want only the published package", got)
	}
	if m := guest.must(http.StatusOK, "GET", "alice/packages?count=true", nil); m["packages"] != float64(1) {
		t.Fatalf("guest counts %v; want 1", m)
	}
	if got := names(must(alice.do("GET", "_/packages", nil))); !got["shared"] || !got["private"] {
		t.Fatalf("alice sees %v; want both", got)
	}
	// Published or not, nothing else of alice's is listed to guest.
	guest.fails(http.StatusForbidden, "The supplied authentication is not authorized to access 'alice'.", "GET", "alice/actions", nil)
	guest.fails(http.StatusForbidden, "The supplied authentication is not authorized to access 'alice'.", "PUT", "alice/packages/mine", map[string]any{})
}

func must(st int, b []byte) []byte {
	if st != http.StatusOK {
		panic(string(b))
	}
	return b
}

// TestStatsShowOnlyOwnNamespace: the completions a key sees are its own
// namespace's.
func TestStatsShowOnlyOwnNamespace(t *testing.T) {
	s := apptest.Start(t)
	guest := newAPI(t, s)
	alice := guest.as(addNamespace(t, s, "alice"))
	alice.must(http.StatusOK, "PUT", "_/actions/echo", pyAction())
	alice.must(http.StatusOK, "POST", "_/actions/echo?blocking=true", map[string]any{})

	var st struct {
		TotalCompleted int                       `json:"totalCompleted"`
		Namespaces     map[string]map[string]any `json:"namespaces"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := must(alice.do("GET", "_/stats", nil))
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.TotalCompleted == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.TotalCompleted != 1 || st.Namespaces["alice"] == nil {
		t.Fatalf("alice's stats: %+v; want her one completion", st)
	}
	b := must(guest.do("GET", "_/stats", nil))
	st.Namespaces, st.TotalCompleted = nil, 0
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.TotalCompleted != 0 || st.Namespaces["alice"] != nil {
		t.Fatalf("guest's stats show alice's activity: %s", b)
	}
}
