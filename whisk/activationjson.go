package whisk

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// AppendJSON appends a's JSON, byte for byte what encoding/json's Marshal
// writes for it (HTML-safe escaping, invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped, raw values compacted), without reflection and without
// re-compacting nested output: a record is encoded once per activation on
// the hot path. It fails, as Marshal does, when a raw value (the result,
// an annotation's value) is not valid JSON.
func (a *Activation) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"namespace":`...)
	dst = appendJSONString(dst, a.Namespace)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, a.Name)
	dst = append(dst, `,"version":`...)
	dst = appendJSONString(dst, a.Version)
	dst = append(dst, `,"subject":`...)
	dst = appendJSONString(dst, a.Subject)
	dst = append(dst, `,"activationId":`...)
	dst = appendJSONString(dst, a.ActivationID)
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, a.Start, 10)
	if a.End != 0 {
		dst = append(dst, `,"end":`...)
		dst = strconv.AppendInt(dst, a.End, 10)
		dst = append(dst, `,"duration":`...)
		dst = strconv.AppendInt(dst, a.Duration, 10)
	}
	if a.Cause != "" {
		dst = append(dst, `,"cause":`...)
		dst = appendJSONString(dst, a.Cause)
	}
	dst = append(dst, `,"response":`...)
	if dst, err = a.Response.appendJSON(dst); err != nil {
		return dst, err
	}
	dst = append(dst, `,"logs":[`...)
	for i, l := range a.Logs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, l)
	}
	dst = append(dst, `],"annotations":`...)
	if dst, err = a.Annotations.appendJSON(dst); err != nil {
		return dst, err
	}
	dst = append(dst, `,"publish":`...)
	dst = strconv.AppendBool(dst, a.Publish)
	return append(dst, '}'), nil
}

// appendJSON appends r as Response.MarshalJSON writes it.
func (r *Response) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"status":`...)
	dst = appendJSONString(dst, StatusName(r.StatusCode))
	dst = append(dst, `,"success":`...)
	dst = strconv.AppendBool(dst, r.Success())
	dst = append(dst, `,"result":`...)
	res := r.Result
	if len(res) == 0 {
		res = json.RawMessage("{}")
	}
	var err error
	if dst, err = appendRawJSON(dst, res); err != nil {
		return dst, err
	}
	if r.Size != nil {
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, int64(*r.Size), 10)
	}
	return append(dst, '}'), nil
}

// appendJSON appends kv as KeyValues.MarshalJSON writes it (nil as []).
func (kv KeyValues) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '[')
	var err error
	for i := range kv {
		p := &kv[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendJSONString(dst, p.Key)
		dst = append(dst, `,"value":`...)
		if p.Value == nil {
			dst = append(dst, "null"...)
		} else if dst, err = appendRawJSON(dst, p.Value); err != nil {
			return dst, err
		}
		if p.Init {
			dst = append(dst, `,"init":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']'), nil
}

// plainJSON[b] is true for the bytes encoding/json writes as they are in
// a string with HTML escaping on: printable ASCII except ", \, <, > and &.
var plainJSON = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendJSONString appends s quoted as encoding/json does. Strings of
// plain ASCII (nearly all: names, ids, log lines) are copied; any other
// is left to encoding/json itself, so that the rare escapes are its own.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// errRawJSON is returned for a raw value that is not valid JSON.
var errRawJSON = errors.New("whisk: invalid JSON in a raw value")

// appendRawJSON appends raw as encoding/json writes a json.RawMessage:
// compacted, with <, >, &, U+2028 and U+2029 escaped. A value with none
// of those to change (the usual case) is checked and copied.
func appendRawJSON(dst []byte, raw []byte) ([]byte, error) {
	if rawIsCompactSafe(raw) {
		if !json.Valid(raw) {
			return dst, errRawJSON
		}
		return append(dst, raw...), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return dst, errRawJSON
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, buf.Bytes())
	return append(dst, esc.Bytes()...), nil
}

// rawIsCompactSafe reports whether raw has no whitespace outside its
// strings and no byte that HTML escaping changes (<, >, &, and 0xE2, the
// lead byte of U+2028 and U+2029, taken conservatively).
func rawIsCompactSafe(raw []byte) bool {
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xE2:
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
