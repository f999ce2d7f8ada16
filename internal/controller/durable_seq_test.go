package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/bus"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// waitRecord polls GET activations/id until the record exists.
func waitRecord(t *testing.T, a api, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, b := a.do("GET", "_/activations/"+id, nil)
		if st == http.StatusOK {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record for %s: %d %s", id, st, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNonBlockingSequenceIsJournaled: an accepted non-blocking sequence is
// in the journal until its record is stored, and a journaled sequence
// found at start-up runs to its record.
func TestNonBlockingSequenceIsJournaled(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	s := apptest.StartConfig(t, cfg)
	g := newAPI(t, s)
	g.must(http.StatusOK, "PUT", "_/actions/inc", map[string]any{"exec": map[string]any{"kind": "python:3", "code": incCode}})
	g.must(http.StatusOK, "PUT", "_/actions/nap", map[string]any{"exec": map[string]any{"kind": "python:3",
		"code": "import time\ndef main(args):\n    time.sleep(0.5)\n    return args\n"}})
	g.must(http.StatusOK, "PUT", "_/actions/seq", map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/_/nap", "/_/inc", "/_/inc"}}})

	sid := g.must(http.StatusAccepted, "POST", "_/actions/seq", map[string]any{"n": 1})["activationId"].(string)
	pending := func(st store.Store) bool {
		es, err := st.Journal().Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.ID == sid {
				return true
			}
		}
		return false
	}
	if !pending(s.App.Store) {
		t.Fatal("an accepted non-blocking sequence is not journaled")
	}
	rec := waitRecord(t, g, sid)
	if r := result(t, rec); r["n"] != 3.0 {
		t.Fatalf("sequence result %v", r)
	}
	if pending(s.App.Store) {
		t.Fatal("the journal entry outlived the sequence's record")
	}

	// A crash after the 202: the entry is journaled, no chain runs. Write
	// such an entry into the stopped server's store, then start again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := s.App.Store.Entities().Get(ctx, store.Actions, "guest", "seq")
	if err != nil {
		t.Fatal(err)
	}
	var seq whisk.Action
	if err := json.Unmarshal(e.Doc, &seq); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lost := whisk.NewActivationID()
	msg, _ := json.Marshal(&bus.Invocation{ActivationID: lost, Action: &seq, Params: json.RawMessage(`{"n":10}`),
		Namespace: "guest", Subject: "guest", APIKey: auth.GuestKey, Received: time.Now()})
	st, err := s.App.Store.Journal().Pending(ctx) // closed store: must fail, not hang
	if err == nil {
		t.Fatalf("closed store answered %v", st)
	}
	s2Cfg := *cfg
	s2Cfg.Listen = "127.0.0.1:0"
	// Append through a store opened on the same directory, as a crashed
	// server would have left it.
	appendJournal(t, &s2Cfg, store.JournalEntry{ID: lost, Payload: msg, Accepted: time.Now()})
	s2 := apptest.StartConfig(t, &s2Cfg)
	rec = waitRecord(t, newAPI(t, s2), lost)
	if r := result(t, rec); r["n"] != 12.0 {
		t.Fatalf("resumed sequence result %v, want 12", r)
	}
	if logs := rec["logs"].([]any); len(logs) != 3 {
		t.Fatalf("resumed sequence logs %v, want its 3 components", logs)
	}
}

// TestAPIKeyIsUUIDColonKey: an action annotated provide-api-key gets the
// caller's whole key, "uuid:key", in __OW_API_KEY; others get none.
func TestAPIKeyIsUUIDColonKey(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	code := "import os\ndef main(args):\n    return {'key': os.environ.get('__OW_API_KEY', '')}\n"
	g.must(http.StatusOK, "PUT", "_/actions/withkey", map[string]any{"exec": map[string]any{"kind": "python:3", "code": code},
		"annotations": kv("provide-api-key", true)})
	g.must(http.StatusOK, "PUT", "_/actions/nokey", map[string]any{"exec": map[string]any{"kind": "python:3", "code": code}})
	if r := g.must(http.StatusOK, "POST", "_/actions/withkey?blocking=true&result=true", nil); r["key"] != auth.GuestKey {
		t.Fatalf("__OW_API_KEY = %q, want the guest key uuid:key", r["key"])
	}
	if r := g.must(http.StatusOK, "POST", "_/actions/nokey?blocking=true&result=true", nil); r["key"] != "" {
		t.Fatalf("an action without provide-api-key got __OW_API_KEY %q", r["key"])
	}
}

// appendJournal writes e into the journal of cfg's data directory.
func appendJournal(t *testing.T, cfg *config.Config, e store.JournalEntry) {
	t.Helper()
	ctx := context.Background()
	st, err := app.OpenStore(ctx, cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Journal().Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
