package catalog

import "testing"

// TestJSConversions: String() of numbers and the sort order are
// JavaScript's (checked against node: String(1e21) is "1e+21",
// ["\uff61", "\U0001F600"].sort() puts the astral character first, as
// UTF-16 compares its surrogate 0xD83D below 0xFF61).
func TestJSConversions(t *testing.T) {
	for f, want := range map[float64]string{1e21: "1e+21", 1.5e-7: "1.5e-7", 123.456: "123.456", 0: "0", 1e20: "100000000000000000000", -2: "-2"} {
		if got := jsNumber(f); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", f, got, want)
		}
	}
	if !utf16Less("\U0001F600", "\uff61") || utf16Less("\uff61", "\U0001F600") {
		t.Error("strings do not compare by UTF-16 code units")
	}
	if !utf16Less("B", "a") || !utf16Less("1", "10") || !utf16Less("10", "9") {
		t.Error("ASCII order")
	}
}
