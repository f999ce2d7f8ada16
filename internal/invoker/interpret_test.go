package invoker

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/whirlfaas/whirl/whisk"
)

// TestInterpret checks the result rules of OpenWhisk's
// processRunResponseContent (CONTRACT §7–8).
func TestInterpret(t *testing.T) {
	cases := []struct {
		body   string
		status int
		result string
	}{
		{`{"a":1}`, whisk.StatusSuccess, `{"a":1}`},
		{` {"a":1}` + "\n", whisk.StatusSuccess, `{"a":1}`},
		{`[1,2]`, whisk.StatusSuccess, `[1,2]`},
		{`{"error":"boom","other":1}`, whisk.StatusApplicationError, `{"error":"boom"}`},
		{`{"error":{"statusCode":400}}`, whisk.StatusApplicationError, `{"error":{"statusCode":400}}`},
		{`{"a":1,"error":"late"}`, whisk.StatusApplicationError, `{"error":"late"}`},
		{`{"\u0065rror":"escaped key"}`, whisk.StatusApplicationError, `{"error":"escaped key"}`},
		{`{"error":1,"error":2}`, whisk.StatusApplicationError, `{"error":2}`},
		{`{"a":{"error":1}}`, whisk.StatusSuccess, `{"a":{"error":1}}`},
		{`{"a":"error","b":["error",{"error":1}],"c":"\"error\""}`, whisk.StatusSuccess, `{"a":"error","b":["error",{"error":1}],"c":"\"error\""}`},
		{`{"errors":1,"err":2}`, whisk.StatusSuccess, `{"errors":1,"err":2}`},
		{`{}`, whisk.StatusSuccess, `{}`},
		{`42`, whisk.StatusDeveloperError, `{"error":"The action did not produce a valid JSON or JSON Array response: 42"}`},
		{`not json`, whisk.StatusDeveloperError, `{"error":"The action did not produce a valid JSON or JSON Array response: not json"}`},
		{``, whisk.StatusDeveloperError, `{"error":"The action did not produce a valid JSON or JSON Array response: "}`},
	}
	for _, c := range cases {
		st, res := interpret([]byte(c.body))
		if st != c.status || string(res) != c.result {
			t.Errorf("interpret(%q) = %d %s; want %d %s", c.body, st, res, c.status, c.result)
		}
	}
	big := `{"x":"` + strings.Repeat("a", MaxResultSize) + `"}`
	st, res := interpret([]byte(big))
	var m map[string]string
	if err := json.Unmarshal(res, &m); err != nil {
		t.Fatal(err)
	}
	want := "The action produced a response that exceeded the allowed length: 1048584 > 1048576 bytes. The truncated response was: {\"x\":\"aaa"
	if st != whisk.StatusApplicationError || !strings.HasPrefix(m["error"], want) {
		t.Errorf("too large: %d %.200s", st, m["error"])
	}
}

func TestProvideAPIKey(t *testing.T) {
	a := &whisk.Action{}
	if !provideAPIKey(a) {
		t.Error("an action without the annotation (older than it) gets the key")
	}
	a.Annotations = whisk.KeyValues{}.Set("provide-api-key", false)
	if provideAPIKey(a) {
		t.Error("provide-api-key:false still gets the key")
	}
	a.Annotations = whisk.KeyValues{}.Set("provide-api-key", true)
	if !provideAPIKey(a) {
		t.Error("provide-api-key:true gets no key")
	}
}

func TestEnvString(t *testing.T) {
	for in, want := range map[string]string{`"plain"`: "plain", `42`: "42", `{"a":1}`: `{"a":1}`, `true`: "true"} {
		if got := envString(json.RawMessage(in)); got != want {
			t.Errorf("envString(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestLimitsJSONMatchesMarshal(t *testing.T) {
	n := 3
	for _, l := range []whisk.Limits{{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}, {Timeout: 100, Memory: 128, Logs: 0, Concurrency: 2, Instances: &n}} {
		want, _ := json.Marshal(l)
		if got := limitsJSON(l); string(got) != string(want) {
			t.Errorf("limitsJSON = %s, json.Marshal = %s", got, want)
		}
	}
}
