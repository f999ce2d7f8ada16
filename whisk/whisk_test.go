package whisk

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "hello", "hello world", "a.b", "x@y", "A_1-2", "a1@", strings.Repeat("n", 256)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", " a", "a/b", "-a", "a b ", "héllo?", "a\n", ".a"} {
		err := ValidateName(bad)
		if err == nil || StatusOf(err) != http.StatusBadRequest || err.Error() != MsgEntityNameIllegal {
			t.Errorf("ValidateName(%q) = %v, want 400 %q", bad, err, MsgEntityNameIllegal)
		}
	}
	long := strings.Repeat("n", 257)
	if err := ValidateName(long); err == nil || err.Error() != "Name segement longer than allowed: 257 > 256 bytes." {
		t.Errorf("ValidateName(257 chars) = %v", err)
	}
}

func TestParseFQN(t *testing.T) {
	cases := []struct{ in, ns, want string }{
		{"hello", "guest", "/guest/hello"},
		{"pkg/hello", "guest", "/guest/pkg/hello"},
		{"/_/hello", "guest", "/guest/hello"},
		{"/other/hello", "guest", "/other/hello"},
		{"/other/pkg/hello", "guest", "/other/pkg/hello"},
	}
	for _, c := range cases {
		f, err := ParseFQN(c.in, c.ns)
		if err != nil || f.String() != c.want {
			t.Errorf("ParseFQN(%q) = %v, %v; want %s", c.in, f, err, c.want)
		}
	}
	for _, bad := range []string{"/only", "a/b/c", "/a/b/c/d", "bad name!", "/ns/"} {
		if _, err := ParseFQN(bad, "guest"); err == nil {
			t.Errorf("ParseFQN(%q) accepted", bad)
		}
	}
	f, _ := ParseFQN("/guest/pkg/hello", "x")
	if f.Path() != "guest/pkg/hello" || f.PathPrefix() != "guest/pkg" || f.Key() != "pkg/hello" {
		t.Errorf("FQN parts: %q %q %q", f.Path(), f.PathPrefix(), f.Key())
	}
	if r := f.Ref(); r.FQN() != f {
		t.Errorf("Ref round trip: %+v", r.FQN())
	}
}

func TestKeyValues(t *testing.T) {
	kv := KeyValues{}.Set("a", 1).Set("b", "two").Set("a", 3)
	if len(kv) != 2 || string(kv[0].Value) != "3" {
		t.Fatalf("Set replaces in place: %+v", kv)
	}
	if s, ok := kv.String("b"); !ok || s != "two" {
		t.Errorf("String(b) = %q, %v", s, ok)
	}
	merged := kv.Merge(KeyValues{}.Set("b", "over").Set("c", true))
	if v, _ := merged.String("b"); v != "over" || !merged.Truthy("c") || len(merged) != 3 {
		t.Errorf("Merge: %+v", merged)
	}
	if len(kv) != 2 {
		t.Errorf("Merge changed its receiver: %+v", kv)
	}
	for _, v := range []any{false, nil, 0, "", "false"} {
		if (KeyValues{}.Set("x", v)).Truthy("x") {
			t.Errorf("Truthy(%v) = true", v)
		}
	}
	if !(KeyValues{}.Set("x", "yes")).Truthy("x") || (KeyValues{}).Truthy("missing") {
		t.Error("Truthy of a string or a missing key")
	}
	if b, _ := json.Marshal(KeyValues(nil)); string(b) != "[]" {
		t.Errorf("nil marshals as %s, want []", b)
	}
	obj, err := FromObject([]byte(`{"z":1,"a":{"b":[1,2]}}`))
	if err != nil || len(obj) != 2 || obj[0].Key != "z" || string(obj[1].Value) != `{"b":[1,2]}` {
		t.Errorf("FromObject keeps order and raw values: %+v, %v", obj, err)
	}
	if _, err := FromObject([]byte(`[1]`)); err == nil {
		t.Error("FromObject accepted an array")
	}
}

func TestLimitsApply(t *testing.T) {
	r := DefaultActionLimitRanges
	n := func(v int) *int { return &v }
	l, err := r.Apply(r.Default(), &LimitsPut{Timeout: n(1000), Memory: n(128)}, 30)
	if err != nil || l.Timeout != 1000 || l.Memory != 128 || l.Logs != 10 || l.Concurrency != 1 {
		t.Fatalf("Apply = %+v, %v", l, err)
	}
	bad := map[string]*LimitsPut{
		"The request content was malformed:\nrequirement failed: duration 300001 milliseconds exceeds allowed threshold of 300000 milliseconds":     {Timeout: n(300001)},
		"The request content was malformed:\nrequirement failed: duration 99 milliseconds below allowed threshold of 100 milliseconds":              {Timeout: n(99)},
		"The request content was malformed:\nrequirement failed: memory 513 MB exceeds allowed threshold of 512 MB":                                 {Memory: n(513)},
		"The request content was malformed:\nrequirement failed: memory 64 MB below allowed threshold of 128 MB":                                    {Memory: n(64)},
		"The request content was malformed:\nrequirement failed: log size 11 MB exceeds allowed threshold of 10 MB":                                 {Logs: n(11)},
		"The request content was malformed:\nrequirement failed: concurrency 2 exceeds allowed threshold of 1":                                      {Concurrency: n(2)},
		"The request content was malformed:\nrequirement failed: Max action instance concurrency must not exceed your namespace concurrency of 30.": {Instances: n(31)},
	}
	for msg, put := range bad {
		if _, err := r.Apply(r.Default(), put, 30); err == nil || err.Error() != msg || StatusOf(err) != http.StatusBadRequest {
			t.Errorf("Apply(%+v) = %v, want 400 %q", put, err, msg)
		}
	}
}

func TestActivationJSON(t *testing.T) {
	a := &Activation{Namespace: "guest", Name: "hello", Version: "0.0.1", Subject: "guest", ActivationID: NewActivationID(),
		Start: 1000, End: 1003, Duration: 3, Response: Response{StatusCode: StatusApplicationError, Result: json.RawMessage(`{"error":"boom"}`)}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	resp := m["response"].(map[string]any)
	if resp["status"] != "application error" || resp["success"] != false || m["logs"] == nil {
		t.Errorf("extended form: %s", b)
	}
	if _, has := resp["statusCode"]; has {
		t.Errorf("extended form carries statusCode: %s", b)
	}
	var back Activation
	if err := json.Unmarshal(b, &back); err != nil || back.Response.StatusCode != StatusApplicationError {
		t.Errorf("round trip: %+v, %v", back.Response, err)
	}
	// Trigger activations have no end: no end and no duration.
	a.End, a.Duration = 0, 0
	b, _ = json.Marshal(a)
	if strings.Contains(string(b), `"end"`) || strings.Contains(string(b), `"duration"`) {
		t.Errorf("end 0 still shows end/duration: %s", b)
	}
	if s := a.Summary(); s.StatusCode != StatusApplicationError {
		t.Errorf("summary statusCode = %d", s.StatusCode)
	}
	if !ValidActivationID(a.ActivationID) || ValidActivationID("ABC") || ValidActivationID(strings.Repeat("g", 32)) {
		t.Error("ValidActivationID")
	}
}

func TestIsBinaryCode(t *testing.T) {
	if IsBinaryCode("def main(args):\n    return args\n") {
		t.Error("python source taken for base64")
	}
	if !IsBinaryCode("UEsDBBQAAAAIAA==") {
		t.Error("base64 not recognised")
	}
	if IsBinaryCode("abc") {
		t.Error("length not a multiple of 4 taken for base64")
	}
}

func TestNextVersion(t *testing.T) {
	for in, want := range map[string]string{"0.0.1": "0.0.2", "1.2.9": "1.2.10", "junk": "0.0.1", "": "0.0.1"} {
		if got := NextVersion(in); got != want {
			t.Errorf("NextVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
