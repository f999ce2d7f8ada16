package whisk

import (
	"bytes"
	"encoding/json"
)

// KeyValue is one parameter or annotation: {"key":K,"value":V}. Init marks a
// parameter passed to the action at initialisation as an environment
// variable.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Init  bool            `json:"init,omitempty"`
}

// KeyValues is an ordered list of parameters or annotations. Keys are unique;
// Set replaces in place.
type KeyValues []KeyValue

// Get returns the raw JSON value of key.
func (kv KeyValues) Get(key string) (json.RawMessage, bool) {
	for _, p := range kv {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// Has reports whether key is present.
func (kv KeyValues) Has(key string) bool { _, ok := kv.Get(key); return ok }

// Truthy reports whether key is present with a value other than false, null,
// 0, "" or "false". OpenWhisk reads boolean annotations this way.
func (kv KeyValues) Truthy(key string) bool {
	v, ok := kv.Get(key)
	if !ok {
		return false
	}
	switch string(bytes.TrimSpace(v)) {
	case "false", "null", "0", `""`, `"false"`, "":
		return false
	}
	return true
}

// String returns the value of key when it is a JSON string.
func (kv KeyValues) String(key string) (string, bool) {
	v, ok := kv.Get(key)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// Set returns kv with key set to v (any JSON-marshalable value, or a
// json.RawMessage), replacing an existing entry in place.
func (kv KeyValues) Set(key string, v any) KeyValues {
	raw, ok := v.(json.RawMessage)
	if !ok {
		raw, _ = json.Marshal(v)
	}
	for i := range kv {
		if kv[i].Key == key {
			out := append(KeyValues(nil), kv...)
			out[i].Value = raw
			return out
		}
	}
	return append(append(KeyValues(nil), kv...), KeyValue{Key: key, Value: raw})
}

// Delete returns kv without key.
func (kv KeyValues) Delete(key string) KeyValues {
	out := make(KeyValues, 0, len(kv))
	for _, p := range kv {
		if p.Key != key {
			out = append(out, p)
		}
	}
	return out
}

// Merge returns kv overridden by over: keys of over replace those of kv, new
// keys are appended in order.
func (kv KeyValues) Merge(over KeyValues) KeyValues {
	out := append(KeyValues(nil), kv...)
	for _, p := range over {
		found := false
		for i := range out {
			if out[i].Key == p.Key {
				out[i] = p
				found = true
				break
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

// Object returns kv as a JSON object.
func (kv KeyValues) Object() map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv))
	for _, p := range kv {
		m[p.Key] = p.Value
	}
	return m
}

// MarshalJSON writes nil as [] as OpenWhisk does.
func (kv KeyValues) MarshalJSON() ([]byte, error) {
	if kv == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]KeyValue(kv))
}

// FromObject turns a JSON object into KeyValues with keys in the object's order.
func FromObject(obj []byte) (KeyValues, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, BadRequest(MsgMalformed + "expected a JSON object")
	}
	var kv KeyValues
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		kv = kv.Set(tok.(string), v)
	}
	return kv, nil
}
