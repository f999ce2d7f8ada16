package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/whirlfaas/whirl/internal/app/apptest"
	"github.com/whirlfaas/whirl/internal/config"
	"github.com/whirlfaas/whirl/whisk"
)

const incCode = "def main(args):\n    return {'n': args.get('n', 0) + 1}\n"

const failCode = "def main(args):\n    return {'error': 'boom at %d' % args.get('n', 0)}\n"

func code(src string) map[string]any {
	return map[string]any{"exec": map[string]any{"kind": "python:3", "code": src}}
}

func sequence(components ...string) map[string]any {
	return map[string]any{"exec": map[string]any{"kind": "sequence", "components": components}}
}

// waitActivation polls GET /activations/{id} until the record exists.
func waitActivation(t testing.TB, a api, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := a.do("GET", "_/activations/"+id, nil); st == 200 {
			return a.must(200, "GET", "_/activations/"+id, nil)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("activation %s never recorded", id)
	return nil
}

func TestSequenceRuns(t *testing.T) {
	s := apptest.Start(t)
	g := newAPI(t, s)
	g.must(200, "PUT", "_/packages/p", map[string]any{})
	g.must(200, "PUT", "_/actions/p/inc", code(incCode))
	g.must(200, "PUT", "_/actions/p/fail", code(failCode))
	seq := g.must(200, "PUT", "_/actions/p/three", sequence("p/inc", "/_/p/inc", "/guest/p/inc"))
	ex := seq["exec"].(map[string]any)
	if comps := ex["components"].([]any); comps[0] != "/guest/p/inc" || comps[1] != "/guest/p/inc" {
		t.Fatalf("components stored as %v", comps)
	}

	act := g.must(200, "POST", "_/actions/p/three?blocking=true", map[string]any{"n": 1})
	if r := result(t, act); r["n"] != 4.0 {
		t.Fatalf("result %v, want n=4", r)
	}
	logs := act["logs"].([]any)
	if len(logs) != 3 {
		t.Fatalf("logs %v, want 3 component ids", logs)
	}
	if annotation(t, act, "kind") != "sequence" || annotation(t, act, "topmost") != true || annotation(t, act, "path") != "guest/p/three" {
		t.Fatalf("sequence annotations %v", act["annotations"])
	}
	if _, ok := act["cause"]; ok {
		t.Fatalf("topmost sequence has a cause")
	}
	var sum float64
	for _, id := range logs {
		comp := g.must(200, "GET", "_/activations/"+id.(string), nil)
		if comp["cause"] != act["activationId"] || annotation(t, comp, "causedBy") != "sequence" {
			t.Fatalf("component %s: cause %v causedBy %v", id, comp["cause"], annotation(t, comp, "causedBy"))
		}
		sum += comp["duration"].(float64)
	}
	if act["duration"].(float64) != sum && !(sum == 0 && act["duration"] == nil) {
		t.Fatalf("duration %v, want the components' sum %v", act["duration"], sum)
	}

	// An error short-circuits and becomes the sequence's result.
	g.must(200, "PUT", "_/actions/broken", sequence("p/inc", "p/fail", "p/inc"))
	act = g.must(502, "POST", "_/actions/broken?blocking=true", map[string]any{"n": 1})
	if r := result(t, act); r["error"] != "boom at 2" {
		t.Fatalf("short-circuit result %v", r)
	}
	if logs := act["logs"].([]any); len(logs) != 2 {
		t.Fatalf("short-circuit logs %v", logs)
	}

	// Non-blocking: the record appears when the chain ends.
	m := g.must(202, "POST", "_/actions/p/three", map[string]any{"n": 10})
	rec := waitActivation(t, g, m["activationId"].(string))
	if r := result(t, rec); r["n"] != 13.0 {
		t.Fatalf("non-blocking result %v", r)
	}

	// Nested sequences: the inner one records its cause.
	g.must(200, "PUT", "_/actions/outer", sequence("p/three", "p/inc"))
	act = g.must(200, "POST", "_/actions/outer?blocking=true", map[string]any{"n": 0})
	if r := result(t, act); r["n"] != 4.0 {
		t.Fatalf("nested result %v", r)
	}
	inner := g.must(200, "GET", "_/activations/"+act["logs"].([]any)[0].(string), nil)
	if inner["cause"] != act["activationId"] || annotation(t, inner, "topmost") != false || annotation(t, inner, "causedBy") != "sequence" {
		t.Fatalf("inner sequence record %v", inner)
	}

	// A component deleted after create fails at run time.
	g.must(200, "PUT", "_/actions/gone", code(incCode))
	g.must(200, "PUT", "_/actions/usesgone", sequence("gone"))
	g.must(200, "DELETE", "_/actions/gone", nil)
	act = g.must(502, "POST", "_/actions/usesgone?blocking=true", map[string]any{})
	if r := result(t, act); r["error"] != whisk.MsgSequenceMissing {
		t.Fatalf("missing component at run time: %v", r)
	}
}

func TestSequenceCreateErrors(t *testing.T) {
	s := apptest.Start(t, func(c *config.Config) { c.Limits.ActionsSequenceMaxLength = 3 })
	g := newAPI(t, s)
	g.must(200, "PUT", "_/actions/x", code(incCode))
	g.fails(400, whisk.MsgSequenceEmpty, "PUT", "_/actions/s", sequence())
	g.fails(400, whisk.MsgSequenceSelf, "PUT", "_/actions/s", sequence("x", "s"))
	g.fails(400, whisk.MsgSequenceMissing, "PUT", "_/actions/s", sequence("x", "nothing"))
	g.fails(400, whisk.MsgSequenceTooLong, "PUT", "_/actions/s", sequence("x", "x", "x", "x"))
	g.fails(404, whisk.MsgNotFound, "GET", "_/actions/s", nil)

	g.must(200, "PUT", "_/actions/s1", sequence("x", "x"))
	g.must(200, "PUT", "_/actions/s2", sequence("s1", "x"))
	g.fails(400, whisk.MsgSequenceTooLong, "PUT", "_/actions/s3", sequence("s1", "s1"))
	// A cycle through a nested sequence is a self-reference.
	g.fails(400, whisk.MsgSequenceSelf, "PUT", "_/actions/s1?overwrite=true", sequence("s2"))
	got := g.must(200, "GET", "_/actions/s1", nil)
	if comps := got["exec"].(map[string]any)["components"].([]any); len(comps) != 2 {
		t.Fatalf("s1 changed by a refused update: %v", comps)
	}
}

// BenchmarkSequence100 invokes a 100-step sequence of a no-op python
// action, blocking, end to end through the REST API (ServerlessBench's
// long chain). PERF.md's target is 50 ms.
func BenchmarkSequence100(b *testing.B) {
	s := apptest.Start(b, func(c *config.Config) { c.Limits.ActionsSequenceMaxLength = 200 })
	g := newAPI(b, s)
	g.must(200, "PUT", "_/actions/noop", code("def main(args):\n    return args\n"))
	comps := make([]string, 100)
	for i := range comps {
		comps[i] = "noop"
	}
	g.must(200, "PUT", "_/actions/long", sequence(comps...))
	g.must(200, "POST", "_/actions/long?blocking=true", map[string]any{}) // warm
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		act := g.must(200, "POST", "_/actions/long?blocking=true", map[string]any{"i": i})
		if n := len(act["logs"].([]any)); n != 100 {
			b.Fatal(fmt.Sprint("logs ", n))
		}
	}
}
