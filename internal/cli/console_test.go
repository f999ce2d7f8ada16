package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestConsolePrint: `whirl console --print` prints the console's URL on
// the API host with the CLI's key in the fragment, and that URL serves
// the console.
func TestConsolePrint(t *testing.T) {
	s := newSession(t)
	out, errOut, code := s.run("console", "--print")
	if code != 0 {
		t.Fatalf("whirl console --print: exit %d: %s", code, errOut)
	}
	want := s.url + "/console/#auth=" + s.auth
	if strings.TrimSpace(out) != want {
		t.Fatalf("printed %q, want %q", out, want)
	}
	resp, err := http.Get(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Whirl console") {
		t.Fatalf("GET the console: %d %.200s", resp.StatusCode, b)
	}
}
