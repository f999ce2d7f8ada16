package process

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// runLine returns the line a run writes to the process: {"value": value}
// with env's entries beside it, keys in order, the same JSON as
// json.Marshal of that map (value compacted, strings escaped as
// encoding/json does) but without reflection or a map: it is built for
// every activation.
func runLine(value json.RawMessage, env map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(env)+1)
	for k := range env {
		if k != "value" {
			keys = append(keys, k)
		}
	}
	keys = append(keys, "value")
	slices.Sort(keys)
	line := make([]byte, 0, 256+len(value))
	line = append(line, '{')
	for i, k := range keys {
		if i > 0 {
			line = append(line, ',')
		}
		line = appendString(line, k)
		line = append(line, ':')
		if k != "value" {
			line = appendString(line, env[k])
			continue
		}
		var err error
		if line, err = appendValue(line, value); err != nil {
			return nil, err
		}
	}
	return append(line, '}'), nil
}

// appendString appends s as a JSON string: copied when it is plain
// printable ASCII, else encoded by encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendValue appends the raw JSON v on one line: as it is when it is
// valid and has no line break, else compacted (which also checks it).
func appendValue(dst []byte, v json.RawMessage) ([]byte, error) {
	if !bytes.ContainsAny(v, "\r\n") && json.Valid(v) {
		return append(dst, v...), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return append(dst, buf.Bytes()...), nil
}
