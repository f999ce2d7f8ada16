package app_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// volatile are the fields whose values differ on every run: they are
// replaced by a placeholder, so the golden file checks that they are
// present and of which JSON type.
var volatile = map[string]bool{
	"activationId": true, "start": true, "end": true, "duration": true,
	"updated": true, "waitTime": true, "initTime": true, "cause": true,
}

var logTime = regexp.MustCompile(`^\S+\s+(stdout|stderr): `)

// normalise replaces volatile values in v (decoded JSON) with
// placeholders naming their type.
func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if volatile[k] {
				out[k] = placeholder(e)
				continue
			}
			if k == "logs" {
				if lines, ok := e.([]any); ok {
					norm := make([]any, len(lines))
					for i, l := range lines {
						if s, ok := l.(string); ok {
							norm[i] = logTime.ReplaceAllString(s, "<time> $1: ")
						} else {
							norm[i] = l
						}
					}
					out[k] = norm
					continue
				}
			}
			out[k] = normalise(e)
		}
		// Annotations are key/value arrays: normalise the values of
		// volatile keys.
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if kv, ok := e.(map[string]any); ok {
				if key, ok := kv["key"].(string); ok && volatile[key] && len(kv) == 2 {
					out[i] = map[string]any{"key": key, "value": placeholder(kv["value"])}
					continue
				}
			}
			out[i] = normalise(e)
		}
		return out
	}
	return v
}

func placeholder(v any) string {
	switch v.(type) {
	case float64:
		return "<number>"
	case string:
		return "<string>"
	case nil:
		return "<null>"
	}
	return "<other>"
}

// golden compares body (JSON) with testdata/name.json after normalising;
// with -update it rewrites the file.
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v: %s", name, err, body)
	}
	got, err := json.MarshalIndent(normalise(v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
}
