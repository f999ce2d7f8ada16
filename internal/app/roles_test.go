package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/whirlfaas/whirl/internal/app"
	"github.com/whirlfaas/whirl/internal/auth"
	"github.com/whirlfaas/whirl/internal/config"
)

// The scale-out tests need the PostgreSQL and the NATS server (JetStream
// enabled) that CI starts on this machine; WHIRL_TEST_POSTGRES and
// WHIRL_TEST_NATS point elsewhere. They fail, never skip, when either is
// unreachable.

func randomToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testPostgres returns a DSN whose search_path is a schema of its own,
// dropped when the test ends.
func testPostgres(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("WHIRL_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s (start it, or set WHIRL_TEST_POSTGRES): %v", dsn, err)
	}
	defer conn.Close(context.Background())
	schema := "whirl_roles_" + randomToken()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// testNATS returns the NATS URL and a subject prefix of the test's own;
// the prefix's stream (and with it the invokers' consumers) is deleted
// when the test ends.
func testNATS(t *testing.T) (string, string) {
	t.Helper()
	u := os.Getenv("WHIRL_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	nc, err := natsgo.Connect(u, natsgo.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("no NATS server at %s (%v): start nats-server -js, or set WHIRL_TEST_NATS", u, err)
	}
	nc.Close()
	prefix := "wr" + randomToken()
	t.Cleanup(func() {
		nc, err := natsgo.Connect(u)
		if err != nil {
			t.Errorf("delete stream: %v", err)
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := js.DeleteStream(ctx, strings.ToUpper(prefix)+"_INVOKE"); err != nil {
			t.Errorf("delete stream: %v", err)
		}
	})
	return u, prefix
}

// cluster is the shared configuration of one scale-out deployment.
type cluster struct {
	store, bus, prefix string
	invokers           []string
}

func newCluster(t *testing.T, invokers ...string) cluster {
	u, prefix := testNATS(t)
	return cluster{store: testPostgres(t), bus: u, prefix: prefix, invokers: invokers}
}

func (c cluster) config(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Limits.ActionsInvokesPerMinute = 1000000
	cfg.Limits.ActionsInvokesConcurrent = 100000
	cfg.Limits.TriggersFiresPerMinute = 1000000
	cfg.Store, cfg.Bus, cfg.BusPrefix, cfg.Invokers = c.store, c.bus, c.prefix, c.invokers
	return cfg
}

// role is one running controller or invoker.
type role struct {
	app  *app.App
	url  string
	once sync.Once
	stop func(ctx context.Context)
}

// start runs a role (app.NewController or app.NewInvoker) on a loopback
// port, closed when the test ends unless closed before.
func (c cluster) start(t *testing.T, newRole func(context.Context, *config.Config, *slog.Logger) (*app.App, error), edit func(*config.Config)) *role {
	t.Helper()
	cfg := c.config(t)
	edit(cfg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = ln.Addr().String()
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := newRole(context.Background(), cfg, logger)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	r := &role{app: a, url: "http://" + ln.Addr().String()}
	r.stop = func(ctx context.Context) {
		r.once.Do(func() {
			if err := a.Close(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("close: %v", err)
			}
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r.stop(ctx)
	})
	return r
}

func (c cluster) controller(t *testing.T, name string, alarms bool) *role {
	return c.start(t, app.NewController, func(cfg *config.Config) {
		cfg.ControllerName, cfg.ScheduleAlarms = name, alarms
	})
}

func (c cluster) invoker(t *testing.T, name string) *role {
	return c.start(t, app.NewInvoker, func(cfg *config.Config) { cfg.InvokerName = name })
}

// ns calls /api/v1/namespaces/_/<path> on role r as guest.
func (r *role) ns(t testing.TB, method, path string, body any) reply {
	t.Helper()
	return call(t, method, r.url+"/api/v1/namespaces/_/"+path, auth.GuestKey, body)
}

// completed returns how many activations invoker r ran.
func (r *role) completed() uint64 {
	st := r.app.Metrics.Rate(time.Minute)
	var n uint64
	for _, s := range st.Namespaces {
		n += s.TotalCompleted + s.TotalAsyncCompleted
	}
	return n
}

const pyWho = `import time
def main(args):
    time.sleep(float(args.get("sleep", 0)))
    return {"who": "%s", "version": %d, "n": args.get("n")}
`

func TestScaleOut(t *testing.T) {
	c := newCluster(t, "inv0", "inv1")
	a := c.controller(t, "ctlA", true)
	b := c.controller(t, "ctlB", false)
	inv0 := c.invoker(t, "inv0")
	inv1 := c.invoker(t, "inv1")
	for name, r := range map[string]*role{"inv0": inv0, "inv1": inv1} {
		h := call(t, "GET", r.url+"/healthz", "", nil)
		mustStatus(t, h, 200)
		if !strings.Contains(string(h.body), `"`+name+`"`) {
			t.Fatalf("%s healthz: %s", name, h.body)
		}
		mustStatus(t, call(t, "GET", r.url+"/metrics", "", nil), 200)
	}

	// Several actions, so that hashing by action reaches both invokers.
	const actions = 8
	for i := range actions {
		name := fmt.Sprintf("who%d", i)
		mustStatus(t, a.ns(t, "PUT", "actions/"+name+"?overwrite=true", pyAction(fmt.Sprintf(pyWho, name, 1))), 200)
	}

	t.Run("blocking", func(t *testing.T) {
		for round := range 3 {
			for i := range actions {
				name := fmt.Sprintf("who%d", i)
				via, other := a, b
				if (round+i)%2 == 1 {
					via, other = b, a
				}
				r := via.ns(t, "POST", "actions/"+name+"?blocking=true", map[string]any{"n": round})
				mustStatus(t, r, 200)
				m := r.obj(t)
				res, _ := m["response"].(map[string]any)["result"].(map[string]any)
				if res["who"] != name || res["n"] != float64(round) {
					t.Fatalf("%s via %s: result %v", name, via.url, res)
				}
				// Read-your-writes, even through the other controller: the
				// invoker stored the record before it sent the completion.
				id := m["activationId"].(string)
				mustStatus(t, other.ns(t, "GET", "activations/"+id, nil), 200)
			}
		}
		list := a.ns(t, "GET", "activations?limit=200", nil)
		mustStatus(t, list, 200)
		if n := len(list.json(t).([]any)); n < 3*actions {
			t.Fatalf("list shows %d activations, want at least %d", n, 3*actions)
		}
	})

	t.Run("both invokers work", func(t *testing.T) {
		n0, n1 := inv0.completed(), inv1.completed()
		t.Logf("inv0 ran %d activations, inv1 %d", n0, n1)
		if n0 == 0 || n1 == 0 || n0+n1 != 3*actions {
			t.Fatalf("inv0 ran %d and inv1 %d of %d activations: want both, and every one once", n0, n1, 3*actions)
		}
	})

	t.Run("update seen by the other controller", func(t *testing.T) {
		// b has who0 cached from the invokes above.
		mustStatus(t, b.ns(t, "POST", "actions/who0?blocking=true&result=true", map[string]any{}), 200)
		mustStatus(t, a.ns(t, "PUT", "actions/who0?overwrite=true", pyAction(fmt.Sprintf(pyWho, "who0", 2))), 200)
		tries := 0
		eventually(t, 10*time.Second, "controller B to run the new code", func() bool {
			tries++
			r := b.ns(t, "POST", "actions/who0?blocking=true&result=true", map[string]any{})
			mustStatus(t, r, 200)
			return r.obj(t)["version"] == float64(2)
		})
		if tries > 1 {
			t.Logf("controller B saw the update on invoke %d", tries)
		}
		// And the other way round, for a delete.
		mustStatus(t, b.ns(t, "DELETE", "actions/who7", nil), 200)
		eventually(t, 10*time.Second, "controller A to see the delete", func() bool {
			return a.ns(t, "POST", "actions/who7?blocking=true", map[string]any{}).status == 404
		})
	})

	t.Run("invoker killed mid-load", func(t *testing.T) {
		const n = 120
		ids := make([]string, 0, n)
		for i := range n {
			name := fmt.Sprintf("who%d", i%6)
			r := a.ns(t, "POST", "actions/"+name, map[string]any{"n": i, "sleep": 0.02})
			mustStatus(t, r, 202)
			ids = append(ids, r.obj(t)["activationId"].(string))
			if i == n/3 {
				// Kill inv0 while it holds queued and running work: a
				// context already done aborts the running activations.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				inv0.stop(ctx)
			}
		}
		// Nothing of inv0's share runs until an inv0 comes back.
		c.invoker(t, "inv0")
		seen := map[string]bool{}
		eventually(t, 60*time.Second, fmt.Sprintf("records of all %d accepted invocations", n), func() bool {
			for _, id := range ids {
				if seen[id] {
					continue
				}
				if r := b.ns(t, "GET", "activations/"+id, nil); r.status == 200 {
					m := r.obj(t)
					resp := m["response"].(map[string]any)
					if resp["success"] != true {
						t.Fatalf("activation %s: %s", id, r.body)
					}
					seen[id] = true
				}
			}
			return len(seen) == n
		})
		// Records are keyed by id: a redelivered invocation did not add
		// one.
		list := a.ns(t, "GET", "activations?limit=200", nil)
		mustStatus(t, list, 200)
		unique := map[string]bool{}
		for _, v := range list.json(t).([]any) {
			id := v.(map[string]any)["activationId"].(string)
			if unique[id] {
				t.Fatalf("activation %s listed twice", id)
			}
			unique[id] = true
		}
		count := a.ns(t, "GET", "activations?count=true", nil)
		mustStatus(t, count, 200)
		if got := count.obj(t)["activations"]; got != float64(len(unique)) {
			t.Fatalf("count %v, list %d distinct records", got, len(unique))
		}
		for _, id := range ids {
			if !unique[id] {
				t.Fatalf("accepted %s has a record but is not listed", id)
			}
		}
	})
}
