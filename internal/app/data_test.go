package app_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

const pyEcho = `def main(args):
    return {"echo": args.get("n"), "greeting": args.get("greeting")}
`

// TestBackupUnderLoadRestores: a backup taken while a running Whirl
// invokes restores into a fresh data directory that a Whirl starts on,
// with the entities and the records completed before the backup; a
// restore into the running Whirl's directory is refused.
func TestBackupUnderLoadRestores(t *testing.T) {
	s := apptest.Start(t)
	putPy(t, s, "echo", pyEcho, nil)
	var before []string
	for i := range 3 {
		r := api(t, s, "POST", "actions/echo?blocking=true", map[string]any{"n": i})
		mustStatus(t, r, 200)
		before = append(before, r.obj(t)["activationId"].(string))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := api(t, s, "POST", "actions/echo?blocking=true", map[string]any{"n": 7}); r.status == 200 {
					during.Add(1)
				}
			}
		}()
	}
	eventually(t, 20*time.Second, "invocations under way", func() bool { return during.Load() >= 3 })
	file := filepath.Join(t.TempDir(), "backup.db")
	if err := app.Backup(context.Background(), s.DataDir, file); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	if _, err := app.Restore(context.Background(), s.DataDir, file); !errors.Is(err, app.ErrDataDirInUse) {
		t.Fatalf("restore into the running Whirl's data directory: %v", err)
	}
	// Nor does a second Whirl start on it.
	second := *s.App.Config
	if a, err := app.New(context.Background(), &second, nil); !errors.Is(err, app.ErrDataDirInUse) {
		if a != nil {
			a.Close(context.Background())
		}
		t.Fatalf("a second whirl up on a live data directory: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "restored")
	if _, err := app.Restore(context.Background(), fresh, file); err != nil {
		t.Fatal(err)
	}
	r := apptest.Start(t, func(c *config.Config) { c.DataDir = fresh })
	mustStatus(t, api(t, r, "GET", "actions/echo", nil), 200)
	for _, id := range before {
		mustStatus(t, api(t, r, "GET", "activations/"+id, nil), 200)
	}
	got := api(t, r, "POST", "actions/echo?blocking=true", map[string]any{"n": 42})
	mustStatus(t, got, 200)
	if !strings.Contains(string(got.body), `"echo":42`) {
		t.Fatalf("invoke after restore: %s", got.body)
	}
	t.Logf("backup taken while %d invocations completed", during.Load())
}

// TestRetentionPrunesInWhirlUp: a running Whirl prunes by the configured
// bound and reports it in /metrics.
func TestRetentionPrunesInWhirlUp(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) {
		c.Activations.MaxPerNamespace = 2
		c.Activations.PruneInterval = time.Second
	})
	putPy(t, s, "echo", pyEcho, nil)
	for i := range 5 {
		mustStatus(t, api(t, s, "POST", "actions/echo?blocking=true", map[string]any{"n": i}), 200)
	}
	eventually(t, 20*time.Second, "records pruned to 2", func() bool {
		m := api(t, s, "GET", "activations?count=true", nil).obj(t)
		return m["activations"] == float64(2)
	})
	m := call(t, "GET", s.URL+"/metrics", "", nil)
	mustStatus(t, m, 200)
	if !strings.Contains(string(m.body), "whirl_activations_pruned_total 3") {
		t.Fatalf("metrics do not report the pruned records:\n%s", grepLines(string(m.body), "prune"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMoveToCluster: a populated `whirl up` (actions with code, a
// package, a binding, triggers with an alarm feed and rules, an API,
// limits, a key of its own) is exported, imported into PostgreSQL, and
// the scale-out roles serve the same invocations, trigger fires and API
// calls there with the same key.
func TestMoveToCluster(t *testing.T) {
	ctx := context.Background()
	s := apptest.Start(t)
	uuid, secret := auth.GenerateKey()
	key := uuid + ":" + secret
	if err := s.App.Store.Auth().PutSubject(ctx, store.Subject{UUID: uuid, KeyHash: auth.HashKey(secret), Namespace: "alice"}); err != nil {
		t.Fatal(err)
	}
	per := 500
	if err := app.SetNamespaceLimits(ctx, s.App.Store, "alice", whisk.NamespaceLimits{InvocationsPerMinute: &per}); err != nil {
		t.Fatal(err)
	}
	populate := func(base string) {
		ns := func(method, path string, body any, status int) reply {
			t.Helper()
			r := call(t, method, base+"/api/v1/namespaces/_/"+path, key, body)
			mustStatus(t, r, status)
			return r
		}
		ns("PUT", "actions/echo", pyAction(pyEcho), 200)
		ns("PUT", "packages/tools", map[string]any{"parameters": []map[string]any{{"key": "greeting", "value": "hi"}}}, 200)
		ns("PUT", "actions/tools/greet", pyAction(pyEcho), 200)
		ns("PUT", "packages/mine", map[string]any{"binding": map[string]any{"namespace": "alice", "name": "tools"},
			"parameters": []map[string]any{{"key": "greeting", "value": "bound"}}}, 200)
		web := pyAction(`def main(args):
    return {"body": {"web": args.get("n", "none")}}
`)
		web["annotations"] = []map[string]any{{"key": "web-export", "value": true}}
		ns("PUT", "actions/web", web, 200)
		ns("PUT", "triggers/manual", map[string]any{}, 200)
		ns("PUT", "rules/onmanual", map[string]any{"trigger": "/_/manual", "action": "/_/echo"}, 200)
		ns("PUT", "triggers/tick", map[string]any{"annotations": []map[string]any{{"key": "feed", "value": "/whisk.system/alarms/alarm"}}}, 200)
		ns("PUT", "rules/ontick", map[string]any{"trigger": "/_/tick", "action": "/_/echo"}, 200)
		r := call(t, "POST", base+"/api/v1/namespaces/whisk.system/actions/alarms/alarm?blocking=true", key,
			map[string]any{"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": key, "cron": "* * * * * *"})
		mustStatus(t, r, 200)
		doc := map[string]any{"apidoc": map[string]any{
			"namespace": "_", "gatewayBasePath": "/shop", "gatewayPath": "/items", "gatewayMethod": "GET",
			"action": map[string]any{"name": "web", "namespace": "alice", "backendMethod": "GET",
				"backendUrl": base + "/api/v1/web/alice/default/web.http"},
		}}
		mustStatus(t, call(t, "POST", base+"/api/v1/web/whisk.system/apimgmt/createApi.http", key, doc), 200)
	}
	populate(s.URL)

	// The same checks, on either deployment.
	check := func(base string) (history string) {
		ns := func(method, path string, body any, status int) reply {
			t.Helper()
			r := call(t, method, base+"/api/v1/namespaces/_/"+path, key, body)
			mustStatus(t, r, status)
			return r
		}
		r := ns("POST", "actions/echo?blocking=true", map[string]any{"n": 1}, 200)
		if !strings.Contains(string(r.body), `"echo":1`) {
			t.Fatalf("%s: invoke: %s", base, r.body)
		}
		history = r.obj(t)["activationId"].(string)
		if r := ns("POST", "actions/mine/greet?blocking=true&result=true", map[string]any{"n": 2}, 200); !strings.Contains(string(r.body), `"bound"`) {
			t.Fatalf("%s: invoke through the binding: %s", base, r.body)
		}
		count := func() float64 {
			return ns("GET", "activations?count=true&name=echo", nil, 200).obj(t)["activations"].(float64)
		}
		n := count()
		ns("POST", "triggers/manual", map[string]any{"n": 3}, 202)
		eventually(t, 30*time.Second, base+": the manual trigger's rule ran echo", func() bool { return count() > n })
		// The alarm fires tick every second; its rule runs echo too.
		n = count()
		eventually(t, 30*time.Second, base+": the alarm's rule ran echo", func() bool { return count() >= n+2 })
		g := call(t, "GET", base+"/api/"+uuid+"/shop/items?n=5", "", nil)
		mustStatus(t, g, 200)
		if !strings.Contains(string(g.body), `"web"`) {
			t.Fatalf("%s: API call: %s", base, g.body)
		}
		return history
	}
	history := check(s.URL)

	var dump bytes.Buffer
	stats, err := store.Export(ctx, s.App.Store, &dump, store.ExportOptions{Namespaces: []string{"alice"}, Activations: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exported %+v", stats)

	c := newCluster(t, "inv0")
	pg, err := app.OpenStoreAt(ctx, "", c.store)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := store.Import(ctx, pg, bytes.NewReader(dump.Bytes()), true)
	if err != nil || rep.Counts[store.ImportCreate] != len(rep.Changes) || len(rep.Changes) == 0 {
		pg.Close()
		t.Fatalf("dry run into an empty PostgreSQL: %s, %v", rep.Summary(), err)
	}
	if rep, err = store.Import(ctx, pg, bytes.NewReader(dump.Bytes()), false); err != nil {
		pg.Close()
		t.Fatal(err)
	}
	again, err := store.Import(ctx, pg, bytes.NewReader(dump.Bytes()), false)
	pg.Close()
	if err != nil || again.Counts[store.ImportUnchanged] != len(rep.Changes) {
		t.Fatalf("import again: %s, %v", again.Summary(), err)
	}
	t.Logf("imported into PostgreSQL: %s", rep.Summary())

	ctl := c.controller(t, "ctl0", true)
	c.invoker(t, "inv0")
	// The history came along; the limits too.
	if r := call(t, "GET", ctl.url+"/api/v1/namespaces/_/activations/"+history, key, nil); r.status != 200 {
		t.Fatalf("imported activation %s: %d %s", history, r.status, r.body)
	}
	lim, err := app.NamespaceLimits(ctx, ctl.app.Store, "alice")
	if err != nil || lim.InvocationsPerMinute == nil || *lim.InvocationsPerMinute != per {
		t.Fatalf("imported limits: %+v, %v", lim, err)
	}
	check(ctl.url)
}
