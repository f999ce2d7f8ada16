package controller

import (
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
