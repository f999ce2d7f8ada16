package catalog

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// The catalog's actions are JavaScript in OpenWhisk; these helpers give
// JSON values JavaScript's conversions, so that results match.

// jsValue is a decoded JSON value: nil (null), bool, float64, string,
// []any or map[string]any; undefined is a missing key, which callers
// handle before converting.
func decode(raw json.RawMessage) any {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

// truthy is JavaScript's ToBoolean of a JSON value; a missing value is
// falsy too.
func truthy(raw json.RawMessage, present bool) bool {
	if !present {
		return false
	}
	switch v := decode(raw).(type) {
	case nil:
		return false
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	default:
		return true
	}
}

// jsString is JavaScript's String(v) of a JSON value.
func jsString(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return jsNumber(v)
	case string:
		return v
	case []any:
		return joinElems(v, ",")
	default:
		return "[object Object]"
	}
}

// joinElems is Array.prototype.join: null elements become "".
func joinElems(a []any, sep string) string {
	parts := make([]string, len(a))
	for i, e := range a {
		if e != nil {
			parts[i] = jsString(e)
		}
	}
	return strings.Join(parts, sep)
}

// jsNumber is Number.prototype.toString: fixed notation from 1e-6 up to
// 1e21, exponent notation (1e+21, 1.5e-7) outside.
func jsNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[:1]
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "e" + sign + exp
}

// utf16Less compares strings as JavaScript does, by UTF-16 code units.
func utf16Less(a, b string) bool {
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return len(x) < len(y)
}

// toInteger is ToIntegerOrInfinity of a JSON value, as slice uses it.
func toInteger(v any) float64 {
	var f float64
	switch v := v.(type) {
	case nil:
		f = 0
	case bool:
		if v {
			f = 1
		}
	case float64:
		f = v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			f = 0
		} else if n, err := strconv.ParseFloat(s, 64); err == nil {
			f = n
		} else {
			f = math.NaN()
		}
	case []any:
		return toInteger(jsString(v))
	default:
		f = math.NaN()
	}
	if math.IsNaN(f) {
		return 0
	}
	return math.Trunc(f)
}

// sliceEnd is the end index slice(0, n) uses on a sequence of length l.
func sliceEnd(n float64, l int) int {
	if n < 0 {
		n = math.Max(float64(l)+n, 0)
	}
	return int(math.Min(n, float64(l)))
}

// field is one member of a JSON object, in document order.
type field struct {
	Key   string
	Value json.RawMessage
}

// fields returns the members of the JSON object raw in order; a later
// duplicate key replaces an earlier one, as JSON.parse does.
func fields(raw json.RawMessage) ([]field, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []field
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
		k := t.(string)
		if !seen[k] {
			seen[k] = true
			out = append(out, field{Key: k, Value: m[k]})
		}
	}
	return out, nil
}

// object renders fields as a JSON object.
func object(fs []field) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(f.Value)
	}
	b.WriteByte('}')
	return b.Bytes()
}
