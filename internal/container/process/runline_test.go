package process

import (
	"encoding/json"
	"testing"
)

// TestRunLineMatchesMarshal: the run line is valid JSON on one line
// carrying the same value and environment as json.Marshal of the map
// (byte for byte where the value has no HTML to escape), and a value
// that is not JSON is refused.
func TestRunLineMatchesMarshal(t *testing.T) {
	env := map[string]string{"activation_id": "0123abcd", "namespace": "guest", "action_name": "/guest/a",
		"deadline": "1700000000000", "api_key": "a:b", "odd": "é \"q\" \\ <tag> \u2028 \x01", "transaction_id": "t1"}
	for _, v := range []string{`{}`, `{"a":[1,2,{"b":null}]}`, "{\n  \"a\" : 1\n}", `"s"`, `{"x":"caf\u00e9"}`, `{"h":"\u003c"}`} {
		got, err := runLine(json.RawMessage(v), env)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{"value": json.RawMessage(v)}
		for k, s := range env {
			m[k] = s
		}
		want, _ := json.Marshal(m)
		if string(got) != string(want) {
			t.Errorf("value %q:\n got %s\nwant %s", v, got, want)
		}
	}
	for _, bad := range []string{`{`, `{"a":}`, "nope"} {
		if _, err := runLine(json.RawMessage(bad), env); err == nil {
			t.Errorf("value %q accepted", bad)
		}
	}
}
