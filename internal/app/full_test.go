package app_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/internal/store/sqlite"
	"github.com/whirlfaas/whirl/internal/store/storetest"
	"github.com/whirlfaas/whirl/whisk"
)

// TestFullDisk runs a Whirl whose data directory is on a small tmpfs and
// fills that disk: non-blocking invokes and trigger fires (which journal)
// and entity writes answer 503 in OpenWhisk's error shape; a blocking
// invoke still answers with its record, which stays readable while it
// waits in memory; /healthz says why. Once the disk has room again every
// accepted invocation has exactly one record, committed (they survive a
// restart), and what was stored before is intact.
func TestFullDisk(t *testing.T) {
	disk := storetest.SmallDisk(t, 4<<20)
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(disk.Dir, "data")
	s := apptest.StartConfig(t, cfg)

	putPy(t, s, "hello", pyHello, nil)
	mustStatus(t, api(t, s, "PUT", "triggers/tick", map[string]any{}), 200)
	mustStatus(t, api(t, s, "PUT", "rules/r", map[string]any{"trigger": "tick", "action": "hello"}), 200)
	actionBefore := api(t, s, "GET", "actions/hello", nil).body

	var accepted []string // activation ids answered 200 or 202
	blocking := func() reply {
		r := api(t, s, "POST", "actions/hello?blocking=true", map[string]any{"name": "disk"})
		if r.status == 200 {
			accepted = append(accepted, r.header.Get("X-Openwhisk-Activation-Id"))
		}
		return r
	}
	async := func() reply {
		r := api(t, s, "POST", "actions/hello", nil)
		if r.status == 202 {
			accepted = append(accepted, r.obj(t)["activationId"].(string))
		}
		return r
	}
	mustStatus(t, blocking(), 200)
	mustStatus(t, async(), 202)
	eventually(t, 20*time.Second, "the async record", func() bool {
		return api(t, s, "GET", "activations/"+accepted[1], nil).status == 200
	})
	if r := call(t, "GET", s.URL+"/healthz", "", nil); r.status != 200 {
		t.Fatalf("healthz before the disk filled: %d %s", r.status, r.body)
	}

	disk.Fill(t)

	for what, r := range map[string]reply{
		"async invoke":  async(),
		"trigger fire":  api(t, s, "POST", "triggers/tick", map[string]any{}),
		"action update": api(t, s, "PUT", "actions/hello?overwrite=true", pyAction(pyAppError)),
		"action create": api(t, s, "PUT", "actions/other", pyAction(pyHello)),
	} {
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s on a full disk: %d %s, want 503", what, r.status, r.body)
		}
		if msg := r.errMsg(t); msg != whisk.MsgStoreUnavailable {
			t.Fatalf("%s on a full disk: error %q", what, msg)
		}
	}
	// A blocking invoke runs and answers; its record waits in memory and
	// is readable meanwhile.
	r := blocking()
	mustStatus(t, r, 200)
	waiting := accepted[len(accepted)-1]
	// Its commit has been tried and failed: the record is held.
	if err := s.App.Store.(store.Flusher).Flush(context.Background()); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("Flush on a full disk = %v, want ErrNoSpace", err)
	}
	mustStatus(t, api(t, s, "GET", "activations/"+waiting, nil), 200)
	// Past the bound on records held in memory, a blocking caller is told
	// that its record could not be kept.
	s.App.Store.(*sqlite.Store).SetMaxHeldBytes(1)
	r = api(t, s, "POST", "actions/hello?blocking=true", nil)
	if r.status != http.StatusServiceUnavailable || r.errMsg(t) != whisk.MsgStoreUnavailable {
		t.Fatalf("blocking invoke past the memory bound: %d %s, want 503", r.status, r.body)
	}
	lost := r.header.Get("X-Openwhisk-Activation-Id")
	s.App.Store.(*sqlite.Store).SetMaxHeldBytes(0)
	h := call(t, "GET", s.URL+"/healthz", "", nil)
	if h.status != http.StatusServiceUnavailable || !strings.Contains(h.obj(t)["status"].(string), "store: no space left on device") {
		t.Fatalf("healthz on a full disk: %d %s", h.status, h.body)
	}
	if got := api(t, s, "GET", "actions/hello", nil).body; string(got) != string(actionBefore) {
		t.Fatalf("action changed by a refused update:\n%s\n%s", actionBefore, got)
	}

	disk.Free(t)
	eventually(t, 20*time.Second, "healthz to recover", func() bool {
		return call(t, "GET", s.URL+"/healthz", "", nil).status == 200
	})
	mustStatus(t, async(), 202)
	mustStatus(t, api(t, s, "POST", "triggers/tick", map[string]any{}), 202)

	// Restart: what was accepted is committed, not only in memory.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.App.Close(ctx); err != nil {
		t.Fatal(err)
	}
	integrityOK(t, filepath.Join(cfg.DataDir, "whirl.db"))
	cfg.Listen = "127.0.0.1:0"
	s = apptest.StartConfig(t, cfg)
	if got := api(t, s, "GET", "actions/hello", nil).body; string(got) != string(actionBefore) {
		t.Fatalf("action after the full disk:\n%s\n%s", actionBefore, got)
	}
	mustStatus(t, api(t, s, "GET", "actions/other", nil), 404)
	if lost != "" {
		mustStatus(t, api(t, s, "GET", "activations/"+lost, nil), 404)
	}
	eventually(t, 20*time.Second, "a record for every accepted invocation", func() bool {
		for _, id := range accepted {
			if api(t, s, "GET", "activations/"+id, nil).status != 200 {
				return false
			}
		}
		return true
	})
	list := api(t, s, "GET", "activations?name=hello&limit=200", nil)
	mustStatus(t, list, 200)
	seen := map[string]int{}
	for _, a := range list.json(t).([]any) {
		seen[a.(map[string]any)["activationId"].(string)]++
	}
	for _, id := range accepted {
		if seen[id] != 1 {
			t.Errorf("accepted invocation %s has %d records, want 1", id, seen[id])
		}
	}
}

// integrityOK runs SQLite's integrity check on the closed database at
// path.
func integrityOK(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Fatalf("integrity_check: %s", res)
	}
}
