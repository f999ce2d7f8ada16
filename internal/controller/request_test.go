package controller

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONDepth: nesting is counted in arrays and objects only, not in
// brackets inside strings (escaped quotes included).
func TestJSONDepth(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{``, 0},
		{`5`, 0},
		{`{}`, 1},
		{`{"a":[1,{"b":[]}]}`, 4},
		{`{"a":"[[[{{{"}`, 1},
		{`{"a":"\"[[[\\"}`, 1},
		{`["\\", [[]]]`, 3},
		{strings.Repeat("[", 600) + strings.Repeat("]", 600), 600},
	} {
		if got := jsonDepth([]byte(c.in)); got != c.want {
			t.Errorf("jsonDepth(%.40q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// TestCheckJSON: the messages name the fault and where it is.
func TestCheckJSON(t *testing.T) {
	if err := checkJSON([]byte(`{"a":"café"}`)); err != nil {
		t.Errorf("valid body: %v", err)
	}
	err := checkJSON([]byte("{\"a\":\"caf\xe9\"}"))
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8 (invalid byte at offset 9)") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	err = checkJSON([]byte(strings.Repeat("[", MaxJSONDepth+1)))
	if err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("too deep: %v", err)
	}
}

// BenchmarkCheckJSON: the UTF-8 and depth scan of a 1 MB invoke body,
// beside json.Valid, which readParams runs on it anyway.
func BenchmarkCheckJSON(b *testing.B) {
	body := []byte(`{"items":[` + strings.Repeat(`{"name":"café ☕","n":[1,2,3],"s":"a \"quoted\" [string]"},`, 16000) + `{}]}`)
	b.Run("checkJSON", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if err := checkJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
}
