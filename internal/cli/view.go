package cli

import (
	"bytes"
	"encoding/json"
	"io"
)

// wskOmitted are the lists wsk leaves out of an entity it prints when they
// are empty: its client's structs mark them omitempty, while the server
// (as OpenWhisk's) always sends them.
var wskOmitted = map[string]bool{"parameters": true, "annotations": true, "actions": true, "feeds": true}

// printView prints an action, package, trigger or rule (or a list of
// them) as wsk does, in the field order of the server's answer; see
// entityView.
func printView(out io.Writer, v any) {
	b, err := entityView(v)
	if err != nil {
		printJSON(out, v)
		return
	}
	var ind bytes.Buffer
	if json.Indent(&ind, append(b, '\n'), "", "    ") != nil {
		printJSON(out, v)
		return
	}
	out.Write(ind.Bytes())
}

// printViewField prints one top-level field of an entity as wsk shows it.
func printViewField(out io.Writer, v any, field string) error {
	b, err := entityView(v)
	if err != nil {
		return err
	}
	return printField(out, b, field)
}

// marshal is json.Marshal without HTML escaping, as printJSON prints.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// entityView is v's JSON as wsk prints an entity: empty parameters,
// annotations, actions and feeds left out (also in a package's actions and
// feeds), and a package list row's binding false shown as {}, as package
// get shows a package that is not a binding. Keys keep their order.
func entityView(v any) (json.RawMessage, error) {
	b, err := marshal(v)
	if err != nil {
		return nil, err
	}
	return omitEmptyLists(b)
}

// omitEmptyLists rewrites an object (or each object of an array) without
// the empty lists wsk omits.
func omitEmptyLists(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return raw, nil
	}
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := []byte{'['}
		for i, it := range items {
			it, err := omitEmptyLists(it)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, it...)
		}
		return append(out, ']'), nil
	case '{':
	default:
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		switch {
		case wskOmitted[key] && string(bytes.TrimSpace(val)) == "[]":
			continue
		case key == "actions" || key == "feeds":
			if val, err = omitEmptyLists(val); err != nil {
				return nil, err
			}
		case key == "binding" && string(val) == "false":
			val = json.RawMessage("{}")
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(val)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}
